"""The one benchmark harness: a record header, interleaved timing, and the JSON schema.

Every record starts with :func:`result_header` (what was measured, when, and on which machine),
so a number never travels without its hardware. Rates come from :func:`measure_interleaved`:
each variant is timed in several short rounds, interleaved with the other variants, and the
median round is reported, so a burst of background load lands on every variant alike instead of
sinking one of them. Start-up (process launch, engine init, first reset) is timed separately.

A new benchmark is one module in :mod:`rlkit.bench` that builds its workloads, calls
:func:`measure_interleaved` (or times its own runs), and returns ``result_header(...) | {...}``.
"""

from __future__ import annotations

import datetime as _dt
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

SCHEMA_VERSION = 1


# -- shared by every benchmark ----------------------------------------------------------------
def machine_section() -> dict[str, Any]:
    """The machine a result was measured on (:func:`rlkit.devices.machine_info`)."""
    from rlkit.devices import machine_info

    return machine_info()


def result_header(benchmark: str) -> dict[str, Any]:
    """First keys of every benchmark record: name, schema version, UTC time, machine."""
    return {
        "benchmark": benchmark,
        "schema_version": SCHEMA_VERSION,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_section(),
    }


class Workload(Protocol):
    """Something :func:`measure_interleaved` can time: ``run`` returns (units done, seconds)."""

    def run(self, seconds: float) -> tuple[int, float]: ...

    def close(self) -> None: ...


def measure_interleaved(
    factories: Mapping[str, Callable[[], Workload]],
    seconds: float,
    repeats: int = 3,
    *,
    catch: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Time each workload for ``seconds`` in total, split into ``repeats`` interleaved rounds.

    Each round builds every workload afresh (timed as start-up), warms it up untimed, times it
    for ``seconds / repeats`` and closes it, so idle workloads never compete with the one being
    timed. The order of variants rotates from round to round.

    :param factories: variant name -> function building a started :class:`Workload`.
    :param seconds: timed seconds per variant, all rounds together.
    :param repeats: number of rounds.
    :param catch: record a failing variant's error (``rate`` ``None``) instead of raising.
    :param log: called with one progress line per measurement.
    :return: name -> ``{"rate", "rounds", "startup_s", "meta", "error"}``; ``rate`` is the
        median of the per-round rates (units per second) and ``meta`` the first workload's
        ``meta`` attribute, if any.
    """
    names = list(factories)
    slice_s = seconds / repeats
    warmup_s = min(0.5, 0.1 * slice_s)
    out = {
        n: {"rate": None, "rounds": [], "startup_s": [], "meta": {}, "error": None} for n in names
    }
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            rec = out[name]
            if rec["error"] is not None:
                continue
            try:
                t0 = time.perf_counter()
                work = factories[name]()
                rec["startup_s"].append(time.perf_counter() - t0)
                try:
                    if r == 0:
                        rec["meta"] = dict(getattr(work, "meta", {}))
                    work.run(warmup_s)
                    units, elapsed = work.run(slice_s)
                finally:
                    work.close()
            except Exception as e:
                if not catch:
                    raise
                rec["error"] = f"{type(e).__name__}: {e}"
                if log:
                    log(f"{name}: failed ({rec['error']})")
                continue
            rec["rounds"].append(units / elapsed)
            if log:
                log(f"round {r + 1}/{repeats} {name}: {units / elapsed:,.0f}/s")
    for rec in out.values():
        if rec["rounds"] and rec["error"] is None:
            rec["rate"] = statistics.median(rec["rounds"])
        rec["startup_s"] = statistics.median(rec["startup_s"]) if rec["startup_s"] else None
    return out


def check_duration(seconds: float, repeats: int) -> None:
    if not (isinstance(seconds, int | float) and seconds > 0 and np.isfinite(seconds)):
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    if not (isinstance(repeats, int) and repeats >= 1):
        raise ValueError(f"repeats must be an integer ≥ 1, got {repeats!r}")


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):  # not available on this platform
        return None


def log_to_stderr(line: str) -> None:
    """Progress printer for benchmarks (stdout is kept for results)."""
    print(line, file=sys.stderr, flush=True)


def recorded(benchmark: str, device_prefix: str = "cuda") -> list[dict[str, Any]]:
    """The committed records of ``benchmark`` in ``data/benchmarks/`` whose ``device`` starts
    with ``device_prefix``, newest first, each with ``"file"`` added: what a notebook shows,
    labelled as recorded (where, when, on what), when the hardware is not at hand.

    :param benchmark: the record's ``"benchmark"`` name (``"learner"``, ``"dqn"``…).
    """
    import json

    from rlkit.paths import BENCHMARKS_DIR

    found = []
    for path in sorted(BENCHMARKS_DIR.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("benchmark") != benchmark:
            continue
        if str(record.get("device", "")).startswith(device_prefix):
            found.append({**record, "file": str(path.relative_to(BENCHMARKS_DIR.parent.parent))})
    return sorted(found, key=lambda r: r.get("created_utc", ""), reverse=True)
