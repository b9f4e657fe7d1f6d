"""The protocol of :class:`rlkit.envs.vector.SharedMemoryVectorEnv`: what both sides share.

The shared mapping's layout, the command codes, the float lane for infos, the poll-then-sleep
wait, CPU pinning, and the loop each worker process runs (``worker_main``): one command per post of
its ``go`` semaphore, carried out by ``serve``, which the parent also uses for env 0.
"""

from __future__ import annotations

import contextlib
import mmap
import multiprocessing as mp
import os
import pickle
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from multiprocessing import reduction
from typing import Any

import gymnasium as gym
import numpy as np

STEP, RESET, CALL, SET_ATTR, CLOSE = 1, 2, 3, 4, 5
OK, ERROR = 0, 1
# How often a blocked side wakes to check that the other side is still alive. This only matters
# once something has died; a live peer wakes the waiter at once through the semaphore.
POLL_S = 0.2
# How long a waiter polls before it sleeps (see spin_acquire): long enough to cover a ViZDoom
# step with an episode reset; a waiter that polls in vain yields its CPU to whatever else runs.
DEFAULT_SPIN_S = 0.002
INFO_BYTES = 16384  # per worker; a pickled reply larger than this goes through the pipe
# A step's info made of up to this many floats (ViZDoom's game variables) travels as numbers in
# shared memory, its keys pickled once and left in the info buffer: no pickling per step. The
# reply's msg_len is then ``LANE - len(pickled keys)``; ``PIPE`` means "in the pipe".
LANE_SLOTS, LANE, PIPE = 16, -2, -1
PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


def default_context() -> str:
    """The multiprocessing start method for workers."""
    # Never "fork": forking a parent that runs torch (or any) threads can deadlock the child.
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def shared_layout(n: int, obs_space: gym.Space, act_space: gym.Space) -> tuple[dict, int]:
    """Offset, shape and dtype of every shared array, each 64-byte (cache line) aligned."""
    fields = [
        ("obs", obs_space.shape, obs_space.dtype),
        ("final_obs", obs_space.shape, obs_space.dtype),
        ("actions", act_space.shape, act_space.dtype),
        ("rewards", (n,), np.float64),
        ("terminated", (n,), np.bool_),
        ("truncated", (n,), np.bool_),
        ("cmd", (n,), np.int8),
        ("status", (n,), np.int8),
        ("msg_len", (n,), np.int64),
        ("seq", (n,), np.int64),  # number of the command, written by the parent
        ("posted", (n,), np.int64),  # number of the last command answered, written by workers
        ("remaining", (1,), np.int64),  # workers yet to answer; guarded by a lock
        ("info", (n, INFO_BYTES), np.uint8),
        ("info_values", (n, LANE_SLOTS), np.float64),
    ]
    layout, offset = {}, 0
    for name, shape, dtype in fields:
        offset = -(-offset // 64) * 64
        layout[name] = (offset, tuple(shape), np.dtype(dtype).str)
        offset += int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return layout, offset


def shared_views(buf: mmap.mmap, layout: dict) -> dict[str, np.ndarray]:
    views = {}
    for name, (offset, shape, dtype) in layout.items():
        count = int(np.prod(shape, dtype=np.int64))
        views[name] = np.frombuffer(buf, np.dtype(dtype), count, offset).reshape(shape)
    return views


def shared_fd(size: int) -> int:
    """An anonymous shared file, unlinked from the start: nothing can leak in /dev/shm even if
    every process is SIGKILLed, and the memory goes away with the last mapping."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("rlkit-vector", os.MFD_CLOEXEC)
    else:
        fd, path = tempfile.mkstemp(prefix="rlkit-vector-")
        os.unlink(path)
    os.ftruncate(fd, size)
    return fd


def worker_cpus(n: int, pin: bool | None) -> list[int | None]:
    """The CPU each of ``n`` envs' processes is pinned to (round robin over the CPUs this process
    may use), or ``None`` each when not pinning. ``pin=None`` pins when there are 2+ envs and CPUs.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS has no affinity API
        return [None] * n
    if pin is None:
        pin = n > 1 and len(cpus) > 1
    return [cpus[i % len(cpus)] for i in range(n)] if pin else [None] * n


def build_on(cpu: int | None, fn: Callable[[], gym.Env]) -> gym.Env:
    """``fn()`` with this thread briefly pinned to ``cpu``, so that processes the env starts
    (ViZDoom's engine) stay on ``cpu`` for good while this thread goes back to all its CPUs."""
    if cpu is None:
        return fn()
    mask = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cpu})
        return fn()
    finally:
        os.sched_setaffinity(0, mask)


def error_text(exc: BaseException) -> tuple[str, str, str]:
    return type(exc).__name__, str(exc), traceback.format_exc()


def spin_acquire(sem: Any, spin_s: float) -> bool:
    """Take ``sem`` if it is posted within ``spin_s`` seconds, polling without sleeping.

    Each poll is a userspace atomic and ``sched_yield`` hands the CPU to anything else runnable,
    so a spinning waiter costs little, while a sleeping one costs a wake-up: on a small VM an
    idle vCPU halts, and waking it costs a sizeable share of one env step.
    """
    if sem.acquire(False):
        return True
    if spin_s <= 0:
        return False
    clock, yield_, acquire = time.perf_counter, os.sched_yield, sem.acquire
    deadline = clock() + spin_s
    while clock() < deadline:
        yield_()
        if acquire(False):
            return True
    return False


def wait_for_parent(go, conn, spin_s: float = 0.0) -> bool:
    """Wait until the parent posts ``go``; ``False`` if the parent died meanwhile.

    Only the parent holds the other end of ``conn`` and it writes there only after posting
    ``go``, so a readable pipe with no post pending is end-of-file: the parent is gone. (Its
    pid is no help: under forkserver our parent is the fork server, which can outlive it.)
    """
    if spin_acquire(go, spin_s):
        return True
    while not go.acquire(timeout=1.0):
        if conn.poll():
            return go.acquire(False)
    return True


class Lane:
    """Stands for a step info whose float values sit in row ``index`` of ``info_values``."""

    __slots__ = ("index", "keys")

    def __init__(self, index: int, keys: tuple[str, ...]):
        self.index, self.keys = index, keys


def float_keys(reply: Any) -> tuple[str, ...] | None:
    """The keys of ``reply`` if it can take the float lane: a dict of 1–16 floats."""
    if type(reply) is not dict or not 0 < len(reply) <= LANE_SLOTS:
        return None
    for value in reply.values():
        if type(value) is not float:
            return None
    return tuple(reply)


def serve(env: gym.Env, cmd: int, index: int, v: dict, payload: Callable[[], Any]) -> Any:
    """Carry out command ``cmd`` on env ``index``, in a worker or in the parent: arrays go into
    the shared views ``v``; returns the reply (``None``: nothing to say). ``payload()`` gives the
    command's arguments (reset, call and set_attr have some)."""
    reply = None
    if cmd == STEP:
        action = v["actions"][index]
        obs, rew, term, trunc, info = env.step(action.copy() if action.ndim else action)
        v["rewards"][index], v["terminated"][index], v["truncated"][index] = rew, term, trunc
        if term or trunc:  # SAME_STEP autoreset: keep the last obs, reset now
            v["final_obs"][index] = obs
            obs, reset_info = env.reset()
            reply = (info, reset_info)
        elif info:
            reply = info
        v["obs"][index] = obs
    elif cmd == RESET:
        seed, options = payload()
        obs, info = env.reset(seed=seed, options=options)
        v["obs"][index] = obs
        reply = info or None
    elif cmd == CALL:
        name, args, kwargs = payload()
        attr = env.get_wrapper_attr(name)
        reply = attr(*args, **kwargs) if callable(attr) else attr
    elif cmd == SET_ATTR:
        env.set_wrapper_attr(*payload())
    return reply


def worker_main(indices, fn_blobs, conn, go, done, lock, sys_path, cpu, spin_s, each=False) -> None:
    """Build the envs of rows ``indices``, map the shared memory, then serve commands.

    A worker hosts one env or several (``envs_per_worker``); each post of ``go`` means "some
    row of yours has a new command": the worker serves every row whose ``seq`` moved, in row
    order (the order the parent posts them and sends their arguments), so a post that finds
    nothing new is harmless. ``done`` is posted when the last row of a command has answered, or,
    with ``each`` (the free-running pool), after every row's answer — so the pool's caller can
    take one env of a worker while the worker steps its next.
    """
    if cpu is not None:  # before the envs exist, so that their engine processes inherit the CPU
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})
    # Interrupts (Ctrl-C, Jupyter's stop button) are the parent's to handle. A process group of
    # its own lets the parent kill this worker together with engine processes its envs spawned.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    os.set_inheritable(conn.fileno(), False)  # engine children must not hold our pipe open
    sys.path.extend(p for p in sys_path if p not in sys.path)  # a forkserver's path is stale
    envs: list[gym.Env] = []
    try:
        for blob in fn_blobs:  # one hello per env, in row order
            try:
                env = pickle.loads(blob)()
                envs.append(env)
                hello = (env.observation_space, env.action_space, dict(env.metadata or {}))
                hello += (getattr(env, "render_mode", None),)
            except Exception as exc:
                conn.send_bytes(pickle.dumps((ERROR, error_text(exc))))
                return
            conn.send_bytes(pickle.dumps((OK, hello)))
        msg = conn.recv_bytes()
        if not msg:  # the parent gave up during start-up
            return
        layout, size = pickle.loads(msg)
        fd = reduction.recv_handle(conn)
        buf = mmap.mmap(fd, size)
        os.close(fd)
        v = shared_views(buf, layout)
        names = "cmd seq status msg_len posted".split()
        cmds, seqs, status, msg_len, posted = (v[k] for k in names)

        def payload() -> Any:  # a command's arguments follow its post through the pipe
            return pickle.loads(conn.recv_bytes())

        info_at = layout["info"][0]
        rows = [
            _Row(i, env, memoryview(buf)[info_at + i * INFO_BYTES :][:INFO_BYTES], v)
            for i, env in zip(indices, envs, strict=True)
        ]
        while True:
            if not wait_for_parent(go, conn, spin_s):
                return
            for row in rows:
                index = row.index
                # The parent writes a row's cmd before its seq: read them the other way round,
                # so a new seq always comes with its cmd. CLOSE comes without a new seq.
                seq, cmd = seqs.item(index), cmds.item(index)
                if cmd == CLOSE:
                    return
                if seq == row.served:  # nothing new for this row
                    continue
                row.served = seq
                ok, code, data = row.serve(cmd, payload)
                size = 0 if data is None else len(data)
                status[index], msg_len[index] = ok, (code or size)
                if each:
                    last = True
                else:
                    with lock:  # uncontended, this is a userspace atomic: no system call
                        v["remaining"][0] -= 1
                        last = v["remaining"][0] == 0
                if last:
                    done.release()
                if size > INFO_BYTES:
                    conn.send_bytes(data)  # after the post, so a large reply cannot deadlock
                posted[index] = seq  # lets the parent drain replies after an interrupted wait
    finally:
        for env in envs:
            with contextlib.suppress(Exception):
                env.close()


class _Row:
    """One env of a worker: its row of the shared arrays, its info buffer, its float lane."""

    __slots__ = ("env", "index", "info_mv", "lane_code", "lane_keys", "lane_values", "served", "v")

    def __init__(self, index: int, env: gym.Env, info_mv: memoryview, v: dict):
        self.index, self.env, self.info_mv, self.v = index, env, info_mv, v
        self.lane_values, self.lane_keys, self.lane_code = v["info_values"][index], None, 0
        self.served = 0  # the last command number carried out (0: none yet)

    def serve(self, cmd: int, payload: Callable[[], Any]) -> tuple[int, int, bytes | None]:
        """Carry out ``cmd``; ``(status, code, data)``: code is a lane reply or the pipe, else 0
        (msg_len is then the size of ``data``, already in the info buffer if it fits)."""
        data, code, ok = None, 0, OK
        try:
            reply = serve(self.env, cmd, self.index, self.v, payload)
            keys = float_keys(reply) if cmd == STEP else None
            if keys is not None:
                if keys != self.lane_keys:  # (re)write the keys into the info buffer
                    data = pickle.dumps(keys, PICKLE_PROTOCOL)
                    self.info_mv[: len(data)] = data
                    self.lane_keys, self.lane_code = keys, LANE - len(data)
                self.lane_values[: len(keys)] = tuple(reply.values())
                data, code = None, self.lane_code
            elif reply is not None:
                data = pickle.dumps(reply, PICKLE_PROTOCOL)
        except Exception as exc:  # includes a reply that cannot be pickled
            data, code, ok = pickle.dumps(error_text(exc)), 0, ERROR
        size = 0 if data is None else len(data)
        if 0 < size <= INFO_BYTES:
            self.info_mv[:size] = data
            self.lane_keys = None  # the keys in the buffer are overwritten
        if size > INFO_BYTES:
            code = PIPE
        return ok, code, data
