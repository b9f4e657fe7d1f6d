"""Time-to-score: ``python -m rlkit bench dqn --preset vizdoom_simpler_basic --target 75``, and
``python -m rlkit bench ppo --preset cartpole_ppo --target 475`` for PPO's presets.

For each seed: train with greedy evaluations of ``eval_episodes`` episodes every
``eval_interval`` steps; the clock (training wall time, evaluation excluded) stops at the first
evaluation whose mean reaches the target. The policy is then confirmed on ``confirm_episodes``
fresh episodes. The reported figure is the median over seeds, so one lucky seed cannot make it.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from rlkit.bench.harness import result_header
from rlkit.callbacks import StopAtTarget


def time_to_score(
    algo: str,
    preset_name: str,
    target: float,
    seeds: int = 3,
    first_seed: int = 0,
    device: str = "cpu",
    eval_episodes: int = 50,
    confirm_episodes: int = 100,
    eval_interval: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure seconds of training until greedy play reaches ``target``; median over seeds.

    :param algo: the algorithm the preset must be for (``"dqn"``, ``"ppo"``); it names the
        record (``"<algo>_time_to_score"``).
    :param preset_name: a preset of :mod:`rlkit.config`.
    :param target: the greedy mean score to reach.
    :param seeds: number of seeds to train: ``first_seed``, ``first_seed + 1``, …
    :param first_seed: the first of them (to split one measurement over several calls).
    :param device: training device (see :func:`rlkit.devices.select_device`).
    :param eval_episodes: episodes per evaluation during training.
    :param confirm_episodes: fresh episodes to confirm the policy that reached the target.
    :param eval_interval: env steps between evaluations (default: the preset's).
    :param overrides: config fields to change.
    :return: JSON-able dict: the harness header (``benchmark``, ``schema_version``,
        ``created_utc``, ``machine``), then ``preset``, ``target``, ``seconds_to_target`` (median;
        ``None`` when most seeds never reached it), ``runs``, ``device``…
    """
    from rlkit.config import ConfigError, preset
    from rlkit.devices import select_device
    from rlkit.evaluation import evaluate
    from rlkit.training import train

    if seeds < 1:
        raise ValueError(f"seeds must be ≥ 1, got {seeds}")
    dev, report = select_device(device)
    extra = dict(overrides or {})
    extra["eval_episodes"] = eval_episodes
    if eval_interval is not None:
        extra["eval_interval"] = eval_interval
    runs = []
    wall0 = time.perf_counter()
    config = preset(preset_name, **extra)
    if config.algo != algo:
        raise ConfigError(
            f"preset {preset_name!r} trains {config.algo!r}, not {algo!r}; use bench {config.algo}"
        )
    for seed in range(first_seed, first_seed + seeds):
        cfg = config.replace(seed=seed)
        stop = StopAtTarget(target)
        result = train(cfg, device=dev, callbacks=[stop])
        h = result.history
        confirm = evaluate(
            result.model,
            cfg.env_id,
            confirm_episodes,
            seed=2_000_000 + 1000 * seed,
            env_kwargs=cfg.env_kwargs,
        )
        runs.append(
            {
                "seed": seed,
                "seconds_to_target": stop.seconds,
                "env_steps_to_target": stop.steps,
                "score_at_target": stop.score,
                "confirm_mean": confirm.mean,
                "confirm_std": confirm.std,
                "confirm_episodes": confirm_episodes,
                "train_seconds": h.train_seconds,
                "eval_seconds": h.eval_seconds,
                "env_steps": h.env_steps,
                "updates": h.updates,
                "time_split": h.time_split(),
                "eval_curve": list(zip(h.eval_steps, h.eval_means, strict=True)),
            }
        )
    reached = [r["seconds_to_target"] for r in runs]
    # A seed that never reached the target counts as infinitely slow: the median is still
    # defined while most seeds reach it, and null when most do not.
    median = statistics.median(math.inf if s is None else s for s in reached)
    median = None if math.isinf(median) else median
    return result_header(f"{algo}_time_to_score") | {
        "device": str(dev),
        "device_report": report.to_dict(),
        "preset": preset_name,
        "config": config.to_dict(),
        "target": target,
        "eval_episodes": eval_episodes,
        "seconds_to_target": median,
        "seeds_reached": sum(s is not None for s in reached),
        "runs": runs,
        "wall_seconds": time.perf_counter() - wall0,
    }


def bench_dqn(preset_name: str, target: float, **kwargs: Any) -> dict[str, Any]:
    """:func:`time_to_score` of a DQN preset (record ``"dqn_time_to_score"``)."""
    return time_to_score("dqn", preset_name, target, **kwargs)


def bench_ppo(preset_name: str, target: float, **kwargs: Any) -> dict[str, Any]:
    """:func:`time_to_score` of a PPO preset (record ``"ppo_time_to_score"``)."""
    return time_to_score("ppo", preset_name, target, **kwargs)
