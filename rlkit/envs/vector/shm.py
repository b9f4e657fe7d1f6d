"""Vector envs stepped in parallel processes, data exchanged through shared memory.

:class:`SharedMemoryVectorEnv` keeps every per-step array (observations, final observations,
actions, rewards, terminated, truncated, float infos) in one shared mapping, and steps envs in
lock-step like gymnasium's vector envs. What makes it fast on a small machine (measured with
``python -m rlkit bench env``; the figures are in ``data/benchmarks/`` and the README):

- **The calling process steps env 0 itself** while worker processes step the others: ``n`` envs
  cost ``n - 1`` workers, and the parent stops being an idle middleman that must be woken.
- **Waiters poll before they sleep** (``spin_s``): a sleeping process costs a wake-up, and on a
  VM an idle vCPU halts, so waking it is slow. The poll is a userspace atomic plus
  ``sched_yield``, which hands the CPU to anything else that is runnable.
- **Workers are pinned, one CPU each, round robin** (``pin_cpus``), and so are the ViZDoom
  engines their envs start: a worker and its engine ping-pong on one CPU instead of across two.
  The calling process is never pinned (only env 0's engine is).
- **Nothing is pickled per step** for ViZDoom: observations are written in place and an info of
  up to 16 floats (health, ammo, …) travels as numbers; other infos are pickled into a
  per-worker shared buffer, and only a reply larger than that goes through a pipe.

What is left is lock-step itself: an episode reset in one env makes the others wait, and the
parent spends some Python per step gathering and batching results.

POSIX only (Linux, macOS; pinning is Linux only). Scripts that start workers need an ``if
__name__ == "__main__":`` guard, as with any ``spawn``/``forkserver`` multiprocessing code;
notebooks do not.
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
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rlkit.envs.vector.protocol import (
    CALL,
    CLOSE,
    DEFAULT_SPIN_S,
    ERROR,
    INFO_BYTES,
    LANE,
    PICKLE_PROTOCOL,
    PIPE,
    POLL_S,
    RESET,
    SET_ATTR,
    STEP,
    Lane,
    build_on,
    default_context,
    float_keys,
    serve,
    shared_fd,
    shared_layout,
    shared_views,
    spin_acquire,
    worker_cpus,
    worker_main,
)

__all__ = ["SharedMemoryVectorEnv"]

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
    """Process handles, kept apart from the env so ``weakref.finalize`` can shut them down."""

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


class SharedMemoryVectorEnv(VectorEnv):
    """Step ``len(env_fns)`` envs in parallel: env 0 in this process, the others in worker
    processes, one env each or ``envs_per_worker`` each (or every env in a worker, with
    ``in_parent=False``).

    Behaves like gymnasium's vector envs with ``autoreset_mode=SAME_STEP``: when an env ends,
    ``step`` returns its reset observation, and ``infos["final_obs"]`` (object array) /
    ``infos["final_info"]`` hold the last observation and info at the ended indices, with
    ``infos["_final_obs"]`` / ``infos["_final_info"]`` as masks. Infos are batched exactly as
    ``SyncVectorEnv`` batches them.

    Only array observation and action spaces (``Box``, ``Discrete``, ``MultiDiscrete``,
    ``MultiBinary``) fit in shared memory; use ``backend="async"`` for others.

    :param env_fns: callables that each build one env; they must pickle (top-level functions,
        ``functools.partial(make_env, ...)``; lambdas work too, through cloudpickle).
    :param context: multiprocessing start method; default ``"forkserver"`` where available,
        else ``"spawn"``. ``"fork"`` is accepted but unsafe once torch has started threads.
    :param copy: return a copy of the observations; ``False`` returns a read-only view of the
        shared buffer, valid until the next ``step``/``reset``.
    :param in_parent: step env 0 in this process, during :meth:`step_wait` (so
        ``step_async`` still returns at once). Its errors are raised like a worker's; unlike a
        worker's env, its engine outlives a SIGKILL of this process, as a plain env's does.
    :param pin_cpus: pin each worker (and the processes its env starts) to one CPU, round robin
        over the CPUs this process may use; ``None``: pin when there are 2+ envs and 2+ CPUs.
        Turn it off when other heavy work shares the machine.
    :param spin_s: how long a waiting side polls before it sleeps, in seconds (0: sleep at once).
    :param envs_per_worker: envs each worker process hosts (consecutive indices), stepped one
        after another: fewer processes than envs, for machines with fewer cores than envs.
    """

    _post_each = False  # workers post "done" once per command (True: once per env answered)

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        context: str | None = None,
        *,
        copy: bool = True,
        in_parent: bool = True,
        pin_cpus: bool | None = None,
        spin_s: float = DEFAULT_SPIN_S,
        envs_per_worker: int = 1,
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
        self.num_envs, self.copy, self.closed = len(env_fns), copy, False
        self._spin_s = float(spin_s)
        self._first = 1 if in_parent else 0  # index of the first env that a worker steps
        # Worker w hosts envs rows[w]; every per-env list below points at its worker's objects.
        k, first, n = envs_per_worker, self._first, self.num_envs
        self._rows = [list(range(a, min(a + k, n))) for a in range(first, n, k)]
        cpus = worker_cpus(first + len(self._rows), pin_cpus)  # the parent's first, if it steps
        self._cpus = cpus[:first] + [cpus[first + w] for w, r in enumerate(self._rows) for _ in r]
        self._local_job: tuple[int, Any] | None = None  # a command for the parent's env 0
        self._worker_ids = list(range(self._first, self.num_envs))
        self._lane_keys: list[tuple[bytes, tuple] | None] = [None] * self.num_envs
        self._labels = [_label(f) for f in env_fns]
        self._all = list(range(self.num_envs))
        self._targets: list[int] = []  # workers the last command went to (by env index)
        self._unread: list[int] = []  # of those, workers whose reply is not read yet
        self._waiting = False  # the last command's "all done" post is not consumed yet
        self._interrupted = False  # a wait was cut short (Ctrl-C): drain before going on
        self._needs_reset, self._failure, self._seq = True, None, 0
        self._w = _Workers()
        self._finalizer = weakref.finalize(self, self._w.shutdown)
        try:
            self._start(mp.get_context(context), blobs)
        except BaseException:
            self._finalizer()
            self.closed = True
            raise

    def _start(self, ctx, blobs: list[bytes]) -> None:
        w, n = self._w, self.num_envs
        self._done, self._lock = ctx.Semaphore(0), ctx.Lock()
        w.procs, w.conns, w.go = ([None] * self._first for _ in range(3))
        for rows in self._rows:
            go, (parent_conn, child_conn) = ctx.Semaphore(0), ctx.Pipe()
            args = (rows, [blobs[i] for i in rows], child_conn, go, self._done, self._lock)
            args += (list(sys.path), self._cpus[rows[0]], self._spin_s, self._post_each)
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
        if self._first:  # while the workers build theirs
            w.local = env = build_on(self._cpus[0], pickle.loads(blobs[0]))
            hellos.append((env.observation_space, env.action_space, dict(env.metadata or {})))
            hellos[0] += (getattr(env, "render_mode", None),)
        for i in range(self._first, n):  # the workers build their envs in parallel, in row order
            status, hello = pickle.loads(self._recv_pipe(i, "start"))
            if status == ERROR and hello[0] == "ValueError":
                # make_env's answer to a bad id or argument: the user's to fix, and the message
                # says how (as it would for an env made in this process), without a traceback.
                raise ValueError(f"worker {i} (env {self._labels[i]}) could not start: {hello[1]}")
            if status == ERROR:
                raise self._error(i, "start", hello)
            hellos.append(hello)
        obs_space, act_space, metadata, render_mode = hellos[0]
        for i, hello in enumerate(hellos):
            if hello[0] != obs_space or hello[1] != act_space:
                raise RuntimeError(
                    f"env {i} ({self._labels[i]}) has spaces {hello[0]}, {hello[1]} but "
                    f"env 0 has {obs_space}, {act_space}; all envs must have the same spaces"
                )
        for kind, space in (("observation", obs_space), ("action", act_space)):
            if not isinstance(space, _ARRAY_SPACES):
                raise ValueError(
                    f"SharedMemoryVectorEnv needs an array {kind} space (Box, Discrete, "
                    f"MultiDiscrete, MultiBinary), got {space}; use backend='async'"
                )
        self.single_observation_space, self.single_action_space = obs_space, act_space
        self.observation_space = batch_space(obs_space, n)
        self.action_space = batch_space(act_space, n)
        self.metadata = {**metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        self.render_mode = render_mode
        layout, size = shared_layout(n, self.observation_space, self.action_space)
        fd = shared_fd(size)
        try:
            buf = mmap.mmap(fd, size)
            for rows in self._rows:  # once per worker
                conn, proc = w.conns[rows[0]], w.procs[rows[0]]
                conn.send_bytes(pickle.dumps((layout, size)))
                reduction.send_handle(conn, fd, proc.pid)
        finally:
            os.close(fd)
        self._v = v = shared_views(buf, layout)
        self._info_mv = memoryview(buf)[layout["info"][0] :]
        self._info_bufs = [self._info_mv[i * INFO_BYTES :][:INFO_BYTES] for i in range(n)]
        self._step_arrays = (v["rewards"], v["terminated"], v["truncated"])
        self._info_values = v["info_values"]
        self._worker_go = [w.go[rows[0]] for rows in self._rows]  # one post wakes a worker
        w.cmd = v["cmd"]
        self._act_shape, self._act_dtype = self.action_space.shape, self.action_space.dtype

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the workers (of envs 1… with ``in_parent``, else of envs 0…); each
        leads a process group with its env's children."""
        return [self._w.procs[rows[0]].pid for rows in self._rows]

    @property
    def worker_cpus(self) -> list[int | None]:
        """The CPU each env's worker is pinned to (``None``: not pinned; env 0 with
        ``in_parent`` is stepped by this process, which is never pinned)."""
        return [None] * self._first + self._cpus[self._first :]

    # -- plumbing ------------------------------------------------------------------------------
    def _alive_or_raise(self, i: int, phase: str) -> None:
        proc = self._w.procs[i]
        if not proc.is_alive():
            how = f"exit code {proc.exitcode}"
            if proc.exitcode is not None and proc.exitcode < 0:
                how += f" (killed by {signal.Signals(-proc.exitcode).name})"
            raise self._fail(f"worker {i} (env {self._labels[i]}) died during {phase} with {how}")

    def _recv_pipe(self, i: int, phase: str) -> bytes:
        conn = self._w.conns[i]
        while not conn.poll(POLL_S):
            self._alive_or_raise(i, phase)
        try:
            return conn.recv_bytes()
        except EOFError:
            self._w.procs[i].join(1.0)
            self._alive_or_raise(i, phase)
            raise

    def _error(self, i: int, phase: str, err: tuple[str, str, str]) -> RuntimeError:
        name, msg, tb = err
        text = f"worker {i} (env {self._labels[i]}) failed during {phase}: {name}: {msg}"
        return RuntimeError(f"{text}\n\nWorker traceback:\n{tb}")

    def _fail(self, message: str) -> RuntimeError:
        """A worker is broken: shut everything down so that no engine process lingers."""
        self._failure = message.split("\n", 1)[0]
        self.close()
        return RuntimeError(message)

    def _ready(self) -> None:
        """Raise if closed or a step is pending; finish the replies of an interrupted command."""
        if self.closed:
            why = f" after a failure: {self._failure}" if self._failure else ""
            raise RuntimeError(f"this SharedMemoryVectorEnv is closed{why}; make a new one")
        if self._waiting or self._unread or self._local_job is not None:
            if not self._interrupted:
                raise RuntimeError("a step_async() is pending: call step_wait() first")
            self._drain()

    def _send(self, targets: list[int], cmd: int, args: Sequence[Any] | None = None) -> None:
        """Wake workers ``targets`` with ``cmd``; ``args[k]`` (if any) goes to ``targets[k]``."""
        if self._waiting or self._unread or self._local_job is not None or self.closed:
            self._ready()
        self._seq += 1
        v, first = self._v, self._first
        if first and targets[0] == 0:  # the parent's env: done in _collect, after the posts
            self._local_job = (cmd, None if args is None else args[0])
        if targets is self._all and args is None:  # every step: the short way
            workers = self._worker_ids
            if workers:
                v["remaining"][0] = len(workers)
                v["cmd"][first:], v["seq"][first:] = cmd, self._seq
                for go in self._worker_go:
                    go.release()
            self._targets, self._unread, self._waiting = workers, workers[:], bool(workers)
            return
        ks = [k for k, i in enumerate(targets) if i >= first]  # positions in targets
        workers = [targets[k] for k in ks]
        v["remaining"][0] = len(workers)
        v["cmd"][workers], v["seq"][workers] = cmd, self._seq
        for k, i in zip(ks, workers, strict=True):
            self._w.go[i].release()
            if args is not None:  # after the post: the worker reads it once it is awake
                self._w.conns[i].send_bytes(pickle.dumps(args[k], PICKLE_PROTOCOL))
        self._targets, self._unread, self._waiting = workers, list(workers), bool(workers)

    def _collect(self, phase: str) -> list[Any]:
        """Sleep until every target has answered, then unpickle the replies in index order."""
        out: list[Any] = [None] * self.num_envs
        msg_len, status, unread = self._v["msg_len"], self._v["status"], self._unread
        try:
            local_error = None
            if self._local_job is not None:  # env 0 steps here while the workers step theirs
                cmd, args = self._local_job
                self._local_job = None
                try:
                    out[0] = reply = serve(self._w.local, cmd, 0, self._v, lambda: args)
                    keys = float_keys(reply) if cmd == STEP else None
                    if keys is not None:  # as a worker does: numbers into the shared rows
                        self._info_values[0, : len(keys)] = tuple(reply.values())
                        out[0] = Lane(0, self._lane_keys_of(0, keys))
                except Exception as exc:
                    local_error = exc
            if self._waiting and not spin_acquire(self._done, self._spin_s):
                while not self._done.acquire(timeout=POLL_S):
                    for i in self._targets:
                        if self._v["posted"][i] != self._seq:
                            self._alive_or_raise(i, phase)
            self._waiting = False
            if local_error is not None:  # env 0 comes first, as with workers
                exc = local_error
                text = f"env 0 ({self._labels[0]}, in this process) failed during {phase}: "
                text += f"{type(exc).__name__}: {exc}"
                if phase in ("call", "set_attr"):  # the env itself is still usable
                    raise RuntimeError(text) from exc
                raise self._fail(text) from exc
            while unread:
                i = unread[0]
                length = msg_len.item(i)
                if length <= LANE:
                    unread.pop(0)
                    out[i], data = self._lane(i, LANE - length), None
                elif length == PIPE:
                    self._interrupted = None  # a cut inside a pipe read cannot be repaired
                    data = self._recv_pipe(i, phase)
                    unread.pop(0)
                    self._interrupted = False
                else:
                    unread.pop(0)
                    data = self._info_bufs[i][:length] if length else None
                if data is not None:
                    out[i] = pickle.loads(data)
                if status.item(i) == ERROR:
                    if phase in ("call", "set_attr"):  # the env itself is still usable
                        raise self._error(i, phase, out[i])
                    raise self._fail(str(self._error(i, phase, out[i])))
        except BaseException:
            if self._interrupted is None and not self.closed:
                raise self._fail("interrupted while reading a reply; make a new env") from None
            self._interrupted = True  # the next command drains what is left first
            raise
        return out

    def _lane_keys_of(self, i: int, keys: tuple) -> tuple:
        """``keys``, or the equal tuple seen last time (so that later checks are identity)."""
        cached = self._lane_keys[i]
        if cached is None or cached[1] != keys:
            cached = self._lane_keys[i] = (b"", keys)
        return cached[1]

    def _lane(self, i: int, key_bytes: int) -> Lane:
        """Worker ``i``'s float info: its keys are pickled at the start of its info buffer."""
        raw = self._info_bufs[i][:key_bytes]
        cached = self._lane_keys[i]
        if cached is None or cached[0] != raw:
            cached = self._lane_keys[i] = (bytes(raw), pickle.loads(raw))
        return Lane(i, cached[1])

    def _as_info(self, reply: Any) -> Any:
        """A reply as the env gave it (a float-lane info back into a dict)."""
        if type(reply) is Lane:
            values = self._v["info_values"][reply.index, : len(reply.keys)].tolist()
            return dict(zip(reply.keys, values, strict=True))
        return reply

    def _drain(self) -> None:
        """Wait out and drop the replies of an interrupted command, so the next one is in sync."""
        for i in self._targets:
            while self._v["posted"][i] != self._seq:  # written by the worker after its post
                self._done.acquire(timeout=0.01)
                self._alive_or_raise(i, "drain")
        while self._done.acquire(False):  # a post nobody consumed; every worker is idle now
            pass
        for i in self._unread:
            if self._v["msg_len"][i] == PIPE:
                self._w.conns[i].recv_bytes()
        self._waiting, self._unread, self._interrupted = False, [], False

    def _obs(self) -> np.ndarray:
        if self.copy:
            return self._v["obs"].copy()
        view = self._v["obs"].view()
        view.flags.writeable = False
        return view

    def _batch_infos(self, replies: list[Any]) -> dict[str, Any]:
        """``SyncVectorEnv``'s info batching, vectorised when every env gave the same keys with
        scalars of one type (ViZDoom's game variables: the per-step common case)."""
        first = replies[0]
        if type(first) is Lane:  # the common case: every env's floats sit in the shared rows
            keys = first.keys
            for reply in replies:
                if type(reply) is not Lane or (reply.keys is not keys and reply.keys != keys):
                    break
            else:
                values = self._info_values[:, : len(keys)].T.copy()
                masks = np.empty(values.shape, dtype=bool)
                masks.fill(True)  # (np.ones is a Python function: slower here)
                infos = {}
                for j, key in enumerate(keys):
                    infos[key] = values[j]
                    infos["_" + key] = masks[j]
                return infos
        keys = first.keys if type(first) is Lane else float_keys(first)
        if keys is not None and "final_obs" not in keys:  # (_add_info treats it specially)
            lanes, dicts = [], []
            for i, reply in enumerate(replies):
                if type(reply) is Lane and reply.keys == keys:
                    lanes.append(i)
                elif float_keys(reply) == keys:
                    dicts.append(i)
                else:
                    break
            else:  # every env gave these keys, all floats: _add_info would make float64 arrays
                values = np.empty((len(replies), len(keys)))
                if lanes and lanes[-1] - lanes[0] == len(lanes) - 1:  # the usual: a slice
                    rows = slice(lanes[0], lanes[-1] + 1)
                    values[rows] = self._v["info_values"][rows, : len(keys)]
                elif lanes:
                    values[lanes] = self._v["info_values"][lanes, : len(keys)]
                for i in dicts:
                    values[i] = tuple(replies[i].values())
                values = values.T.copy()
                masks = np.empty(values.shape, dtype=bool)
                masks.fill(True)
                infos = {}
                for key, value, mask in zip(keys, values, masks, strict=True):
                    infos[key], infos["_" + key] = value, mask
                return infos
        infos = {}
        for i, reply in enumerate(replies):
            if reply:
                infos = self._add_info(infos, self._as_info(reply), i)
        return infos

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the envs: env ``i`` gets seed ``seed + i`` (or ``seed[i]`` from a list).

        ``options["reset_mask"]`` (bool array, one per env) resets only the masked envs, as in
        gymnasium; the other options go to every env's ``reset``.
        """
        n = self.num_envs
        if seed is None or isinstance(seed, int | np.integer):
            seeds = [None if seed is None else int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"seed list must have num_envs={n} entries, got {len(seeds)}")
        targets = self._all
        if options and "reset_mask" in options:
            options = dict(options)
            mask = options.pop("reset_mask")
            if not (isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (n,)):
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({n},)")
            if not mask.any():
                raise ValueError("options['reset_mask'] must select at least one env")
            targets = [int(i) for i in np.flatnonzero(mask)]
        self._send(targets, RESET, [(seeds[i], options) for i in targets])
        infos: dict[str, Any] = {}
        for i, reply in enumerate(self._collect("reset")):
            if reply:
                infos = self._add_info(infos, reply, i)
        self._needs_reset = False
        return self._obs(), infos

    def step_async(self, actions: Any) -> None:
        """Start stepping every env with ``actions`` (shape ``action_space.shape``) and return at
        once, so the caller can compute while the envs step. Finish with :meth:`step_wait`."""
        if self._waiting or self._unread or self._local_job is not None or self.closed:
            self._ready()  # before writing actions an interrupted step might still be reading
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        if type(actions) is not np.ndarray:
            actions = np.asarray(actions)
        if actions.shape != self._act_shape:
            raise ValueError(
                f"actions must have shape {self._act_shape} (num_envs={self.num_envs} × "
                f"action shape {self.single_action_space.shape}), got {actions.shape}"
            )
        dtype = self._act_dtype
        if actions.dtype != dtype and not np.can_cast(actions.dtype, dtype, "same_kind"):
            raise ValueError(
                f"actions of dtype {actions.dtype} do not fit the action dtype {dtype}"
            )
        self._v["actions"][...] = actions
        self._send(self._all, STEP)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Finish the step started by :meth:`step_async`; returns ``step``'s 5-tuple."""
        pending = self._waiting or self._local_job is not None
        if self.closed or not pending or self._interrupted:
            self._ready()
            raise RuntimeError("step_wait() needs a step_async() first")
        replies = self._collect("step")
        v = self._v
        rewards, terminated, truncated = self._step_arrays
        rewards, terminated, truncated = rewards.copy(), terminated.copy(), truncated.copy()
        if not (np.count_nonzero(terminated) or np.count_nonzero(truncated)):
            infos = self._batch_infos(replies)
        else:  # the general path, in SyncVectorEnv's order: final obs/info, then the new info
            infos = {}
            for i, reply in enumerate(replies):
                if terminated[i] or truncated[i]:
                    final = {"final_obs": v["final_obs"][i].copy(), "final_info": reply[0]}
                    infos = self._add_info(infos, final, i)
                    reply = reply[1]
                if reply:
                    infos = self._add_info(infos, self._as_info(reply), i)
        return self._obs(), rewards, terminated, truncated, infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every env; ended envs are reset in the same call (SAME_STEP autoreset)."""
        self.step_async(actions)
        return self.step_wait()

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call method ``name`` (or read attribute ``name``) of every env; one result each."""
        self._send(self._all, CALL, [(name, args, kwargs)] * self.num_envs)
        return tuple(self._collect("call"))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Attribute ``name`` of every env."""
        return self.call(name)

    def set_attr(self, name: str, values: Any) -> None:
        """Set attribute ``name`` of every env: one value each (list/tuple) or the same value."""
        if not isinstance(values, list | tuple):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"need num_envs={self.num_envs} values, got {len(values)}")
        self._send(self._all, SET_ATTR, [(name, value) for value in values])
        self._collect("set_attr")

    def render(self) -> tuple[Any, ...]:
        """Frames of every env (``render_mode`` must be set when the envs are made)."""
        return self.call("render")

    def close_extras(self, **kwargs: Any) -> None:
        """Stop the workers: each closes its env (ViZDoom's engine with it); stragglers are
        killed with their process group. Also runs on garbage collection and at exit."""
        self._finalizer()
        self._waiting, self._unread = False, []
