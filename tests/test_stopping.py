"""What people do to a training run: stop it (Ctrl-C, a kernel interrupt, SIGTERM), run it again
into the same folder, or run two at once. Each keeps every trained run whole.

Every test goes through a real entry point (``python -m rlkit train`` in a subprocess whose
SIGINT is at its default — a shell's background job would ignore it and hide the bug — or
:func:`rlkit.train` in this process) and waits for events (a checkpoint file, a lock), never for
a fixed time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rlkit import cli
from rlkit.checkpoints import load_checkpoint
from rlkit.entry import train
from rlkit.presets import preset
from rlkit.run_folder import (
    CHECKPOINT,
    CONFIG,
    EPISODES,
    HISTORY,
    LOCK,
    RunFolderBusy,
    RunFolderExists,
)
from rlkit.stopping import TrainingInterrupted
from rlkit.training import Callback

WAIT_S = 120  # generous: a busy 2-core machine starts Python, torch and the envs slowly


def _restore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as in a terminal's foreground command


def _start_cli(out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rlkit", "train", "--preset", "cartpole", "--out", str(out)]
    cmd += ["--set", "total_steps=1000000", "--set", "learning_starts=200", *extra]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,  # the dashboard's lines: a full pipe would block the run
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_restore_sigint,
    )


def _wait_for(path: Path, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended before {path.name} appeared: {proc.communicate()}")
        assert time.monotonic() < deadline, f"no {path} within {WAIT_S} s"
        time.sleep(0.05)


def _stamps(out: Path) -> tuple[int, int, int]:
    """The env step each record of the folder says it holds."""
    ckpt = load_checkpoint(out / CHECKPOINT).progress["env_steps"]
    hist = json.loads((out / HISTORY).read_text())["env_steps"]
    episodes = (out / EPISODES).read_text().splitlines()
    last_episode_step = int(episodes[-1].split(",")[0]) if len(episodes) > 1 else 0
    assert last_episode_step <= ckpt
    return ckpt, hist, json.loads((out / CONFIG).read_text())["config"]["total_steps"]


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_cli_run_keeps_its_checkpoint_and_says_how_to_resume(tmp_path, sig, status):
    out = tmp_path / "run"
    proc = _start_cli(out)
    _wait_for(out / CHECKPOINT, proc)  # the first checkpoint: once the agent has learned
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == status, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rlkit: stopped by {sig.name} at env step ")
    assert f"resume with: python -m rlkit train --resume --out {out}" in lines[0]
    ckpt, hist, total = _stamps(out)
    assert ckpt == hist and f"env step {ckpt:,} of" in lines[0] and total == 1_000_000
    assert not list(out.glob("*.tmp*"))  # every file whole

    # The command it printed, alone, resumes (the config comes from the folder).
    more = ["--set", f"total_steps={ckpt + 300}"]
    done = subprocess.run(
        [sys.executable, "-m", "rlkit", "train", "--resume", "--out", str(out), *more],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(out / CHECKPOINT).progress["env_steps"] == ckpt + 300


def _half_way_config():
    import corridor_env

    cfg = corridor_env.dqn_config()
    return cfg, cfg.total_steps // 2


@pytest.mark.slow
def test_a_kernel_interrupt_in_train_raises_with_the_partial_result_and_resumes_exactly(tmp_path):
    """JupyterLab's ■ sends SIGINT to the kernel, whose main thread runs ``train``: the run
    finishes its step, writes its checkpoint and raises TrainingInterrupted (a
    KeyboardInterrupt) carrying the live model; resuming from it equals the straight run."""
    cfg, half = _half_way_config()

    class CtrlC(Callback):  # the signal, delivered to this process at N/2
        def on_log(self, progress):
            if progress.env_steps == half:
                signal.raise_signal(signal.SIGINT)

    straight = train(cfg, device="cpu")
    with pytest.raises(KeyboardInterrupt) as stopped:
        train(cfg, device="cpu", run_dir=tmp_path, save_buffer=True, callbacks=[CtrlC()])
    err = stopped.value
    assert isinstance(err, TrainingInterrupted) and err.reason == "SIGINT"
    assert err.result.history.env_steps == half and err.result.model is not None
    assert err.result.checkpoint_path == str(tmp_path / CHECKPOINT)
    assert _stamps(tmp_path)[:2] == (half, half)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    resumed = train(cfg, device="cpu", resume_from=tmp_path / CHECKPOINT)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history.episode_returns == straight.history.episode_returns


def test_a_second_interrupt_while_stopping_is_honoured_after_the_checkpoint(tmp_path):
    cfg, half = _half_way_config()
    saved = []

    class Twice(Callback):
        def on_log(self, progress):
            if progress.env_steps == half:
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)  # impatient

        def on_checkpoint(self, path):
            saved.append(load_checkpoint(path).progress["env_steps"])

    with pytest.raises(TrainingInterrupted):
        train(cfg, device="cpu", run_dir=tmp_path, callbacks=[Twice()])
    assert saved[-1] == half == _stamps(tmp_path)[0]


def test_the_engines_request_stop_ends_the_run_after_its_step(tmp_path):
    """How a Ray actor stops a run (no signal there): the engine's own call."""
    from rlkit.algorithms import agent_class
    from rlkit.training import Trainer

    cfg, half = _half_way_config()

    class Stop(Callback):
        def on_log(self, progress):
            if progress.env_steps == half:
                trainer.request_stop("test")

    trainer = Trainer(cfg, agent_class(cfg), "cpu", [Stop()], tmp_path)
    result = trainer.run()
    assert result.stopped_by == "test" and result.history.env_steps == half
    assert _stamps(tmp_path)[:2] == (half, half)


@pytest.mark.slow
def test_a_finished_run_is_never_overwritten_by_accident(tmp_path, capsys):
    cfg = preset("cartpole", total_steps=300, learning_starts=100, eval_interval=0)
    first = train(cfg, device="cpu", run_dir=tmp_path)
    kept = (tmp_path / CHECKPOINT).read_bytes()
    with pytest.raises(RunFolderExists, match=r"--resume .* --overwrite .*overwrite=True"):
        train(cfg.replace(total_steps=200), device="cpu", run_dir=tmp_path)
    assert (tmp_path / CHECKPOINT).read_bytes() == kept
    # the command line: one sentence, exit 2, nothing replaced
    argv = ["train", "--preset", "cartpole", "--out", str(tmp_path), "--set", "total_steps=200"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a trained run" in err[0] and "--overwrite" in err[0]
    assert (tmp_path / CHECKPOINT).read_bytes() == kept
    # on purpose, both ways
    assert cli.main([*argv, "--overwrite", "--dashboard", "off"]) == 0
    assert load_checkpoint(tmp_path / CHECKPOINT).progress["env_steps"] == 200
    again = train(cfg, device="cpu", run_dir=tmp_path, overwrite=True)
    assert again.history.env_steps == first.history.env_steps == 300
    assert cli.main([*argv, "--overwrite", "--resume"]) == 2  # contradictory


@pytest.mark.slow
def test_a_second_writer_is_refused_naming_the_process_that_holds_the_folder(tmp_path):
    out = tmp_path / "run"
    proc = _start_cli(out)
    try:
        _wait_for(out / CONFIG, proc)  # written once the folder is locked
        cfg = preset("cartpole", total_steps=100)
        with pytest.raises(RunFolderBusy, match=rf"process {proc.pid}\b"):
            train(cfg, device="cpu", run_dir=out, overwrite=True)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 130
    # once it has ended, the folder is free again (a killed holder leaves no lock behind)
    assert (out / LOCK).exists()
    train(preset("cartpole", total_steps=100), device="cpu", run_dir=out, overwrite=True)


def test_a_killed_writer_leaves_no_lock_held(tmp_path):
    code = (
        "import sys, time\nfrom rlkit.run_folder import RunFolder\n"
        f"RunFolder.open({str(tmp_path)!r})\nprint('locked', flush=True)\ntime.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    from rlkit.run_folder import RunFolder

    with pytest.raises(RunFolderBusy, match=str(proc.pid)):
        RunFolder.open(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=WAIT_S)
    RunFolder.open(tmp_path).close()
