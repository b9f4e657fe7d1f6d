"""Conclusions computed from a notebook's own numbers, and claims it checks about itself.

A notebook never states a result it did not measure. :func:`verdict` turns a comparison into a
sentence; :func:`claim` states the notebook's central claim, shows whether it held, and fails
the run (an ``AssertionError`` with the numbers) when it did not::

    from rlkit.ui.report import claim, verdict

    verdict(trained.mean > random.mean + 50, f"The trained agent scores {trained.mean:.0f}",
            f"{trained.mean - random.mean:.0f} points above random play ({random.mean:.0f})",
            f"only {trained.mean - random.mean:.0f} points above random play")
    claim("the trained agent beats random play by at least 50 points over 50 fresh episodes",
          trained.mean - random.mean >= 50, trained=trained.mean, random=random.mean)

Both display Markdown in a notebook and print plain text elsewhere. A claim's display carries
its text and outcome in the output's metadata (``{"rlkit": {"claim": ..., "holds": ...}}``), so
``python -m rlkit notebooks`` can list, per notebook, which claims held.
"""

from __future__ import annotations

import math
from typing import Any

from rlkit.ui.frontend import kernel_shell

__all__ = ["METADATA_KEY", "claim", "show", "verdict"]

METADATA_KEY = "rlkit"


def show(markdown: str, metadata: dict[str, Any] | None = None) -> None:
    """Display ``markdown`` as Markdown in a notebook, or print it elsewhere."""
    if kernel_shell() is not None:
        from IPython.display import Markdown, display

        display(Markdown(markdown), metadata=metadata or {})
    else:
        print(markdown)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def verdict(holds: bool, subject: str, if_true: str, if_false: str) -> None:
    """A sentence that says what the numbers say: ``"<subject>: <if_true>."`` or the other.

    :param holds: the comparison, computed from the notebook's numbers.
    :param subject: what the sentence is about, with its number, e.g. ``"2 envs: 1.4× one"``.
    :param if_true: the rest of the sentence when ``holds``.
    :param if_false: the rest of the sentence otherwise.
    """
    show(f"{subject}: {if_true if holds else if_false}.")


def claim(text: str, holds: bool, **numbers: Any) -> bool:
    """State a claim, show whether it held, and raise if it did not.

    Notebooks write ``assert claim(...)``, so the check reads as one: ``claim`` returns True when
    the claim holds and raises, with its numbers, when it does not.

    :param text: the claim, e.g. ``"DQN solves CartPole: greedy mean ≥ 475 on 20 fresh
        episodes"``.
    :param holds: whether the notebook's numbers satisfy it.
    :param numbers: the measured numbers it rests on, shown beside it.
    :return: True.
    :raises AssertionError: when ``holds`` is false, with the claim and the numbers.
    """
    ok = bool(holds)
    detail = ", ".join(f"{k} = {_fmt(v)}" for k, v in numbers.items())
    mark = "✔ holds" if ok else "✘ does NOT hold"
    show(
        f"**Claim {mark}:** {text}" + (f" ({detail})" if detail else ""),
        metadata={METADATA_KEY: {"claim": text, "holds": ok, "numbers": detail}},
    )
    if not ok:
        raise AssertionError(f"claim does not hold: {text}" + (f" ({detail})" if detail else ""))
    return True
