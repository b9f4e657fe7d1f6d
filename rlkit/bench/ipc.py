"""The cost of moving observations between processes (notebook 01): pickled through a pipe
against written into shared memory, timed with the harness's interleaved rounds."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rlkit.bench.harness import check_duration


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
    check_duration(seconds, 1)
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
