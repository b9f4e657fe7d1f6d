"""How long one all-reduce takes, per megabyte, between processes on this machine.

Data-parallel training pays one all-reduce of the whole gradient per step, so its cost per MB
(and the fixed cost a tiny message still pays) tells how large a network must be, or how long
its step, before splitting the batch across processes pays. :func:`allreduce_seconds_per_mb`
measures it over gloo on loopback (NCCL on GPUs) and returns a JSON-able benchmark record.
:func:`flat_versus_per_parameter` times what :class:`rlkit.distributed.FlatAllReduce` saves on
a preset's network: one call on the flattened gradient against one call per parameter tensor.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from rlkit.distributed.launcher import RankContext, launch

__all__ = ["MB", "allreduce_seconds_per_mb", "flat_versus_per_parameter"]

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


def _time_hooks(ctx: RankContext, config, obs_shape, n_actions: int, repeats: int, warmup: int):
    """Median seconds of the flat hook and of one all-reduce per tensor (in a launched process)."""
    import torch
    import torch.distributed as dist

    from rlkit.config import DQNConfig
    from rlkit.distributed.allreduce import FlatAllReduce

    torch.manual_seed(0)
    if isinstance(config, DQNConfig):
        from rlkit.agents.dqn import build_q_network

        net = build_q_network(config, obs_shape, n_actions)
    else:
        from rlkit.agents.ppo_learner import build_actor_critic

        net = build_actor_critic(config, obs_shape, n_actions)
    params = list(net.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    flat = FlatAllReduce()

    def per_parameter():
        for p in params:
            dist.all_reduce(p.grad)
            p.grad.div_(ctx.world_size)

    out = {"tensors": len(params), "elements": sum(p.numel() for p in params)}
    for name, step in (("flat", lambda: flat(params)), ("per_parameter", per_parameter)):
        for _ in range(warmup):
            step()
        times = []
        for _ in range(repeats):
            dist.barrier()
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        out[f"{name}_median_s"] = statistics.median(times)
    return out


def flat_versus_per_parameter(
    preset: str = "cartpole",
    world_size: int = 2,
    repeats: int = 100,
    warmup: int = 10,
    *,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Time averaging a preset network's gradients: one flattened all-reduce against one per tensor.

    :param preset: a DQN or PPO preset (its network, at its env's observation shape).
    :param world_size: number of processes (gloo on loopback).
    :param repeats: timed averagings of each kind (the median is reported).
    :param warmup: untimed ones first.
    :param timeout: seconds for the whole measurement.
    :return: a benchmark record: the header, ``preset``, ``world_size``, ``tensors``,
        ``elements``, ``flat_median_s``, ``per_parameter_median_s`` (rank 0's medians) and
        ``per_parameter_over_flat``.
    """
    from rlkit.bench.data_parallel import env_shape
    from rlkit.bench.harness import result_header
    from rlkit.presets import preset as make_preset

    for name, value, low in (("repeats", repeats, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer of at least {low}, got {value!r}")
    config = make_preset(preset)
    obs_shape, _, n_actions = env_shape(config)
    args = (config, obs_shape, n_actions, repeats, warmup)
    rank0 = launch(_time_hooks, world_size, args=args, timeout=timeout)[0]
    record = result_header("allreduce_flat_vs_per_parameter")
    record.update(preset=preset, world_size=world_size, backend="gloo", repeats=repeats, **rank0)
    record["per_parameter_over_flat"] = rank0["per_parameter_median_s"] / rank0["flat_median_s"]
    return record
