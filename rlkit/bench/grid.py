"""Torch threads × envs: ``python -m rlkit bench grid``.

A grid of cells, one per (stepping mode, torch threads, number of envs). In every cell:

- **env steps/s alone**: the envs stepped with random actions and no learner (the loops of
  :mod:`rlkit.bench.loops`, interleaved by :func:`~rlkit.bench.harness.measure_interleaved`).
  No torch runs in that loop, so it is measured once per (mode, envs) and shared by the thread
  rows;
- **PPO training** with ``torch_threads`` threads and ``num_envs`` envs: env steps per training
  second, where the time went (the run's ``history.phase_seconds``: env, act, learner) and the
  seconds until greedy play reaches ``target``, confirmed on fresh episodes
  (:class:`rlkit.callbacks.StopAtConfirmedTarget`, the rule of :mod:`rlkit.bench.score`);
  ``None`` when the budget ran out first.

Modes map to vector backends: ``lockstep`` → the preset's own lock-step backend (``threads``,
``shm`` or ``sync``; or ``lockstep_backend``), ``async`` → ``pool`` (rlkit's free-running
:class:`~rlkit.envs.vector.pool.EnvPool`, received half at a time: ``pool_batch_size`` is
``max(1, num_envs // 2)`` where the config has that field).

:func:`bottleneck` reads a cell's own numbers and names what limits it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from rlkit.bench.harness import check_duration, measure_interleaved, result_header

__all__ = ["MODES", "bench_grid", "bottleneck", "format_grid_table"]

MODES = {"lockstep": None, "async": "pool"}
"""Stepping mode -> vector backend (``None``: the preset's own lock-step backend)."""
LOCKSTEP_BACKENDS = ("sync", "threads", "shm")
# Envs that stepped at less than this fraction of their speed alone were slowed by the rest of
# the training process (torch threads, the parent's Python) competing for the same cores.
CONTENTION = 0.8


def _positive_ints(name: str, values: Any) -> list[int]:
    vals = list(values) if isinstance(values, Sequence) and not isinstance(values, str) else None
    if not vals or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in vals):
        raise ValueError(f"{name} must be a non-empty list of integers ≥ 1, got {values!r}")
    if len(set(vals)) != len(vals):
        raise ValueError(f"{name} lists a value twice: {values!r}")
    return vals


def _cell_configs(base: Any, threads, envs, modes, backends, total_steps, eval_interval):
    """Every training config of the grid, built (and so checked) before anything is measured:
    ``(mode, threads, envs) -> config``, or a string saying why the cell cannot train."""
    from rlkit.config import ConfigError

    names = {f.name for f in dataclasses.fields(base)}
    out: dict[tuple[str, int, int], Any] = {}
    for mode in modes:
        backend = backends[mode]
        for t in threads:
            for n in envs:
                fields = dict(
                    num_envs=n, vector_backend=backend, torch_threads=t, total_steps=total_steps
                )
                if eval_interval is not None:
                    fields["eval_interval"] = eval_interval
                if backend == "pool" and "pool_batch_size" in names:
                    fields["pool_batch_size"] = max(1, n // 2)  # as in the envs-alone loop
                try:
                    out[mode, t, n] = base.replace(**fields)
                except ConfigError as e:
                    if mode == "async":  # the pool backend may need fields this grid lacks
                        out[mode, t, n] = f"cannot train on the pool here: {e}"
                    else:
                        raise ConfigError(f"cell {mode}, {t} threads, {n} envs: {e}") from None
    return out


def _env_factories(base: Any, envs, modes, backends, seed) -> dict[str, Callable[[], Any]]:
    from rlkit.bench.loops import PoolLoop, VectorLoop
    from rlkit.envs import make_env
    from rlkit.envs.vector import EnvPool, make_vector_env

    def lockstep(n: int) -> Any:
        venv = make_vector_env(base.env_id, n, backend=backends["lockstep"], **base.env_kwargs)
        return VectorLoop(venv, seed)

    def pool(n: int) -> Any:
        fns = [functools.partial(make_env, base.env_id, **base.env_kwargs) for _ in range(n)]
        # Double-buffered: the policy acts on one half while the other half steps.
        return PoolLoop(EnvPool(fns, batch_size=max(1, n // 2)), seed)

    build = {"lockstep": lockstep, "async": pool}
    return {f"{m}/{n}": functools.partial(build[m], n) for m in modes for n in envs}


def _train_cell(cfg: Any, target: float, seeds: int, device: Any, confirm_episodes: int):
    from rlkit.callbacks import StopAtConfirmedTarget
    from rlkit.entry import train

    runs = []
    for seed in range(seeds):
        stop = StopAtConfirmedTarget(target, confirm_episodes, seed=seed)
        h = train(cfg.replace(seed=seed), device=device, callbacks=[stop]).history
        runs.append(
            {
                "seed": seed,
                "seconds_to_target": stop.seconds,
                "env_steps_to_target": stop.steps,
                "confirm_mean": stop.confirm_mean,
                "attempts": len(stop.attempts),
                "train_seconds": h.train_seconds,
                "env_steps": h.env_steps,
                "phase_seconds": h.time_split(),
                "last_eval": h.eval_means[-1] if h.eval_means else None,
            }
        )
    return runs


def _summarise(cell: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    """Cell-level figures from its runs: medians over seeds, shares of training time."""
    cell["runs"] = runs
    reached = [r["seconds_to_target"] for r in runs]
    cell["seconds_to_target"] = None if None in reached else statistics.median(reached)
    cell["seeds_reached"] = sum(s is not None for s in reached)
    cell["train_steps_per_s"] = statistics.median(r["env_steps"] / r["train_seconds"] for r in runs)
    phases = runs[0]["phase_seconds"].keys()
    total = sum(r["train_seconds"] for r in runs)
    cell["phase_seconds"] = {
        p: sum(r["phase_seconds"][p] for r in runs) / len(runs) for p in phases
    }
    cell["phase_share"] = {p: sum(r["phase_seconds"][p] for r in runs) / total for p in phases}
    env_s = sum(r["phase_seconds"].get("env", 0.0) for r in runs)
    # How fast the envs stepped while training (env phase only), against their speed alone.
    cell["env_rate_in_training"] = sum(r["env_steps"] for r in runs) / env_s if env_s else None
    if cell["seconds_to_target"] is None:
        cell["reason"] = (
            f"target not reached within {runs[0]['env_steps']:,} env steps "
            f"by {len(runs) - cell['seeds_reached']} of {len(runs)} seed(s)"
        )


def bench_grid(
    threads: Sequence[int] = (1, 2),
    envs: Sequence[int] = (1, 2, 4),
    modes: Sequence[str] = ("lockstep", "async"),
    preset: str = "vizdoom_basic_ppo",
    *,
    target: float,
    total_steps: int = 30_000,
    seeds: int = 1,
    device: str = "cpu",
    env_seconds: float = 2.0,
    repeats: int = 2,
    eval_episodes: int = 10,
    confirm_episodes: int = 20,
    eval_interval: int | None = None,
    lockstep_backend: str | None = None,
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure every (mode, torch threads, envs) cell: env steps/s alone, and PPO training.

    :param threads: torch intra-op thread counts (rows).
    :param envs: numbers of envs (columns).
    :param modes: ``"lockstep"`` and/or ``"async"`` (see :data:`MODES`).
    :param preset: the training preset (:func:`rlkit.presets.preset`), usually a PPO one.
    :param target: greedy mean score that ends a cell's training once confirmed.
    :param total_steps: each training's budget of env steps (the cap when the target is missed).
    :param seeds: trainings per cell (seeds 0, 1, …); time to score is their median, ``None``
        if any seed missed.
    :param device: training device (``"cpu"``, ``"cuda"``…; see :func:`rlkit.select_device`).
    :param env_seconds: timed seconds of each env-alone measurement, all rounds together.
    :param repeats: interleaved rounds of the env-alone measurement (median reported).
    :param eval_episodes: greedy episodes per evaluation during training.
    :param confirm_episodes: fresh episodes that must confirm an evaluation at the target.
    :param eval_interval: env steps between evaluations (default: the preset's).
    :param lockstep_backend: ``sync``, ``threads`` or ``shm`` (default: the preset's own).
    :param overrides: other config fields to change in every cell.
    :param seed: seed of the envs-alone loops (resets and random actions); the trainings use
        seeds ``0 … seeds - 1``.
    :return: JSON-able record: the harness header (``machine``…), ``device``, the grid's axes,
        ``backends`` (mode -> backend), ``budget`` and ``cells``, one per (mode, threads, envs)
        with ``env_steps_per_s`` (alone), ``train_steps_per_s``, ``seconds_to_target``,
        ``phase_seconds``, ``phase_share``, ``env_rate_in_training``, ``runs`` and ``reason``
        (why a figure is ``None``; ``None`` when all are there).
    :raises ValueError: on a bad axis, mode, budget or config field (``ConfigError``), before
        anything runs.
    """
    from rlkit.devices import select_device
    from rlkit.presets import preset as make_preset

    threads = _positive_ints("threads", threads)
    envs = _positive_ints("envs", envs)
    modes = list(modes) if isinstance(modes, Sequence) and not isinstance(modes, str) else [modes]
    if not modes or any(m not in MODES for m in modes) or len(set(modes)) != len(modes):
        raise ValueError(f"modes must be distinct names from {', '.join(MODES)}; got {modes!r}")
    if isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target):
        raise ValueError(f"target must be a finite number, got {target!r}")
    for name, v in (
        ("total_steps", total_steps),
        ("seeds", seeds),
        ("confirm_episodes", confirm_episodes),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer ≥ 1, got {v!r}")
    check_duration(env_seconds, repeats)
    base = make_preset(preset, **{**dict(overrides or {}), "eval_episodes": eval_episodes})
    lock = lockstep_backend or base.vector_backend
    if lock not in LOCKSTEP_BACKENDS:
        raise ValueError(
            f"lockstep_backend must be one of {', '.join(LOCKSTEP_BACKENDS)} (lock-step "
            f"backends), got {lock!r}"
            + ("" if lockstep_backend else " (the preset's vector_backend)")
        )
    backends = {"lockstep": lock, "async": MODES["async"]}
    configs = _cell_configs(base, threads, envs, modes, backends, total_steps, eval_interval)
    dev, report = select_device(device)

    wall0 = time.perf_counter()
    alone = measure_interleaved(
        _env_factories(base, envs, modes, backends, seed), env_seconds, repeats, log=log
    )
    cells = []
    for (mode, t, n), cfg in configs.items():
        cell: dict[str, Any] = {
            "mode": mode,
            "backend": backends[mode],
            "threads": t,
            "num_envs": n,
            "env_steps_per_s": alone[f"{mode}/{n}"]["rate"],
            "env_alone_meta": alone[f"{mode}/{n}"]["meta"],
            "train_steps_per_s": None,
            "seconds_to_target": None,
            "seeds_reached": 0,
            "phase_seconds": None,
            "phase_share": None,
            "env_rate_in_training": None,
            "runs": [],
            "reason": None,
        }
        if isinstance(cfg, str):
            cell["reason"] = cfg
        else:
            _summarise(cell, _train_cell(cfg, target, seeds, dev, confirm_episodes))
        if log:
            ttt = cell["seconds_to_target"]
            log(
                f"{mode} {t} threads × {n} envs: alone {cell['env_steps_per_s']:,.0f} steps/s; "
                + (f"to target {ttt:.1f} s" if ttt is not None else (cell["reason"] or ""))
            )
        cells.append(cell)
    return result_header("grid") | {
        "device": str(dev),
        "device_report": report.to_dict(),
        "preset": preset,
        "algo": base.algo,
        "env_id": base.env_id,
        "target": float(target),
        "threads": threads,
        "envs": envs,
        "modes": modes,
        "backends": {m: backends[m] for m in modes},
        "budget": {
            "total_steps": total_steps,
            "seeds": seeds,
            "eval_episodes": eval_episodes,
            "confirm_episodes": confirm_episodes,
            "eval_interval": eval_interval or base.eval_interval,
            "env_seconds": env_seconds,
            "repeats": repeats,
        },
        "stopping_rule": (
            "the first evaluation >= target whose policy also reaches it on confirm_episodes "
            "fresh episodes; training seconds exclude evaluations and confirmations"
        ),
        "cells": cells,
        "wall_seconds": time.perf_counter() - wall0,
    }


def bottleneck(cell: dict[str, Any]) -> tuple[str | None, str]:
    """What limits a cell, from its own numbers: ``(name, the numbers that say so)``.

    ``"learner"`` or ``"act"`` when that phase takes the largest share of training time (torch
    work: more threads or a GPU may help); ``"env"`` when stepping does and the envs ran at
    least :data:`CONTENTION` of their speed alone (more envs, on more cores, would help);
    ``"cores"`` when stepping does but the envs ran slower than alone, because the training
    process competed with them for the same cores. ``(None, reason)`` for a cell that did not
    train.
    """
    share = cell.get("phase_share")
    if not share:
        return None, cell.get("reason") or "no training in this cell"
    top = max((p for p in share if p != "other"), key=share.get)
    text = f"{top} {share[top]:.0%} of training time"
    if top != "env":
        return top, text
    alone, during = cell.get("env_steps_per_s"), cell.get("env_rate_in_training")
    if alone and during:
        ratio = during / alone
        text += f"; envs stepped at {ratio:.0%} of their speed alone"
        if ratio < CONTENTION:
            return "cores", text
    return "env", text


def format_grid_table(r: dict[str, Any]) -> str:
    lines = [
        f"{r['preset']} on {r['device']}: time to a confirmed greedy mean ≥ {r['target']} "
        f"(budget {r['budget']['total_steps']:,} env steps)"
    ]
    for c in r["cells"]:
        ttt, train = c["seconds_to_target"], c["train_steps_per_s"]
        name, why = bottleneck(c)
        lines.append(
            f"  {c['mode']:8s} {c['threads']} thr × {c['num_envs']} envs: alone "
            f"{c['env_steps_per_s']:7,.0f} steps/s; training "
            + (f"{train:6,.0f} steps/s, " if train is not None else "   -  ")
            + (f"to target {ttt:6.1f} s" if ttt is not None else "to target  -    ")
            + (f"; bound: {name} ({why})" if name else f"; {why}")
        )
    return "\n".join(lines)
