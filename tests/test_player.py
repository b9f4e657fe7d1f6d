"""``rlkit play`` without PyTorch, in a window, at game speed.

The slow tests here start real processes: a fresh venv that has no torch (pip installs into it;
skipped when pip cannot), and a virtual X display (Xvfb, from ``make xvfb``; skipped without it).
What they measure goes to ``runs/play/`` (git-ignored): ``torch_free.json`` and ``window.png``.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from rlkit.cli import main
from rlkit.paths import ROOT, runs_dir

# Words in pip's output that mean it could not reach an index (or find a wheel): a skip, not a
# failure of rlkit.
PIP_OFFLINE = (
    "No matching distribution",
    "Could not find a version",
    "NewConnectionError",
    "Network is unreachable",
    "Temporary failure in name resolution",
    "ProxyError",
    "Read timed out",
    "Connection refused",
)


def _one_error_line(err: str) -> str:
    assert err.startswith("rlkit: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _out_folder() -> Path:
    out = runs_dir() / "play"
    out.mkdir(parents=True, exist_ok=True)
    return out


# Runs a command and writes its exit status and peak RSS (kB) to argv[1]. A small process of its
# own: a child forked straight from the test process would report the test's memory as its peak
# (Linux keeps the high-water mark across fork and exec), whatever the command uses.
_LAUNCHER = """
import json, os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss], f)
"""


def _run_measured(argv: list[str], *, timeout: float, **kwargs) -> dict:
    """Run a command to its end: its exit status, output, wall time and peak RSS.

    The peak is ``wait4``'s: the largest of the process and the children it waited for (the
    ViZDoom engine, a smaller process than Python here), not their sum.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-S", "-c", _LAUNCHER, str(report), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )
        seconds = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stderr[-2000:]  # the launcher itself
        returncode, max_rss_kb = json.loads(report.read_text())
    return {
        "returncode": returncode,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "seconds": seconds,
        "peak_rss_mb": max_rss_kb / 1024,  # kB on Linux
    }


# -- no torch --------------------------------------------------------------------------------
@pytest.mark.slow  # a Python process that plays ViZDoom
def test_playing_an_onnx_file_imports_no_torch(exported_onnx, tmp_path):
    """In the main venv, where torch is installed: still never imported for an .onnx."""
    path, _ = exported_onnx
    play = [sys.executable, "-X", "importtime", "-m", "rlkit", "play", "--episodes", "2"]
    proc = subprocess.run(
        [*play, "--json", "--checkpoint", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # -X importtime lists every module imported, one per line: "import time: self | cum | name"
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "onnxruntime" in imported and "vizdoom" in imported  # the listing is complete
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}
    assert json.loads(proc.stdout)["kind"] == "onnx"


def _pip(python: Path, *args: str, timeout: float = 600) -> None:
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        last = " ".join(output.strip().splitlines()[-1:]) or f"exit status {proc.returncode}"
        if any(word in output for word in PIP_OFFLINE):
            pytest.skip(f"pip could not install {' '.join(args)}: {last}")
        raise AssertionError(f"pip install {' '.join(args)} failed:\n{output[-3000:]}")


@pytest.mark.slow  # makes a venv and pip-installs into it (about a minute with pip's cache warm)
def test_a_venv_without_torch_plays_the_exported_agent(exported_onnx, shipped_checkpoint, tmp_path):
    """The README's torch-free install: rlkit with --no-deps, then onnxruntime numpy vizdoom."""
    t0 = time.perf_counter()
    venv = tmp_path / "venv"
    made = subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300
    )
    if made.returncode != 0 and "ensurepip" in made.stdout + made.stderr:
        pytest.skip(f"this Python cannot put pip into a venv: {made.stderr.strip()[-300:]}")
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    # rlkit from a copy of its sources: building in the repo would write build/ and egg-info
    # there, under the feet of whoever works in it.
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "rlkit", src / "rlkit", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    _pip(python, "--no-deps", str(src))
    _pip(python, "onnxruntime", "numpy", "vizdoom")
    installed = time.perf_counter() - t0

    no_torch = subprocess.run(
        [str(python), "-c", "import torch"], capture_output=True, text=True, timeout=60
    )
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr

    onnx_path, _ = exported_onnx
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    argv = ["-m", "rlkit", "play", "--episodes", "3", "--json", "--checkpoint"]
    fresh = _run_measured(
        [str(python), *argv, str(onnx_path)], timeout=120, cwd=tmp_path, env=clean_env
    )
    assert fresh["returncode"] == 0, fresh["stderr"][-2000:]
    record = json.loads(fresh["stdout"])
    assert record["kind"] == "onnx" and record["env_id"] == "vizdoom:simpler_basic"
    assert record["stats"]["episodes"] == 3 and len(record["scores"]) == 3
    # The installed rlkit, not the repo's sources, did the playing.
    where = subprocess.run(
        [str(python), "-c", "import rlkit; print(rlkit.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env,
        timeout=60,
    ).stdout
    assert where.startswith(str(venv)), where

    # The same play with torch and the checkpoint, for comparison: the same game, more memory.
    torch_play = _run_measured(
        [sys.executable, *argv, str(shipped_checkpoint)], timeout=120, cwd=tmp_path
    )
    assert torch_play["returncode"] == 0, torch_play["stderr"][-2000:]
    assert json.loads(torch_play["stdout"])["scores"] == record["scores"]

    keys = ("seconds", "peak_rss_mb")
    du = subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True, timeout=60)
    measured = {
        "venv_mb": int(du.stdout.split()[0]) if du.returncode == 0 else None,
        "venv_and_installs_seconds": round(installed, 1),
        "onnx_play": {k: round(fresh[k], 2) for k in keys},
        "checkpoint_play_with_torch": {k: round(torch_play[k], 2) for k in keys},
        "test_seconds": round(time.perf_counter() - t0, 1),
    }
    (_out_folder() / "torch_free.json").write_text(json.dumps(measured, indent=2) + "\n")
    print("torch-free player:", json.dumps(measured))


# -- errors before any engine starts ---------------------------------------------------------
@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="a window needs no $DISPLAY")
def test_window_without_a_display_is_one_line(shipped_checkpoint, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["play", "--checkpoint", str(shipped_checkpoint), "--window"]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "--window needs a display, but $DISPLAY is not set" in err


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("X11") is None,
    reason="asks libX11 whether a display answers (Linux with libX11 only)",
)
def test_window_on_a_display_nobody_serves_is_one_line(shipped_checkpoint, monkeypatch, capsys):
    # Without this check the engine would crash the whole process (SIGSEGV), not raise.
    monkeypatch.setenv("DISPLAY", ":4711")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["play", "--checkpoint", str(shipped_checkpoint), "--window"]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "$DISPLAY=:4711 cannot be opened" in err


def test_realtime_is_for_vizdoom_envs(tmp_path, capsys):
    from rlkit.checkpoints import save_checkpoint
    from rlkit.envs import env_spec, make_env
    from rlkit.models import MLPQNetwork

    env = make_env("CartPole-v1")
    meta = {"env_spec": env_spec(env, "CartPole-v1").to_dict()}
    env.close()
    path = save_checkpoint(tmp_path / "cartpole.pt", model=MLPQNetwork(4, 2), metadata=meta)
    assert main(["play", "--checkpoint", str(path), "--realtime"]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "--realtime holds ViZDoom's 35 tics per second, and CartPole-v1 is not" in err


def test_a_run_folder_is_named_as_such(shipped_checkpoint, capsys):
    folder = shipped_checkpoint.parent
    assert main(["play", "--checkpoint", str(folder)]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert f"{folder} is a run folder; play {shipped_checkpoint}" in err


# -- game speed --------------------------------------------------------------------------------
@pytest.mark.slow  # about two seconds of Doom at 35 tics per second
def test_realtime_steps_take_frame_skip_over_35_seconds():
    from rlkit.envs.doom import TICS_PER_SECOND, ViZDoomEnv

    n, frame_skip = 12, 4
    expected = n * frame_skip / TICS_PER_SECOND  # 1.37 s
    timings = {}
    for realtime in (False, True):
        env = ViZDoomEnv("basic", frame_skip=frame_skip, realtime=realtime)
        try:
            env.reset(seed=0)
            t0 = time.perf_counter()
            for _ in range(n):  # MOVE_LEFT only: the monster lives, the episode goes on
                _, _, terminated, truncated, _ = env.step(0)
                assert not (terminated or truncated)
            timings[realtime] = time.perf_counter() - t0
        finally:
            env.close()
    assert 0.8 * expected <= timings[True] <= 1.5 * expected + 0.3, timings
    assert timings[False] < 0.5 * expected, timings  # without it the engine runs flat out


# -- a window on a virtual display -----------------------------------------------------------
@pytest.fixture
def xvfb_display(tmp_path):
    """A fresh Xvfb server on a display number it picks itself (``-displayfd``)."""
    for tool in ("Xvfb", "xwininfo"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make xvfb installs Debian's xvfb, x11-utils)")
    read_end, write_end = os.pipe()
    log = (tmp_path / "xvfb.log").open("wb")
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=log,
        stderr=log,
    )
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 30)
        number = os.read(read_end, 16).decode().strip() if ready else ""
        if not number.isdigit():
            server.kill()
            server.wait(10)
            text = (tmp_path / "xvfb.log").read_text(errors="replace").strip()
            pytest.skip(f"Xvfb did not start: {text.splitlines()[-1:] or 'no output'}")
        yield f":{number}"
    finally:
        os.close(read_end)
        if server.poll() is None:
            server.terminate()
            server.wait(10)
        log.close()


def _vizdoom_window(display: str) -> tuple[int, int, int, int] | None:
    """(width, height, x, y) of the ViZDoom window on ``display``, or None while there is none."""
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree", "-display", display],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    for line in tree.splitlines():
        if "vizdoom" in line.lower():
            found = re.search(r"(\d+)x(\d+)\+(-?\d+)\+(-?\d+)", line)
            if found:
                w, h, x, y = map(int, found.groups())
                return w, h, x, y
    return None


@pytest.mark.slow  # a ViZDoom window for a few seconds of realtime play
def test_window_shows_the_game_on_a_display(xvfb_display, shipped_checkpoint, tmp_path):
    from PIL import ImageGrab

    stdout = (tmp_path / "play.json").open("wb")
    argv = [sys.executable, "-m", "rlkit", "play", "--checkpoint", str(shipped_checkpoint)]
    play = subprocess.Popen(
        # Enough realtime episodes (~1 s each) that the window outlives slow screen grabs on a
        # busy machine: with 3, and once with 8 beside the suite's other process and two
        # CPU-bound ones, the game ended before any drawn frame was grabbed.
        [*argv, "--episodes", "24", "--window", "--realtime", "--json"],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env={**os.environ, "DISPLAY": xvfb_display},
        cwd=tmp_path,
    )
    shot, box = None, None
    try:
        deadline = time.monotonic() + 120
        while play.poll() is None and time.monotonic() < deadline:
            # Asked again each time: a window caught while being created has its first size
            # and place, not those it is drawn at.
            box = _vizdoom_window(xvfb_display) or box
            if box is not None:
                image = ImageGrab.grab(xdisplay=xvfb_display)
                w, h, x, y = box
                pixels = np.asarray(image.convert("RGB"))[y : y + h, x : x + w]
                # A drawn frame has the room's many colours; a window not drawn yet is black.
                if len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50:
                    shot = image
                    break
            time.sleep(0.1)
        _, err = play.communicate(timeout=120)
    finally:
        if play.poll() is None:
            play.kill()
            play.wait()
        stdout.close()
    assert play.returncode == 0, err.decode(errors="replace")[-2000:]
    assert box is not None, "no ViZDoom window appeared on the display"
    assert shot is not None, "the ViZDoom window was never drawn"
    shot.save(_out_folder() / "window.png")
    whole = np.asarray(shot.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(whole, axis=0)) > 1  # not a blank screen

    record = json.loads((tmp_path / "play.json").read_text())
    assert record["window"] is True and record["realtime"] is True
    frame_skip = _frame_skip(shipped_checkpoint)
    steps = sum(record["lengths"])
    assert record["seconds"] >= 0.8 * steps * frame_skip / 35, record


def _frame_skip(checkpoint: Path) -> int:
    from rlkit.checkpoints import load_checkpoint

    return int(load_checkpoint(checkpoint).env_spec.env_kwargs["frame_skip"])


@pytest.mark.slow  # starts ViZDoom twice on the virtual display
def test_human_mode_and_window_with_frames(xvfb_display, monkeypatch):
    from rlkit.envs.doom import ViZDoomEnv

    monkeypatch.setenv("DISPLAY", xvfb_display)
    human = ViZDoomEnv("basic", render_mode="human")  # gymnasium's name for the window
    try:
        human.reset(seed=0)
        assert human.window and human.render() is None and _vizdoom_window(xvfb_display)
    finally:
        human.close()
    # A window and recorded colour frames together: what a clip option needs while watching.
    both = ViZDoomEnv("basic", window=True, render_mode="rgb_array")
    try:
        obs, _ = both.reset(seed=0)
        frame = both.render()
        assert frame.ndim == 3 and frame.shape[2] == 3 and obs.shape == (1, 60, 80)
    finally:
        both.close()


@pytest.mark.slow
def test_human_mode_without_a_display_raises_before_the_engine_starts(monkeypatch):
    from rlkit.envs.doom import NoDisplayError, ViZDoomEnv

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform in ("darwin", "win32"):
        pytest.skip("a window needs no $DISPLAY there")
    with pytest.raises(NoDisplayError, match="a visible game window needs a display"):
        ViZDoomEnv("basic", render_mode="human")
