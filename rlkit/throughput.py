"""Throughput helpers for notebook 01: frames/s across env families, and the cost of moving
observations between processes. ``python -m rlkit bench env`` (:mod:`rlkit.bench`) is the
benchmark with targets; these are the notebook's measuring tools, built on the same
interleaved timing.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rlkit.bench import EnvLoop, Workload, _check_duration, measure_interleaved


def env_throughput(
    env_ids: Sequence[str],
    seconds: float = 2.0,
    *,
    repeats: int = 1,
    seed: int = 0,
    env_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, float]]:
    """Steps and emulator frames per second of one env per id, measured interleaved.

    Frames count what the emulator simulates: ``steps × frame_skip`` for ViZDoom and Atari,
    steps for everything else.

    :param env_ids: ids for :func:`rlkit.envs.make_env`, e.g. ``["CartPole-v1", "ALE/Pong-v5",
        "vizdoom:basic"]``.
    :param seconds: timed seconds per env, all rounds together.
    :param repeats: interleaved rounds (median reported).
    :param seed: seed of resets and random actions.
    :param env_kwargs: optional per-id ``make_env`` keyword arguments.
    :return: ``{env_id: {"steps_per_s", "frames_per_step", "frames_per_s", "startup_s"}}``
    """
    from rlkit.envs import make_env

    _check_duration(seconds, repeats)
    if isinstance(env_ids, str) or not env_ids:
        raise ValueError(f"env_ids must be a non-empty list of env ids, got {env_ids!r}")
    kw = dict(env_kwargs or {})
    unknown = set(kw) - set(env_ids)
    if unknown:
        raise ValueError(f"env_kwargs names ids not in env_ids: {sorted(unknown)}")

    def build(env_id: str) -> Callable[[], Workload]:
        return lambda: EnvLoop(make_env(env_id, **kw.get(env_id, {})), seed, env_id)

    m = measure_interleaved({e: build(e) for e in env_ids}, seconds, repeats)
    out = {}
    for env_id, rec in m.items():
        fps = rec["meta"]["frames_per_step"]
        out[env_id] = {
            "steps_per_s": rec["rate"],
            "frames_per_step": fps,
            "frames_per_s": rec["rate"] * fps,
            "startup_s": rec["startup_s"],
        }
    return out


def _ipc_peer(conn: Any, shared: Any) -> None:
    """Child side of :func:`ipc_cost`: receive observations and acknowledge each one."""
    view = np.frombuffer(shared, dtype=np.uint8)
    local = np.empty_like(view)
    conn.send_bytes(b"ready")
    while True:
        command = conn.recv()
        if command[0] == "stop":
            return
        if command[0] == "pipe":
            while conn.recv() is not None:  # unpickling makes the child's own copy
                conn.send_bytes(b"k")
        else:  # "shm": the data is already in shared memory; copy it out, as a learner would
            size = command[1]
            while conn.recv_bytes() == b"g":
                local[:size] = view[:size]
                conn.send_bytes(b"k")


def _timed(one: Callable[[], None], seconds: float) -> float:
    """Calls of ``one`` per second over ``seconds`` (after a short untimed warm-up)."""
    for _ in range(20):
        one()
    n, t0 = 0, time.perf_counter()
    deadline = t0 + seconds
    while True:
        one()
        n += 1
        if (now := time.perf_counter()) >= deadline:
            return n / (now - t0)


def ipc_cost(obs_bytes_list: Sequence[int], seconds: float = 1.0) -> list[dict[str, float]]:
    """Bytes per second of handing observations of each size to another process.

    Three ways, each one observation per message with an acknowledgement back (as an actor
    waiting for its learner would): pickled through a ``multiprocessing`` pipe; written into
    shared memory with only a one-byte signal through the pipe; and, as the ceiling, a plain
    copy inside one process.

    :param obs_bytes_list: observation sizes in bytes, e.g. ``[4 * 84 * 84, 240 * 320 * 3]``.
    :param seconds: timed seconds per size and method.
    :return: one dict per size: ``obs_bytes``, ``pipe_msgs_per_s``, ``pipe_bytes_per_s``,
        ``shm_msgs_per_s``, ``shm_bytes_per_s``, ``local_copy_bytes_per_s``.
    """
    sizes = list(obs_bytes_list)
    if not sizes or not all(isinstance(s, int | np.integer) and s >= 1 for s in sizes):
        raise ValueError(f"obs_bytes_list must be positive integers, got {obs_bytes_list!r}")
    _check_duration(seconds, 1)
    # spawn, not fork: forking a process that may hold torch/OpenMP threads is unsafe.
    ctx = mp.get_context("spawn")
    shared = ctx.RawArray("B", int(max(sizes)))
    view = np.frombuffer(shared, dtype=np.uint8)
    parent, child = ctx.Pipe()
    peer = ctx.Process(target=_ipc_peer, args=(child, shared), daemon=True)
    peer.start()
    results = []
    try:
        # A child that cannot start (a script without an ``if __name__ == "__main__":`` guard
        # re-runs itself under spawn) would otherwise leave this process waiting forever.
        if not parent.poll(60) or parent.recv_bytes() != b"ready":
            raise RuntimeError(
                "ipc_cost's helper process did not start within 60 s; a script calling it needs "
                "an `if __name__ == '__main__':` guard"
            )
        for size in sizes:
            size = int(size)
            obs = np.random.default_rng(0).integers(0, 256, size=size, dtype=np.uint8)

            def by_pipe(obs: np.ndarray = obs) -> None:
                parent.send(obs)
                parent.recv_bytes()

            def by_shm(obs: np.ndarray = obs, size: int = size) -> None:
                view[:size] = obs
                parent.send_bytes(b"g")
                parent.recv_bytes()

            parent.send(("pipe",))
            pipe_rate = _timed(by_pipe, seconds)
            parent.send(None)
            parent.send(("shm", size))
            shm_rate = _timed(by_shm, seconds)
            parent.send_bytes(b"s")
            dst = np.empty_like(obs)
            copy_rate = _timed(lambda obs=obs, dst=dst: np.copyto(dst, obs), seconds)
            results.append(
                {
                    "obs_bytes": size,
                    "pipe_msgs_per_s": pipe_rate,
                    "pipe_bytes_per_s": pipe_rate * size,
                    "shm_msgs_per_s": shm_rate,
                    "shm_bytes_per_s": shm_rate * size,
                    "local_copy_bytes_per_s": copy_rate * size,
                }
            )
        parent.send(("stop",))
        peer.join(timeout=5)
    finally:
        if peer.is_alive():
            peer.terminate()
            peer.join(timeout=5)
        parent.close()
        child.close()
    return results
