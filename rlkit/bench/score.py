"""Time to score, one rule for every algorithm: ``python -m rlkit bench dqn|ppo --target T``.

For each seed: train with greedy evaluations of ``eval_episodes`` episodes every
``eval_interval`` steps. At an evaluation whose mean reaches the target, the policy is played on
``confirm_episodes`` *fresh* episodes (:class:`rlkit.callbacks.StopAtConfirmedTarget`); the
clock (training seconds, evaluations and confirmations excluded) stops only when that
confirmation reaches the target too. Otherwise training goes on, and the failed crossing is kept
in the record. So the time reported is the time to a policy that really plays at the target, not
to a lucky evaluation. Evaluations default to 100 episodes, so that one evaluation's standard
error (std / √n, recorded) is small against the margin to the target.

The median over seeds is reported only when every seed was confirmed (``null`` otherwise: a
missed seed is not a fast one).
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from rlkit.bench.harness import result_header
from rlkit.callbacks import StopAtConfirmedTarget


def bench_time_to_score(
    preset_name: str,
    target: float,
    seeds: int = 3,
    device: str = "cpu",
    eval_episodes: int = 100,
    confirm_episodes: int = 100,
    eval_interval: int | None = None,
    overrides: dict[str, Any] | None = None,
    algo: str | None = None,
    first_seed: int = 0,
) -> dict[str, Any]:
    """Seconds of training until greedy play reaches ``target``, confirmed; median over seeds.

    :param preset_name: a preset of :mod:`rlkit.config` (any algorithm).
    :param target: the greedy mean score to reach.
    :param seeds: number of seeds (0, 1, …) to train.
    :param device: training device (see :func:`rlkit.devices.select_device`).
    :param eval_episodes: episodes per evaluation during training.
    :param confirm_episodes: fresh episodes that must confirm an evaluation at the target.
    :param eval_interval: env steps between evaluations (default: the preset's).
    :param overrides: config fields to change.
    :param algo: if given, the preset must train this algorithm (``bench dqn`` passes "dqn").
    :param first_seed: seeds run ``first_seed, first_seed + 1, …`` (to split one measurement
        over several calls).
    :return: JSON-able dict: the harness header (``benchmark``, ``created_utc``, ``machine``…),
        ``preset``, ``algo``, ``target``, ``seconds_to_target`` (median, or ``None`` if a seed
        missed), ``runs`` (per seed: ``seconds_to_target``, ``confirm_mean``,
        ``confirm_episodes``, ``score_at_target``, ``first_crossing_seconds``, ``attempts``…).
    """
    from rlkit.config import ConfigError
    from rlkit.devices import select_device
    from rlkit.entry import train
    from rlkit.evaluation import evaluate
    from rlkit.presets import preset

    if seeds < 1:
        raise ValueError(f"seeds must be ≥ 1, got {seeds}")
    dev, report = select_device(device)
    extra = dict(overrides or {})
    extra["eval_episodes"] = eval_episodes
    if eval_interval is not None:
        extra["eval_interval"] = eval_interval
    config = preset(preset_name, **extra)
    if algo is not None and config.algo != algo:
        raise ConfigError(
            f"preset {preset_name!r} trains {config.algo}, not {algo}; use "
            f"python -m rlkit bench {config.algo}"
        )
    config.replace(seed=first_seed + seeds - 1)  # the last seed too, before the first training
    runs = []
    wall0 = time.perf_counter()
    for seed in range(first_seed, first_seed + seeds):
        cfg = config.replace(seed=seed)
        stop = StopAtConfirmedTarget(target, confirm_episodes, seed=seed)
        result = train(cfg, device=dev, callbacks=[stop])
        h = result.history
        confirm_mean, confirm_std = stop.confirm_mean, stop.confirm_std
        if stop.seconds is None:  # never confirmed: still say how the final policy plays
            final = evaluate(
                result.model,
                cfg.env_id,
                confirm_episodes,
                seed=2_000_000 + 1000 * seed,
                env_kwargs=cfg.env_kwargs,
            )
            confirm_mean, confirm_std = final.mean, final.std
        steps = h.eval_steps
        at = steps.index(stop.steps) if stop.steps in steps else len(steps) - 1
        runs.append(
            {
                "seed": seed,
                "seconds_to_target": stop.seconds,
                "env_steps_to_target": stop.steps,
                "score_at_target": stop.score,
                "eval_standard_error": (
                    h.eval_stds[at] / math.sqrt(eval_episodes) if at >= 0 else None
                ),
                "confirm_mean": confirm_mean,
                "confirm_std": confirm_std,
                "confirm_episodes": confirm_episodes,
                "first_crossing_seconds": stop.first_crossing_seconds,
                "attempts": stop.attempts,
                "train_seconds": h.train_seconds,
                "eval_seconds": h.eval_seconds,
                "env_steps": h.env_steps,
                "updates": h.updates,
                "time_split": h.time_split(),
                "eval_curve": list(zip(h.eval_steps, h.eval_means, strict=True)),
            }
        )
    reached = [r["seconds_to_target"] for r in runs]
    median = None if any(s is None for s in reached) else statistics.median(reached)
    return result_header(f"{config.algo}_time_to_score") | {
        "device": str(dev),
        "device_report": report.to_dict(),
        "preset": preset_name,
        "algo": config.algo,
        "config": config.to_dict(),
        "target": target,
        "eval_episodes": eval_episodes,
        "stopping_rule": (
            "the first evaluation >= target whose policy also reaches it on confirm_episodes "
            "fresh episodes; training seconds exclude evaluations and confirmations"
        ),
        "seconds_to_target": median,
        "seeds_reached": sum(s is not None for s in reached),
        "runs": runs,
        "wall_seconds": time.perf_counter() - wall0,
    }


def _unconfirmed(run: dict[str, Any]) -> int:
    return len(run["attempts"]) - (run["seconds_to_target"] is not None)


def format_score_table(r: dict[str, Any]) -> str:
    lines = [f"{r['preset']} to a confirmed greedy mean ≥ {r['target']} on {r['device']}:"]
    for run in r["runs"]:
        t = run["seconds_to_target"]
        lines.append(
            f"  seed {run['seed']}: "
            + (
                f"{t:.1f} s, {run['env_steps_to_target']} env steps, "
                f"eval {run['score_at_target']:.1f}"
                if t is not None
                else "not reached"
            )
            + f"; confirm {run['confirm_mean']:.1f} over {run['confirm_episodes']} episodes"
            + (f" ({missed} crossing(s) not confirmed)" if (missed := _unconfirmed(run)) else "")
        )
    med = r["seconds_to_target"]
    lines.append(
        f"  median: {med:.1f} s" if med is not None else "  median: not every seed reached it"
    )
    return "\n".join(lines)
