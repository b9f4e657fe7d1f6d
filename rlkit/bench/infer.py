"""``python -m rlkit bench infer``: how fast a trained agent decides on one CPU thread, on each
inference path, and how much memory a player needs.

Paths: PyTorch eager (the baseline: batch 1, one thread, ``inference_mode``), ONNX Runtime (the
checkpoint exported with :func:`rlkit.export.export_onnx` and played by
:class:`rlkit.player.OnnxPolicy`, without torch), TorchScript (trace + freeze) and
``torch.compile`` (kept only when it compiles and beats eager; its compile time is reported
apart). Each path runs in a spawned process of its own (:mod:`rlkit.bench.infer_worker`) with
CUDA hidden, so each peak RSS is that path's alone (Linux's ``VmHWM``; ``ru_maxrss``, recorded
too, carries the parent's size across ``exec``; the ViZDoom engine is a process of its own,
reported apart as ``engine_peak_rss_mb``). The processes start one after another and then take
turns: each round times every path in a rotating order while the others wait idle, and the
median round is reported, so a burst of background load lands on every path alike.

Every path picks actions on the same observations, recorded by playing the env; its agreement
is the fraction on which it picks the same greedy action as eager. Each process then plays the
env and splits one decision's time between the engine, the env around it and the network.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.bench.harness import load_average, result_header
from rlkit.bench.infer_worker import WorkerProcess

PATHS = ("eager", "onnxruntime", "torchscript", "compile")
LABELS = {
    "eager": "PyTorch eager",
    "onnxruntime": "ONNX Runtime",
    "torchscript": "TorchScript (trace + freeze)",
    "compile": "torch.compile",
}
DOOM_TICS_PER_S = 35  # Doom's game clock: the real-time rate is 35 / frame_skip decisions/s
# Target name -> ("min" or "max", bound), for one thread at batch 1 on a small laptop CPU.
INFER_TARGETS = {
    "eager_p50_ms": ("max", 0.5),
    "eager_decisions_per_s": ("min", 2000.0),
    "eager_peak_rss_mb": ("max", 500.0),
    "best_speedup_p50": ("min", 8.0),
    "onnx_player_peak_rss_mb": ("max", 150.0),
}
COMPILE_MIN_SPEEDUP = 1.1  # torch.compile is kept when it is at least this much faster at p50
MIN_AGREEMENT = 0.99  # a path that disagrees more often than export allows cannot be "best"


def _stats(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [r["latencies_ns"] / 1e6 for r in rounds]
    p50 = [float(np.percentile(x, 50)) for x in lat]
    p99 = [float(np.percentile(x, 99)) for x in lat]
    rate = [len(x) / r["elapsed_s"] for x, r in zip(lat, rounds, strict=True)]
    pooled = np.concatenate(lat)
    return {
        "p50_ms": statistics.median(p50),
        "p99_ms": statistics.median(p99),
        "decisions_per_s": statistics.median(rate),
        # Every percentile from 0 to 100 of all timed decisions: enough to draw the distribution.
        "quantiles_ms": [float(f"{q:.5g}") for q in np.percentile(pooled, np.arange(101))],
        "rounds": {"p50_ms": p50, "p99_ms": p99, "decisions_per_s": rate},
    }


def _target(kind: str, bound: float, value: float | None) -> dict[str, Any]:
    ok = None if value is None else (value <= bound if kind == "max" else value >= bound)
    return {kind: bound, "value": value, "pass": ok}


@contextlib.contextmanager
def _onnx_file(
    checkpoint: str, given: str | None, wanted: bool
) -> Iterator[tuple[str, float, str | None]]:
    """``(path, seconds to export, why there is none)``: the given file, or a fresh export."""
    if given is not None or not wanted:
        yield (given or ""), 0.0, None
        return
    from rlkit.export import export_onnx

    with tempfile.TemporaryDirectory(prefix="rlkit-infer-") as tmp:
        t0 = time.perf_counter()
        try:
            # Agreement is checked here on every path alike, so the export skips its own check.
            report = export_onnx(checkpoint, Path(tmp) / "model.onnx", check_observations=0)
        except (ImportError, ValueError) as exc:  # no onnx packages, or an unexportable model
            yield "", 0.0, f"export failed: {type(exc).__name__}: {exc}"
            return
        yield report.path, time.perf_counter() - t0, None


def _measure(job: dict[str, Any], names: list[str], skipped: dict[str, str], **how: Any) -> dict:
    """Start one process per path, time them in turns, and collect what each reports.

    :param how: ``repeats``, ``iterations``, ``warmup``, ``round_seconds``, ``play_steps``,
        ``seed``, ``timeout_s`` and ``say`` (of :func:`bench_infer`).
    :return: ``{"ready", "rounds", "final"}``, each by path name.
    """
    say, repeats, play_steps = how["say"], how["repeats"], how["play_steps"]
    ctx = multiprocessing.get_context("spawn")
    workers: dict[str, WorkerProcess] = {}
    ready: dict[str, dict[str, Any]] = {}
    final: dict[str, dict[str, Any]] = {}
    rounds: dict[str, list[dict[str, Any]]] = {n: [] for n in names}

    def drop(name: str, exc: Exception) -> None:
        if name == "eager":
            raise RuntimeError(f"the eager PyTorch baseline failed: {exc}") from None
        skipped[name] = str(exc)
        say(f"{name}: skipped ({exc})")

    def live() -> list[str]:
        return [n for n in names if n in ready and n not in skipped]

    try:
        for name in names:  # one at a time: start-up and compile times are not contended
            say(f"starting {name}")
            workers[name] = WorkerProcess(ctx, {**job, "path": name}, how["timeout_s"])
            try:
                ready[name] = workers[name].reply()
            except RuntimeError as exc:
                drop(name, exc)
        for r in range(repeats):
            order = live()
            k = r % len(order)
            # The play steps spread over the rounds: the time split sees the same load too.
            steps = play_steps // repeats + (r < play_steps % repeats)
            for name in order[k:] + order[:k]:
                w = workers[name]
                try:
                    rec = w.ask("time", how["iterations"], how["warmup"], how["round_seconds"])
                    if steps:
                        w.ask("play", steps, how["seed"])
                except RuntimeError as exc:
                    drop(name, exc)
                    continue
                rounds[name].append(rec)
                rate = len(rec["latencies_ns"]) / rec["elapsed_s"]
                say(f"round {r + 1}/{repeats} {name}: {rate:,.0f} decisions/s")
        for name in live():
            try:
                final[name] = workers[name].ask("exit")
            except RuntimeError as exc:
                drop(name, exc)
    finally:
        for w in workers.values():
            w.close()
    return {"ready": ready, "rounds": rounds, "final": final}


def bench_infer(
    checkpoint: str | Path,
    threads: int = 1,
    *,
    paths: Sequence[str] = PATHS,
    iterations: int = 1000,
    round_seconds: float = 0.5,
    repeats: int = 5,
    observations: int = 200,
    play_steps: int = 300,
    warmup: int = 200,
    onnx_path: str | Path | None = None,
    seed: int = 0,
    timeout_s: float = 600.0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Per-decision latency, throughput, agreement and peak memory of each inference path.

    :param checkpoint: a ``checkpoint.pt`` from rlkit training.
    :param threads: CPU threads for every path (torch's intra-op threads, ONNX Runtime's).
    :param paths: which of :data:`PATHS` to measure; eager, the baseline, is always measured.
    :param iterations: the fewest timed decisions per path and round.
    :param round_seconds: the shortest time each path is timed for per round (so a fast path
        is exposed to background load as long as a slow one).
    :param repeats: interleaved rounds; the median round is reported.
    :param observations: recorded observations the paths decide on (and are compared on).
    :param play_steps: env steps each path plays, for the time split and the peak memory.
    :param warmup: untimed decisions before each round.
    :param onnx_path: an ONNX file exported from ``checkpoint`` (default: export one now).
    :param seed: seeds the recorded and the played episodes.
    :param timeout_s: the longest any one answer of a process may take (compiling included).
    :param log: called with progress lines.
    :return: the JSON record (fields in ``tests/test_bench_infer.py``); a path that fails is
        left out, with its reason under ``skipped``.
    """
    from rlkit.checkpoints import load_model
    from rlkit.evaluation import greedy_policy
    from rlkit.export import record_observations

    unknown = [p for p in paths if p not in PATHS]
    if unknown or isinstance(paths, str):
        raise ValueError(f"unknown inference paths {unknown or paths!r}; valid: {', '.join(PATHS)}")
    if not (isinstance(round_seconds, int | float) and 0 <= round_seconds < 3600):
        raise ValueError(f"round_seconds must be a number of seconds ≥ 0, got {round_seconds!r}")
    counts = {"threads": threads, "iterations": iterations, "repeats": repeats}
    counts.update(observations=observations, play_steps=play_steps, warmup=warmup)
    for name, v in counts.items():
        lo = 0 if name == "warmup" else 1
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an integer ≥ {lo}, got {v!r}")
    names = ["eager", *[p for p in PATHS if p in paths and p != "eager"]]
    say = log or (lambda _line: None)
    model, ckpt = load_model(checkpoint, device="cpu")
    spec = ckpt.env_spec
    if spec is None:
        raise ValueError(f"{checkpoint} records no env_spec: there is no env to play")
    obs = record_observations(spec, observations, greedy_policy(model), seed=seed)
    skipped: dict[str, str] = {}
    wanted = "onnxruntime" in names
    load_start = load_average()
    with _onnx_file(str(checkpoint), onnx_path and str(onnx_path), wanted) as (
        onnx_file,
        export_s,
        export_error,
    ):
        if export_error is not None:
            skipped["onnxruntime"] = export_error
            names.remove("onnxruntime")
        job = {
            "checkpoint": str(checkpoint),
            "onnx_path": onnx_file,
            "threads": threads,
            "observations": obs,
            "env_spec": spec.to_dict(),
        }
        measured = _measure(
            job,
            names,
            skipped,
            repeats=repeats,
            iterations=iterations,
            warmup=warmup,
            round_seconds=round_seconds,
            play_steps=play_steps,
            seed=seed,
            timeout_s=timeout_s,
            say=say,
        )
    settings = {
        "min_iterations_per_round": iterations,
        "min_seconds_per_round": round_seconds,
        "repeats": repeats,
        "observations": observations,
        "play_steps": play_steps,
        "warmup": warmup,
        "seed": seed,
        "paths": names,
    }
    head = {"checkpoint": str(checkpoint), "threads": threads, "export_s": export_s}
    head["load_average_1m"] = {"start": load_start, "end": load_average()}
    return _record(head, model, spec, measured, skipped, settings)


def _record(
    head: dict[str, Any],
    model: Any,
    spec: Any,
    measured: dict[str, dict[str, Any]],
    skipped: dict[str, str],
    settings: dict[str, Any],
) -> dict[str, Any]:
    ready, rounds, final = measured["ready"], measured["rounds"], measured["final"]
    names = settings["paths"]
    eager_actions, eager_q = ready["eager"]["actions"], ready["eager"]["q_values"]
    per_path: dict[str, dict[str, Any]] = {}
    for name in (n for n in names if n in final):
        same = ready[name]["actions"] == eager_actions
        per_path[name] = {
            **_stats(rounds[name]),
            "peak_rss_mb": final[name]["peak_rss_mb"],
            "ru_maxrss_mb": final[name]["ru_maxrss_mb"],
            "agreement": float(np.mean(same)),
            "max_abs_q_diff": float(np.max(np.abs(ready[name]["q_values"] - eager_q))),
            "setup_s": ready[name]["setup_s"],
            "imported_torch": final[name]["imported_torch"],
            "time_split": final[name]["time_split"],
        }
        if "compile_s" in ready[name]:
            per_path[name]["compile_s"] = ready[name]["compile_s"]
    eager = per_path["eager"]
    for p in per_path.values():
        p["speedup_p50"] = eager["p50_ms"] / p["p50_ms"]
    c = per_path.get("compile")
    if c is not None and (c["speedup_p50"] < COMPILE_MIN_SPEEDUP or c["agreement"] < 1):
        skipped["compile"] = (
            f"compiled in {c['compile_s']:.1f} s, then p50 {c['p50_ms']:.3f} ms against eager's "
            f"{eager['p50_ms']:.3f} ms ({c['speedup_p50']:.2f}×, agreement {c['agreement']:.0%})"
            f": it does not help here"
        )
    keys = ("p50_ms", "p99_ms", "decisions_per_s", "peak_rss_mb", "speedup_p50", "agreement")
    optimized = {
        n: {k: p[k] for k in keys} for n, p in per_path.items() if n != "eager" and n not in skipped
    }
    good = {n: o for n, o in optimized.items() if o["agreement"] >= MIN_AGREEMENT}
    best = max(good, key=lambda n: good[n]["speedup_p50"]) if good else None
    skip = int(spec.env_kwargs.get("frame_skip", 1))
    needed = DOOM_TICS_PER_S / skip
    player = "onnxruntime" if "onnxruntime" in per_path else "eager"
    rate = per_path[player]["time_split"]["decisions_per_s"]
    onnx = per_path.get("onnxruntime")
    values = {
        "eager_p50_ms": eager["p50_ms"],
        "eager_decisions_per_s": eager["decisions_per_s"],
        "eager_peak_rss_mb": eager["peak_rss_mb"],
        "best_speedup_p50": None if best is None else optimized[best]["speedup_p50"],
        "onnx_player_peak_rss_mb": None if onnx is None else onnx["peak_rss_mb"],
    }
    workers = list(final.values())
    return result_header("infer") | {
        "checkpoint": head["checkpoint"],
        "model": {
            "class": type(model).__name__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "observation_shape": list(spec.observation_shape),
            "observation_dtype": spec.observation_dtype,
            "n_actions": len(spec.action_names),
        },
        "env_id": spec.env_id,
        "frame_skip": skip,
        "threads": head["threads"],
        "batch": 1,
        "cuda_visible_devices": workers[0]["cuda_visible_devices"],
        "cuda_available": any(bool(f["cuda_available"]) for f in workers),
        "settings": settings,
        "p50_ms": eager["p50_ms"],
        "p99_ms": eager["p99_ms"],
        "decisions_per_s": eager["decisions_per_s"],
        "peak_rss_mb": eager["peak_rss_mb"],
        "optimized": optimized,
        "agreement": {n: p["agreement"] for n, p in per_path.items() if n != "eager"},
        "agreement_observations": settings["observations"],
        "best_optimized": best,
        "realtime": {
            "tics_per_s": DOOM_TICS_PER_S,
            "decisions_per_s_needed": needed,
            "player": player,
            "decisions_per_s": rate,
            "margin": rate / needed,
        },
        "preprocessing": "none outside the env: the network takes the env's uint8 frames; the "
        "env's frame subsampling is in time_split env_ms",
        "time_split": {n: p["time_split"] for n, p in per_path.items()},
        "onnx_player": None
        if onnx is None
        else {"imported_torch": onnx["imported_torch"], "peak_rss_mb": onnx["peak_rss_mb"]},
        "export_s": head["export_s"],
        "targets": {k: _target(*INFER_TARGETS[k], v) for k, v in values.items()},
        "paths": per_path,
        "skipped": skipped,
        # Other work on the machine during the run (2 cores: a load of 2 means none were idle).
        "load_average_1m": head["load_average_1m"],
    }


def format_infer_table(result: dict[str, Any]) -> str:
    """A human-readable table of a :func:`bench_infer` record."""
    mach, m = result["machine"], result["model"]
    lines = [
        f"bench infer: {result['checkpoint']} ({m['class']}, {m['parameters']:,} parameters, "
        f"input {m['observation_shape']} {m['observation_dtype']})",
        f"on {mach.get('cpu_model')} ({mach.get('cpu_cores')} cores), {result['threads']} "
        f"thread(s), batch 1, CUDA hidden",
        "",
        f"{'path':<30}{'p50 ms':>9}{'p99 ms':>9}{'decisions/s':>13}{'×eager':>8}{'agree':>7}"
        f"{'RSS MB':>8}",
    ]
    for name, p in result["paths"].items():
        mark = " (skipped)" if name in result["skipped"] else ""
        lines.append(
            f"{LABELS[name] + mark:<30}{p['p50_ms']:>9.3f}{p['p99_ms']:>9.3f}"
            f"{p['decisions_per_s']:>13,.0f}{p['speedup_p50']:>8.1f}{p['agreement']:>7.0%}"
            f"{_num(p['peak_rss_mb'], '.0f'):>8}"
        )
    rt = result["realtime"]
    lines += [
        "",
        f"playing with {LABELS[rt['player']]}: {rt['decisions_per_s']:,.0f} decisions/s against "
        f"{rt['decisions_per_s_needed']:.2f}/s in real time ({rt['margin']:,.0f}× margin)",
        f"{'one decision, ms':<18}"
        + "".join(f"{LABELS[n].split()[0]:>14}" for n in result["paths"]),
    ]
    for key in ("engine_ms", "env_ms", "network_ms", "reset_ms", "other_ms"):
        row = "".join(f"{s[key]:>14.4f}" for s in result["time_split"].values())
        lines.append(f"{key[:-3]:<18}{row}")
    lines += ["", f"{'target':<26}{'value':>10}{'bound':>10}  result"]
    for name, t in result["targets"].items():
        kind = "max" if "max" in t else "min"
        verdict = {True: "pass", False: "MISS", None: "n/a"}[t["pass"]]
        bound = ("≤ " if kind == "max" else "≥ ") + format(t[kind], "g")
        lines.append(f"{name:<26}{_num(t['value'], '.3g'):>10}{bound:>10}  {verdict}")
    for name, reason in result["skipped"].items():
        lines.append(f"note: {name} skipped: {reason}")
    return "\n".join(lines)


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)
