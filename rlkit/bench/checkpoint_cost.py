"""What a checkpoint costs (``python -m rlkit bench checkpoint``).

A run with a folder writes its checkpoint, ``history.json`` and ``episodes.csv`` every
``checkpoint_seconds`` of training. This trains each preset for ``train_seconds`` (so the
history and the episode rows have the size a short run's have), then times ``Trainer.save()``
``saves`` times on that state and reports the median, the bytes written and the share of one
checkpoint interval the write takes. The replay buffer (``--save-buffer``) is not included: it
has its own, slower cadence.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlkit.bench.harness import result_header
from rlkit.training import Callback

__all__ = ["DEFAULT_PRESETS", "bench_checkpoint", "format_checkpoint_table"]

DEFAULT_PRESETS = ("cartpole", "vizdoom_simpler_basic", "cartpole_ppo", "vizdoom_basic_ppo")


class _StopAfter(Callback):
    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_start(self, progress) -> None:
        self.t0 = time.perf_counter()

    def on_log(self, progress) -> bool:
        return time.perf_counter() - self.t0 >= self.seconds


def _one(name: str, train_seconds: float, saves: int) -> dict[str, Any]:
    from rlkit.algorithms import agent_class
    from rlkit.presets import preset
    from rlkit.run_folder import RUN_FILES
    from rlkit.training import Trainer

    cfg = preset(name, total_steps=10**9, eval_interval=0)
    interval = cfg.checkpoint_seconds  # the default cadence the cost is a share of
    cfg = cfg.replace(checkpoint_seconds=0)  # no timed checkpoints while it trains
    with tempfile.TemporaryDirectory(prefix="rlkit-ckpt-") as run_dir:
        trainer = Trainer(
            cfg, agent_class(cfg), "cpu", callbacks=[_StopAfter(train_seconds)], run_dir=run_dir
        )
        trainer.run()
        seconds = []
        for _ in range(saves):
            t = time.perf_counter()
            trainer.save()
            seconds.append(time.perf_counter() - t)
        sizes = {
            f: (Path(run_dir) / f).stat().st_size
            for f in RUN_FILES
            if (Path(run_dir) / f).is_file()
        }
    median = statistics.median(seconds)
    return {
        "preset": name,
        "algo": cfg.algo,
        "env_steps": trainer.history.env_steps,
        "episodes": trainer.history.episodes,
        "save_ms": [round(s * 1000, 3) for s in seconds],
        "save_ms_median": round(median * 1000, 3),
        "bytes": sizes,
        "checkpoint_seconds": interval,
        "share_of_interval": median / interval if interval else None,
    }


def bench_checkpoint(
    presets: Sequence[str] = DEFAULT_PRESETS,
    train_seconds: float = 15.0,
    saves: int = 7,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time ``Trainer.save()`` on each preset after ``train_seconds`` of training.

    :param presets: preset names (DQN and PPO, CartPole and ViZDoom by default).
    :param train_seconds: training before the timed saves, above 0.
    :param saves: timed saves per preset, at least 1 (the median is reported).
    """
    if not train_seconds > 0 or saves < 1:
        raise ValueError(
            f"train_seconds must be above 0 and saves at least 1, got {train_seconds} and {saves}"
        )
    rows = []
    for name in presets:
        rows.append(_one(name, train_seconds, saves))
        if log:
            r = rows[-1]
            log(f"{name}: {r['save_ms_median']:.1f} ms a checkpoint ({r['env_steps']:,} steps)")
    return {
        **result_header("checkpoint"),
        "train_seconds": train_seconds,
        "saves": saves,
        "rows": rows,
    }


def format_checkpoint_table(r: dict[str, Any]) -> str:
    from rlkit.ui.table import Table

    rows = [
        {
            "preset": row["preset"],
            "algo": row["algo"],
            "env steps": row["env_steps"],
            "ms a save (median)": row["save_ms_median"],
            "MB written": sum(row["bytes"].values()) / 1e6,
            "share of interval": row["share_of_interval"],
        }
        for row in r["rows"]
    ]
    return Table(
        rows,
        title=f"Trainer.save() after {r['train_seconds']:g} s of training, {r['saves']} saves each",
        formats={
            "ms a save (median)": "{:.1f}",
            "MB written": "{:.2f}",
            "share of interval": "{:.2%}",
        },
    ).text()
