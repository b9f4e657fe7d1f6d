"""Past one process: rollout collection in a local vector env against Ray rollout workers, and
what moving data costs (``python -m rlkit bench scaling``).

Both sides do the same work: envs stepped by a PPO policy sampling actions. The local vector
env (rlkit's shared-memory workers, one process per env) steps ``n`` envs in lock-step while
this process runs the policy on all of them; ``n`` Ray rollout workers
(:class:`rlkit.distributed.rollout.RolloutWorkers`, one env each) each run their own copy of the
policy and ship fragments of ``fragment_steps`` steps per round, with the weights broadcast
every round as in training. Each variant is built afresh, warmed up and timed in interleaved
rounds (:func:`rlkit.bench.harness.measure_interleaved`); medians are reported.

Then, with a deliberately slow worker (it sleeps ``slow_factor`` × a normal round per
fragment): 2 workers without a backup against 2 + 1 backup. Then the cost per MB of moving the
observations themselves (:func:`rlkit.bench.transfer.transfer_costs`, real frames from the
env) and of an all-reduce (:func:`rlkit.bench.allreduce_cost.allreduce_seconds_per_mb`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rlkit.bench.harness import check_duration, measure_interleaved, result_header

__all__ = ["bench_scaling", "format_scaling_table"]

TARGETS = {"ray_2_over_1": 1.5, "ray_over_vector_at_2": 0.9}


class _VectorRollout:
    """``n`` envs in rlkit's shared-memory vector env, the policy acting here."""

    def __init__(self, cfg: Any, n: int, model: Any, splits: list):
        from rlkit.agents.ppo import StochasticActor
        from rlkit.envs.vector import make_vector_env

        self.envs = make_vector_env(cfg.env_id, n, backend="shm", **cfg.env_kwargs)
        self.obs = self.envs.reset(seed=cfg.seed)[0]
        self.actor = StochasticActor(model, np.random.default_rng(cfg.seed), "cpu")
        self.splits = splits

    def run(self, seconds: float) -> tuple[int, float]:
        steps, env_s, act_s = 0, 0.0, 0.0
        t0 = time.perf_counter()
        while True:
            t1 = time.perf_counter()
            if t1 - t0 >= seconds:
                break
            actions = self.actor.act(self.obs)[0]
            t2 = time.perf_counter()
            self.obs = self.envs.step(actions)[0]
            env_s += time.perf_counter() - t2
            act_s += t2 - t1
            steps += len(actions)
        elapsed = time.perf_counter() - t0
        self.splits.append({"env": env_s / elapsed, "act": act_s / elapsed})
        return steps, elapsed

    def close(self) -> None:
        self.envs.close()


class _RayRollout:
    """``n`` Ray rollout workers (+ backups), one env each, in synchronous rounds."""

    def __init__(self, cfg: Any, n: int, weights: dict, steps: int, splits: list, **extra: Any):
        from rlkit.distributed.rollout import RolloutWorkers

        wcfg = cfg.replace(num_envs=n, rollout_workers=n, **extra)
        self.workers = RolloutWorkers(wcfg)
        self.weights, self.steps, self.splits = weights, steps, splits

    def run(self, seconds: float) -> tuple[int, float]:
        steps, rounds, env_s, act_s, busy_s = 0, [], 0.0, 0.0, 0.0
        dropped0 = self.workers.dropped_fragments
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            t1 = time.perf_counter()
            frags, _ = self.workers.sample(self.weights, self.steps)
            rounds.append(time.perf_counter() - t1)
            steps += sum(f.steps for f in frags)
            env_s += float(np.mean([f.seconds["env"] for f in frags]))
            act_s += float(np.mean([f.seconds["act"] for f in frags]))
            busy_s += sum(f.seconds["env"] + f.seconds["act"] for f in frags)
        elapsed = time.perf_counter() - t0
        self.splits.append(
            {
                "env": env_s / elapsed,
                "act": act_s / elapsed,
                "transfer": max(0.0, 1.0 - (env_s + act_s) / elapsed),
                # Workers stepping or acting at once, on average over the timed rounds: their
                # clocks run while the machine makes them wait, so load cannot hide that
                # they sample side by side (whether the cores keep up is the steps/s).
                "busy_workers": busy_s / elapsed,
                "round_s": statistics.median(rounds),
                "round_cv": float(np.std(rounds) / np.mean(rounds)),
                "dropped_fragments": self.workers.dropped_fragments - dropped0,
            }
        )
        return steps, elapsed

    def close(self) -> None:
        self.workers.close()


def _median_split(splits: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(s[k] for s in splits) for k in splits[0]} if splits else {}


def _rates(out: dict[str, dict[str, Any]], prefix: str, workers: Sequence[int]) -> dict:
    return {str(n): out[f"{prefix}_{n}"]["rate"] for n in workers}


def bench_scaling(
    preset_name: str = "vizdoom_basic_ppo",
    workers: Sequence[int] = (1, 2),
    seconds: float = 6.0,
    repeats: int = 3,
    fragment_steps: int = 128,
    slow_factor: float = 2.0,
    transfer_seconds: float = 0.5,
    allreduce_mb: Sequence[float] = (0.1, 1.0, 10.0),
    overrides: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    fresh_cluster: bool = True,
) -> dict[str, Any]:
    """Measure the local vector env and Ray rollout workers at each count in ``workers``, the
    Ray start-up, backup workers against a slow worker, and the cost of moving data.

    :param preset_name: a PPO preset (its env, frames and network), with ``overrides``.
    :param workers: worker counts, each at least 1 (2 must be among them for the targets and
        the backup experiment).
    :param seconds: timed seconds per variant, all rounds together.
    :param repeats: interleaved rounds (medians reported).
    :param fragment_steps: steps per env per Ray round.
    :param slow_factor: the slow worker sleeps this many normal rounds per fragment.
    :param transfer_seconds: timed seconds per serialisation per round.
    :param allreduce_mb: all-reduce message sizes (empty skips it).
    :param fresh_cluster: stop any Ray connection first and start an embedded cluster, so that
        ``ray_startup_s`` is what a first run pays, and stop it at the end; ``False`` uses the
        cluster this process is connected to (or starts one) and leaves it up (a notebook that
        goes on using Ray).
    :return: a JSON-able record (see the README's "Rollout workers" section for its fields).
    """
    from rlkit.presets import preset

    check_duration(seconds, repeats)
    counts = sorted({int(n) for n in workers})
    if not counts or counts[0] < 1:
        raise ValueError(f"workers must be counts of at least 1, got {list(workers)}")
    if fragment_steps < 1 or slow_factor <= 0 or transfer_seconds <= 0:
        raise ValueError(
            "fragment_steps must be at least 1 and slow_factor, transfer_seconds above 0; got "
            f"{fragment_steps}, {slow_factor}, {transfer_seconds}"
        )
    cfg = preset(preset_name, **(overrides or {}))
    if cfg.algo != "ppo":
        raise ValueError(f"bench scaling runs a PPO policy; {preset_name!r} is {cfg.algo!r}")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the policy acts on one core, as in the workers
    try:
        return _bench(
            cfg,
            preset_name,
            counts,
            seconds,
            repeats,
            fragment_steps,
            slow_factor,
            transfer_seconds,
            allreduce_mb,
            fresh_cluster,
            log,
        )
    finally:
        torch.set_num_threads(threads)


def _bench(
    cfg,
    preset_name,
    counts,
    seconds,
    repeats,
    fragment_steps,
    slow_factor,
    transfer_seconds,
    allreduce_mb,
    fresh_cluster,
    log,
) -> dict[str, Any]:
    from rlkit.agents.ppo_learner import build_actor_critic
    from rlkit.distributed.rollout import weights_of
    from rlkit.envs import env_spec, make_env
    from rlkit.remote.cluster import connect, disconnect

    probe = make_env(cfg.env_id, **cfg.env_kwargs)
    spec = env_spec(probe, cfg.env_id, cfg.env_kwargs)
    probe.close()
    model = build_actor_critic(cfg, spec.observation_shape, len(spec.action_names))
    model.eval()
    weights = weights_of(model)
    weights_mb = sum(v.nbytes for v in weights.values()) / 1e6
    say = log or (lambda _: None)
    allreduce = None
    if allreduce_mb:
        # First: the launcher's forkserver preloads torch only if it is the first forkserver
        # this process starts (the shm vector env below would start a bare one), so every
        # later launch() here, a notebook's included, starts its ranks in milliseconds.
        from rlkit.bench.allreduce_cost import allreduce_seconds_per_mb

        say("all-reduce over 2 gloo processes…")
        ar = allreduce_seconds_per_mb(allreduce_mb, world_size=2)
        allreduce = {"world_size": 2, "rows": ar["rows"]}

    if fresh_cluster:
        disconnect()  # a fresh cluster, so its start-up is what a user's first run pays
    t0 = time.perf_counter()
    conn = connect(None, num_cpus=max(3, max(counts) + 1), object_store_mb=200)
    reused = time.perf_counter() - t0 < 0.5 * conn.startup_s  # an earlier connect() started it
    connect_s = conn.startup_s  # when reused: what starting it took then
    say(f"Ray cluster up ({'reused; ' if reused else ''}start-up {connect_s:.1f} s)")
    try:
        splits: dict[str, list] = {}
        factories = {}
        for n in counts:
            splits[f"vector_{n}"], splits[f"ray_{n}"] = [], []
            factories[f"vector_{n}"] = lambda n=n: _VectorRollout(
                cfg, n, model, splits[f"vector_{n}"]
            )
            factories[f"ray_{n}"] = lambda n=n: _RayRollout(
                cfg, n, weights, fragment_steps, splits[f"ray_{n}"]
            )
        out = measure_interleaved(factories, seconds, repeats, log=say)
        vector, ray = _rates(out, "vector", counts), _rates(out, "ray", counts)
        record: dict[str, Any] = {
            **result_header("scaling"),
            "preset": preset_name,
            "env_id": cfg.env_id,
            "env_kwargs": {
                k: list(v) if isinstance(v, tuple) else v for k, v in cfg.env_kwargs.items()
            },
            "seconds": seconds,
            "repeats": repeats,
            "fragment_steps": fragment_steps,
            "weights_mb": weights_mb,
            "vector_steps_per_s": vector,
            "ray_steps_per_s": ray,
            "ray_startup_s": connect_s + out[f"ray_{counts[0]}"]["startup_s"],
            "ray_connect_s": connect_s,
            "ray_cluster_reused": reused,
            "ray_workers_ready_s": {str(n): out[f"ray_{n}"]["startup_s"] for n in counts},
            "rounds": {k: v["rounds"] for k, v in out.items()},
            "time_split": {k: _median_split(v) for k, v in splits.items()},
        }
        ratios: dict[str, Any] = {}
        if 1 in counts and 2 in counts and ray["1"] and ray["2"]:
            ratios["ray_2_over_1"] = ray["2"] / ray["1"]
        if 2 in counts and vector["2"] and ray["2"]:
            ratios["ray_over_vector_at_2"] = ray["2"] / vector["2"]
        record["ratios"] = ratios
        record["targets"] = {
            k: {"target": t, "value": ratios.get(k), "met": ratios.get(k, 0) >= t}
            for k, t in TARGETS.items()
        }
        if 2 in counts:
            record["backup"] = _backup_experiment(
                cfg,
                weights,
                fragment_steps,
                record["time_split"]["ray_2"]["round_s"],
                slow_factor,
                seconds,
                repeats,
                say,
            )
        record["transfer"] = _transfer(cfg, fragment_steps, transfer_seconds, repeats, say)
        record["ray_connection"] = conn.kind
    finally:
        if fresh_cluster:
            disconnect()
    if allreduce:
        record["allreduce"] = allreduce
    return record


def _backup_experiment(cfg, weights, steps, round_s, slow_factor, seconds, repeats, say) -> dict:
    """Two workers and one slowed, without and with a backup worker."""
    slow_s = slow_factor * round_s
    splits: dict[str, list] = {"slow_no_backup": [], "slow_one_backup": []}
    factories = {
        "slow_no_backup": lambda: _RayRollout(
            cfg, 2, weights, steps, splits["slow_no_backup"], slow_worker_s=slow_s
        ),
        "slow_one_backup": lambda: _RayRollout(
            cfg,
            2,
            weights,
            steps,
            splits["slow_one_backup"],
            slow_worker_s=slow_s,
            backup_workers=1,
        ),
    }
    out = measure_interleaved(factories, seconds, repeats, log=say)
    rates = {k: v["rate"] for k, v in out.items()}
    return {
        "slow_worker_s": slow_s,
        "normal_round_s": round_s,
        "steps_per_s": rates,
        "rounds": {k: v["rounds"] for k, v in out.items()},
        "time_split": {k: _median_split(v) for k, v in splits.items()},
        "backup_speedup": (
            rates["slow_one_backup"] / rates["slow_no_backup"]
            if rates["slow_no_backup"] and rates["slow_one_backup"]
            else None
        ),
    }


def _transfer(cfg, steps: int, seconds: float, repeats: int, say) -> dict:
    """Cost per MB of each serialisation, on one fragment's worth of real frames."""
    from rlkit.bench.transfer import transfer_costs
    from rlkit.distributed.rollout import RolloutWorker, weights_of

    worker = RolloutWorker(cfg.replace(rollout_workers=1, num_envs=1), 0, 1)
    try:
        frames = worker.sample(weights_of(worker.model), steps, 1).obs[:-1]
    finally:
        worker.close()
    out = {}
    # One fragment, and a batch as large as many envs' long rollouts: per-message costs
    # (Ray's ~ms per call) weigh on the first, per-byte costs on the second.
    for name, payload in (("fragment", frames), ("large", np.tile(frames, (48, 1, 1, 1, 1)))):
        payload = np.ascontiguousarray(payload)
        say(f"moving {payload.nbytes / 1e6:.2f} MB of frames per message…")
        out[name] = transfer_costs(payload, seconds=seconds, repeats=repeats)
    return out


def format_scaling_table(r: dict[str, Any]) -> str:
    """The record as a few aligned lines for a terminal."""
    lines = [
        f"rollout collection, env steps/s ({r['preset']}, {r['fragment_steps']}-step fragments)"
    ]
    for n in r["vector_steps_per_s"]:
        v, y = r["vector_steps_per_s"][n], r["ray_steps_per_s"][n]
        lines.append(f"  {n} worker(s): local vector env {v:8,.0f}   Ray workers {y:8,.0f}")
    lines.append(f"  Ray start-up {r['ray_startup_s']:.1f} s (cluster {r['ray_connect_s']:.1f} s)")
    for k, t in r["targets"].items():
        value = "n/a" if t["value"] is None else f"{t['value']:.2f}"
        lines.append(f"  {k}: {value} (target ≥ {t['target']}) {'✔' if t['met'] else '✘'}")
    b = r.get("backup")
    if b:
        s = b["steps_per_s"]
        lines.append(
            f"  slow worker ({b['slow_worker_s']:.2f} s/fragment): no backup "
            f"{s['slow_no_backup']:,.0f}, one backup {s['slow_one_backup']:,.0f} steps/s"
        )
    for size, t in r["transfer"].items():
        rows = t["methods"]
        lines.append(f"  moving frames, {t['payload_mb']:.2f} MB per message ({size}), MB/s:")
        lines.append("    " + "  ".join(f"{m} {row['mb_per_s']:,.1f}" for m, row in rows.items()))
    for row in r.get("allreduce", {}).get("rows", []):
        lines.append(f"  all-reduce {row['mb']:g} MB: {row['median_s'] * 1e3:.2f} ms")
    return "\n".join(lines)
