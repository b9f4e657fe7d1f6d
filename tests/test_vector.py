"""Tests for rlkit.envs.vector: SAME_STEP equivalence with SyncVectorEnv, failures, shutdown."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import textwrap
import time

import gymnasium as gym
import numpy as np
import psutil
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from rlkit.envs.vector import SharedMemoryVectorEnv, make_vector_env


class CountingEnv(gym.Env):
    """Deterministic env whose observation spells out where it is: (index, episode, step, rng).

    Episodes last ``length`` steps and end with ``terminated`` on even episodes, ``truncated`` on
    odd ones. Infos vary by step and env (ints, floats, arrays, strings, missing keys) so the
    batching of every kind of info value is exercised.
    """

    def __init__(
        self, index=0, length=3, fail_at=None, sleep=0.0, info="varied", child=False
    ):  # info: "varied", "floats" (same scalar keys everywhere, like ViZDoom), "lanes" or "big"
        self.index, self.length, self.fail_at, self.sleep = index, length, fail_at, sleep
        self.info = info
        self.observation_space = spaces.Box(-1e9, 1e9, (4,), np.float64)
        self.action_space = spaces.Discrete(3)
        self.episode, self.t, self.total_steps = -1, 0, 0
        # Stands in for a ViZDoom engine: a child process that outlives a SIGKILLed worker.
        self.child = child and subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"]
        )

    def _obs(self):
        return np.array([self.index, self.episode, self.t, self._draw], dtype=np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t, self._draw = self.episode + 1, 0, float(self.np_random.random())
        info = {"episode": self.episode}
        if options:
            info["options"] = dict(options)
        return self._obs(), info

    def step(self, action):
        self.t += 1
        self.total_steps += 1
        if self.sleep:
            time.sleep(self.sleep)
        if self.fail_at is not None and self.total_steps >= self.fail_at:
            raise ValueError(f"boom at step {self.total_steps}")
        ended = self.t >= self.length
        info = {"t": self.t, "half": self.t / 2}
        if self.info == "floats":
            info = {"health": 100.0 - self.t, "score": float(self.index)}
        elif self.info == "lanes":  # float infos whose keys change, now and then not all floats
            info = {"health": 100.0 - self.t}
            if self.total_steps % 3 == 0:
                info["armor"] = 1.5 * self.index
            if self.total_steps % 7 == 0:
                info["note"] = "x"
        elif self.t % 2 == 0:
            info["vec"] = np.full(2, self.t, dtype=np.int32)
        if self.info == "varied" and self.index == 1:
            info["name"] = f"env1-{self.t}"
        if self.info == "big":
            info["frame"] = np.full((64, 64, 3), self.t, dtype=np.uint8)  # > shared buffer
        terminated = ended and self.episode % 2 == 0
        return self._obs(), float(action) + 0.5 * self.t, terminated, ended and not terminated, info

    def check(self):
        if self.fail_at is not None:
            raise ValueError("boom at check")
        return self.index

    def close(self):
        if self.child:
            self.child.kill()
            self.child.wait()


class DictObsEnv(CountingEnv):
    def __init__(self):
        super().__init__()
        self.observation_space = spaces.Dict({"x": spaces.Discrete(2)})


def _fns(n=3, **kwargs):
    return [functools.partial(CountingEnv, i, 2 + i, **kwargs) for i in range(n)]


def _assert_same(a, b, path="infos"):
    """Exact equality of nested info structures: keys, order, dtypes and values."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            _assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), f"{path}: {type(b)}"
        assert a.dtype == b.dtype and a.shape == b.shape, f"{path}: {a.dtype}{a.shape} vs {b}"
        if a.dtype == object:
            for x, y in zip(a, b, strict=True):
                _assert_same(x, y, path)
        else:
            np.testing.assert_array_equal(a, b, err_msg=path)
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _descendants(envs):
    return [c for pid in envs.worker_pids for c in psutil.Process(pid).children(recursive=True)]


def _processes(pids):
    out = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            out.append(psutil.Process(pid))
    return out


def _all_gone(procs: list[psutil.Process], timeout: float = 5.0) -> bool:
    """Whether every process has exited (a SIGKILL is delivered asynchronously, hence a wait).
    A zombie counts as exited: reaping orphans is the init process's job, not ours."""

    def gone(proc):
        try:
            return proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    deadline = time.monotonic() + timeout
    while not all(gone(p) for p in procs):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# All in workers starts a worker process for even one env, hence slow; with env 0 in this process
# a one-env test starts none, and the tests that build more envs are marked slow themselves.
@pytest.fixture(
    params=[
        {"in_parent": True},
        pytest.param({"in_parent": False}, marks=pytest.mark.slow),
        pytest.param({"in_parent": False, "envs_per_worker": 2}, marks=pytest.mark.slow),
    ],
    ids=["parent+workers", "workers", "two-envs-per-worker"],
)
def shm(request):
    """Builds SharedMemoryVectorEnvs with env 0 in this process (the default), all in workers,
    or two envs in each worker."""
    made = []

    def make(fns, **kwargs):
        made.append(SharedMemoryVectorEnv(fns, **request.param, **kwargs))
        return made[-1]

    yield make
    for envs in made:
        envs.close()


@pytest.mark.slow
@pytest.mark.parametrize("info", ["varied", "floats", "lanes", "big"])
def test_same_as_sync_vector_env(shm, info):
    sync = SyncVectorEnv(_fns(info=info), autoreset_mode=AutoresetMode.SAME_STEP)
    envs = shm(_fns(info=info))
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert envs.single_observation_space == sync.single_observation_space
    assert envs.observation_space == sync.observation_space
    assert envs.action_space == sync.action_space
    for a, b in zip(sync.reset(seed=7), envs.reset(seed=7), strict=True):
        _assert_same(a, b)
    actions = np.random.default_rng(0).integers(3, size=(25, 3))
    terminations = truncations = 0
    for step, action in enumerate(actions):
        expected, got = sync.step(action), envs.step(action)
        for name, a, b in zip(("obs", "rew", "term", "trunc", "infos"), expected, got, strict=True):
            _assert_same(a, b, f"step {step} {name}")
        terminations, truncations = terminations + got[2].sum(), truncations + got[3].sum()
        if step == 12:  # partial reset with options, as SyncVectorEnv does it
            opts = {"reset_mask": np.array([True, False, True]), "k": 1}
            expected = sync.reset(seed=[5, 6, 7], options=dict(opts))
            got = envs.reset(seed=[5, 6, 7], options=opts)
            for a, b in zip(expected, got, strict=True):
                _assert_same(a, b, "partial reset")
    assert terminations >= 5 and truncations >= 5  # many autoresets, of both kinds
    sync.close()


@pytest.mark.slow
def test_step_async_wait_and_calls(shm):
    envs = shm(_fns(2))
    obs, _ = envs.reset(seed=0)
    envs.step_async(np.array([1, 2]))
    with pytest.raises(RuntimeError, match="step_wait"):
        envs.step_async(np.array([1, 2]))
    obs2, rew, *_ = envs.step_wait()
    np.testing.assert_array_equal(obs2[:, 2], [1, 1])
    np.testing.assert_array_equal(rew, [1.5, 2.5])
    assert obs is not obs2 and obs[0, 2] == 0  # copies, not views of the shared buffer
    with pytest.raises(RuntimeError, match="step_async"):
        envs.step_wait()
    assert envs.get_attr("length") == (2, 3)
    envs.set_attr("length", [10, 11])
    assert envs.call("_obs")[1][2] == 1
    envs.set_attr("length", 12)
    assert envs.get_attr("length") == (12, 12)
    with pytest.raises(RuntimeError, match=r"(worker|env) 0 .* failed during call: AttributeError"):
        envs.get_attr("no_such_attribute")
    envs.step([0, 0])  # still usable after a failed call


@pytest.mark.slow
def test_interrupted_wait_is_drained(shm):
    envs = shm([functools.partial(CountingEnv, i, 10, sleep=0.3) for i in range(2)])
    envs.reset(seed=0)

    class Interrupt(BaseException):  # like KeyboardInterrupt: not an env failure
        pass

    def interrupt(*_):
        raise Interrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(Interrupt):
            envs.step([0, 0])  # like Ctrl-C in a notebook cell, mid-step
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    obs, *_ = envs.step([0, 0])  # the interrupted step finished in the workers
    np.testing.assert_array_equal(obs[:, 2], [2, 2])


@pytest.mark.slow
def test_cartpole_matches_sync_backend():
    shm_envs = make_vector_env("CartPole-v1", 2, seed=3)
    sync_envs = make_vector_env("CartPole-v1", 2, backend="sync", seed=3)
    try:
        assert shm_envs.observation_space == sync_envs.observation_space
        assert shm_envs.action_space == gym.spaces.MultiDiscrete([2, 2])
        obs, _ = shm_envs.reset(seed=1)
        assert obs.shape == (2, 4) and obs.dtype == np.float32
        _assert_same(sync_envs.reset(seed=1)[0], obs)
        for _ in range(30):
            action = shm_envs.action_space.sample()
            for a, b in zip(sync_envs.step(action), shm_envs.step(action), strict=True):
                _assert_same(a, b)
    finally:
        shm_envs.close()
        sync_envs.close()


@pytest.mark.slow
def test_vizdoom_basic():
    pytest.importorskip("vizdoom", reason="vizdoom is not installed")
    before = {p.pid for p in _our_env_processes()}
    envs = make_vector_env("vizdoom:basic", 2)
    try:
        engines = [p for p in _our_env_processes() if p.pid not in before]
        assert len(_descendants(envs)) == 1  # env 1's engine, under its worker
        assert len(engines) == 3  # env 1's worker, and two engines (env 0's is our child)
        obs, infos = envs.reset(seed=0)
        assert envs.single_observation_space.dtype == np.uint8
        assert obs.dtype == np.uint8 and obs.shape == (2, *envs.single_observation_space.shape)
        assert infos["health"].dtype == np.float64 and infos["_health"].all()
        for _ in range(200):
            obs, _, term, trunc, infos = envs.step(envs.action_space.sample())
            if (term | trunc).any():
                i = int(np.flatnonzero(term | trunc)[0])
                assert infos["final_obs"][i].dtype == np.uint8 and infos["_final_info"][i]
                break
        else:
            pytest.fail("no ViZDoom episode ended in 200 steps")
    finally:
        envs.close()
    assert _all_gone(engines)


@pytest.mark.slow
def test_worker_exception_is_raised_and_closes(shm):
    envs = shm([functools.partial(CountingEnv, 0), functools.partial(CountingEnv, 1, fail_at=2)])
    envs.reset()
    workers = _processes(envs.worker_pids)
    envs.step([0, 0])
    expected = r"worker 1 \(env CountingEnv\) failed during step: ValueError: boom at step 2"
    with pytest.raises(RuntimeError, match=expected) as err:
        envs.step([0, 0])
    assert "Worker traceback" in str(err.value)
    assert envs.closed and _all_gone(workers)
    with pytest.raises(RuntimeError, match="closed after a failure: worker 1"):
        envs.reset()


@pytest.mark.slow
def test_worker_errors_after_float_infos_and_as_first_command(shm):
    envs = shm([functools.partial(CountingEnv, 0), functools.partial(CountingEnv, 1, fail_at=1)])
    with pytest.raises(RuntimeError, match=r"worker 1 .* failed during call: ValueError: boom"):
        envs.call("check")  # the very first command of worker 1
    envs.reset()  # a failed call leaves the envs usable
    envs = shm([functools.partial(CountingEnv, 0, 10, info="floats", fail_at=3)] * 2)
    envs.reset()
    for _ in range(2):  # float infos, through the lane
        assert envs.step([0, 0])[4]["health"].tolist() == [100.0 - envs.get_attr("t")[0]] * 2
    with pytest.raises(RuntimeError, match=r"(worker|env) 0 .* step: ValueError: boom at step 3"):
        envs.step([0, 0])


@pytest.mark.slow
def test_parent_env_exception_is_raised_and_closes():
    before = {p.pid for p in _our_env_processes()}
    fns = [functools.partial(CountingEnv, 0, fail_at=2, child=True), *_fns(2, child=True)[1:]]
    envs = SharedMemoryVectorEnv(fns)
    envs.reset()
    procs = [p for p in _our_env_processes() if p.pid not in before]
    assert len(procs) == 3  # env 0's child; env 1's worker and its child
    envs.step([0, 0])
    expected = r"env 0 \(CountingEnv, in this process\) failed during step: ValueError: boom"
    with pytest.raises(RuntimeError, match=expected) as err:
        envs.step([0, 0])
    assert isinstance(err.value.__cause__, ValueError)  # the original traceback is kept
    assert envs.closed and _all_gone(procs)
    with pytest.raises(RuntimeError, match="closed after a failure: env 0"):
        envs.reset()


def test_one_env_in_parent_needs_no_worker():
    envs = SharedMemoryVectorEnv(_fns(1))
    try:
        assert envs.worker_pids == [] and envs.worker_cpus == [None]
        obs, _ = envs.reset(seed=0)
        obs, rew, term, trunc, _ = envs.step([1])
        assert obs[0, 2] == 1 and rew[0] == 1.5 and not term[0] | trunc[0]
        envs.step_async([0])
        with pytest.raises(RuntimeError, match="step_wait"):
            envs.step_async([0])
        _, _, term, trunc, infos = envs.step_wait()
        assert (term | trunc)[0] and infos["final_obs"][0][2] == 2
        assert envs.get_attr("length") == (2,)
    finally:
        envs.close()


@pytest.mark.slow
def test_workers_are_pinned_one_per_cpu():
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        pytest.skip("needs CPU affinity and 2 CPUs")
    envs = SharedMemoryVectorEnv(_fns(2, child=True), in_parent=False)  # auto: 2+ envs
    try:
        assert envs.worker_cpus == cpus[:2]
        for pid, cpu in zip(envs.worker_pids, cpus, strict=False):
            worker = psutil.Process(pid)
            assert worker.cpu_affinity() == [cpu]
            assert [c.cpu_affinity() for c in worker.children()] == [[cpu]]  # inherited
        assert sorted(psutil.Process().cpu_affinity()) == cpus  # this process is left alone
    finally:
        envs.close()
    envs = SharedMemoryVectorEnv(_fns(3), in_parent=False, pin_cpus=True)  # round robin
    try:
        assert envs.worker_cpus == [cpus[i % len(cpus)] for i in range(3)]
    finally:
        envs.close()
    envs = SharedMemoryVectorEnv(_fns(3), pin_cpus=False)
    try:
        assert envs.worker_cpus == [None] * 3
        assert all(len(psutil.Process(pid).cpu_affinity()) == len(cpus) for pid in envs.worker_pids)
    finally:
        envs.close()


def test_spin_acquire():
    import multiprocessing as mp

    from rlkit.envs.vector.protocol import spin_acquire

    sem = mp.get_context("spawn").Semaphore(0)
    start = time.perf_counter()
    assert not spin_acquire(sem, 0.05)
    assert time.perf_counter() - start >= 0.05
    assert not spin_acquire(sem, 0.0)
    sem.release()
    assert spin_acquire(sem, 0.0) and not sem.acquire(False)


def _our_env_processes():
    """Descendants of this process (workers included) except multiprocessing's own helpers."""
    helpers = ("forkserver import main", "resource_tracker import main")
    me, procs = os.getpid(), []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            helper = any(h in " ".join(proc.cmdline()) for h in helpers)
            if not (helper and proc.ppid() == me):  # a worker forked from the fork server
                procs.append(proc)  # shares its command line but is not a helper
    return procs


@pytest.mark.slow
def test_worker_failing_at_start():
    before = {p.pid for p in _our_env_processes()}
    fns = [
        functools.partial(CountingEnv, 0, child=True),
        functools.partial(CountingEnv, 1, no_such_argument=1),
    ]
    with pytest.raises(RuntimeError, match=r"worker 1 .* failed during start: TypeError"):
        SharedMemoryVectorEnv(fns)
    # Worker 0 had already started its env's child process: it must be gone too.
    assert _all_gone([p for p in _our_env_processes() if p.pid not in before])
    with pytest.raises(ValueError, match="array observation space"):
        SharedMemoryVectorEnv([DictObsEnv])


@pytest.mark.slow
def test_a_worker_whose_env_cannot_be_made_raises_one_value_error():
    from rlkit.envs.vector import make_env_pool

    # The pool makes every env in a worker: make_env's answer comes back as it is.
    with pytest.raises(ValueError, match=r"worker 0 \(env Nope-v0\) could not start: unknown") as e:
        make_env_pool("Nope-v0", 2, 1)
    assert "Traceback" not in str(e.value) and "\n" not in str(e.value)


@pytest.mark.slow
def test_killed_worker_is_detected_and_children_cleaned(shm):
    envs = shm(_fns(2, child=True))
    envs.reset()
    grandchildren = _descendants(envs)
    assert len(grandchildren) == envs.num_envs - envs._first  # a child per env in a worker
    os.kill(envs.worker_pids[-1], signal.SIGKILL)  # the worker of env 1
    # Named as killed: noticed, not waited out (a time-out would say otherwise).
    with pytest.raises(RuntimeError, match=r"worker [01] .* died during step .*SIGKILL"):
        envs.step([0, 0])
    assert envs.closed
    assert _all_gone(grandchildren)  # its orphaned child was killed too


@pytest.mark.slow
@pytest.mark.parametrize("in_parent", [True, False])
def test_close_is_idempotent_and_leaves_no_processes(in_parent):
    before = {p.pid for p in _our_env_processes()}
    envs = SharedMemoryVectorEnv(_fns(2, child=True), in_parent=in_parent)
    envs.reset()
    procs = [p for p in _our_env_processes() if p.pid not in before]
    assert len(procs) == (3 if in_parent else 4)  # workers and their envs' children
    envs.close()
    envs.close()
    assert envs.closed
    assert _all_gone(procs)
    import multiprocessing as mp

    assert not [p for p in mp.active_children() if p.name.startswith("rlkit-vector")]
    with pytest.raises(RuntimeError, match="closed"):
        envs.step([0, 0])


@pytest.mark.slow
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, time, psutil
        sys.path[:0] = {sys.path!r}
        from {CountingEnv.__module__} import _fns
        from rlkit.envs.vector import SharedMemoryVectorEnv
        if __name__ == "__main__":
            envs = SharedMemoryVectorEnv(_fns(2, child=True), in_parent=False)
            envs.reset()
            workers = [psutil.Process(pid) for pid in envs.worker_pids]
            print(*[p.pid for w in workers for p in [w, *w.children(recursive=True)]], flush=True)
            time.sleep(60)
        """)
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in parent.stdout.readline().split()]
    finally:
        parent.kill()  # SIGKILL: no finalizer, no atexit; the workers must notice by themselves
        parent.wait()
    assert len(pids) == 4  # two workers, each with a child standing in for a ViZDoom engine
    assert _all_gone(_processes(pids))


def test_copy_false_returns_a_read_only_view(shm):
    envs = shm(_fns(1), copy=False)
    obs, _ = envs.reset()
    assert not obs.flags.writeable
    obs2, *_ = envs.step([0])
    assert np.shares_memory(obs, obs2) and obs[0, 2] == 1  # overwritten by the step


@pytest.mark.slow
def test_garbage_collection_closes_workers_and_the_parent_env():
    before = {p.pid for p in _our_env_processes()}
    envs = SharedMemoryVectorEnv(_fns(2, child=True))
    procs = [p for p in _our_env_processes() if p.pid not in before]
    assert len(procs) == 3
    del envs
    assert _all_gone(procs)


@pytest.mark.slow
def test_bad_inputs(shm):
    with pytest.raises(ValueError, match="env_fns is empty"):
        SharedMemoryVectorEnv([])
    with pytest.raises(ValueError, match="callables"):
        SharedMemoryVectorEnv([CountingEnv()])
    with pytest.raises(ValueError, match="unknown start method 'nope'; valid"):
        SharedMemoryVectorEnv(_fns(1), context="nope")
    import threading

    lock = threading.Lock()
    with pytest.raises(ValueError, match="picklable"):
        SharedMemoryVectorEnv([lambda: lock and CountingEnv()])
    with pytest.raises(ValueError, match=r"spin_s must be a number of seconds in \[0, 1\]"):
        SharedMemoryVectorEnv(_fns(1), spin_s=-1)
    with pytest.raises(ValueError, match="pin_cpus must be True, False or None"):
        SharedMemoryVectorEnv(_fns(1), pin_cpus="yes")
    envs = shm(_fns(2))
    with pytest.raises(RuntimeError, match="reset"):
        envs.step([0, 0])
    envs.reset()
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        envs.step([0, 0, 0])
    with pytest.raises(ValueError, match="dtype"):
        envs.step(np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="num_envs=2"):
        envs.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="reset_mask"):
        envs.reset(options={"reset_mask": np.zeros(2, dtype=bool)})
    with pytest.raises(ValueError, match="unknown backend 'gpu'; valid: shm, threads, sync, async"):
        make_vector_env("CartPole-v1", 2, backend="gpu")
    with pytest.raises(ValueError, match="num_envs"):
        make_vector_env("CartPole-v1", 0)
    with pytest.raises(ValueError, match="in_parent=False applies to backend='shm' only"):
        make_vector_env("CartPole-v1", 2, backend="sync", in_parent=False)


def test_lambda_env_fns_work_through_cloudpickle(shm):
    envs = shm([lambda: gym.make("CartPole-v1")])
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (1, 4)
