"""``bench learner`` at a tiny budget: the record's fields, the table, the command line."""

from __future__ import annotations

import json

import pytest
import torch

from rlkit import cli
from rlkit.bench import learner as bench
from rlkit.device_plan import plan_for

MACHINE_KEYS = {"cpu_model", "cpu_cores", "torch", "numpy", "cuda_devices"}
TINY = {"buffer_size": 300}  # a small ring fills at once; the shape is the preset's


@pytest.fixture(scope="module")
def record():
    return bench.bench_learner(
        "cpu", batches=(8, 32), seconds=0.3, repeats=2, threads=1, overrides=TINY
    )


@pytest.mark.slow
def test_record_fields(record):
    r = record
    assert r["benchmark"] == "learner" and MACHINE_KEYS <= set(r["machine"])
    assert r["device"] == "cpu" and r["preset"] == "vizdoom_basic"
    assert r["batches"] == [8, 32]
    assert set(r["updates_per_s"]) == {"8", "32"}
    assert all(isinstance(v, float) and v > 0 for v in r["updates_per_s"].values())
    for key, rounds in r["repeats_updates_per_s"].items():
        assert len(rounds) == 2 and all(x > 0 for x in rounds)
        assert r["transitions_per_s"][key] == pytest.approx(r["updates_per_s"][key] * int(key))
    assert r["loss_finite"] and set(r["final_loss"]) == {"8", "32"}
    assert r["torch_threads"] == 1
    assert r["model"]["observation_shape"] == [1, 30, 45] and r["model"]["n_actions"] == 3
    assert r["buffer"] == {
        "class": "ReplayBuffer",
        "transitions": 300,
        "nbytes": r["buffer"]["nbytes"],
        "on_device": False,
        "pinned": False,
    }
    from rlkit.envs import EnvSpec
    from rlkit.presets import preset

    spec = EnvSpec("vizdoom:basic", (1, 30, 45), "uint8", ("a", "b", "c"), {})
    assert r["device_plan"] == plan_for("cpu", preset("vizdoom_basic", **TINY), spec).describe()
    assert r["command"] == (
        "python -m rlkit bench learner --device cpu --batch 8,32 --preset vizdoom_basic "
        "--seconds 0.3 --repeats 2 --threads 1 --set buffer_size=300 --json"
    )
    json.dumps(r)  # JSON-able as is


def test_table(record):
    text = bench.format_learner_table(record)
    assert "updates/s" in text and "transitions/s" in text
    assert "cudnn autotune: off" in text and "in host memory" in text
    assert text.splitlines()[-1].split()[0] == "32"


def test_the_callers_threads_and_rng_are_left_alone():
    threads, state = torch.get_num_threads(), torch.get_rng_state()
    bench.bench_learner("cpu", batches=(4,), seconds=0.05, repeats=1, threads=2, overrides=TINY)
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), state)


def test_updates_run_at_least_once_and_for_the_time_asked():
    from rlkit.agents.dqn import DQNLearner, make_replay_buffer
    from rlkit.envs import EnvSpec
    from rlkit.presets import preset

    cfg = preset("cartpole", buffer_size=64, batch_size=16)
    spec = EnvSpec("CartPole-v1", (4,), "float32", ("L", "R"), {})
    buffer = make_replay_buffer(cfg, spec, "cpu")
    bench.fill_synthetic(buffer, 2)
    assert len(buffer) == 64
    work = bench.LearnerUpdates(DQNLearner(cfg, (4,), 2, "cpu"), buffer, 16)
    done, elapsed = work.run(0.0)
    assert done == 1 and elapsed > 0
    done, elapsed = work.run(0.1)
    assert done >= 1 and elapsed >= 0.1 and work.learner.updates == done + 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batches": ()}, "non-empty list"),
        ({"batches": (0,)}, "integers ≥ 1"),
        ({"batches": (301,)}, "exceeds the preset's 300 replay transitions"),
        ({"seconds": 0}, "positive"),
        ({"preset": "nope"}, "unknown preset"),
        ({"device": "gpu"}, "unrecognised device"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench.bench_learner(**{"overrides": TINY, "seconds": 0.1, **kwargs})


@pytest.mark.slow
def test_cli_json_prints_the_record(capsys):
    argv = ["bench", "learner", "--batch", "8,16", "--seconds", "0.2", "--repeats", "1"]
    assert cli.main([*argv, "--set", "buffer_size=200", "--json", "--quiet"]) == 0
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert {"machine", "device", "updates_per_s"} <= set(r) and r["device"] == "cpu"
    assert set(r["updates_per_s"]) == {"8", "16"} and all(
        v > 0 for v in r["updates_per_s"].values()
    )
    assert "round 1/1" not in captured.err  # --quiet


def test_cli_passes_its_arguments(monkeypatch, capsys, record):
    seen = {}

    def fake(device, batches, preset, seconds, repeats, **kwargs):
        seen.update(device=device, batches=batches, preset=preset, seconds=seconds)
        seen.update(repeats=repeats, **kwargs)
        return record

    monkeypatch.setattr(bench, "bench_learner", fake)
    argv = ["bench", "learner", "--batch", "64,256", "--threads", "2", "--set", "compile=true"]
    assert cli.main(argv) == 0
    assert "updates/s" in capsys.readouterr().out  # the table, not JSON
    assert seen["device"] == "cpu" and seen["batches"] == [64, 256] and seen["seconds"] == 6.0
    assert seen["repeats"] == 3 and seen["threads"] == 2 and seen["preset"] == "vizdoom_basic"
    assert seen["overrides"] == {"compile": "true"} and seen["log"] is not None


def test_cli_missing_gpu_is_one_line_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same on a GPU machine
    assert cli.main(["bench", "learner", "--device", "cuda", "--json"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1
    assert lines[0].startswith("rlkit: error: requested cuda but this machine has no CUDA device")


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--batch", "64,x"], "comma-separated"),
        (["--seconds", "0"], "--seconds: must be a positive number"),
        (["--repeats", "0"], "--repeats: must be an integer ≥ 1"),
        (["--threads", "0"], "--threads: must be an integer in [1, 1024]"),
    ],
)
def test_cli_usage_errors_exit_2(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "learner", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and match in err
