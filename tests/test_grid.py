"""The thread/env grid on a tiny budget, the straggler measurement, their commands and the
heat map. CartPole keeps most of it fast; ViZDoom runs are marked slow."""

from __future__ import annotations

import json
import math

import matplotlib
import pytest

from rlkit import cli
from rlkit.bench.grid import bench_grid, bottleneck
from rlkit.bench.straggler import bench_straggler, reset_cost

matplotlib.use("Agg")

# A CartPole PPO so small that each cell trains in well under a second.
TINY = {"n_steps": 16, "n_epochs": 1}
TINY_RUN = dict(
    total_steps=32,
    eval_interval=16,
    eval_episodes=2,
    confirm_episodes=2,
    env_seconds=0.1,
    repeats=1,
    overrides=TINY,
)


@pytest.fixture(scope="module")
def grid():
    """A 2 × 2 grid, both modes, with a target no CartPole policy can reach (max 500)."""
    return bench_grid((1, 2), (1, 2), ("lockstep", "async"), "cartpole_ppo", target=1e6, **TINY_RUN)


@pytest.mark.slow
def test_the_thread_env_grid_on_a_tiny_budget(grid):
    assert grid["benchmark"] == "grid" and {"cpu_model", "torch"} <= set(grid["machine"])
    assert grid["device"] == "cpu" and grid["threads"] == [1, 2] and grid["envs"] == [1, 2]
    assert grid["backends"] == {"lockstep": "sync", "async": "pool"}
    json.dumps(grid)  # JSON-able as it is
    cells = {(c["mode"], c["threads"], c["num_envs"]): c for c in grid["cells"]}
    assert set(cells) == {(m, t, n) for m in ("lockstep", "async") for t in (1, 2) for n in (1, 2)}
    for key, c in cells.items():
        assert c["env_steps_per_s"] > 0, key  # every cell was measured
        assert c["seconds_to_target"] is None and c["reason"], key  # the target was missed
    for key, c in cells.items():  # every cell trained, the async ones on the pool
        assert c["train_steps_per_s"] > 0 and len(c["runs"]) == 1, key
        assert c["runs"][0]["env_steps"] >= 32 and "not reached" in c["reason"]
        assert math.isclose(sum(c["phase_share"].values()), 1.0, rel_tol=1e-6)
        assert set(c["phase_seconds"]) >= {"env", "act", "learner"}
        assert bottleneck(c)[0] in {"env", "act", "learner", "cores"}


def test_a_reached_target_reports_its_seconds():
    # Every CartPole episode lasts ≥ 8 steps, so a target of 5 is met at the first evaluation.
    r = bench_grid((1,), (1,), ("lockstep",), "cartpole_ppo", target=5, **TINY_RUN)
    (cell,) = r["cells"]
    assert cell["seconds_to_target"] > 0 and cell["seeds_reached"] == 1 and cell["reason"] is None
    assert cell["runs"][0]["confirm_mean"] >= 5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"threads": ()}, "threads must be a non-empty list"),
        ({"threads": (0, 1)}, "threads must be a non-empty list"),
        ({"envs": ("2",)}, "envs must be a non-empty list"),
        ({"envs": (2, 2)}, "twice"),
        ({"modes": ("sideways",)}, "modes must be distinct names from lockstep, async"),
        ({"target": float("nan")}, "target must be a finite number"),
        ({"total_steps": 0}, "total_steps must be an integer"),
        ({"seeds": 0}, "seeds must be an integer"),
        ({"env_seconds": 0}, "seconds must be a positive number"),
        ({"preset": "nope"}, "unknown preset 'nope'"),
        ({"lockstep_backend": "async"}, "lockstep_backend must be one of"),
        # the preset's 8 envs x 16 steps split into 32 minibatches; a cell's 3 envs x 16 do not
        ({"envs": (3,), "overrides": {**TINY, "n_minibatches": 32}}, "cell lockstep, 1 threads"),
    ],
)
def test_bad_grid_arguments_raise_clear_errors(kwargs, match):
    args = {
        "threads": (1,),
        "envs": (1,),
        "modes": ("lockstep",),
        "preset": "cartpole_ppo",
        "target": 5.0,
        **TINY_RUN,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        bench_grid(**args)


def _cell(share, alone=1000.0, during=1000.0):
    return {"phase_share": share, "env_steps_per_s": alone, "env_rate_in_training": during}


def test_bottleneck_reads_the_cells_own_numbers():
    learner = _cell({"env": 0.2, "act": 0.1, "learner": 0.6, "other": 0.1})
    assert bottleneck(learner) == ("learner", "learner 60% of training time")
    assert bottleneck(_cell({"env": 0.7, "act": 0.1, "learner": 0.2}))[0] == "env"
    slowed = bottleneck(_cell({"env": 0.7, "act": 0.1, "learner": 0.2}, during=500.0))
    assert slowed[0] == "cores" and "50% of their speed alone" in slowed[1]
    assert bottleneck({"phase_share": None, "reason": "why"}) == (None, "why")


# -- the straggler measurement ------------------------------------------------------------------
@pytest.mark.slow
def test_straggler_structure_on_cartpole():
    r = bench_straggler("CartPole-v1", num_envs=2, seconds=0.2, repeats=1)
    assert r["benchmark"] == "straggler" and "machine" in r
    assert set(r["variants"]) == {"lockstep", "pool", "double_buffered"}
    shapes = {k: (v["num_envs"], v["batch_size"]) for k, v in r["variants"].items()}
    assert shapes == {"lockstep": (2, 2), "pool": (2, 1), "double_buffered": (4, 2)}
    for name, v in r["variants"].items():
        assert v["env_steps_per_s"] > 0 and v["batches"] > v["reset_batches"] > 0, name
        assert v["plain_ms_p50"] > 0
    assert r["variants"]["lockstep"]["wait_share"] >= 0
    assert r["variants"]["pool"]["wait_share"] is None  # no lock-step, no waiting estimate
    assert r["reset_cost"]["reset_ms"] > 0 and r["reset_cost"]["step_ms"] > 0
    json.dumps(r)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_envs": 1}, "num_envs must be an integer ≥ 2"),
        ({"num_envs": 2, "batch_size": 2}, r"batch_size must be an integer in \[1, num_envs - 1"),
        ({"num_envs": 3, "batch_size": 0}, "batch_size must be"),
        ({"seconds": -1}, "seconds must be a positive number"),
    ],
)
def test_straggler_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench_straggler("CartPole-v1", **kwargs)


@pytest.mark.slow
def test_vizdoom_resets_are_counted_whatever_the_load():
    # Which costs more, a reset or a step, is the benchmark's finding (its JSON), not a test's:
    # on a busy machine either can be slower. What holds on any machine: basic ends an episode
    # within 300 tics, so at frame skip 12 every env resets at least once in any 25 lock-step
    # steps, and every reset batch was timed.
    small = {"resolution": (30, 45), "frame_skip": 12}
    cost = reset_cost("vizdoom:basic", small, n=10)
    assert cost["reset_ms"] > 0 and cost["step_ms"] > 0
    r = bench_straggler("vizdoom:basic", num_envs=2, seconds=0.6, repeats=1, env_kwargs=small)
    lock = r["variants"]["lockstep"]
    assert lock["batches"] // 26 <= lock["reset_batches"] <= lock["batches"]
    if lock["reset_batches"]:
        assert lock["reset_ms_p50"] > 0 and lock["wait_env_seconds"] >= 0


# -- the commands --------------------------------------------------------------------------------
GRID_ARGV = (
    "bench grid --preset cartpole_ppo --threads 1 --envs 1 --modes lockstep --steps 32 "
    "--set n_steps=16 --set n_epochs=1 --eval-interval 16 --eval-episodes 1 "
    "--confirm-episodes 1 --env-seconds 0.1 --repeats 1 --quiet"
).split()


def test_cli_grid_json(capsys):
    assert cli.main([*GRID_ARGV, "--target", "1e6", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["benchmark"] == "grid" and len(out["cells"]) == 1
    assert out["cells"][0]["seconds_to_target"] is None and out["budget"]["total_steps"] == 32


@pytest.mark.parametrize(
    "argv, match",
    [
        ([*GRID_ARGV, "--target", "1", "--preset", "nope"], "unknown preset 'nope'"),
        (["bench", "straggler", "--envs", "1", "--quiet"], "num_envs must be an integer ≥ 2"),
    ],
)
def test_cli_bad_values_exit_2_in_one_line(argv, match, capsys):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1
    assert lines[0].startswith("rlkit: error:") and match in lines[0]


# -- the heat map -------------------------------------------------------------------------------
def test_the_heat_map_renders(grid):
    from rlkit.ui.plots import plot_grid

    fig = plot_grid(grid)
    assert len(fig.axes) == 3 * 2 and all(len(ax.images) == 1 for ax in fig.axes)
    labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "–" in labels  # the missed targets are marked, not drawn as numbers
    assert len(labels) == 3 * 2 * 4
    fig = plot_grid(grid, metrics=["env_steps_per_s"])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="unknown metrics"):
        plot_grid(grid, metrics=["speed"])
    with pytest.raises(ValueError, match="grid record"):
        plot_grid({"cells": []})
