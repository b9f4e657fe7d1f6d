"""Tests for rlkit.ui.distributed_charts: what each figure draws, and clear errors on bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: tests never open windows

import matplotlib.pyplot as plt
import numpy as np
import pytest

from rlkit.bench.projection import SOURCE_RESULT, Measured, project
from rlkit.ui import distributed_charts as charts

ROWS = [
    {"mb": 0.1, "median_s": 0.001},
    {"mb": 1.0, "median_s": 0.002},
    {"mb": 10.0, "median_s": 0.015},
]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_shares_stacks_the_phases_and_fills_the_rest_with_other():
    ax = charts.plot_shares({"run": {"env": 0.5, "learner": 0.3}, "b": {"env": 0.2}}).axes[0]
    widths = {c.get_label(): [p.get_width() for p in c] for c in ax.containers}
    assert list(widths) == ["env", "learner", "other"]
    np.testing.assert_allclose(widths["other"], [0.2, 0.8])
    np.testing.assert_allclose(widths["learner"], [0.3, 0.0])
    with pytest.raises(ValueError, match="non-empty"):
        charts.plot_shares({})
    with pytest.raises(ValueError, match="fractions"):
        charts.plot_shares({"a": {"env": 3.0}})


def test_plot_worker_scaling_draws_each_setup_with_its_own_ideal_line():
    ax = charts.plot_worker_scaling({"ray": {"1": 100.0, "2": 150.0}, "vec": {1: 80, 2: 170}})
    ax = ax.axes[0]
    assert len(ax.lines) == 4
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [100, 200])  # ray's ideal
    np.testing.assert_allclose(ax.lines[3].get_ydata(), [80, 160])
    labels = [t.get_text() for t in ax.texts]
    assert "75% of ideal" in labels and "106% of ideal" in labels
    with pytest.raises(ValueError, match="non-empty"):
        charts.plot_worker_scaling({"ray": {}})
    with pytest.raises(ValueError, match="counts must be > 0"):
        charts.plot_worker_scaling({"ray": {0: 1.0}})


def test_allreduce_ms_at_interpolates_and_extends_the_rows():
    assert charts.allreduce_ms_at(ROWS, 1.0) == pytest.approx(2.0)
    assert charts.allreduce_ms_at(ROWS, 0.01) == pytest.approx(1.0)  # the fixed cost
    assert charts.allreduce_ms_at(ROWS, 20.0) == pytest.approx(30.0)  # the cost per MB
    mid = charts.allreduce_ms_at(ROWS, np.sqrt(0.1 * 1.0))
    assert mid == pytest.approx(np.sqrt(1.0 * 2.0))  # log-log halfway


def test_plot_allreduce_marks_each_model_on_the_curve():
    ax = charts.plot_allreduce(ROWS, marks={"tiny": 0.01, "mid": 1.0}).axes[0]
    squares = [ln for ln in ax.lines if ln.get_marker() == "s"]
    assert [ln.get_ydata()[0] for ln in squares] == pytest.approx([1.0, 2.0])
    assert any("tiny: 1 ms" == t.get_text() for t in ax.get_legend().get_texts())
    with pytest.raises(ValueError, match="empty"):
        charts.plot_allreduce([])


def example_measured() -> Measured:
    """Measured costs of the size notebook 08 sees (also drawn by tests/test_figure_check.py)."""
    return Measured(
        steps_to_score=1e6,
        steps_per_s_per_worker=500.0,
        workers_per_machine=2,
        fragment_steps=64,
        bytes_per_step=1350.0,
        transfer_s_per_mb=0.01,
        weights_mb=0.1,
        learner_s_per_step=5e-4,
        allreduce_s_per_mb=0.01,
        straggler_cv=0.1,
    )


def test_plot_projection_circles_where_it_breaks_and_draws_the_source():
    m = example_measured()
    counts = [1, 2, 4, 8, 16, 32, 64]
    proj = {"central": project(m, counts), "allreduce": project(m, counts, "allreduce")}
    fig = charts.plot_projection(proj, source=SOURCE_RESULT)
    left, right = fig.axes
    assert right.get_xscale() == "log" and left.get_yscale() == "log"
    texts = [t.get_text() for t in right.texts]
    assert any(t.endswith(": learner") for t in texts)  # the central learner breaks
    star = [ln for ln in right.lines if ln.get_marker() == "*"]
    assert star and star[0].get_ydata()[0] == pytest.approx(600 / 21)
    with pytest.raises(ValueError, match="non-empty"):
        charts.plot_projection({})
