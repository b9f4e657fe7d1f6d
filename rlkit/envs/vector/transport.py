"""The parent's side of the env workers: processes, shared memory, replies and deaths.

A :class:`Transport` starts the worker processes that host envs (one env each, or
``envs_per_worker`` each; env 0 in this process with ``in_parent``), maps the shared memory they
answer through (:mod:`rlkit.envs.vector.protocol` has its layout and the workers' loop), reads
their replies (a float lane, the per-worker info buffer, or the pipe), notices a worker that
died, and shuts every process down, the ViZDoom engines they started included, however the
owner ends. Both ways of stepping envs are built on it: the lock-step
:class:`~rlkit.envs.vector.shm.SharedMemoryVectorEnv` and the free-running
:class:`~rlkit.envs.vector.pool.EnvPool`. Which commands go to which env, and when a reply is
awaited, is theirs.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import multiprocessing as mp
import os
import pickle
import signal
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from multiprocessing import reduction
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlkit.envs.vector.protocol import (
    CLOSE,
    DEFAULT_SPIN_S,
    ERROR,
    INFO_BYTES,
    LANE,
    PICKLE_PROTOCOL,
    PIPE,
    POLL_S,
    Lane,
    build_on,
    default_context,
    shared_fd,
    shared_layout,
    shared_views,
    worker_cpus,
    worker_main,
)

__all__ = ["Transport"]

_ARRAY_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def _label(fn: Callable) -> str:
    """A readable name for error messages: the env id of ``partial(make_env, "id")``."""
    if isinstance(fn, functools.partial):
        if fn.args and isinstance(fn.args[0], str):
            return fn.args[0]
        if isinstance(fn.keywords.get("env_id"), str):
            return fn.keywords["env_id"]
        fn = fn.func
    return getattr(fn, "__qualname__", None) or repr(fn)


class _Workers:
    """Process handles, kept apart from the transport so ``weakref.finalize`` can shut them
    down."""

    def __init__(self) -> None:
        self.local: gym.Env | None = None  # env 0 when the parent steps it
        self.procs: list = []  # by env index; None for the parent's env
        self.conns: list = []
        self.go: list = []
        self.groups: list[int] = []
        self.cmd: np.ndarray | None = None

    def shutdown(self, timeout: float = 5.0) -> None:
        """Ask workers to close their envs, then kill what is left, grandchildren included."""
        for i, proc in enumerate(self.procs):
            if proc is None or not proc.is_alive():
                continue
            if self.cmd is not None:
                self.cmd[i] = CLOSE
                self.go[i].release()
            else:  # still starting up: an empty message means "give up"
                with contextlib.suppress(OSError):
                    self.conns[i].send_bytes(b"")
        deadline = time.monotonic() + timeout
        procs = [proc for proc in self.procs if proc is not None]
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
        # A SIGKILLed worker leaves its ViZDoom engine running: kill its whole process group.
        for group in self.groups:
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)
        for proc in procs:
            proc.join(1.0)
        for conn in self.conns:
            if conn is not None:
                conn.close()
        self.cmd = None
        if self.local is not None:
            env, self.local = self.local, None
            with contextlib.suppress(Exception):
                env.close()


class Transport:
    """``len(env_fns)`` envs in worker processes (env 0 in this one with ``in_parent``), and the
    shared mapping they answer through (``v``: one numpy view per field of the layout).

    :param env_fns: callables that each build one env; they must pickle (top-level functions,
        ``functools.partial(make_env, ...)``; lambdas work too, through cloudpickle).
    :param context: multiprocessing start method; default ``"forkserver"`` where available,
        else ``"spawn"``.
    :param in_parent: build env 0 in this process (``local``) instead of in a worker.
    :param pin_cpus: pin each worker (and the processes its env starts) to one CPU, round robin;
        ``None``: pin when there are 2+ envs and 2+ CPUs.
    :param spin_s: how long a waiting side polls before it sleeps, in seconds.
    :param envs_per_worker: envs each worker process hosts (consecutive indices).
    :param post_each: workers post "done" once per env answered (else once per command).
    :param owner: the class name that error messages call the envs by.
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        context: str | None = None,
        *,
        in_parent: bool,
        pin_cpus: bool | None = None,
        spin_s: float = DEFAULT_SPIN_S,
        envs_per_worker: int = 1,
        post_each: bool = False,
        owner: str = "SharedMemoryVectorEnv",
    ) -> None:
        env_fns = list(env_fns)
        if not env_fns:
            raise ValueError("env_fns is empty: give at least one callable that returns an env")
        if not all(callable(f) for f in env_fns):
            raise ValueError(f"env_fns must be callables that return an env, got {env_fns!r}")
        methods = mp.get_all_start_methods()
        context = context or default_context()
        if context not in methods:
            raise ValueError(f"unknown start method {context!r}; valid: {', '.join(methods)}")
        import cloudpickle  # a gymnasium dependency; pickles notebook lambdas by value

        try:
            blobs = [cloudpickle.dumps(f) for f in env_fns]
        except Exception as exc:
            raise ValueError(
                f"env_fns must be picklable (use functools.partial(make_env, ...)): {exc}"
            ) from exc
        if not isinstance(spin_s, int | float) or not 0 <= spin_s <= 1:
            raise ValueError(f"spin_s must be a number of seconds in [0, 1], got {spin_s!r}")
        if pin_cpus not in (None, True, False):
            raise ValueError(f"pin_cpus must be True, False or None (automatic), got {pin_cpus!r}")
        if isinstance(envs_per_worker, bool) or not isinstance(envs_per_worker, int):
            raise ValueError(f"envs_per_worker must be an integer ≥ 1, got {envs_per_worker!r}")
        if envs_per_worker < 1:
            raise ValueError(f"envs_per_worker must be an integer ≥ 1, got {envs_per_worker!r}")
        self.num_envs, self.spin_s, self.owner = len(env_fns), float(spin_s), owner
        self.first = 1 if in_parent else 0  # index of the first env that a worker steps
        self.closed, self.failure = False, None
        # Worker w hosts envs rows[w]; every per-env list below points at its worker's objects.
        k, first, n = envs_per_worker, self.first, self.num_envs
        self.rows = [list(range(a, min(a + k, n))) for a in range(first, n, k)]
        cpus = worker_cpus(first + len(self.rows), pin_cpus)  # the parent's first, if it steps
        self.cpus = cpus[:first] + [cpus[first + w] for w, r in enumerate(self.rows) for _ in r]
        self.labels = [_label(f) for f in env_fns]
        self._lane_keys: list[tuple[bytes, tuple] | None] = [None] * n
        self._w = _Workers()
        self._finalizer = weakref.finalize(self, self._w.shutdown)
        try:
            self._start(mp.get_context(context), blobs, post_each)
        except BaseException:
            self.close()
            raise

    def _start(self, ctx, blobs: list[bytes], post_each: bool) -> None:
        w, n = self._w, self.num_envs
        # Both kept for the transport's life: a semaphore's name is unlinked with its object.
        self.done, self._lock = ctx.Semaphore(0), ctx.Lock()
        w.procs, w.conns, w.go = ([None] * self.first for _ in range(3))
        for rows in self.rows:
            go, (parent_conn, child_conn) = ctx.Semaphore(0), ctx.Pipe()
            args = (rows, [blobs[i] for i in rows], child_conn, go, self.done, self._lock)
            args += (list(sys.path), self.cpus[rows[0]], self.spin_s, post_each)
            name = f"rlkit-vector-{rows[0]}" + (f"-{rows[-1]}" if len(rows) > 1 else "")
            proc = ctx.Process(target=worker_main, args=args, name=name, daemon=True)
            proc.start()
            child_conn.close()
            w.procs = [*w.procs, *[proc] * len(rows)]
            w.conns, w.go = [*w.conns, *[parent_conn] * len(rows)], [*w.go, *[go] * len(rows)]
            # The worker makes itself leader of group ``pid``; if it could not, killpg(pid)
            # finds no such group and does nothing.
            w.groups.append(proc.pid)
        hellos = []
        if self.first:  # while the workers build theirs
            w.local = env = build_on(self.cpus[0], pickle.loads(blobs[0]))
            hellos.append((env.observation_space, env.action_space, dict(env.metadata or {})))
            hellos[0] += (getattr(env, "render_mode", None),)
        for i in range(self.first, n):  # the workers build their envs in parallel, in row order
            status, hello = pickle.loads(self.recv_pipe(i, "start"))
            if status == ERROR and hello[0] == "ValueError":
                # make_env's answer to a bad id or argument: the user's to fix, and the message
                # says how (as it would for an env made in this process), without a traceback.
                raise ValueError(f"worker {i} (env {self.labels[i]}) could not start: {hello[1]}")
            if status == ERROR:
                raise self.error(i, "start", hello)
            hellos.append(hello)
        obs_space, act_space, self.metadata, self.render_mode = hellos[0]
        for i, hello in enumerate(hellos):
            if hello[0] != obs_space or hello[1] != act_space:
                raise RuntimeError(
                    f"env {i} ({self.labels[i]}) has spaces {hello[0]}, {hello[1]} but "
                    f"env 0 has {obs_space}, {act_space}; all envs must have the same spaces"
                )
        for kind, space in (("observation", obs_space), ("action", act_space)):
            if not isinstance(space, _ARRAY_SPACES):
                raise ValueError(
                    f"{self.owner} needs an array {kind} space (Box, Discrete, "
                    f"MultiDiscrete, MultiBinary), got {space}; use backend='async'"
                )
        self.obs_space, self.act_space = obs_space, act_space
        from gymnasium.vector.utils import batch_space

        layout, size = shared_layout(n, batch_space(obs_space, n), batch_space(act_space, n))
        fd = shared_fd(size)
        try:
            buf = mmap.mmap(fd, size)
            for rows in self.rows:  # once per worker
                conn, proc = w.conns[rows[0]], w.procs[rows[0]]
                conn.send_bytes(pickle.dumps((layout, size)))
                reduction.send_handle(conn, fd, proc.pid)
        finally:
            os.close(fd)
        self.v = shared_views(buf, layout)
        info_mv = memoryview(buf)[layout["info"][0] :]
        self.info_bufs = [info_mv[i * INFO_BYTES :][:INFO_BYTES] for i in range(n)]
        self.go, self.conns, self.local = w.go, w.conns, w.local
        self.worker_go = [w.go[rows[0]] for rows in self.rows]  # one post wakes a worker
        w.cmd = self.v["cmd"]

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the workers; each leads a process group with its env's children."""
        return [self._w.procs[rows[0]].pid for rows in self.rows]

    @property
    def worker_cpus(self) -> list[int | None]:
        """The CPU each env's worker is pinned to (``None``: not pinned, or env 0 in this
        process, which is never pinned)."""
        return [None] * self.first + self.cpus[self.first :]

    # -- talking to a worker ---------------------------------------------------------------
    def set_attr_payloads(self, name: str, values: Any) -> list[tuple[str, Any]]:
        """``set_attr``'s message to each env: one value each (list/tuple) or the same value."""
        if not isinstance(values, list | tuple):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"need num_envs={self.num_envs} values, got {len(values)}")
        return [(name, value) for value in values]

    def post(self, i: int, payload: Any) -> None:
        """Send env ``i``'s worker the arguments of the command just posted to it."""
        self.conns[i].send_bytes(pickle.dumps(payload, PICKLE_PROTOCOL))

    def alive_or_raise(self, i: int, phase: str) -> None:
        proc = self._w.procs[i]
        if not proc.is_alive():
            how = f"exit code {proc.exitcode}"
            if proc.exitcode is not None and proc.exitcode < 0:
                how += f" (killed by {signal.Signals(-proc.exitcode).name})"
            raise self.fail(f"worker {i} (env {self.labels[i]}) died during {phase} with {how}")

    def recv_pipe(self, i: int, phase: str) -> bytes:
        conn = self._w.conns[i]
        while not conn.poll(POLL_S):
            self.alive_or_raise(i, phase)
        try:
            return conn.recv_bytes()
        except EOFError:
            self._w.procs[i].join(1.0)
            self.alive_or_raise(i, phase)
            raise

    def reply(self, i: int, phase: str) -> Any:
        """Env ``i``'s posted reply, whichever way it came (a float lane stays a :class:`Lane`);
        an env's own error is raised, naming it; a call's or set_attr's leaves the env usable.
        """
        length = int(self.v["msg_len"][i])
        if length <= LANE:
            return self.lane(i, LANE - length)
        if length == PIPE:
            data = self.recv_pipe(i, phase)
        else:
            data = self.info_bufs[i][:length] if length else None
        reply = None if data is None else pickle.loads(data)
        if self.v["status"][i] == ERROR:
            if phase in ("call", "set_attr"):
                raise self.error(i, phase, reply)
            raise self.fail(str(self.error(i, phase, reply)))
        return reply

    def lane_keys_of(self, i: int, keys: tuple) -> tuple:
        """``keys``, or the equal tuple seen last time (so that later checks are identity)."""
        cached = self._lane_keys[i]
        if cached is None or cached[1] != keys:
            cached = self._lane_keys[i] = (b"", keys)
        return cached[1]

    def lane(self, i: int, key_bytes: int) -> Lane:
        """Worker ``i``'s float info: its keys are pickled at the start of its info buffer."""
        raw = self.info_bufs[i][:key_bytes]
        cached = self._lane_keys[i]
        if cached is None or cached[0] != raw:
            cached = self._lane_keys[i] = (bytes(raw), pickle.loads(raw))
        return Lane(i, cached[1])

    def as_info(self, reply: Any) -> Any:
        """A reply as the env gave it (a float-lane info back into a dict)."""
        if type(reply) is Lane:
            values = self.v["info_values"][reply.index, : len(reply.keys)].tolist()
            return dict(zip(reply.keys, values, strict=True))
        return reply

    # -- ending --------------------------------------------------------------------------------
    def error(self, i: int, phase: str, err: tuple[str, str, str]) -> RuntimeError:
        name, msg, tb = err
        text = f"worker {i} (env {self.labels[i]}) failed during {phase}: {name}: {msg}"
        return RuntimeError(f"{text}\n\nWorker traceback:\n{tb}")

    def fail(self, message: str) -> RuntimeError:
        """A worker is broken: shut everything down so that no engine process lingers."""
        self.failure = message.split("\n", 1)[0]
        self.close()
        return RuntimeError(message)

    def check_open(self) -> None:
        """Raise if closed, saying why when a failure closed it."""
        if self.closed:
            why = f" after a failure: {self.failure}" if self.failure else ""
            raise RuntimeError(f"this {self.owner} is closed{why}; make a new one")

    def close(self) -> None:
        """Stop the workers: each closes its env (ViZDoom's engine with it); stragglers are
        killed with their process group. Also runs on garbage collection and at exit."""
        self.closed = True
        self._finalizer()
