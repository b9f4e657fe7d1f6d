"""Figures for distributed training: where a round's time goes, what an all-reduce costs per
message size, and the projected time to score against machine count.

Like :mod:`rlkit.ui.charts`, each returns a Figure, never calls ``plt.show()``, and accepts
``ax=`` (or ``axes=``) where it draws into existing axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

from rlkit.ui.figures import figure_and_axes, fmt_number, plain_log_axis, short_ticks, subplots

__all__ = [
    "allreduce_ms_at",
    "plot_allreduce",
    "plot_projection",
    "plot_shares",
    "plot_worker_scaling",
]


def plot_worker_scaling(
    series: Mapping[str, Mapping[Any, float]],
    ylabel: str = "env steps/s",
    title: str | None = "Throughput against workers",
    ax: Axes | None = None,
) -> Figure:
    """Throughput against the number of workers for several setups on one axes, each with its
    own ideal line (its first point times the count, dashed, in its colour) and each later point
    labelled with measured / ideal.

    :param series: ``{label: {count: rate}}``, e.g. ``{"Ray workers": record["ray_steps_per_s"]}``
        of :func:`rlkit.bench.scaling.bench_scaling` (counts may be strings, as in JSON).
    :param ylabel: y-axis label.
    :param title: axes title.
    :param ax: axes to draw into; a new figure is made when ``None``.
    :return: the figure (two lines per setup: measured, then ideal).
    """
    if not isinstance(series, Mapping) or not series or not all(series.values()):
        raise ValueError("series must be a non-empty {label: {count: rate}} dict")
    fig, ax = figure_and_axes(ax, (6, 4))
    ticks: set[float] = set()
    top = 0.0
    # At each count the highest point's label goes above it and the others' below: two setups
    # measured close together must not put their labels on one spot (which a fixed side per
    # setup did, whenever the lower setup's label sat just above the higher one's).
    highest: dict[float, float] = {}
    for rates in series.values():
        for n, v in rates.items():
            highest[float(n)] = max(highest.get(float(n), -np.inf), float(v))
    for i, (label, rates) in enumerate(series.items()):
        pairs = sorted((float(n), float(v)) for n, v in rates.items())
        x, y = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        if np.any(x <= 0) or not np.all(np.isfinite(y)):
            raise ValueError(f"{label}: counts must be > 0 and rates finite, got {dict(rates)}")
        ticks.update(x.tolist())
        color = f"C{i}"
        ax.plot(x, y, marker="o", linewidth=2, color=color, label=label)
        ideal = y[0] * x / x[0]
        top = max(top, float(y.max()), float(ideal.max()))
        ax.plot(x, ideal, linestyle="--", color=color, alpha=0.5, label=f"{label}: ideal")
        for xi, yi, li in zip(x[1:], y[1:], ideal[1:], strict=True):
            ax.annotate(
                f"{yi / li:.0%} of ideal",
                (xi, yi),
                textcoords="offset points",
                xytext=(-6, 6 if yi >= highest[float(xi)] else -14),
                ha="right",
                fontsize="small",
                color=color,
            )
    ax.set_xticks(sorted(ticks), [fmt_number(v) for v in sorted(ticks)])
    short_ticks(ax.yaxis)
    ax.set_ylim(0, 1.12 * top)  # room for the labels above the highest point
    ax.set_xlabel("workers (envs)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def plot_shares(
    shares: Mapping[str, Mapping[str, float]],
    title: str | None = "Where the time goes",
    ax: Axes | None = None,
) -> Figure:
    """Stacked horizontal bars of fractions of time, one bar per entry; what the fractions leave
    of 1 is drawn as ``other``.

    :param shares: ``{label: {phase: fraction of the time}}``, e.g. the ``time_split`` of
        :func:`rlkit.bench.scaling.bench_scaling` or ``{phase: seconds / total}`` of a run.
        Keys that are not fractions of time (``round_s``…) must be left out.
    :param title: axes title.
    :param ax: axes to draw into; a new figure is made when ``None``.
    :return: the figure (one bar container per phase, ``other`` last).
    """
    if not isinstance(shares, Mapping) or not shares:
        raise ValueError("shares must be a non-empty {label: {phase: fraction}} dict")
    phases: list[str] = []
    for split in shares.values():  # phases in first-seen order
        phases += [p for p in split if p not in phases and p != "other"]
    values = np.array([[float(s.get(p, 0.0)) for p in phases] for s in shares.values()])
    if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values.sum(1) > 1.05):
        raise ValueError("shares must be fractions of time: non-negative, at most 1 in all")
    values = np.column_stack([values, np.clip(1.0 - values.sum(1), 0.0, None)])
    fig, ax = figure_and_axes(ax, (8, 1.2 + 0.5 * len(shares)))
    y = np.arange(len(shares))
    left = np.zeros(len(shares))
    for i, phase in enumerate([*phases, "other"]):
        color = "0.8" if phase == "other" else f"C{i % 10}"
        bars = ax.barh(y, values[:, i], left=left, color=color, label=phase)
        labels = [f"{v:.0%}" if v >= 0.06 else "" for v in values[:, i]]
        ax.bar_label(bars, labels=labels, label_type="center", fontsize="small")
        left += values[:, i]
    ax.set_yticks(y, list(shares))
    ax.invert_yaxis()
    ax.set_xlim(0, max(1.0, float(left.max())))
    ax.set_xlabel("share of the time")
    ax.legend(
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(phases) + 1,
        fontsize="small",
        frameon=False,
    )
    if title:
        ax.set_title(title, pad=24)
    return fig


def plot_allreduce(
    rows: Sequence[Mapping[str, float]],
    marks: Mapping[str, float] | None = None,
    title: str | None = "One all-reduce, by message size",
    ax: Axes | None = None,
) -> Figure:
    """Milliseconds per all-reduce against the message size, log-log (the rows of
    :func:`rlkit.bench.allreduce_cost.allreduce_seconds_per_mb`), with a vertical line at each
    of ``marks`` (a model's gradient size) labelled with its cost, interpolated between rows
    (the smallest row's cost below it, the largest's per-MB cost above it).

    :param rows: rows with ``mb`` and ``median_s``.
    :param marks: ``{label: MB}``, e.g. the weights of the networks a notebook trains.
    :param title: axes title.
    :param ax: axes to draw into; a new figure is made when ``None``.
    :return: the figure (a line for the rows, a dashed one past them when a mark lies outside
        their range, and a vertical line and a square per mark).
    """
    if not rows:
        raise ValueError("rows is empty: measure with allreduce_seconds_per_mb first")
    mb = np.array([float(r["mb"]) for r in rows])
    ms = np.array([1e3 * float(r["median_s"]) for r in rows])
    order = np.argsort(mb)
    mb, ms = mb[order], ms[order]
    fig, ax = figure_and_axes(ax, (6, 3.8))
    ax.loglog(mb, ms, marker="o", color="C0", label="measured (median)")
    sizes = list((marks or {}).values())
    if sizes and (min(sizes) < mb[0] or max(sizes) > mb[-1]):
        span = np.geomspace(min(min(sizes), mb[0]), max(max(sizes), mb[-1]), 50)
        ax.loglog(
            span,
            [allreduce_ms_at(rows, v) for v in span],
            linestyle="--",
            color="C0",
            alpha=0.4,
            label="beyond the rows: fixed cost / cost per MB",
        )
    for i, (label, size) in enumerate((marks or {}).items()):
        cost = allreduce_ms_at(rows, size)
        color = f"C{i + 1}"
        ax.axvline(size, color=color, linestyle=":")
        ax.plot(size, cost, "s", color=color, label=f"{label}: {fmt_number(cost)} ms")
    plain_log_axis(ax.xaxis)
    plain_log_axis(ax.yaxis)
    ax.set_xlabel("message (MB, float32)")
    ax.set_ylabel("ms per all-reduce")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def allreduce_ms_at(rows: Sequence[Mapping[str, float]], mb: float) -> float:
    """Milliseconds of one all-reduce of ``mb`` MB, interpolated (log-log) between measured rows;
    below the smallest row its time (the fixed cost), above the largest its cost per MB."""
    sizes = np.array([float(r["mb"]) for r in rows])
    times = np.array([float(r["median_s"]) for r in rows])
    order = np.argsort(sizes)
    sizes, times = sizes[order], times[order]
    if mb <= sizes[0]:
        return 1e3 * float(times[0])
    if mb >= sizes[-1]:
        return 1e3 * float(times[-1] / sizes[-1] * mb)
    return 1e3 * float(np.exp(np.interp(np.log(mb), np.log(sizes), np.log(times))))


def plot_projection(
    projections: Mapping[str, Sequence[Mapping[str, Any]]],
    source: Mapping[str, Any] | None = None,
    efficiency: float = 0.5,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Two panels against machine count, log-log: the projected time to score with its ideal
    line, and the speedup over one machine with the ideal ``speedup = machines``; where a
    projection's efficiency first falls below ``efficiency``, its point is circled and labelled
    with the bottleneck (:func:`rlkit.bench.projection.where_it_breaks`).

    :param projections: ``{label: rows of rlkit.bench.projection.project}``.
    :param source: a published result drawn on the speedup panel as one point, its last time
        over its first (``machines`` and ``minutes``, as
        :data:`rlkit.bench.projection.SOURCE_RESULT`).
    :param efficiency: the efficiency below which a projection is said to break.
    :param axes: two axes to draw into; a new figure is made when ``None``.
    :return: the figure.
    """
    from rlkit.bench.projection import where_it_breaks

    if not isinstance(projections, Mapping) or not projections or not all(projections.values()):
        raise ValueError("projections must be a non-empty {label: rows of project()} dict")
    if axes is None:
        fig, axes = subplots(ncols=2, figsize=(11, 4), layout="constrained")
    else:
        fig = axes[0].figure
    left, right = axes
    top = 1
    for i, (label, rows) in enumerate(projections.items()):
        rows = sorted(rows, key=lambda r: r["machines"])
        m = np.array([r["machines"] for r in rows])
        top = max(top, int(m.max()))
        color = f"C{i}"
        left.loglog(m, [r["total_s"] for r in rows], marker="o", color=color, label=label)
        left.loglog(m, [r["ideal_seconds"] for r in rows], linestyle="--", color=color, alpha=0.5)
        right.loglog(m, [r["speedup"] for r in rows], marker="o", color=color, label=label)
        broke = where_it_breaks(rows, efficiency)
        if broke is not None:
            for ax, key in ((left, "total_s"), (right, "speedup")):
                ax.plot(broke["machines"], broke[key], "o", ms=14, mfc="none", color=color)
            right.annotate(
                f"{broke['efficiency']:.0%} at {broke['machines']}: {broke['bottleneck']}",
                (broke["machines"], broke["speedup"]),
                textcoords="offset points",
                xytext=(8, -14),
                fontsize="small",
                color=color,
            )
    right.loglog([1, top], [1, top], linestyle="--", color="0.5", label="ideal")
    if source is not None:
        machines, minutes = source["machines"], source["minutes"]
        ratio = minutes[0] / minutes[-1]
        right.plot(machines[-1], ratio, "*", ms=14, color="k", label="source (two setups)")
        right.annotate(
            f"{fmt_number(minutes[0])} → {fmt_number(minutes[-1])} min",
            (machines[-1], ratio),
            textcoords="offset points",
            xytext=(0, -10),
            ha="center",
            va="top",
            fontsize="small",
        )
    left.plot([], [], linestyle="--", color="0.5", label="ideal (each line's own)")
    left.set_ylabel("projected seconds to score")
    left.set_title("Time to score")
    right.set_ylabel("speedup over one machine")
    right.set_title(f"Speedup (circled: efficiency < {efficiency:.0%})")
    counts = sorted({r["machines"] for rows in projections.values() for r in rows})
    for ax in (left, right):
        plain_log_axis(ax.xaxis, counts)
        plain_log_axis(ax.yaxis)
        ax.set_xlabel("machines")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    return fig
