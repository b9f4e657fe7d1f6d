"""``python -m rlkit train|play|notebooks|bench dqn``: end to end at tiny scale."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from rlkit.cli import main


@pytest.mark.slow
def test_train_writes_run_folder_then_play_loads_it(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--preset",
            "cartpole",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--dashboard",
            "off",
            "--set",
            "total_steps=300",
            "--set",
            "learning_starts=64",
            "--set",
            "eval_interval=150",
            "--set",
            "eval_episodes=2",
        ]
    )
    assert rc == 0
    for name in (
        "checkpoint.pt",
        "checkpoint.pt.json",
        "history.json",
        "episodes.csv",
        "returns.png",
        "config.json",
    ):
        assert (out / name).exists(), name
    assert json.loads((out / "config.json").read_text())["config"]["total_steps"] == 300
    capsys.readouterr()

    rc = main(["play", "--checkpoint", str(out / "checkpoint.pt"), "--episodes", "2", "--json"])
    assert rc == 0
    record = json.loads(capsys.readouterr().out)
    assert record["env_id"] == "CartPole-v1" and len(record["scores"]) == 2
    assert record["stats"]["episodes"] == 2

    # --resume continues from the checkpoint to a larger budget.
    rc = main(
        [
            "train",
            "--preset",
            "cartpole",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--dashboard",
            "off",
            "--resume",
            "--set",
            "total_steps=400",
            "--set",
            "learning_starts=64",
            "--set",
            "eval_interval=0",
        ]
    )
    assert rc == 0
    hist = json.loads((out / "history.json").read_text())
    assert hist["env_steps"] == 400


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--preset", "nope", "--out", "x"], "unknown preset 'nope'"),
        (["train", "--preset", "cartpole", "--out", "x", "--set", "lr"], "--set expects key=value"),
        (["train", "--preset", "cartpole", "--out", "x", "--set", "gamma=2"], "'gamma'"),
        (["train", "--preset", "cartpole", "--out", "/nonexistent/x", "--resume"], "--resume"),
        (["notebooks", "--only", "99"], "no notebook matches"),
        (["notebooks", "--jobs", "0"], "--jobs must be at least 1, got 0"),
        # found by tests/test_fuzz.py:
        (["train", "--preset", "cartpole", "--out", "x", "--set", " =1"], "--set expects"),
        (["train", "--preset", "cartpole", "--out", "x", "--set", "name=1"], "field(s) 'name'"),
        (["train", "--preset", "cartpole", "--out", "x", "--set", "a\nb=1"], "field(s) 'a\\nb'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_play_rejects_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["play", "--checkpoint", str(bad)]) == 2
    assert "bad.pt" in capsys.readouterr().err


def _assert_one_error_line(err: str) -> None:
    assert err.startswith("rlkit: error: "), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err


no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["play", "--checkpoint", "does/not/exist.pt"], "no checkpoint at does/not/exist.pt"),
        (
            ["train", "--preset", "cartpole", "--out", "/dev/null/x"],
            "cannot create run folder /dev/null/x: Not a directory",
        ),
        pytest.param(
            ["train", "--preset", "cartpole", "--out", "runs/x", "--device", "cuda"],
            "requested cuda but this machine has no CUDA device",
            marks=no_cuda,
        ),
    ],
    ids=["play-missing-checkpoint", "train-out-not-a-folder", "train-cuda-without-cuda"],
)
@pytest.mark.slow
def test_python_m_rlkit_answers_a_mistake_in_one_line(argv, message, tmp_path):
    """The real entry point, as a user types it: status 2 and one stderr line, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "rlkit", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # relative paths (runs/x, does/not/...) stay inside the test's folder
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    _assert_one_error_line(proc.stderr)
    assert message in proc.stderr
    assert proc.stdout == ""


def test_train_checks_the_run_folder_before_training(tmp_path, capsys, monkeypatch):
    import rlkit.entry

    def must_not_train(*args, **kwargs):
        raise AssertionError("training started although --out cannot be created")

    monkeypatch.setattr(rlkit.entry, "train", must_not_train)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", "--preset", "cartpole", "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    _assert_one_error_line(err)
    assert f"cannot create run folder {blocker / 'run'}: Not a directory" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--preset", "cartpole", "--out", ""], "--out: must be a path, got ''"),
        (["train", "--preset", "cartpole", "--out", "a\0b"], "--out: must be a path without NUL"),
        (["train", "--preset", "cartpole", "--out", "x", "--timeout", "1e12"], "at most 86400"),
        (["play", "--checkpoint", "x.pt", "--seed", "-1"], "--seed: must be an integer in [0,"),
        (["play", "--checkpoint", "x.pt", "--threads", "2000"], "must be an integer in [1, 1024]"),
        (["play", "--checkpoint", "x.pt", "--gif", "/dev/null/x.gif"], "/dev/null is not a folder"),
        (
            ["play", "--checkpoint", "x.pt", "--out", "/proc/x/y.json"],
            "cannot write files in /proc",
        ),
        (["export", "--checkpoint", "x.pt", "--out", "a.onnx", "--check", str(2**63)], "2**63"),
        (["train", "--preset", "cartpole", "--out", "x", "a\nb"], "unrecognized arguments: a b"),
    ],
)
def test_arguments_are_checked_when_parsed(argv, message, capsys):
    """Found by tests/test_fuzz.py: each was taken, and failed (or not) only after the work."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_an_argument_a_gymnasium_env_does_not_take_is_one_line(tmp_path, capsys):
    argv = ["train", "--preset", "cartpole", "--out", str(tmp_path / "run"), "--dashboard", "off"]
    assert main([*argv, "--set", 'env_kwargs={"foo": 1}']) == 2  # was gymnasium's TypeError
    err = capsys.readouterr().err
    _assert_one_error_line(err)
    assert "CartPole-v1 does not take the env_kwargs it was given" in err


@no_cuda
def test_train_checks_the_device_before_making_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--preset", "cartpole", "--out", str(out), "--device", "gpu"]) == 2
    _assert_one_error_line(capsys.readouterr().err)
    assert not out.exists()
    assert main(["train", "--preset", "cartpole", "--out", str(out), "--device", "cuda"]) == 2
    assert "requested cuda but" in capsys.readouterr().err and not out.exists()


@no_cuda
def test_train_on_a_missing_device_is_one_line(tmp_path, capsys):
    argv = ["train", "--preset", "cartpole", "--out", str(tmp_path / "run"), "--device", "cuda"]
    assert main([*argv, "--dashboard", "off"]) == 2
    err = capsys.readouterr().err
    _assert_one_error_line(err)
    assert "requested cuda but" in err and "valid: cpu" in err


def test_play_a_checkpoint_without_env_spec_is_one_line(tmp_path, capsys):
    from rlkit.checkpoints import save_checkpoint
    from rlkit.models import MLPQNetwork

    path = save_checkpoint(tmp_path / "bare.pt", model=MLPQNetwork(4, 2), metadata={})
    assert main(["play", "--checkpoint", str(path)]) == 2
    err = capsys.readouterr().err
    _assert_one_error_line(err)
    assert f"{path} records no env_spec" in err


def test_debug_shows_the_traceback_instead(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        main(["--debug", "play", "--checkpoint", str(tmp_path / "missing.pt")])


def test_bench_dqn_schema(capsys):
    rc = main(
        [
            "bench",
            "dqn",
            "--preset",
            "cartpole",
            "--target",
            "1000",
            "--seeds",
            "1",
            "--eval-episodes",
            "2",
            "--confirm-episodes",
            "2",
            "--eval-interval",
            "100",
            "--set",
            "total_steps=200",
            "--set",
            "learning_starts=64",
            "--json",
        ]
    )
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("machine", "preset", "target", "seconds_to_target", "runs", "device"):
        assert key in r
    assert r["seconds_to_target"] is None  # 1000 is unreachable on CartPole
    run = r["runs"][0]
    for key in (
        "seed",
        "seconds_to_target",
        "env_steps_to_target",
        "confirm_mean",
        "confirm_episodes",
    ):
        assert key in run
    assert run["confirm_episodes"] == 2


def test_module_entry_point_help_is_fast_and_lists_commands():
    out = subprocess.run(
        [sys.executable, "-m", "rlkit", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("train", "play", "bench", "notebooks"):
        assert name in out


def test_bench_dqn_refuses_a_preset_of_another_algorithm():
    from rlkit.bench import score

    with pytest.raises(ValueError, match="trains dqn, not ppo"):
        score.bench_time_to_score("cartpole", 10, algo="ppo")


def test_bench_ppo_schema_and_a_preset_of_the_other_algorithm_is_an_error(capsys):
    args = ["bench", "ppo", "--target", "1000", "--seeds", "1", "--first-seed", "2"]
    args += ["--eval-episodes", "2"]
    args += ["--confirm-episodes", "2", "--eval-interval", "128", "--json"]
    args += ["--set", "total_steps=256", "--set", "num_envs=4", "--set", "n_steps=32"]
    assert main(args) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["benchmark"] == "ppo_time_to_score" and r["preset"] == "cartpole_ppo"
    assert r["seconds_to_target"] is None and r["runs"][0]["env_steps"] == 256
    assert [run["seed"] for run in r["runs"]] == [2]
    assert main(["bench", "ppo", "--preset", "cartpole", "--target", "1"]) != 0
    assert "trains dqn, not ppo; use python -m rlkit bench dqn" in capsys.readouterr().err
