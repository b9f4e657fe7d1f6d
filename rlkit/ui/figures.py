"""Small helpers shared by the figure modules: making a figure, compact number labels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def subplots(**kwargs: Any) -> tuple[Figure, Any]:
    # pyplot is imported here rather than at module level so `import rlkit.ui.plots` stays cheap
    # and never picks a backend by itself.
    import matplotlib.pyplot as plt

    return plt.subplots(**kwargs)


def figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    return subplots(figsize=figsize, layout="constrained")


def fmt_number(value: float, k_from: float = 1e4) -> str:
    """Short human form of a number: 12345 -> '12.3k', 0.0123 -> '0.0123'.

    Thousands are abbreviated from ``k_from`` on: a bar labelled "2500" reads better than
    "2.5k", while tick labels of one axis should all use the same form.
    """
    if not math.isfinite(value):
        return str(value)
    a = abs(value)
    for limit, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (k_from, 1e3, "k")):
        if a >= limit:
            return f"{value / scale:.3g}{suffix}"
    if a >= 100 or a == 0:
        return f"{value:.0f}"
    return f"{value:.3g}"


def short_ticks(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    # 200000 reads as "200k": large counts otherwise get a cramped ×1e5 offset label.
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_number(v, k_from=1e3)))


def plain_log_axis(axis: Any, ticks: Sequence[float] | None = None) -> None:
    """A log axis labelled with plain numbers (``2``, ``64``, ``0.1``), not powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if ticks is not None:
        axis.set_ticks(list(ticks))
    else:  # 1, 2, 5, 10, 20…: labelled ticks even on an axis spanning less than a decade
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_number(v, k_from=1e3)))
    # Unlabelled minor ticks: matplotlib's own minor labels (3×10⁻², 4×10⁻²…) run together.
    axis.set_minor_formatter(NullFormatter())
