"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny networks run fastest single-threaded, and the suite stays quick on busy machines."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def shipped_checkpoint():
    """The trained ViZDoom model committed with the repo (simpler_basic, 3 actions)."""
    from rlkit.paths import CHECKPOINTS_DIR

    return CHECKPOINTS_DIR / "vizdoom_simpler_basic" / "checkpoint.pt"


@pytest.fixture(scope="session")
def exported_onnx(shipped_checkpoint, tmp_path_factory):
    """The shipped model exported once per session (seconds): ``(path, ExportReport)``."""
    import warnings

    from rlkit.export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "agent.onnx"
    with warnings.catch_warnings():  # torch.onnx's deprecation notices about its own pytree code
        warnings.simplefilter("ignore", FutureWarning)
        return path, export_onnx(shipped_checkpoint, path, check_observations=100)


# ------------------------------------------------------------------------------------------
# no ViZDoom engine may outlive the test session


def live_engines() -> set[int]:
    """Pids of running (not zombie) ViZDoom engine processes on this machine."""
    import os

    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name, state = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2]
        if name == "vizdoom" and state != "Z":
            found.add(int(entry))
    return found


def pytest_sessionstart(session):
    session.config._engines_before = live_engines() if _has_proc() else set()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if it leaves ViZDoom engines behind (after a few seconds' grace for
    engines whose envs are still closing)."""
    import time

    if not _has_proc() or session.config.option.collectonly:
        return
    before = getattr(session.config, "_engines_before", set())
    deadline = time.time() + 10
    while (left := live_engines() - before) and time.time() < deadline:
        time.sleep(0.5)
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        line = f"ViZDoom engine processes left running by the tests: {sorted(left)}"
        if reporter is not None:
            reporter.write_line(line, red=True)
        else:
            print(line)


def _has_proc() -> bool:
    import os

    return os.path.isdir("/proc/self")
