"""``make gpu-record``: everything that needs a real GPU, measured in one run, on that machine.

A GPU machine is lent for minutes, with its own Python and torch, so this is one prepared run
that needs only what rlkit's benchmarks need (torch, numpy, gymnasium, vizdoom; no Ray, no
notebook, no network) and that spends a fixed budget:

- ``bench learner`` on the device and on this machine's CPU, in the same run;
- ``bench dqn`` (``vizdoom_simpler_basic`` to 75) and ``bench ppo`` (``vizdoom_basic_ppo`` to 60)
  on the device and on the CPU, under the confirmed rule, one seed each;
- the device tests (``tests/test_device_plan.py``, ``tests/test_devices.py`` and the replay
  buffer on the device) on real CUDA, where pytest is installed.

Each part is a subprocess with its own time-out; one that fails or runs out of time is a row
with its reason, and the others still run. Every record goes to ``data/benchmarks/`` under the
name the notebooks read (notebook 04 shows the ``device: cuda…`` ones as recorded), and
``gpu-record-<device>.json`` keeps the provenance: the GPU's name, torch, each command, its exit
status, seconds and the tail of its output. ``--device cpu`` runs the same path on a machine
without a GPU (the test suite does, at a tiny scale, with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "parts"]

ROOT = Path(__file__).resolve().parents[2]


# Each score benchmark at a tiny scale for --quick: the path end to end, in seconds.
_QUICK = {
    "dqn": ["total_steps=256", "learning_starts=64"],
    "ppo": ["total_steps=512", "n_steps=64"],
}
_SCORES = (("dqn", "vizdoom_simpler_basic", "75"), ("ppo", "vizdoom_basic_ppo", "60"))
_TESTS = ("tests/test_gpu.py", "tests/test_device_plan.py", "tests/test_devices.py")


def parts(device: str, quick: bool) -> list[tuple[str, list[str], str | None]]:
    """``(name, argv after python, record file name or None)`` of every part, in run order:
    each benchmark on ``device`` then on the CPU (once when ``device`` is the CPU)."""
    tag = device.replace(":", "")
    # The CPU beside the GPU is that machine's CPU, not this one's: its own file name.
    devices = [(device, tag)] + ([("cpu", f"cpu-beside-{tag}")] if device != "cpu" else [])
    learner = (
        ["--seconds", "0.2", "--repeats", "1", "--batch", "64"] if quick else ["--seconds", "2"]
    )
    out: list[tuple[str, list[str], str | None]] = []
    for dev, name in devices:
        argv = ["-m", "rlkit", "bench", "learner", "--device", dev, *learner, "--json", "--quiet"]
        out.append((f"learner-{name}", argv, f"learner-vizdoom_basic-{name}.json"))
    for algo, preset, target in _SCORES:
        rule = ["--seeds", "1"]
        if quick:
            rule += ["--eval-episodes", "2", "--confirm-episodes", "2", "--eval-interval", "64"]
            rule += [arg for kv in _QUICK[algo] for arg in ("--set", kv)]
        for dev, name in devices:
            argv = ["-m", "rlkit", "bench", algo, "--preset", preset, "--target", target]
            argv += ["--device", dev, *rule, "--json", "--quiet"]
            out.append((f"{algo}-{name}", argv, f"{algo}-{preset}-{name}.json"))
    out.append(("device-tests", ["-m", "pytest", "-q", "-p", "no:cacheprovider", *_TESTS], None))
    return out


def _gpu_name(device: str) -> str | None:
    if not device.startswith("cuda"):
        return None
    try:
        import torch

        return (
            torch.cuda.get_device_name(torch.device(device)) if torch.cuda.is_available() else None
        )
    except Exception:
        return None


def _install_missing(wheels: Path | None) -> list[str]:
    """The packages the benchmarks need that this Python lacks, after installing what it can
    from ``wheels`` (no network on the GPU machine)."""
    import importlib.util

    needed = ("torch", "numpy", "gymnasium", "vizdoom", "pytest")
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing and wheels is not None and wheels.is_dir():
        pip = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels)]
        subprocess.run([*pip, *missing], capture_output=True, check=False)
        importlib.invalidate_caches()
        missing = [m for m in needed if importlib.util.find_spec(m) is None]
    return missing


def _run_part(argv: list[str], out_file: Path | None, timeout_s: float) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")[-1500:]
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        why = f"over {timeout_s:.0f} s"
        return {
            "status": "timeout",
            "seconds": time.monotonic() - t0,
            "why": why,
            "stderr_tail": tail,
        }
    row: dict[str, Any] = {
        "returncode": proc.returncode,
        "seconds": time.monotonic() - t0,
        "stderr_tail": proc.stderr[-1500:],
    }
    if proc.returncode != 0:
        return {"status": "failed", **row, "stdout_tail": proc.stdout[-1500:]}
    if out_file is None:
        return {"status": "ok", **row, "stdout_tail": proc.stdout[-1500:]}
    try:
        record = json.loads(proc.stdout)
    except ValueError:
        return {"status": "failed", **row, "why": "the benchmark printed no JSON record"}
    from rlkit.atomic import write_json

    write_json(out_file, record)
    return {"status": "ok", **row, "record": out_file.name}


def main(argv: list[str] | None = None) -> int:
    """Run every part; print the provenance record; exit 0 when every part passed."""
    p = argparse.ArgumentParser(
        prog="python -m rlkit.bench.gpu_record", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--device", default="cuda", help="the device measured against the CPU (default cuda)"
    )
    p.add_argument(
        "--out",
        type=Path,
        help="folder of the records (default: data/benchmarks on a GPU; runs/gpu-record-cpu on "
        "--device cpu, which must not replace this machine's committed CPU records)",
    )
    p.add_argument(
        "--wheels", type=Path, help="a folder of wheels to install missing packages from, offline"
    )
    p.add_argument("--budget", type=float, default=240.0, help="seconds for all parts together")
    p.add_argument("--quick", action="store_true", help="the path end to end at a tiny scale")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and _gpu_name(args.device) is None:
        print(
            f"rlkit: error: no CUDA device {args.device!r} here; run this on the GPU machine, or "
            "pass --device cpu to try the path on this one",
            file=sys.stderr,
        )
        return 2
    if args.out is None:
        on_gpu = args.device != "cpu"
        args.out = ROOT / ("data/benchmarks" if on_gpu else "runs/gpu-record-cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    todo, rows = parts(args.device, args.quick), {}
    missing = _install_missing(args.wheels)
    if missing:
        rows["packages"] = {"status": "failed", "why": f"not importable here: {missing}"}
    deadline = time.monotonic() + args.budget
    for k, (name, argv_k, file_name) in enumerate(todo):
        left = deadline - time.monotonic()
        share = left / (len(todo) - k)  # what is left, shared among the parts still to run
        if share < 5:
            rows[name] = {"status": "skipped", "why": f"the {args.budget:.0f} s budget ran out"}
            continue
        rows[name] = _run_part(
            argv_k,
            None if file_name is None else args.out / file_name,
            max(share, min(left, 2 * share)),
        )
        rows[name]["argv"] = ["python", *argv_k]
        took = rows[name].get("seconds", 0.0)
        print(f"[gpu-record] {name}: {rows[name]['status']} in {took:.0f} s", file=sys.stderr)
    from rlkit.atomic import write_json
    from rlkit.bench.harness import result_header

    summary = {
        **result_header("gpu_record"),
        "device": args.device,
        "gpu": _gpu_name(args.device),
        "quick": args.quick,
        "parts": rows,
    }
    tag = args.device.replace(":", "")
    write_json(args.out / f"gpu-record-{tag}.json", summary)
    print(json.dumps({k: v["status"] for k, v in rows.items()}))
    return 0 if all(v["status"] == "ok" for v in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
