"""Named-config sweeps over seeds, and comparing runs at equal wall-clock time."""

from __future__ import annotations

import math

import pytest

from rlkit.records import EvalRow, History, TrainResult
from rlkit.sweeps import eval_at_time, final_eval, summarize, sweep


def _result(evals):
    h = History()
    for step, seconds, mean in evals:
        h.add_eval(EvalRow(step, seconds, mean, 0.0, (mean,)))
    return TrainResult(config=None, env_spec=None, history=h, device="cpu", algo="dqn")


def test_eval_at_time_takes_the_latest_evaluation_within_the_budget():
    r = _result([(100, 1.0, 10.0), (200, 2.5, 30.0), (300, 4.0, 20.0)])
    assert eval_at_time(r, 0.5) != eval_at_time(r, 0.5)  # nan: nothing evaluated yet
    assert eval_at_time(r, 1.0) == 10.0 and eval_at_time(r, 3.9) == 30.0
    assert eval_at_time(r, 99) == 20.0 == final_eval(r)
    assert math.isnan(final_eval(_result([])))


def test_summarize_gives_mean_spread_and_seeds():
    runs = {"a": [_result([(1, 1, 10.0)]), _result([(1, 1, 30.0)])], "b": [_result([(1, 1, 5.0)])]}
    table = summarize(runs)
    assert table["a"] == {"mean": 20.0, "std": 10.0, "min": 10.0, "max": 30.0, "per_seed": [10, 30]}
    assert table["b"]["mean"] == 5.0


@pytest.mark.slow
def test_sweep_trains_each_variant_once_per_seed(capsys):
    runs = sweep(
        "cartpole",
        {"plain": {}, "per": {"prioritized": True}},
        seeds=[0, 3],
        total_steps=200,
        learning_starts=64,
        batch_size=32,
        eval_interval=100,
        eval_episodes=1,
    )
    assert list(runs) == ["plain", "per"] and all(len(v) == 2 for v in runs.values())
    assert [r.config.seed for r in runs["per"]] == [0, 3]
    assert all(r.config.prioritized for r in runs["per"]) and runs["plain"][0].config.lr > 0
    assert capsys.readouterr().out.count("final eval") == 4
    with pytest.raises(ValueError, match="at least one seed"):
        sweep("cartpole", {"x": {}}, seeds=[])
