"""Figures for training runs (returns, evaluations, seeds, time split); the figures for
benchmarks and evaluations are in :mod:`rlkit.ui.charts` and are re-exported here, so
``plots.plot_bars`` works as well as ``charts.plot_bars``.

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

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rlkit.records import History

# The benchmark and evaluation figures, re-exported so one import serves notebooks.
from rlkit.ui.charts import (
    plot_bars,
    plot_grid,
    plot_ipc_cost,
    plot_latency,
    plot_scaling,
    plot_scores,
    show_frames,
)
from rlkit.ui.figures import figure_and_axes, short_ticks

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "as_history",
    "moving_average",
    "plot_bars",
    "plot_eval",
    "plot_grid",
    "plot_ipc_cost",
    "plot_latency",
    "plot_mean_spread",
    "plot_returns",
    "plot_scaling",
    "plot_scores",
    "plot_time_split",
    "show_frames",
]

_X_LABELS = {"steps": "env steps", "time": "training time (s)"}


# -- helpers ----------------------------------------------------------------------------------


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


def _secs(v: float) -> str:
    return f"{v:.0f}s" if abs(v) >= 10 else f"{v:.1f}s"


def _steps_axis(ax: Axes, x: str) -> None:
    ax.set_xlabel(_X_LABELS[x])
    if x == "steps":
        short_ticks(ax.xaxis)


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
    fig, ax = figure_and_axes(ax, (7, 4))
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
    fig, ax = figure_and_axes(ax, (7, 4))
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

    fig, ax = figure_and_axes(ax, (7, 4))
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
    fig, ax = figure_and_axes(ax, (8, 1.5 + 0.55 * len(runs)))
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
