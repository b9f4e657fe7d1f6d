"""Figures for training runs, evaluations and benchmarks.

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` and never calls
``plt.show()``, so the same code works in a notebook (the figure is displayed), in a script
(``fig.savefig(...)``) and on a headless machine. Functions that draw one panel accept ``ax=`` to
draw into an existing axes (the dashboard uses this to redraw its live figure); the figure of
that axes is returned.

Runs are given as :class:`~rlkit.records.History` objects, :class:`TrainResult` objects
(their ``.history`` is used) or dicts written by ``History.to_dict`` (e.g. a ``history.json``
loaded back), alone, in a list, or in a ``{label: run}`` dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rlkit.records import History

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "moving_average",
    "plot_bars",
    "plot_eval",
    "plot_mean_spread",
    "plot_returns",
    "plot_scaling",
    "plot_scores",
    "plot_time_split",
    "show_frames",
]

_X_LABELS = {"steps": "env steps", "time": "training time (s)"}


# -- helpers ----------------------------------------------------------------------------------


def _subplots(**kwargs: Any) -> tuple[Figure, Any]:
    # pyplot is imported here rather than at module level so `import rlkit.ui.plots` stays cheap
    # and never picks a backend by itself.
    import matplotlib.pyplot as plt

    return plt.subplots(**kwargs)


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    return _subplots(figsize=figsize, layout="constrained")


def as_history(run: Any) -> History:
    """A History from a History, a TrainResult-like object or a ``History.to_dict`` dict."""
    if isinstance(run, History):
        return run
    inner = getattr(run, "history", None)
    if isinstance(inner, History):
        return inner
    if isinstance(run, Mapping) and "episode_returns" in run:
        return History.from_dict(dict(run))
    raise TypeError(
        f"expected a History, a TrainResult or a History.to_dict() dict, got {type(run).__name__}"
    )


def _is_single_run(obj: Any) -> bool:
    return (
        isinstance(obj, History)
        or isinstance(getattr(obj, "history", None), History)
        or (isinstance(obj, Mapping) and "episode_returns" in obj)
    )


def _labelled_runs(
    runs: Any, label: str | Sequence[str] | None
) -> list[tuple[str | None, History]]:
    """Normalise one run, a list of runs or a ``{label: run}`` dict to ``[(label, History)]``."""
    if _is_single_run(runs):
        if label is not None and not isinstance(label, str):
            raise ValueError("label must be a string when a single run is given")
        return [(label, as_history(runs))]
    if isinstance(runs, Mapping):
        if not runs:
            raise ValueError("no runs given: the dict of runs is empty")
        if label is not None:
            raise ValueError("label must be None when runs are given as a {label: run} dict")
        return [(str(k), as_history(v)) for k, v in runs.items()]
    if isinstance(runs, Sequence) and not isinstance(runs, str):
        if len(runs) == 0:
            raise ValueError("no runs given: the list of runs is empty")
        if label is None:
            labels: list[str | None] = [f"run {i}" for i in range(len(runs))]
            if len(runs) == 1:
                labels = [None]
        elif isinstance(label, str):
            labels = [f"{label} {i}" for i in range(len(runs))] if len(runs) > 1 else [label]
        else:
            if len(label) != len(runs):
                raise ValueError(f"got {len(label)} labels for {len(runs)} runs")
            labels = list(label)
        return [(lab, as_history(r)) for lab, r in zip(labels, runs, strict=True)]
    raise TypeError(
        f"expected a History, a list of Histories or a {{label: History}} dict, "
        f"got {type(runs).__name__}"
    )


def _check_x(x: str) -> None:
    if x not in _X_LABELS:
        raise ValueError(f"x must be one of {', '.join(map(repr, _X_LABELS))}, got {x!r}")


def _fmt(value: float, k_from: float = 1e4) -> str:
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


def _short_ticks(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    # 200000 reads as "200k": large counts otherwise get a cramped ×1e5 offset label.
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _fmt(v, k_from=1e3)))


def _secs(v: float) -> str:
    return f"{v:.0f}s" if abs(v) >= 10 else f"{v:.1f}s"


def _steps_axis(ax: Axes, x: str) -> None:
    ax.set_xlabel(_X_LABELS[x])
    if x == "steps":
        _short_ticks(ax.xaxis)


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over ``window`` values; the first points average what exists so far.

    :param values: the series.
    :param window: number of values averaged (≥ 1).
    :return: an array as long as ``values``.
    """
    if not isinstance(window, int | np.integer) or window < 1:
        raise ValueError(f"window must be an integer ≥ 1, got {window!r}")
    y = np.asarray(values, dtype=np.float64)
    if y.size == 0:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    idx = np.arange(1, y.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def _returns_xy(h: History, x: str) -> tuple[np.ndarray, np.ndarray]:
    xs = h.episode_steps if x == "steps" else h.episode_times
    return np.asarray(xs, dtype=np.float64), np.asarray(h.episode_returns, dtype=np.float64)


def _eval_xyz(h: History, x: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = h.eval_steps if x == "steps" else h.eval_times
    return (
        np.asarray(xs, dtype=np.float64),
        np.asarray(h.eval_means, dtype=np.float64),
        np.asarray(h.eval_stds, dtype=np.float64),
    )


# -- training curves --------------------------------------------------------------------------


def plot_returns(
    history_or_histories: Any,
    label: str | Sequence[str] | None = None,
    ax: Axes | None = None,
    window: int = 20,
    x: str = "steps",
    title: str | None = "Episode returns",
) -> Figure:
    """Episode returns of one or several runs: raw (faint) and a moving average (bold).

    :param history_or_histories: a run, a list of runs, or a ``{label: run}`` dict.
    :param label: legend label of a single run, or one label per run of a list.
    :param ax: axes to draw into; a new figure is made when ``None``.
    :param window: episodes in the moving average.
    :param x: ``"steps"`` (env steps) or ``"time"`` (training seconds, evaluation excluded).
    :param title: axes title (``None`` for none).
    :return: the figure (two lines per run that has episodes).
    """
    _check_x(x)
    runs = _labelled_runs(history_or_histories, label)
    moving_average([], window)  # validates window before drawing anything
    fig, ax = _figure_and_axes(ax, (7, 4))
    drawn = 0
    for i, (lab, h) in enumerate(runs):
        xs, ys = _returns_xy(h, x)
        if xs.size == 0:
            continue
        color = f"C{i % 10}"
        ax.plot(xs, ys, color=color, alpha=0.25, linewidth=0.8)
        avg_label = f"{lab} (mean of last {window})" if lab else f"mean of last {window}"
        if len(runs) > 1:
            avg_label = lab
        ax.plot(xs, moving_average(ys, window), color=color, linewidth=2, label=avg_label)
        drawn += 1
    if drawn == 0:
        _note(ax, "no finished episodes yet")
    else:
        ax.legend(loc="best", fontsize="small")
    _steps_axis(ax, x)
    ax.set_ylabel("episode return")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig


def plot_eval(
    history_or_list: Any,
    label: str | Sequence[str] | None = None,
    ax: Axes | None = None,
    x: str = "steps",
    band: bool = True,
    title: str | None = "Greedy evaluation",
) -> Figure:
    """Greedy evaluation scores over training: mean with a ±1 std band.

    :param history_or_list: a run, a list of runs, or a ``{label: run}`` dict.
    :param label: legend label of a single run, or one label per run of a list.
    :param ax: axes to draw into; a new figure is made when ``None``.
    :param x: ``"steps"`` or ``"time"``.
    :param band: shade mean ± std of the evaluation episodes.
    :param title: axes title (``None`` for none).
    :return: the figure (one line, and one band if ``band``, per run that has evaluations).
    """
    _check_x(x)
    runs = _labelled_runs(history_or_list, label)
    fig, ax = _figure_and_axes(ax, (7, 4))
    drawn = 0
    labelled = False
    for i, (lab, h) in enumerate(runs):
        xs, mean, std = _eval_xyz(h, x)
        if xs.size == 0:
            continue
        color = f"C{i % 10}"
        ax.plot(
            xs,
            mean,
            color=color,
            marker="o",
            markersize=3,
            linewidth=1.5,
            label=lab or "mean ± std",
        )
        labelled = labelled or bool(lab) or band
        if band and std.size == mean.size:
            ax.fill_between(xs, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
        drawn += 1
    if drawn == 0:
        _note(ax, "no evaluations yet")
    elif labelled:
        ax.legend(loc="best", fontsize="small")
    _steps_axis(ax, x)
    ax.set_ylabel("greedy return")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig


def _seed_curve(h: History, metric: str, x: str, window: int) -> tuple[np.ndarray, np.ndarray]:
    if metric == "eval":
        xs, ys, _ = _eval_xyz(h, x)
        return xs, ys
    xs, ys = _returns_xy(h, x)
    return xs, moving_average(ys, window) if ys.size else ys


def plot_mean_spread(
    curves: Mapping[str, Sequence[Any]],
    x: str = "steps",
    metric: str = "eval",
    n_points: int = 50,
    band: str = "std",
    window: int = 20,
    show_seeds: bool = False,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Compare settings over several seeds: mean curve and a shaded spread per setting.

    Each seed's curve is interpolated onto a grid of ``n_points`` x values spanning the range
    that every seed of that setting covers (no extrapolation), then averaged.

    :param curves: ``{label: [run_seed0, run_seed1, ...]}``, e.g. uniform vs prioritized replay.
    :param x: ``"steps"`` or ``"time"``.
    :param metric: ``"eval"`` (greedy evaluation means) or ``"returns"`` (moving average of
        training episode returns over ``window`` episodes).
    :param n_points: grid size.
    :param band: ``"std"`` (mean ± 1 std over seeds) or ``"minmax"`` (from the lowest to the
        highest seed).
    :param window: moving-average window for ``metric="returns"``.
    :param show_seeds: also draw each seed's curve, thin.
    :param ax: axes to draw into; a new figure is made when ``None``.
    :param title: axes title; a default names the metric and the band.
    :return: the figure (one mean line and one band per setting, plus seeds if asked).
    """
    _check_x(x)
    if metric not in ("eval", "returns"):
        raise ValueError(f"metric must be 'eval' or 'returns', got {metric!r}")
    if band not in ("std", "minmax"):
        raise ValueError(f"band must be 'std' or 'minmax', got {band!r}")
    if not isinstance(n_points, int | np.integer) or n_points < 2:
        raise ValueError(f"n_points must be an integer ≥ 2, got {n_points!r}")
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty {label: [History, ...]} dict")
    grids: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for lab, seeds in curves.items():
        if _is_single_run(seeds):
            seeds = [seeds]
        if not isinstance(seeds, Sequence) or len(seeds) == 0:
            raise ValueError(f"curves[{lab!r}] must be a non-empty list of runs (one per seed)")
        per_seed = [_seed_curve(as_history(s), metric, x, window) for s in seeds]
        for k, (xs, _ys) in enumerate(per_seed):
            if xs.size < 2:
                what = "evaluations" if metric == "eval" else "episodes"
                raise ValueError(
                    f"curves[{lab!r}] seed {k} has {xs.size} {what}; at least 2 are needed "
                    "to interpolate"
                )
        lo = max(float(xs[0]) for xs, _ in per_seed)
        hi = min(float(xs[-1]) for xs, _ in per_seed)
        if hi <= lo:
            raise ValueError(
                f"the seeds of curves[{lab!r}] share no common {_X_LABELS[x]} range "
                f"(latest start {lo:g} ≥ earliest end {hi:g})"
            )
        grid = np.linspace(lo, hi, int(n_points))
        grids[str(lab)] = (grid, np.stack([np.interp(grid, xs, ys) for xs, ys in per_seed]))

    fig, ax = _figure_and_axes(ax, (7, 4))
    for i, (lab, (grid, ys)) in enumerate(grids.items()):
        color = f"C{i % 10}"
        mean = ys.mean(axis=0)
        if band == "std":
            lower, upper = mean - ys.std(axis=0), mean + ys.std(axis=0)
        else:
            lower, upper = ys.min(axis=0), ys.max(axis=0)
        if show_seeds:
            for row in ys:
                ax.plot(grid, row, color=color, alpha=0.35, linewidth=0.7)
        ax.fill_between(grid, lower, upper, color=color, alpha=0.2, linewidth=0)
        ax.plot(
            grid,
            mean,
            color=color,
            linewidth=2,
            label=f"{lab} ({ys.shape[0]} seed{'s' if ys.shape[0] > 1 else ''})",
        )
    ax.legend(loc="best", fontsize="small")
    _steps_axis(ax, x)
    ax.set_ylabel("greedy return" if metric == "eval" else f"episode return (mean of {window})")
    if title is None:
        spread = "± 1 std" if band == "std" else "min–max"
        what = "Greedy evaluation" if metric == "eval" else "Training returns"
        title = f"{what}: mean over seeds, band {spread}"
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig


def plot_time_split(
    histories: Any,
    normalize: bool = False,
    ax: Axes | None = None,
    title: str | None = "Where the training time goes",
) -> Figure:
    """Stacked horizontal bars of seconds per phase (env, act, learner…, other), one per run.

    The phases are read by key from each run's ``History.time_split()``, so an algorithm's own
    phases (communication time, say) get their own segment.

    :param histories: ``{label: run}`` (a single run is accepted too).
    :param normalize: show fractions of each run's training time instead of seconds.
    :param ax: axes to draw into; a new figure is made when ``None``.
    :param title: axes title (``None`` for none).
    :return: the figure (one bar container per phase, ``other`` last).
    """
    runs = _labelled_runs(histories, None)
    labels = [lab or "run" for lab, _ in runs]
    keys: list[str] = []
    for _, h in runs:  # phases in first-seen order, "other" last
        keys += [k for k in h.time_split() if k not in keys and k != "other"]
    keys.append("other")
    splits = np.array([[h.time_split().get(k, 0.0) for k in keys] for _, h in runs], dtype=float)
    totals = splits.sum(axis=1)
    if normalize:
        splits = splits / np.where(totals > 0, totals, 1.0)[:, None]
    fig, ax = _figure_and_axes(ax, (8, 1.5 + 0.55 * len(runs)))
    y = np.arange(len(runs))
    left = np.zeros(len(runs))
    widest = float(splits.sum(axis=1).max()) or 1.0
    for j, key in enumerate(keys):
        widths = splits[:, j]
        color = "0.7" if key == "other" else f"C{j}"
        bars = ax.barh(y, widths, left=left, height=0.6, color=color, label=key)
        # Label only segments wide enough to hold their text, so small ones don't overlap.
        texts = [
            (f"{w:.0%}" if normalize else _secs(w)) if w >= 0.1 * widest else "" for w in widths
        ]
        ax.bar_label(bars, labels=texts, label_type="center", fontsize="small")
        left += widths
    if not normalize:
        for yi, total in zip(y, totals, strict=True):
            ax.text(total + 0.01 * widest, yi, f" {_secs(total)}", va="center", fontsize="small")
        ax.set_xlim(0, widest * 1.15)
        ax.set_xlabel("seconds of training (evaluation excluded)")
    else:
        ax.set_xlim(0, 1)
        ax.set_xlabel("fraction of training time")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()  # first run on top, in the order given
    # Outside on the right: inside, the legend would sit on top of the bars.
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize="small")
    if title:
        ax.set_title(title)
    return fig


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
    fig, ax = _figure_and_axes(ax, (max(4.0, 1.1 * len(names) + 1.5), 4))
    bars = ax.bar(names, vals, color=[f"C{i % 10}" for i in range(len(names))])
    ax.bar_label(bars, labels=[_fmt(v) for v in vals], padding=2, fontsize="small")
    if log:
        ax.set_yscale("log")
        ax.set_ylim(top=vals.max() * 3)  # headroom for the value labels
    else:
        top = max(vals.max(), 0.0)
        ax.set_ylim(top=top * 1.12 if top > 0 else None)
        _short_ticks(ax.yaxis)
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
    fig, ax = _figure_and_axes(ax, (6, 4))
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
    ax.set_xticks(x, [_fmt(v) for v in x])
    _short_ticks(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
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
    fig, ax = _figure_and_axes(ax, (max(4.0, 1.6 * len(data) + 1.5), 4))
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
    fig, axes = _subplots(
        nrows=nrows,
        ncols=ncols,
        squeeze=False,
        figsize=(cell_size * ncols, (cell_size * h / w + 0.35) * nrows),
        layout="constrained",
    )
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= len(images):
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
