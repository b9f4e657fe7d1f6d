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


SESSION_VAR = "RLKIT_TEST_SESSION"


def live_engines(session_only: bool = False) -> set[int]:
    """Pids of running (not zombie) ViZDoom engine processes on this machine.

    :param session_only: only the engines started by this test session: those whose environment
        carries this session's :data:`SESSION_VAR` (inherited by every process the tests start,
        also one orphaned when its parent died), so engines of other work beside the suite
        never count.
    """
    import os

    marker = _session_marker()
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
        if name == "vizdoom" and state != "Z" and (not session_only or _has(entry, marker)):
            found.add(int(entry))
    return found


def session_processes(title: bytes) -> list[int]:
    """Pids of this session's live processes whose command line starts with ``title`` (for
    example ``b"ray::TrainingWorker"``, the title Ray gives an actor's process): the same
    marker as the engine check, so a notebook or a person's run beside the suite never counts."""
    import os

    marker = _session_marker()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if not f.read().startswith(title):
                    continue
        except OSError:
            continue
        if _has(entry, marker):
            found.append(int(entry))
    return found


def _session_marker() -> bytes:
    """This session's ``SESSION_VAR=value`` as it appears in ``/proc/<pid>/environ``."""
    import os

    return f"{SESSION_VAR}={os.environ.get(SESSION_VAR, '')}\0".encode()


def _has(pid: str, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return marker in f.read() + b"\0"
    except OSError:
        return False


def pytest_configure(config):
    import os
    import secrets
    import signal

    # A shell's background job starts with SIGINT ignored, and an ignored signal is not
    # watched (rlkit.stopping leaves it alone): the tests that press Ctrl-C need it heard.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    # Every process the tests start inherits it, pytest-xdist's workers too (they start after
    # this hook): the engine check below counts only those.
    os.environ.setdefault(SESSION_VAR, secrets.token_hex(8))


def _xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session):
    session.config._engines_before = live_engines(session_only=True) if _has_proc() else set()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if it leaves ViZDoom engines behind (after a few seconds' grace for
    engines whose envs are still closing)."""
    import time

    # Under pytest-xdist only the controller checks, once every worker has ended: a worker
    # that finishes first would see the other workers' engines still at work.
    if not _has_proc() or session.config.option.collectonly or _xdist_worker(session.config):
        return
    before = getattr(session.config, "_engines_before", set())
    deadline = time.time() + 10
    while (left := live_engines(session_only=True) - before) and time.time() < deadline:
        time.sleep(0.5)
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        line = f"ViZDoom engine processes left running by the tests: {sorted(left)}"
        if reporter is not None:
            reporter.write_line(line, red=True)
        else:
            print(line)


def processes_gone(pids, within: float = 60.0) -> bool:
    """Whether every process in ``pids`` has exited (zombies count as gone), waiting for it up
    to ``within`` seconds: a bound, not a wait, since a loaded machine reaps slowly."""
    import time

    import psutil

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + within
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _has_proc() -> bool:
    import os

    return os.path.isdir("/proc/self")


# ------------------------------------------------------------------------------------------
# the order files run in

# Files whose tests wait longest (Ray clusters, a venv built for the player, learning runs, a
# browser), from `pytest --durations`: collected first, so that under pytest-xdist's
# `--dist loadfile` none of them starts last and keeps one worker busy after the others end.
HEAVY_FIRST = (
    "test_rollout_workers.py",
    "test_remote.py",
    "test_bench_scaling.py",
    "test_reliability.py",
    "test_ppo.py",
    "test_player.py",
    "test_jupyterlab.py",
    "test_async_training.py",
    "test_device_plan.py",
    "test_bench_cli.py",
    "test_dqn.py",
)


# Files that start Ray clusters of their own (`ray start` on loopback, embedded ones): under
# pytest-xdist they form one scope and run on one worker, one after the other, so that they share
# one loopback cluster. Split into two scopes, the suite took as long (430 s against 413 s): each
# cluster's processes took the CPU the other's tests needed.
RAY_FILES = ("test_remote.py", "test_rollout_workers.py")


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadFileScheduling

    class OneRayAtATime(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "ray clusters" if scope.rsplit("/", 1)[-1] in RAY_FILES else scope

    return OneRayAtATime(config, log)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable within a file
    # Tests marked gpu need a real CUDA device: without one they are not collected (deselected,
    # not skipped), and `make gpu-record` runs them on the GPU machine.
    import torch

    if not torch.cuda.is_available():
        gpu = [item for item in items if item.get_closest_marker("gpu")]
        if gpu:
            config.hook.pytest_deselected(items=gpu)
            items[:] = [item for item in items if not item.get_closest_marker("gpu")]


@pytest.fixture(scope="session")
def loopback_cluster():
    """One token-guarded Ray cluster on loopback for the files that need real nodes (one
    xdist scope, so one process starts it once): a head with no CPUs for tasks and a second
    node with two CPUs and one GPU that it only claims, so every task and actor lands there."""
    import secrets

    from ray_cluster import ray_missing, start_cluster, stop_cluster

    if ray_missing:
        pytest.skip("ray is not installed")
    cluster = start_cluster(secrets.token_hex(16), head_cpus=0, second_node={"cpus": 2, "gpus": 1})
    yield cluster
    stop_cluster(cluster)
