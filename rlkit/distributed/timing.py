"""How long one all-reduce takes, per megabyte, between processes on this machine.

Data-parallel training pays one all-reduce of the whole gradient per step, so its cost per MB
(and the fixed cost a tiny message still pays) tells how large a network must be, or how long
its step, before splitting the batch across processes pays. :func:`allreduce_seconds_per_mb`
measures it over gloo on loopback (NCCL on GPUs) and returns a JSON-able benchmark record.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from rlkit.distributed.launch import RankContext, launch

__all__ = ["MB", "allreduce_seconds_per_mb"]

MB = 1_000_000
"""Bytes in a megabyte here (decimal, as network rates are quoted)."""


def _time_rank(ctx: RankContext, sizes_mb: Sequence[float], repeats: int, warmup: int):
    """Seconds of each timed all-reduce of each size, in this rank (runs in a launched process)."""
    import torch
    import torch.distributed as dist

    out = []
    for size in sizes_mb:
        x = torch.ones(max(1, round(size * MB / 4)), dtype=torch.float32, device=ctx.device)
        for _ in range(warmup):  # first calls set up connections and buffers
            dist.all_reduce(x)
        times = []
        for _ in range(repeats):
            dist.barrier()  # start together, so the time is the collective's, not a wait
            if ctx.device != "cpu":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            dist.all_reduce(x)
            if ctx.device != "cpu":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        out.append(times)
    return out


def allreduce_seconds_per_mb(
    sizes_mb: Sequence[float] = (0.1, 1.0, 10.0),
    world_size: int = 2,
    repeats: int = 20,
    warmup: int = 3,
    *,
    device: str = "cpu",
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Time a float32 all-reduce (sum) of each size across ``world_size`` processes.

    :param sizes_mb: message sizes in MB (10^6 bytes), each above 0.
    :param world_size: number of processes (at least 1; 1 times the call without a peer).
    :param repeats: timed calls per size (the median is reported).
    :param warmup: untimed calls per size first.
    :param device: ``"cpu"`` (gloo over loopback) or ``"cuda"`` (NCCL).
    :param timeout: seconds for the whole measurement.
    :return: a benchmark record: the header of :func:`rlkit.bench.harness.result_header` and
        ``rows``, one per size with ``mb``, ``bytes``, ``median_s`` (the slowest rank's
        median), ``min_s``, ``seconds_per_mb`` and ``mb_per_s``.
    """
    from rlkit.bench.harness import result_header

    sizes = [float(s) for s in sizes_mb] if isinstance(sizes_mb, Sequence) else None
    if not sizes or any(not s > 0 for s in sizes):
        raise ValueError(
            f"sizes_mb must be a non-empty sequence of sizes above 0, got {sizes_mb!r}"
        )
    for name, value, low in (("repeats", repeats, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer of at least {low}, got {value!r}")
    per_rank = launch(
        _time_rank, world_size, args=(sizes, repeats, warmup), device=device, timeout=timeout
    )
    rows = []
    for i, size in enumerate(sizes):
        n_bytes = 4 * max(1, round(size * MB / 4))
        # A step waits for the slowest rank, so that rank's median is the cost.
        median = max(statistics.median(times[i]) for times in per_rank)
        rows.append(
            {
                "mb": n_bytes / MB,
                "bytes": n_bytes,
                "median_s": median,
                "min_s": min(min(times[i]) for times in per_rank),
                "seconds_per_mb": median / (n_bytes / MB),
                "mb_per_s": (n_bytes / MB) / median,
            }
        )
    record = result_header("allreduce")
    record.update(
        backend="nccl" if device == "cuda" else "gloo",
        world_size=world_size,
        device=device,
        dtype="float32",
        repeats=repeats,
        warmup=warmup,
        rows=rows,
    )
    return record
