"""Same seed, same results, before and after a change to the engine: a script, not a test.

Trains each case below for a fixed number of env steps and writes, per case, the SHA-256 of the
trained weights (every tensor's bytes, in state-dict order), the episode returns and lengths in
the order they were recorded, and the counters. Run it in a worktree of the commit before the
change and in the tree after, then compare:

    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before python tests/equivalence.py --out /tmp/before.json
    python tests/equivalence.py --out /tmp/after.json
    python tests/equivalence.py --compare /tmp/before.json /tmp/after.json

``PYTHONPATH`` puts the worktree's ``rlkit`` ahead of the installed one (Ray's worker processes
and the launcher's forkserver inherit it). It uses only ``rlkit.train`` and presets, which
both trees have. The ``pool`` cases are run twice in the same tree: free-running envs answer
in the order the OS schedules them, so they are compared with themselves (``repeatable``), not
across trees.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

CASES = {
    # name: (preset, overrides, train() keyword arguments)
    "dqn_uniform_lockstep": ("vizdoom_simpler_basic", {"total_steps": 3_000}, {}),
    "dqn_prioritized_lockstep": (
        "vizdoom_simpler_basic",
        {"total_steps": 3_000, "prioritized": True},
        {},
    ),
    "ppo_lockstep": ("vizdoom_basic_ppo", {"total_steps": 4_096}, {}),
    "dqn_workers": ("vizdoom_simpler_basic", {"total_steps": 2_000, "num_envs": 2}, {"workers": 2}),
    "ppo_workers": ("vizdoom_basic_ppo", {"total_steps": 2_048, "num_envs": 4}, {"workers": 2}),
    "dqn_pool": (
        "vizdoom_simpler_basic",
        {"total_steps": 2_000, "num_envs": 4, "vector_backend": "pool"},
        {},
    ),
    "ppo_pool": ("vizdoom_basic_ppo", {"total_steps": 2_048, "vector_backend": "pool"}, {}),
}
QUIET = {"eval_interval": 0, "checkpoint_interval": 0}  # nothing but training


def weights_digest(model) -> str:
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def run_case(name: str) -> dict:
    import rlkit

    preset, overrides, kwargs = CASES[name]
    config = rlkit.preset(preset, **{**overrides, **QUIET})
    t0 = time.perf_counter()
    result = rlkit.train(config, device="cpu", **kwargs)
    h = result.history
    return {
        "weights_sha256": weights_digest(result.model),
        "episode_returns": [float(x) for x in h.episode_returns],
        "episode_lengths": [int(x) for x in h.episode_lengths],
        "episode_steps": [int(x) for x in h.episode_steps],
        "metrics": h.metrics,
        "env_steps": int(h.env_steps),
        "updates": int(h.updates),
        "seconds": time.perf_counter() - t0,
    }


def record(names: list[str], path: str | None) -> dict:
    out = json.load(open(path)) if path and os.path.exists(path) else {}
    for name in names:
        out[name] = run_case(name)
        if name.endswith("_pool"):
            again = run_case(name)
            out[name]["repeatable"] = again["weights_sha256"] == out[name]["weights_sha256"]
        print(
            f"{name}: {out[name]['weights_sha256'][:16]} {out[name]['env_steps']} steps "
            f"{len(out[name]['episode_returns'])} episodes",
            flush=True,
        )
        if path:  # after each case: a later case that fails keeps the earlier ones
            with open(path, "w") as f:
                json.dump(out, f, indent=1)
    return out


def compare(before: dict, after: dict) -> list[str]:
    """One line per case; a case differs if any recorded field but the seconds does."""
    lines = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name), after.get(name)
        if b is None or a is None:
            lines.append(f"{name}: only in {'after' if b is None else 'before'}")
            continue
        if name.endswith("_pool"):
            lines.append(
                f"{name}: repeatable before {b.get('repeatable')}, after {a.get('repeatable')}"
            )
            continue
        keys = [k for k in b if k not in ("seconds", "repeatable")]
        diff = [k for k in keys if b[k] != a.get(k)]
        lines.append(f"{name}: {'identical' if not diff else 'DIFFERS in ' + ', '.join(diff)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", help="write the record here (JSON)")
    p.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    p.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = p.parse_args(argv)
    if args.compare:
        before, after = (json.load(open(path)) for path in args.compare)
        lines = compare(before, after)
        print("\n".join(lines))
        return 0 if all("DIFFERS" not in x and "only in" not in x for x in lines) else 1
    import rlkit

    print(f"rlkit from {rlkit.__file__}", flush=True)
    record(args.cases, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
