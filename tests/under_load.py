"""Run pytest several times in a row with CPU-bound processes beside it: ``make test-under-load``.

A learner's laptop is never quiet (a browser, JupyterLab, a video call), so no test may depend
on the machine's load. This is the proof: ``--load`` processes spinning ``while True: pass``
take the cores while the suite runs ``--runs`` times; every run must pass. The load is plain
Python on purpose: another ViZDoom run would start engines that the suite's own engine check
does not count (it counts only the engines its session started), and would prove less.

    python tests/under_load.py --runs 3                      # the whole unit suite, 3 times
    python tests/under_load.py --runs 20 tests/test_pool.py  # one module, 20 times

Each run's closing line goes to the console and, with every run's exit status and seconds, to
``--json`` (default ``runs/under-load.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run_pytest(args: list[str]) -> tuple[int, str, float]:
    """One pytest run, its output passed through; ``(exit status, closing line, seconds)``."""
    start = time.monotonic()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, bufsize=1)
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        if line.strip():
            last = line.strip()
    return proc.wait(), last, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="pytest runs in a row (default 3)")
    p.add_argument("--load", type=int, default=2, help="CPU-bound processes beside it (2)")
    p.add_argument("--json", default=str(ROOT / "runs" / "under-load.json"))
    p.add_argument("pytest_args", nargs="*", default=["tests"], help="what pytest runs")
    args = p.parse_args(argv)
    if args.runs < 1 or args.load < 0:
        p.error("--runs must be ≥ 1 and --load ≥ 0")
    loaders = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)
    ]
    results = []
    try:
        for i in range(1, args.runs + 1):
            print(
                f"[under load] run {i}/{args.runs}: pytest {' '.join(args.pytest_args)} "
                f"beside {args.load} CPU-bound processes",
                flush=True,
            )
            rc, last, seconds = _run_pytest(args.pytest_args)
            results.append({"run": i, "exit": rc, "summary": last, "seconds": round(seconds, 1)})
            print(f"[under load] run {i}/{args.runs}: exit {rc}, {last}", flush=True)
    finally:
        for proc in loaders:
            proc.kill()
            proc.wait()
    record = {
        "pytest_args": args.pytest_args,
        "load_processes": args.load,
        "cpu_cores": os.cpu_count(),
        "runs": results,
        "all_passed": all(r["exit"] == 0 for r in results),
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    for r in results:
        print(f"[under load] {r['run']}: exit {r['exit']} in {r['seconds']:.0f} s — {r['summary']}")
    return 0 if record["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
