"""Guarantees a user can lean on, tested through the commands a user types (RELIABILITY.md):
an interrupted run loses at most one checkpoint interval and resumes to the same end; a run
folder that stops accepting writes ends the run with one sentence and keeps the last checkpoint;
opening and closing envs leaks neither processes nor memory."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rlkit import cli
from rlkit.checkpoints import load_checkpoint


def _train_argv(out: Path, total: int, *extra: str) -> list[str]:
    return [
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
        f"total_steps={total}",
        "--set",
        "eval_interval=0",
        *extra,
    ]


# ------------------------------------------------------------------------------------------
# a run folder that stops accepting writes


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_folder_that_stops_taking_writes_ends_the_run_in_one_sentence(
    tmp_path, monkeypatch, capsys, code
):
    import rlkit.atomic
    from rlkit.training import Trainer

    real_fsync, real_save, armed = os.fsync, Trainer.save, []

    def save_then_arm(self):
        out = real_save(self)
        armed.append(True)  # the first checkpoint went through; the disk "fills" now
        return out

    def failing_fsync(fd):
        # The next write fails half way, after its data went out, as a full disk does.
        if armed:
            raise OSError(code, os.strerror(code))
        return real_fsync(fd)

    monkeypatch.setattr(Trainer, "save", save_then_arm)
    monkeypatch.setattr(rlkit.atomic.os, "fsync", failing_fsync)
    argv = _train_argv(tmp_path, 600, "--set", "checkpoint_interval=200")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlkit: error: training stopped at env step 400")
    assert os.strerror(code) in err[0]
    assert "the checkpoint of env step 200 there is intact" in err[0]
    monkeypatch.setattr(rlkit.atomic.os, "fsync", real_fsync)
    assert load_checkpoint(tmp_path / "checkpoint.pt").progress["env_steps"] == 200
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no half-written file


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders anyway")
def test_a_folder_made_read_only_mid_run_keeps_its_checkpoint(tmp_path, capsys):
    from rlkit.training import Callback

    class LockFolder(Callback):
        def on_checkpoint(self, path):
            os.chmod(tmp_path, 0o555)

    from rlkit.entry import train
    from rlkit.presets import preset
    from rlkit.training import RunFolderError

    cfg = preset("cartpole", total_steps=3000, eval_interval=0, checkpoint_interval=1000)
    try:
        with pytest.raises(RunFolderError, match="the checkpoint of env step 1000 there is"):
            train(cfg, device="cpu", run_dir=tmp_path, callbacks=[LockFolder()])
    finally:
        os.chmod(tmp_path, 0o755)
    assert load_checkpoint(tmp_path / "checkpoint.pt").progress["env_steps"] == 1000


# ------------------------------------------------------------------------------------------
# SIGKILL at random moments (slow)


def _start(out: Path, total: int, resume: bool) -> subprocess.Popen:
    argv = _train_argv(out, total, "--set", "checkpoint_seconds=0.5")
    return subprocess.Popen(
        [sys.executable, "-m", "rlkit", *argv, *(["--resume"] if resume else [])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _step(path: Path) -> int:
    try:
        return load_checkpoint(path).progress["env_steps"]
    except (FileNotFoundError, ValueError):
        return -1


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_little_and_resumes_to_the_same_end(tmp_path):
    """Three times: start (or resume) ``rlkit train``, wait until it has checkpointed past the
    last kill, then SIGKILL it at a random moment of its 0.5 s checkpoint cycle (sometimes
    inside a write). Each time the checkpoint loads and is at most one interval old; the last
    run ends at the same step count as an uninterrupted one."""
    total, ckpt = 6_000, tmp_path / "checkpoint.pt"
    rng = random.Random(20261201)
    steps = [0]
    for kill in range(3):
        proc = _start(tmp_path, total, resume=kill > 0)
        try:
            deadline = time.time() + 120
            while _step(ckpt) <= steps[-1] and proc.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.0))
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL, f"run {kill} ended by itself"
        finally:
            proc.kill()
            proc.wait()
        # Whatever the moment, the folder holds a checkpoint that loads, newer than the last.
        step = load_checkpoint(ckpt).progress["env_steps"]
        assert steps[-1] < step < total, (kill, steps, step)
        steps.append(step)
    proc = _start(tmp_path, total, resume=True)
    assert proc.wait(timeout=600) == 0
    final = load_checkpoint(ckpt)
    assert final.progress["env_steps"] == total
    assert final.extra_state["history"]["env_steps"] == total
    print("checkpoints at the kills:", steps[1:])


# ------------------------------------------------------------------------------------------
# envs open and close without leaks (slow)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _child_pids() -> set[int]:
    pids = set()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            pids |= {int(p) for p in f.read().split()}
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_opening_and_closing_80_envs_leaks_neither_processes_nor_memory():
    """Replaces the 200-env loop (52 s of engine start-ups): 20 envs to warm up, then 60 more
    whose memory must stay flat. The bound per env is about the 200-env loop's (20 MB over 180
    envs, 0.11 MB an env; here 8 MB over 60, 0.13)."""
    from conftest import live_engines

    from rlkit.envs import make_env

    before = _child_pids()
    rss = []
    for i in range(80):
        env = make_env("vizdoom:basic", resolution=(30, 45))
        env.reset(seed=i)
        env.step(0)
        env.close()
        if i in (19, 79):
            rss.append(_rss_mb())
    print("RSS after 20 and 80 envs (MB):", rss)
    assert rss[1] - rss[0] < 8, rss
    deadline = time.time() + 60  # closing engines are reaped soon; a leaked one never is
    while (_child_pids() - before) and time.time() < deadline:
        time.sleep(0.1)
    assert not (_child_pids() - before) & live_engines()


# ------------------------------------------------------------------------------------------
# the soak benchmark's code path (the 10-minute soak itself is a benchmark, not a test)


@pytest.mark.slow
def test_a_short_soak_records_memory_and_throughput_after_the_buffer_fills():
    import json

    from rlkit.bench.soak import bench_soak, format_soak_table

    r = bench_soak(
        "cartpole",
        minutes=0.08,
        sample_s=0.4,
        overrides={"buffer_size": 600, "learning_starts": 100, "log_interval": 50},
    )
    json.dumps(r)
    s = r["summary"]
    assert r["benchmark"] == "soak" and len(r["samples"]) >= 5
    assert s["buffer_full_at_s"] is not None and s["rss_drift_mb_per_min"] is not None
    assert all(x["tree_rss_mb"] >= x["rss_mb"] > 0 for x in r["samples"])
    assert r["samples"][-1]["t"] >= 0.08 * 60 and s["steps_per_s_median"] > 0
    assert "replay buffer full after" in format_soak_table(r)
    import matplotlib

    matplotlib.use("Agg")
    from rlkit.ui.soak_chart import plot_soak

    fig = plot_soak(r)
    assert len(fig.axes) == 2 and "memory drift" in fig._suptitle.get_text()


def test_bench_soak_refuses_a_budget_that_is_not_positive(capsys):
    assert cli.main(["bench", "soak", "--set", "lr=0"]) == 2
    assert "config field 'lr'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["bench", "soak", "--minutes", "0"])


# ------------------------------------------------------------------------------------------
# resume is faithful


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
@pytest.mark.slow
def test_half_then_resume_equals_straight_when_the_envs_restart_at_the_same_point(tmp_path, algo):
    """What a checkpoint holds (weights, optimizer, target net, every random stream, the
    replay buffer) restores exactly: with the checkpoint on an episode boundary of an env that
    ignores its seed, so that the resumed run's fresh episodes are the straight run's, N steps
    straight and N/2 + resume + N/2 end with bit-identical weights."""
    import corridor_env

    from rlkit.entry import train
    from rlkit.presets import preset
    from rlkit.training import Callback

    if algo == "dqn":
        cfg = corridor_env.dqn_config()
    else:
        cfg = preset(
            "cartpole_ppo",
            env_id=corridor_env.ENV_ID,
            num_envs=2,
            n_steps=4 * corridor_env.LENGTH,
            total_steps=8 * 2 * 4 * corridor_env.LENGTH,
            eval_interval=0,
            log_interval=64,
        )
    half = cfg.total_steps // 2
    assert half % corridor_env.LENGTH == 0 and half % cfg.log_interval == 0

    class StopHalfWay(Callback):  # an interrupted run: same config, stopped at N/2
        def on_log(self, progress):
            return progress.env_steps >= half

    straight = train(cfg, device="cpu")
    train(cfg, device="cpu", run_dir=tmp_path, save_buffer=True, callbacks=[StopHalfWay()])
    assert load_checkpoint(tmp_path / "checkpoint.pt").progress["env_steps"] == half
    resumed = train(cfg, device="cpu", resume_from=tmp_path / "checkpoint.pt")
    assert resumed.history.env_steps == straight.history.env_steps == cfg.total_steps
    assert resumed.history.updates == straight.history.updates
    a, b = _weights(straight.model), _weights(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history.episode_returns == straight.history.episode_returns
    if algo == "dqn":
        # Without its replay buffer the resumed learner samples from new transitions only.
        train(cfg, device="cpu", run_dir=tmp_path / "nobuf", callbacks=[StopHalfWay()])
        lost = train(cfg, device="cpu", resume_from=tmp_path / "nobuf" / "checkpoint.pt")
        c = _weights(lost.model)
        assert not all(torch.equal(a[k], c[k]) for k in a)


# ------------------------------------------------------------------------------------------
# sizes the machine cannot hold


def test_a_replay_buffer_larger_than_the_memory_is_refused_before_it_is_allocated(monkeypatch):
    import rlkit.agents.dqn as dqn
    from rlkit.config import ConfigError
    from rlkit.envs import EnvSpec
    from rlkit.presets import preset

    spec = EnvSpec("vizdoom:basic", (1, 30, 45), "uint8", ("L", "R", "F"), {})
    monkeypatch.setattr(dqn, "available_memory_bytes", lambda: 2 * 10**9)
    cfg = preset("vizdoom_simpler_basic", buffer_size=10**8)  # 136 GB of frames
    with pytest.raises(ConfigError, match=r"'buffer_size' = 100000000 needs 136\.4 GB") as info:
        dqn.make_replay_buffer(cfg, spec, "cpu")
    assert "at most about 1,319,648 transitions" in str(info.value)
    assert dqn.make_replay_buffer(cfg.replace(buffer_size=10_000), spec, "cpu").capacity == 10_000


def test_running_out_of_memory_is_one_line_not_a_traceback(monkeypatch, tmp_path, capsys):
    import rlkit.entry

    def oom(*args, **kwargs):
        raise MemoryError("Unable to allocate 7.3 TiB for an array with shape (10**12,)")

    monkeypatch.setattr(rlkit.entry, "train", oom)
    assert cli.main(_train_argv(tmp_path, 100)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlkit: error: out of memory: Unable to allocate")
