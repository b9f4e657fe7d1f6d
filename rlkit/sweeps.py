"""Named-config sweeps: train each variant of a preset once per seed, and summarise them.

One run proves nothing in RL: seeds differ a lot. ``sweep`` is the loop every comparison needs::

    runs = sweep("cartpole", {"uniform": {}, "PER α=0.8": {"prioritized": True, "per_alpha": 0.8}},
                 seeds=3, total_steps=15_000)
    table = summarize(runs)            # {variant: {"mean", "std", "min", "max", "per_seed"}}
    plots.plot_mean_spread(runs, metric="eval")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rlkit.records import TrainResult

__all__ = ["eval_at_time", "final_eval", "summarize", "sweep"]


def sweep(
    base: Any,
    variants: Mapping[str, Mapping[str, Any]],
    seeds: int | Sequence[int] = 3,
    device: str = "cpu",
    callbacks: Callable[[str, int], Sequence[Any]] | None = None,
    log: Callable[[str], None] | None = print,
    **common: Any,
) -> dict[str, list[TrainResult]]:
    """Train every variant once per seed.

    :param base: a preset name (``"cartpole"``) or a config to start from.
    :param variants: ``{name: config overrides}``, e.g. ``{"PER α=0.2": {"prioritized": True,
        "per_alpha": 0.2}}``; ``{}`` is the base itself.
    :param seeds: how many seeds (0, 1, …) or which ones.
    :param device: the training device.
    :param callbacks: ``(variant, seed) -> callbacks`` for each run (default: none).
    :param log: called with one line per finished run; ``None`` for silence.
    :param common: overrides applied to every variant (``total_steps``, ``eval_interval``…).
    :return: ``{name: [TrainResult per seed]}``, in the order given.
    """
    from rlkit.entry import train
    from rlkit.presets import preset

    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ValueError("seeds must name at least one seed")
    out: dict[str, list[TrainResult]] = {}
    for name, overrides in variants.items():
        out[name] = []
        for seed in seed_list:
            fields = {**common, **overrides, "seed": seed}
            config = preset(base, **fields) if isinstance(base, str) else base.replace(**fields)
            cbs = list(callbacks(name, seed)) if callbacks else []
            result = train(config, device=device, callbacks=cbs)
            out[name].append(result)
            if log is not None:
                h = result.history
                score = f"final eval {h.eval_means[-1]:.1f}" if h.eval_means else "no eval"
                log(f"{name}, seed {seed}: {score} after {h.train_seconds:.1f} s")
    return out


def final_eval(result: TrainResult) -> float:
    """The last greedy evaluation of a run (``nan`` if it made none)."""
    means = result.history.eval_means
    return float(means[-1]) if means else float("nan")


def eval_at_time(result: TrainResult, seconds: float) -> float:
    """The greedy score a run had reached after ``seconds`` of training: its latest evaluation
    made within that time (``nan`` if none was). Compares setups at equal wall-clock cost."""
    h = result.history
    done = [m for m, t in zip(h.eval_means, h.eval_times, strict=True) if t <= seconds]
    return float(done[-1]) if done else float("nan")


def summarize(
    runs: Mapping[str, Sequence[TrainResult]],
    score: Callable[[TrainResult], float] = final_eval,
) -> dict[str, dict[str, Any]]:
    """Mean, spread and per-seed values of ``score`` for each variant of a :func:`sweep`.

    :param runs: what :func:`sweep` returned.
    :param score: the number to compare per run (default: its last greedy evaluation).
    :return: ``{variant: {"mean", "std", "min", "max", "per_seed"}}``.
    """
    table = {}
    for name, results in runs.items():
        values = np.array([score(r) for r in results], dtype=np.float64)
        table[name] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
            "per_seed": values.round(2).tolist(),
        }
    return table
