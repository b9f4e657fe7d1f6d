"""Tests for rlkit.ui.plots: artists drawn on synthetic histories, and clear errors on bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: tests never open windows

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from rlkit.records import History
from rlkit.ui import plots


def make_history(seed: int = 0, episodes: int = 40, evals: int = 6, total: int = 10_000):
    rng = np.random.default_rng(seed)
    h = History()
    steps = np.sort(rng.choice(np.arange(50, total), size=episodes, replace=False))
    h.episode_steps = steps.tolist()
    h.episode_returns = (steps / 100 + rng.normal(0, 5, episodes)).tolist()
    h.episode_lengths = [25] * episodes
    h.episode_times = (steps / 1000).tolist()
    es = np.linspace(total / evals, total, evals).astype(int)
    h.eval_steps = es.tolist()
    h.eval_times = (es / 1000).tolist()
    h.eval_means = (es / 90 + rng.normal(0, 3, evals)).tolist()
    h.eval_stds = rng.uniform(1, 4, evals).tolist()
    h.env_steps, h.episodes, h.updates = total, episodes, total // 4
    h.phase_seconds = {"env": 4.0, "act": 1.0, "learner": 3.0}
    h.train_seconds = 9.0
    return h


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def bar_containers(ax):
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def test_moving_average_is_trailing_and_starts_with_what_exists():
    np.testing.assert_allclose(plots.moving_average([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    assert plots.moving_average([], 5).size == 0
    with pytest.raises(ValueError, match="window"):
        plots.moving_average([1.0], 0)


def test_plot_returns_single_and_several_runs():
    fig = plots.plot_returns(make_history())
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) == 2  # raw + moving average
    np.testing.assert_allclose(
        ax.lines[1].get_ydata()[-1], np.mean(make_history().episode_returns[-20:])
    )

    fig = plots.plot_returns({"uniform": make_history(1), "per": make_history(2)}, x="time")
    ax = fig.axes[0]
    assert len(ax.lines) == 4
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["uniform", "per"]
    assert ax.get_xlabel() == "training time (s)"

    fig = plots.plot_returns([make_history(1), make_history(2)], label=["a", "b"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b"]


def test_plot_returns_draws_into_given_axes_and_accepts_dicts_and_results():
    fig, ax = plt.subplots()

    class Result:  # TrainResult-like: anything with a .history
        history = make_history()

    assert plots.plot_returns(Result(), ax=ax) is fig
    assert plots.plot_returns(make_history().to_dict()).axes[0].lines


def test_plot_returns_without_episodes_shows_a_note():
    ax = plots.plot_returns(History()).axes[0]
    assert not ax.lines
    assert "no finished episodes" in ax.texts[0].get_text()


@pytest.mark.parametrize(
    "args, match",
    [
        (({},), "empty"),
        (([],), "empty"),
        (([History(), History()], ["only one"]), "1 labels for 2 runs"),
        ((History(),), None),
    ],
)
def test_plot_returns_bad_inputs(args, match):
    if match is None:
        with pytest.raises(ValueError, match="x must be one of"):
            plots.plot_returns(*args, x="episodes")
        return
    with pytest.raises(ValueError, match=match):
        plots.plot_returns(*args)


def test_plot_returns_rejects_things_that_are_not_runs():
    with pytest.raises(TypeError, match="History"):
        plots.plot_returns(42)


def test_plot_eval_line_and_band_per_run():
    fig = plots.plot_eval([make_history(1), make_history(2)], label=["a", "b"])
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    assert len(ax.collections) == 2
    ax = plots.plot_eval(make_history(), band=False, x="time").axes[0]
    assert len(ax.lines) == 1 and not ax.collections
    assert "no evaluations" in plots.plot_eval(History()).axes[0].texts[0].get_text()


def test_plot_mean_spread_minmax_band_covers_every_seed():
    seeds = [make_history(s) for s in range(3)]
    fig = plots.plot_mean_spread({"uniform": seeds, "per": seeds[:2]}, band="minmax", n_points=30)
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and len(ax.collections) == 2
    grid = ax.lines[0].get_xdata()
    assert len(grid) == 30
    curves = np.stack([np.interp(grid, h.eval_steps, h.eval_means) for h in seeds])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), curves.mean(axis=0))
    verts = ax.collections[0].get_paths()[0].vertices
    for xv, lo, hi in zip(grid, curves.min(axis=0), curves.max(axis=0), strict=True):
        ys = verts[np.isclose(verts[:, 0], xv), 1]
        assert ys.min() <= lo + 1e-9 and ys.max() >= hi - 1e-9


def test_plot_mean_spread_std_band_and_returns_metric():
    seeds = [make_history(s) for s in range(3)]
    ax = plots.plot_mean_spread({"a": seeds}, metric="returns", show_seeds=True).axes[0]
    assert len(ax.lines) == 4  # three seeds + the mean
    assert len(ax.collections) == 1
    assert "std" in ax.get_title()


@pytest.mark.parametrize(
    "curves, kwargs, match",
    [
        ({}, {}, "non-empty"),
        ({"a": []}, {}, "non-empty list"),
        ({"a": [History()]}, {}, "at least 2"),
        ({"a": [make_history()]}, {"band": "iqr"}, "band"),
        ({"a": [make_history()]}, {"metric": "loss"}, "metric"),
        ({"a": [make_history()]}, {"n_points": 1}, "n_points"),
    ],
)
def test_plot_mean_spread_bad_inputs(curves, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plots.plot_mean_spread(curves, **kwargs)


def test_plot_mean_spread_needs_overlapping_seeds():
    early, late = make_history(0), make_history(1)
    early.eval_steps = [1, 2, 3]
    early.eval_means = [0.0, 1.0, 2.0]
    late.eval_steps = [10, 20]
    late.eval_means = [0.0, 1.0]
    with pytest.raises(ValueError, match="common"):
        plots.plot_mean_spread({"a": [early, late]})


def test_plot_time_split_stacks_four_categories():
    runs = {"cpu": make_history(0), "gpu": make_history(1)}
    ax = plots.plot_time_split(runs).axes[0]
    bars = bar_containers(ax)
    assert len(bars) == 4 and all(len(b) == 2 for b in bars)
    # Segments are stacked: each starts where the previous one ended.
    assert bars[1][0].get_x() == pytest.approx(4.0)
    assert bars[3][0].get_x() + bars[3][0].get_width() == pytest.approx(9.0)
    ax = plots.plot_time_split(runs, normalize=True).axes[0]
    last = bar_containers(ax)[3][0]
    assert last.get_x() + last.get_width() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="empty"):
        plots.plot_time_split({})


def test_plot_bars_annotates_values():
    ax = plots.plot_bars({"cartpole": 40_000, "doom": 2500.5}, ylabel="frames/s", title="t").axes[0]
    (bars,) = bar_containers(ax)
    assert len(bars) == 2
    assert [t.get_text() for t in ax.texts] == ["40k", "2500"]
    ax = plots.plot_bars({"a": 10.0, "b": 1000.0}, log=True).axes[0]
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="non-empty"):
        plots.plot_bars({})
    with pytest.raises(ValueError, match="> 0"):
        plots.plot_bars({"a": 0.0}, log=True)
    with pytest.raises(ValueError, match="not finite: a"):
        plots.plot_bars({"a": float("nan")})


def test_plot_scaling_with_ideal_line():
    ax = plots.plot_scaling([1, 2, 4], [100, 180, 300]).axes[0]
    assert len(ax.lines) == 2
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [100, 200, 400])
    assert "90%" in [t.get_text() for t in ax.texts]
    assert len(plots.plot_scaling([1, 2], [1, 2], ideal=False).axes[0].lines) == 1
    with pytest.raises(ValueError, match="differ in length"):
        plots.plot_scaling([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="empty"):
        plots.plot_scaling([], [])
    with pytest.raises(ValueError, match="increasing"):
        plots.plot_scaling([2, 1], [1, 2])


def test_plot_scores_one_strip_per_label():
    class Eval:  # EvalResult-like
        scores = [1.0, 2.0, 3.0]

    ax = plots.plot_scores({"random": [0.0, -1.0, 2.0, 0.5], "trained": Eval()}).axes[0]
    assert len(ax.collections) == 2
    assert len(ax.collections[0].get_offsets()) == 4
    assert ax.get_xticklabels()[1].get_text().startswith("trained\nn=3")
    with pytest.raises(ValueError, match="non-empty"):
        plots.plot_scores({})
    with pytest.raises(ValueError, match=r"'b'.*empty"):
        plots.plot_scores({"a": [1.0], "b": []})


def test_show_frames_layouts():
    gray = np.zeros((5, 12, 16), dtype=np.uint8)  # a batch of five (H, W) frames
    fig = plots.show_frames(gray, ncols=2)
    assert len(fig.axes) == 6  # 3 rows × 2
    assert sum(1 for ax in fig.axes if ax.images) == 5
    stacks = [np.zeros((4, 12, 16), dtype=np.uint8) for _ in range(2)]
    stacks[0][-1] = 255  # the newest frame of the stack is the one shown
    fig = plots.show_frames(stacks, titles=["a", "b"])
    assert fig.axes[0].images[0].get_array().max() == 255
    assert fig.axes[1].get_title() == "b"
    rgb = np.zeros((3, 12, 16, 3), dtype=np.uint8)
    assert plots.show_frames(rgb).axes[0].images[0].get_array().shape == (12, 16, 3)
    assert sum(1 for ax in plots.show_frames(gray, max_frames=3).axes if ax.images) == 3


def test_show_frames_bad_inputs():
    with pytest.raises(ValueError, match="empty"):
        plots.show_frames([])
    with pytest.raises(ValueError, match="2 titles for 1 frames"):
        plots.show_frames([np.zeros((4, 4))], titles=["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        plots.show_frames([np.zeros(4)])
    with pytest.raises(ValueError, match="ncols"):
        plots.show_frames([np.zeros((4, 4))], ncols=0)
