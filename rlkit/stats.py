"""Comparing players honestly: confidence intervals for a difference of mean scores.

Two players' mean scores over 100 episodes differ by chance too. :func:`bootstrap_diff` resamples
each player's episodes with replacement (Efron's percentile bootstrap) to give a 95 % interval
for the difference of their means; :func:`compare_scores` builds the table notebook 06 shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["bootstrap_diff", "certified_score", "compare_scores"]


def bootstrap_diff(
    a: Sequence[float],
    b: Sequence[float],
    n_boot: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    paired: bool = False,
) -> tuple[float, float, float]:
    """The difference of means ``mean(a) - mean(b)`` and its percentile bootstrap interval.

    :param a: one player's episode scores.
    :param b: the other's.
    :param n_boot: bootstrap resamples.
    :param confidence: the interval's coverage, in (0, 1).
    :param seed: seeds the resampling, so the interval is reproducible.
    :param paired: ``a[i]`` and ``b[i]`` were played on one seed: the seeds are resampled and
        each keeps its pair (an easy seed is easy for both, and that shared luck drops out of
        the interval); else each player's episodes are resampled on their own.
    :return: ``(difference, low, high)``.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size == 0 or y.size == 0 or (paired and x.shape != y.shape):
        raise ValueError(
            "both players need at least one episode score"
            + (f", the same number when paired (got {x.size} and {y.size})" if paired else "")
        )
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    if paired:
        d = x - y
        diffs = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    else:
        # Means of resampled episodes, drawn for both players at once: (n_boot,) each.
        mx = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
        my = y[rng.integers(0, y.size, size=(n_boot, y.size))].mean(axis=1)
        diffs = mx - my
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return float(x.mean() - y.mean()), float(low), float(high)


def compare_scores(
    results: Mapping[str, Any], reference: str, n_boot: int = 10_000, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per player: mean ± std, kills and length per episode, and the 95 % interval of
    the difference between the reference player's mean and this player's.

    :param results: ``{player name: EvalResult}`` over the same seeded episodes.
    :param reference: the player the others are compared with (e.g. the trained agent).
    :return: rows with ``player``, ``mean``, ``std``, ``kills``, ``length``, ``episodes`` and,
        except for the reference, ``diff``, ``diff_low``, ``diff_high`` (reference − player).
    """
    if reference not in results:
        raise ValueError(f"reference {reference!r} is not among the players {sorted(results)}")
    ref = results[reference].scores
    rows = []
    for name, res in results.items():
        s = res.stats()
        row = {
            "player": name,
            "mean": s["mean"],
            "std": s["std"],
            "kills": s.get("mean_kills", float("nan")),
            "length": s["mean_length"],
            "episodes": s["episodes"],
        }
        if name != reference:
            diff, low, high = bootstrap_diff(ref, res.scores, n_boot=n_boot, seed=seed)
            row.update(diff=diff, diff_low=low, diff_high=high)
        rows.append(row)
    return rows


def certified_score(scores: Sequence[float]) -> float:
    """Mean minus standard deviation: the score the Hugging Face Deep RL course certifies
    agents by (it rewards a player that is good on every episode, not on average only)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        raise ValueError("a certified score needs at least one episode")
    return float(s.mean() - s.std())
