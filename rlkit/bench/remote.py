"""``rlkit bench remote``: what the remote path costs on top of training itself.

The same small config is trained locally and through :func:`rlkit.remote.train` (the embedded
local cluster by default, or a cluster by address), interleaved, several times. Reported per
round: the cluster start-up (a fresh embedded cluster each round, or the connection to an
address), submit-to-worker-ready, the worker's first record reaching the client, the median
progress latency, fetching the result (the weights), and the wall-clock overhead against the
local run of the same config.
"""

from __future__ import annotations

import pickle
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from rlkit.bench.harness import result_header

TIMING_KEYS = (
    "connect_s",
    "worker_start_s",
    "first_record_s",
    "progress_latency_median_s",
    "result_transfer_s",
)


def _median(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def bench_remote(
    preset: str = "cartpole",
    total_steps: int = 4000,
    repeats: int = 3,
    address: str | None = None,
    require_gpu: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time local against remote training of one config, ``repeats`` interleaved rounds.

    :param address: ``None`` for a fresh embedded cluster each round (start-up included), or
        a cluster address (connected once; ``connect_s`` is then the first round's).
    """
    from rlkit import remote
    from rlkit.entry import train
    from rlkit.presets import preset as make

    config = make(preset, total_steps=total_steps, eval_interval=0, checkpoint_interval=0)
    rounds: list[dict[str, Any]] = []
    for r in range(repeats):
        t0 = time.perf_counter()
        local = train(config, device="cpu")
        local_wall = time.perf_counter() - t0
        if address is None:
            remote.disconnect()  # each round pays the embedded start-up again
        with tempfile.TemporaryDirectory() as run_dir:
            t0 = time.perf_counter()
            result = remote.train(config, address, require_gpu=require_gpu, run_dir=run_dir)
            remote_wall = time.perf_counter() - t0
        timings = result.device_report["timings"]
        row = {k: timings.get(k) for k in TIMING_KEYS}
        row.update(
            local_wall_s=local_wall,
            remote_wall_s=remote_wall,
            overhead_s=remote_wall - local_wall,
            local_train_s=local.history.train_seconds,
            remote_train_s=result.history.train_seconds,
            weights_mb=len(pickle.dumps(result.weights)) / 1e6,
            records=timings.get("records"),
        )
        rounds.append(row)
        if log:
            log(
                f"round {r + 1}/{repeats}: local {local_wall:.1f} s, remote {remote_wall:.1f} s "
                f"(start-up {row['connect_s']:.1f} s, worker {row['worker_start_s']:.1f} s, "
                f"first record {row['first_record_s']:.2f} s)"
            )
    report = result.device_report
    remote.disconnect()
    out = result_header("remote")
    out.update(
        preset=preset,
        total_steps=total_steps,
        repeats=repeats,
        cluster=report["address"],
        auth=report["auth"],
        node_device=report["selected"],
        ray_version=report["node"].get("ray"),
        command=(
            f"python -m rlkit bench remote --preset {preset} --steps {total_steps} "
            f"--repeats {repeats}" + (f" --address {address}" if address else "")
        ),
        rounds=rounds,
    )
    keys = (*TIMING_KEYS, "local_wall_s", "remote_wall_s", "overhead_s", "weights_mb")
    out["median"] = {k: _median([row[k] for row in rounds]) for k in keys}
    out["ray_startup_s"] = out["median"]["connect_s"]
    return out


def format_remote_table(result: dict[str, Any]) -> str:
    m = result["median"]
    rows = [
        ("cluster start-up / connect", m["connect_s"], "s"),
        ("submit -> worker ready", m["worker_start_s"], "s"),
        ("run -> first record here", m["first_record_s"], "s"),
        ("progress latency (median)", m["progress_latency_median_s"], "s"),
        ("result transfer (weights)", m["result_transfer_s"], "s"),
        ("weights size", m["weights_mb"], "MB"),
        ("local training wall", m["local_wall_s"], "s"),
        ("remote training wall", m["remote_wall_s"], "s"),
        ("overhead", m["overhead_s"], "s"),
    ]
    head = (
        f"remote path on {result['cluster']} (auth {result['auth']}), {result['preset']} "
        f"{result['total_steps']} steps, median of {result['repeats']}:"
    )
    lines = [f"  {name:<28} {v:8.3f} {unit}" for name, v, unit in rows if v is not None]
    return "\n".join([head, *lines])
