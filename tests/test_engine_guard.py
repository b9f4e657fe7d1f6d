"""A ViZDoom engine dies with the Python process that started it, even one killed by SIGKILL
(rlkit.envs.engine_guard), and the test session fails if any engine outlives it (conftest)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import live_engines

from rlkit.envs.engine_guard import engine_path

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from rlkit.envs import make_env
    from rlkit.envs.vector import make_vector_env
    if sys.argv[1] == "env":
        env = make_env("vizdoom:basic", resolution=(30, 45))
        env.reset(seed=0)
    else:
        envs = make_vector_env("vizdoom:basic", 2, backend="shm", resolution=(30, 45))
        envs.reset(seed=0)
    print("ready", flush=True)
    time.sleep(120)
    """
)


def _children(pid: int) -> set[int]:
    out = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out |= {int(p) for p in f.read().split()}
    return out


def _descendants(pid: int) -> set[int]:
    todo, seen = [pid], set()
    while todo:
        try:
            kids = _children(todo.pop())
        except OSError:
            continue
        todo += list(kids - seen)
        seen |= kids
    return seen


def _start(kind: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, kind], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.parametrize("kind", ["env", "vector"])
@pytest.mark.slow
def test_engines_die_with_a_parent_killed_by_sigkill(kind):
    proc = _start(kind)
    try:
        engines = _descendants(proc.pid) & live_engines()
        assert len(engines) == (1 if kind == "env" else 2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.time() + 10
        while engines & live_engines() and time.time() < deadline:
            time.sleep(0.1)
        assert not engines & live_engines()
    finally:
        proc.kill()


def test_the_launcher_is_ours_and_not_writable_by_others():
    import vizdoom

    engine = os.path.join(os.path.dirname(vizdoom.__file__), "vizdoom")
    path = engine_path(engine)
    assert path is not None and os.access(path, os.X_OK)
    mode = os.stat(path).st_mode
    assert not mode & 0o022 and os.stat(path).st_uid == os.getuid()
    with open(path) as f:
        text = f.read()
    assert text.startswith(f"#!{sys.executable} -S\n") and repr(engine) in text
    assert engine_path(engine) == path  # written once


def test_no_launcher_for_an_engine_that_is_not_there(tmp_path):
    assert engine_path(str(tmp_path / "no-such-engine")) is None
