"""Long runs hold: memory and throughput over minutes of training (``python -m rlkit bench soak``).

Trains a preset for a wall-clock budget, with periodic checkpoints to a temporary run folder as
a user's run would, and samples every ``sample_s`` seconds: env steps/s since the previous
sample, the resident memory of this process and of all its descendants (vector-env workers,
ViZDoom engines), and the replay buffer's fill. Once the buffer is full nothing should grow:
the record's ``summary`` gives the memory drift after that point (a least-squares slope, MB per
minute) and how steady the throughput was.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rlkit.bench.harness import result_header
from rlkit.training import Callback

__all__ = ["bench_soak", "format_soak_table", "rss_mb"]


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
                out += kids
                todo += kids
        except OSError:
            continue
    return out


def rss_mb() -> tuple[float, float]:
    """Resident memory in MB of this process, and of it with all its descendants (shared pages
    of several processes count once per process); ``(0, 0)`` without ``/proc``."""
    me = _rss_kb(os.getpid())
    tree = me + sum(_rss_kb(p) for p in _descendants(os.getpid()))
    return me / 1024, tree / 1024


class _Probe(Callback):
    def __init__(self, seconds: float, sample_s: float, log):
        self.seconds, self.sample_s, self.log = seconds, sample_s, log
        self.samples: list[dict[str, Any]] = []
        self.buffer: Any = None

    def bind(self, agent) -> None:
        self.buffer = getattr(agent, "buffer", None)

    def on_start(self, progress) -> None:
        self.t0 = self._last_t = time.perf_counter()
        self._last_steps = progress.env_steps
        self._sample(progress.env_steps, 0.0)

    def _sample(self, steps: int, rate: float) -> None:
        me, tree = rss_mb()
        full = None
        if self.buffer is not None and hasattr(self.buffer, "capacity"):
            full = len(self.buffer) / self.buffer.capacity
        self.samples.append(
            {
                "t": time.perf_counter() - self.t0,
                "env_steps": steps,
                "steps_per_s": rate,
                "rss_mb": me,
                "tree_rss_mb": tree,
                "buffer_fill": full,
            }
        )

    def on_log(self, progress) -> bool:
        now = time.perf_counter()
        done = now - self.t0 >= self.seconds
        if now - self._last_t >= self.sample_s or done:  # the end is always a sample
            rate = (progress.env_steps - self._last_steps) / (now - self._last_t)
            self._sample(progress.env_steps, rate)
            self._last_t, self._last_steps = now, progress.env_steps
            if self.log:
                s = self.samples[-1]
                self.log(
                    f"{s['t']:6.0f} s  {rate:7,.0f} steps/s  RSS {s['rss_mb']:.0f} MB "
                    f"(tree {s['tree_rss_mb']:.0f} MB)"
                )
        return done


def _slope_per_min(t: list[float], y: list[float]) -> float | None:
    if len(t) < 3:
        return None
    return float(np.polyfit(np.asarray(t) / 60.0, np.asarray(y), 1)[0])


def bench_soak(
    preset_name: str = "vizdoom_simpler_basic",
    minutes: float = 10.0,
    sample_s: float = 10.0,
    overrides: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train ``preset_name`` for ``minutes`` of wall time and record memory and throughput.

    :param preset_name: a preset; by default DQN on ``simpler_basic`` with a 30,000-transition
        replay buffer (full after a couple of minutes here), evaluations off, and a checkpoint
        every 30 s of training to a temporary folder.
    :param minutes: wall-clock budget, above 0.
    :param sample_s: seconds between samples, above 0 (sampled at log events).
    :param overrides: config fields to change.
    """
    from rlkit.entry import train
    from rlkit.presets import preset

    if not minutes > 0 or not sample_s > 0:
        raise ValueError(f"minutes and sample_s must be above 0, got {minutes} and {sample_s}")
    fields = {"total_steps": 10**9, "eval_interval": 0, "log_interval": 200}
    if preset_name == "vizdoom_simpler_basic":
        fields["buffer_size"] = 30_000
    cfg = preset(preset_name, **{**fields, **(overrides or {})})
    probe = _Probe(minutes * 60.0, sample_s, log)
    with tempfile.TemporaryDirectory(prefix="rlkit-soak-") as run_dir:
        result = train(cfg, device="cpu", callbacks=[probe], run_dir=run_dir)
        checkpoints = cfg.checkpoint_seconds
    samples = probe.samples
    full_at = next((s["t"] for s in samples if s["buffer_fill"] == 1.0), None)
    after = [s for s in samples if full_at is not None and s["t"] >= full_at]
    rates = [s["steps_per_s"] for s in samples[1:]]
    summary = {
        "buffer_full_at_s": full_at,
        "rss_mb_at_full": after[0]["rss_mb"] if after else None,
        "rss_mb_end": samples[-1]["rss_mb"],
        "rss_drift_mb_per_min": _slope_per_min(
            [s["t"] for s in after], [s["rss_mb"] for s in after]
        ),
        "tree_rss_drift_mb_per_min": _slope_per_min(
            [s["t"] for s in after], [s["tree_rss_mb"] for s in after]
        ),
        "steps_per_s_median": statistics.median(rates) if rates else None,
        "steps_per_s_cv": float(np.std(rates) / np.mean(rates)) if len(rates) > 1 else None,
    }
    if after and len(after) > 2:
        half = len(after) // 2
        first = statistics.median(s["steps_per_s"] for s in after[:half])
        last = statistics.median(s["steps_per_s"] for s in after[half:])
        summary["steps_per_s_last_over_first_half"] = last / first if first else None
    return {
        **result_header("soak"),
        "preset": preset_name,
        "config": cfg.to_dict(),
        "minutes": minutes,
        "sample_s": sample_s,
        "checkpoint_seconds": checkpoints,
        "env_steps": result.history.env_steps,
        "updates": result.history.updates,
        "episodes": result.history.episodes,
        "samples": samples,
        "summary": summary,
    }


def format_soak_table(r: dict[str, Any]) -> str:
    s = r["summary"]

    def f(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    return "\n".join(
        [
            f"soak: {r['preset']} for {r['minutes']:g} min, {r['env_steps']:,} env steps, "
            f"{r['updates']:,} updates",
            f"  replay buffer full after {f(s['buffer_full_at_s'], '.0f')} s",
            f"  RSS {f(s['rss_mb_at_full'], '.0f')} MB when full -> {s['rss_mb_end']:.0f} MB "
            f"at the end; drift {f(s['rss_drift_mb_per_min'], '+.2f')} MB/min "
            f"(with workers and engines {f(s['tree_rss_drift_mb_per_min'], '+.2f')})",
            f"  steps/s median {f(s['steps_per_s_median'], ',.0f')}, CV "
            f"{f(s['steps_per_s_cv'], '.2f')}",
        ]
    )
