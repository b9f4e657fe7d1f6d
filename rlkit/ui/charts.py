"""Figures for benchmarks and evaluations: bars, scaling curves, score distributions, frames.

Like :mod:`rlkit.ui.plots`, each returns a Figure, never calls ``plt.show()``, and accepts
``ax=`` where it draws one panel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

from rlkit.ui.figures import figure_and_axes, fmt_number, plain_log_axis, short_ticks, subplots

__all__ = [
    "GRID_METRICS",
    "plot_bars",
    "plot_grid",
    "plot_ipc_cost",
    "plot_latency",
    "plot_scaling",
    "plot_scores",
    "show_frames",
]


# -- benchmarks and evaluations ---------------------------------------------------------------


def plot_bars(
    values: Mapping[str, float],
    ylabel: str = "",
    title: str | None = None,
    log: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """A bar per entry, its value written above it (e.g. env frames/s per env family).

    :param values: ``{name: value}``, drawn in the order given.
    :param ylabel: y-axis label (units).
    :param title: axes title.
    :param log: logarithmic y axis (all values must then be > 0).
    :param ax: axes to draw into; a new figure is made when ``None``.
    :return: the figure (one bar container with ``len(values)`` bars).
    """
    if not isinstance(values, Mapping) or not values:
        raise ValueError("values must be a non-empty {name: value} dict")
    names = [str(k) for k in values]
    vals = np.array([float(v) for v in values.values()])
    if not np.all(np.isfinite(vals)):
        bad = [n for n, v in zip(names, vals, strict=True) if not np.isfinite(v)]
        raise ValueError(f"values must be finite numbers; not finite: {', '.join(bad)}")
    if log and np.any(vals <= 0):
        raise ValueError("log=True needs every value > 0")
    fig, ax = figure_and_axes(ax, (max(4.0, 1.1 * len(names) + 1.5), 4))
    bars = ax.bar(names, vals, color=[f"C{i % 10}" for i in range(len(names))])
    ax.bar_label(bars, labels=[fmt_number(v) for v in vals], padding=2, fontsize="small")
    if log:
        ax.set_yscale("log")
        ax.set_ylim(top=vals.max() * 3)  # headroom for the value labels
    else:
        # Room for the value labels beyond the bar ends, both ways (a negative bar's label sits
        # below it): a fixed 12% above the tallest was too little in a short panel.
        ax.margins(y=0.2)
        short_ticks(ax.yaxis)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if len(names) > 5 or max(len(n) for n in names) > 10:
        ax.tick_params(axis="x", labelrotation=30)
        for t in ax.get_xticklabels():
            t.set_horizontalalignment("right")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def plot_scaling(
    xs: Sequence[float],
    ys: Sequence[float],
    ideal: bool = True,
    xlabel: str = "workers",
    ylabel: str = "env steps/s",
    title: str | None = "Throughput scaling",
    label: str = "measured",
    ax: Axes | None = None,
) -> Figure:
    """Throughput against the number of workers, with the ideal linear line from the first point.

    Each point is annotated with its efficiency: measured / ideal.

    :param xs: worker counts (> 0, increasing).
    :param ys: throughput measured at each count.
    :param ideal: draw ``ys[0] * xs / xs[0]``.
    :param xlabel: x-axis label.
    :param ylabel: y-axis label.
    :param title: axes title.
    :param label: legend label of the measured curve.
    :param ax: axes to draw into; a new figure is made when ``None``.
    :return: the figure (two lines with ``ideal``, else one).
    """
    x = np.asarray(xs, dtype=np.float64).ravel()
    y = np.asarray(ys, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("xs is empty")
    if x.size != y.size:
        raise ValueError(f"xs and ys differ in length: {x.size} vs {y.size}")
    if np.any(x <= 0) or np.any(np.diff(x) <= 0):
        raise ValueError(f"xs must be positive and increasing, got {x.tolist()}")
    fig, ax = figure_and_axes(ax, (6, 4))
    ax.plot(x, y, marker="o", linewidth=2, color="C0", label=label)
    if ideal:
        line = y[0] * x / x[0]
        ax.plot(x, line, linestyle="--", color="0.5", label="ideal (linear)")
        if x.size > 1:
            for xi, yi, li in zip(x[1:], y[1:], line[1:], strict=True):
                ax.annotate(
                    f"{yi / li:.0%}",
                    (xi, yi),
                    textcoords="offset points",
                    xytext=(0, -14),
                    ha="center",
                    fontsize="small",
                    color="C0",
                )
        if x.size > 1:
            ax.text(
                0.98,
                0.03,
                "% = measured / ideal",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize="small",
                color="C0",
            )
    ax.set_xticks(x, [fmt_number(v) for v in x])
    short_ticks(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


# What each grid metric is, and whether more of it is better (the colours run light = better).
GRID_METRICS = {
    "env_steps_per_s": ("env steps/s, envs alone", True),
    "train_steps_per_s": ("env steps/s while training", True),
    "seconds_to_target": ("seconds to target", False),
}


def plot_grid(
    record: Mapping[str, Any],
    metrics: Sequence[str] = tuple(GRID_METRICS),
) -> Figure:
    """Heat maps of a thread × env grid (:func:`rlkit.bench.grid.bench_grid`): a row of panels
    per metric, a panel per stepping mode, torch threads down and envs across, each cell
    labelled with its value; a cell without a value (target missed, mode that cannot train) is
    grey and marked "–".

    :param record: the grid record (``threads``, ``envs``, ``modes``, ``cells``).
    :param metrics: keys of :data:`GRID_METRICS`, one row each.
    :return: the figure (``len(metrics) × len(modes)`` axes, each with one image).
    """
    from matplotlib import colormaps

    if not isinstance(record, Mapping) or not record.get("cells"):
        raise ValueError("record must be a grid record with cells (rlkit.bench.grid.bench_grid)")
    bad = [m for m in metrics if m not in GRID_METRICS]
    if not metrics or bad:
        raise ValueError(f"unknown metrics {bad or metrics!r}; valid: {', '.join(GRID_METRICS)}")
    threads, envs, modes = record["threads"], record["envs"], record["modes"]
    cells = {(c["mode"], c["threads"], c["num_envs"]): c for c in record["cells"]}
    fig, axes = subplots(
        nrows=len(metrics),
        ncols=len(modes),
        squeeze=False,
        layout="constrained",
        # A panel at least 2 inches wide holds its two-line title even with a single env column.
        figsize=(
            1.0 + max(2.0, 1.3 * len(envs)) * len(modes),
            0.6 + (0.75 * len(threads) + 0.35) * len(metrics),
        ),
    )
    for row, metric in zip(axes, metrics, strict=True):
        label, higher_better = GRID_METRICS[metric]
        # None becomes nan (drawn grey); one colour scale per row, so the modes compare.
        grids = [
            np.array([[cells[m, t, n].get(metric) for n in envs] for t in threads], dtype=float)
            for m in modes
        ]
        finite = np.concatenate([g[np.isfinite(g)] for g in grids])
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        mid = (lo + hi) / 2
        cmap = colormaps["viridis" if higher_better else "viridis_r"].with_extremes(bad="0.85")
        for ax, mode, vals in zip(row, modes, grids, strict=True):
            ax.imshow(np.ma.masked_invalid(vals), cmap=cmap, aspect="auto", vmin=lo, vmax=hi)
            for (i, j), v in np.ndenumerate(vals):
                dark = np.isfinite(v) and ((v < mid) == higher_better)
                ax.text(
                    j,
                    i,
                    fmt_number(v) if np.isfinite(v) else "–",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if dark else "black",
                )
            ax.set_xticks(range(len(envs)), [str(n) for n in envs])
            ax.set_yticks(range(len(threads)), [str(t) for t in threads])
            ax.set_xlabel("envs")
            ax.set_ylabel("torch threads")
            # Mode and metric on two lines: on one, neighbouring titles ran into each other.
            ax.set_title(f"{mode} ({record['backends'][mode]})\n{label}", fontsize="small")
    return fig


def plot_ipc_cost(
    costs: Sequence[Mapping[str, float]],
    title: str | None = "Moving observations between processes",
    ax: Axes | None = None,
) -> Figure:
    """MB/s against observation size for each way of moving it (rows of
    :func:`rlkit.bench.transfer.ipc_cost`): pickled through a pipe, shared memory with a 1-byte
    signal, and a plain copy inside one process, on log-log axes.

    :param costs: the rows, each with ``obs_bytes`` and the ``*_bytes_per_s`` rates.
    :param title: axes title.
    :param ax: axes to draw into; a new figure is made when ``None``.
    :return: the figure (one line per way).
    """
    if not costs:
        raise ValueError("costs is empty: measure with rlkit.bench.transfer.ipc_cost first")
    fig, ax = figure_and_axes(ax, (6, 3.5))
    kb = [r["obs_bytes"] / 1024 for r in costs]
    for key, label in [
        ("pipe_bytes_per_s", "pickled through a pipe"),
        ("shm_bytes_per_s", "shared memory + 1-byte signal"),
        ("local_copy_bytes_per_s", "copy inside one process"),
    ]:
        ax.loglog(kb, [r[key] / 1e6 for r in costs], marker="o", label=label)
    ax.set_xlabel("observation size (KB)")
    ax.set_ylabel("MB/s")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def plot_latency(
    quantiles: Mapping[str, Sequence[float]],
    title: str | None = "Latency of one decision",
    ax: Axes | None = None,
) -> Figure:
    """Latency distributions as cumulative curves on a log time axis, p50 and p99 marked.

    A curve further left is faster; its spread to the right is the tail (what a player feels as
    an occasional stall).

    :param quantiles: ``{label: the 0th to 100th percentiles in ms}`` (101 values each), e.g.
        ``{name: p["quantiles_ms"] for name, p in record["paths"].items()}`` of a
        :func:`rlkit.bench.infer.bench_infer` record.
    :param title: axes title.
    :param ax: axes to draw into; a new figure is made when ``None``.
    :return: the figure (one line per label).
    """
    if not isinstance(quantiles, Mapping) or not quantiles:
        raise ValueError("quantiles must be a non-empty {label: [101 percentiles]} dict")
    pct = np.arange(101)
    fig, ax = figure_and_axes(ax, (7, 4))
    for i, (lab, q) in enumerate(quantiles.items()):
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (101,) or np.any(q <= 0) or np.any(np.diff(q) < 0):
            raise ValueError(f"quantiles[{lab!r}] must be 101 increasing positive times in ms")
        color = f"C{i % 10}"
        ax.plot(q, pct, color=color, linewidth=2, label=f"{lab}: p50 {q[50]:.3g} ms")
        ax.plot(q[[50, 99]], [50, 99], "o", color=color, markersize=5)
    ax.set_xscale("log")
    plain_log_axis(ax.xaxis)  # 0.05, 0.1, 0.2: plain numbers, no crowded minor labels
    for level in (50, 99):
        ax.axhline(level, color="0.6", linewidth=0.8, linestyle=":")
        # On the left, where no curve has got up to the line yet; above it, inside the frame.
        ax.text(0.005, level, f"p{level}", transform=ax.get_yaxis_transform(), ha="left",
                va="bottom", fontsize="small", color="0.4")  # fmt: skip
    ax.set_xlabel("milliseconds per decision (log scale)")
    ax.set_ylabel("% of decisions at most this slow")
    ax.set_ylim(0, 106)
    ax.set_yticks(range(0, 101, 20))
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3, which="both")
    if title:
        ax.set_title(title)
    return fig


def plot_scores(
    score_lists: Mapping[str, Any],
    ylabel: str = "episode return",
    title: str | None = "Score distribution",
    ax: Axes | None = None,
    seed: int = 0,
) -> Figure:
    """Score distributions side by side: a box plot with every episode as a jittered dot.

    :param score_lists: ``{label: scores}``; scores may be a list of numbers or an
        :class:`~rlkit.evaluation.EvalResult` (its ``.scores``).
    :param ylabel: y-axis label.
    :param title: axes title.
    :param ax: axes to draw into; a new figure is made when ``None``.
    :param seed: seed of the horizontal jitter (the dots don't move between redraws).
    :return: the figure (one dot collection per label).
    """
    if not isinstance(score_lists, Mapping) or not score_lists:
        raise ValueError("score_lists must be a non-empty {label: [score, ...]} dict")
    labels, data = [], []
    for lab, scores in score_lists.items():
        arr = np.asarray(getattr(scores, "scores", scores), dtype=np.float64).ravel()
        if arr.size == 0:
            raise ValueError(f"score_lists[{lab!r}] is empty")
        labels.append(str(lab))
        data.append(arr)
    fig, ax = figure_and_axes(ax, (max(4.0, 1.6 * len(data) + 1.5), 4))
    pos = np.arange(1, len(data) + 1)
    ax.boxplot(data, positions=pos, widths=0.5, showfliers=False, medianprops={"color": "black"})
    rng = np.random.default_rng(seed)
    for i, arr in enumerate(data):
        jitter = rng.uniform(-0.15, 0.15, size=arr.size)
        ax.scatter(pos[i] + jitter, arr, s=14, alpha=0.6, color=f"C{i % 10}", zorder=3)
    # Tick labels carry n and the mean, the two numbers a reader asks for first.
    ax.set_xticks(
        pos,
        [f"{lab}\nn={a.size}, mean {a.mean():.3g}" for lab, a in zip(labels, data, strict=True)],
    )
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _frame_image(frame: Any) -> np.ndarray:
    a = np.asarray(frame)
    if a.ndim == 2:
        return a
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        return a  # (H, W, 3) colour, or RGBA
    if a.ndim == 3:
        return a[-1]  # (C, H, W) frame stack: the newest frame is last
    raise ValueError(f"a frame must be (H, W), (H, W, 3) or (C, H, W), got shape {a.shape}")


def show_frames(
    frames: Any,
    ncols: int = 4,
    titles: Sequence[str] | None = None,
    max_frames: int | None = 32,
    cell_size: float = 2.4,
) -> Figure:
    """A grid of game frames.

    :param frames: a list or array of frames, each ``(H, W)`` grayscale, ``(H, W, 3)`` colour or
        ``(C, H, W)`` stacked grayscale (the last, newest frame of the stack is shown). An array
        is a batch: ``(N, H, W)``, ``(N, H, W, 3)`` or ``(N, C, H, W)``.
    :param ncols: images per row.
    :param titles: one title per frame; frame indices are used when ``None``.
    :param max_frames: show at most this many frames, evenly spaced (``None``: all).
    :param cell_size: width in inches of one image.
    :return: the figure.
    """
    items = list(frames)
    if not items:
        raise ValueError("frames is empty")
    if not isinstance(ncols, int | np.integer) or ncols < 1:
        raise ValueError(f"ncols must be an integer ≥ 1, got {ncols!r}")
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"got {len(titles)} titles for {len(items)} frames")
    index = np.arange(len(items))
    if max_frames is not None and len(items) > max_frames:
        index = np.unique(np.linspace(0, len(items) - 1, max_frames).round().astype(int))
    images = [_frame_image(items[i]) for i in index]
    names = [titles[i] for i in index] if titles is not None else [f"#{i}" for i in index]
    ncols = min(int(ncols), len(images))
    nrows = math.ceil(len(images) / ncols)
    h, w = images[0].shape[:2]
    fig, axes = subplots(
        nrows=nrows,
        ncols=ncols,
        squeeze=False,
        figsize=(cell_size * ncols, (cell_size * h / w + 0.35) * nrows),
        layout="constrained",
    )
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= len(images):
            ax.set_visible(False)  # a spare cell of the last row: nothing to show
            continue
        img = images[k]
        if img.ndim == 2:
            vmax = 255 if img.dtype == np.uint8 else None
            ax.imshow(
                img, cmap="gray", vmin=0 if vmax else None, vmax=vmax, interpolation="nearest"
            )
        else:
            ax.imshow(img, interpolation="nearest")
        ax.set_title(names[k], fontsize="small")
    return fig
