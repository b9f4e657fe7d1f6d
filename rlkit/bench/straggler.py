"""Why lock-step stops scaling, measured: the time envs spend waiting for one that resets.

In a lock-step vector env every step waits for the slowest env. An episode reset costs a
ViZDoom env several steps' worth of time (the engine starts a new map), so at each step where
some env resets, the others have finished and sit idle. :func:`bench_straggler` measures it in
one run, on the same envs stepped three ways:

- ``lockstep``: rlkit's shared-memory vector env, ``num_envs`` envs, every env in a worker;
- ``pool``: :class:`~rlkit.envs.vector.pool.EnvPool`, the same ``num_envs`` envs free-running,
  each ``recv`` returning the first ``batch_size < num_envs`` to finish;
- ``double_buffered``: ``2 × num_envs`` envs in a pool received ``num_envs`` at a time, so the
  policy sees batches as large as lock-step's while the other half steps.

Per variant: env steps/s (interleaved rounds, :func:`~rlkit.bench.harness.measure_interleaved`)
and the wall time of every batch, split into batches where some env reset and batches where
none did. For lock-step, the excess of a reset step over the median plain step, times the envs
that were not resetting, is the env-seconds spent waiting.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rlkit.bench.harness import check_duration, measure_interleaved, result_header

__all__ = ["TimedPoolLoop", "TimedVectorLoop", "bench_straggler", "reset_cost"]

# Per-batch records are preallocated for this many batches per second of timing (far above
# any rate seen here), so the timed loop only writes into arrays.
_MAX_BATCHES_PER_S = 50_000


class _Timed:
    """Preallocated per-batch wall times and reset counts of one timed run."""

    def _alloc(self, seconds: float) -> None:
        cap = int(seconds * _MAX_BATCHES_PER_S) + 1024
        self.batch_s = np.zeros(cap)
        self.resets = np.zeros(cap, dtype=np.int64)
        self.batches = 0

    def records(self) -> tuple[np.ndarray, np.ndarray]:
        """The last run's (seconds per batch, envs that reset in it)."""
        return self.batch_s[: self.batches], self.resets[: self.batches]


class TimedVectorLoop(_Timed):
    """Steps a lock-step vector env with pre-drawn actions and records every step's wall time
    and how many envs reset in it (autoreset is SAME_STEP: an ended env resets within the step).
    """

    def __init__(self, venv: Any, seed: int):
        self.venv = venv
        n = int(venv.single_action_space.n)
        rng = np.random.default_rng(seed)
        self._actions = list(rng.integers(n, size=(256, venv.num_envs)))
        self.meta = {"num_envs": int(venv.num_envs), "batch_size": int(venv.num_envs)}
        self._alloc(0)
        venv.reset(seed=seed)

    def run(self, seconds: float) -> tuple[int, float]:
        self._alloc(seconds)
        step, actions, times, resets = self.venv.step, self._actions, self.batch_s, self.resets
        cap, k = len(times), 0
        t0 = prev = time.perf_counter()
        deadline = t0 + seconds
        while k < cap:
            _, _, term, trunc, _ = step(actions[k & 255])
            now = time.perf_counter()
            times[k], resets[k] = now - prev, np.count_nonzero(term | trunc)
            prev, k = now, k + 1
            if now >= deadline:
                break
        self.batches = k
        return k * self.meta["num_envs"], prev - t0

    def close(self) -> None:
        self.venv.close()


class TimedPoolLoop(_Timed):
    """Steps an :class:`~rlkit.envs.vector.pool.EnvPool` free-running (each ready batch gets
    its next actions at once) and records every ``recv``'s wait and the resets in its batch."""

    def __init__(self, pool: Any, seed: int):
        self.pool = pool
        n, b = int(pool.single_action_space.n), int(pool.batch_size)
        self._actions = list(np.random.default_rng(seed).integers(n, size=(256, b)))
        self.meta = {"num_envs": int(pool.num_envs), "batch_size": b}
        self._alloc(0)
        pool.async_reset(seed=seed)
        for _ in range(pool.num_envs // b):  # the first observations: start every env stepping
            ids = pool.recv()[5]
            pool.send(self._actions[0][: len(ids)], ids)

    def run(self, seconds: float) -> tuple[int, float]:
        self._alloc(seconds)
        recv, send, actions = self.pool.recv, self.pool.send, self._actions
        times, resets, cap, k = self.batch_s, self.resets, len(self.batch_s), 0
        t0 = prev = time.perf_counter()
        deadline = t0 + seconds
        while k < cap:
            _, _, term, trunc, _, ids = recv()
            now = time.perf_counter()
            times[k], resets[k] = now - prev, np.count_nonzero(term | trunc)
            send(actions[k & 255], ids)
            prev, k = now, k + 1
            if now >= deadline:
                break
        self.batches = k
        return k * self.meta["batch_size"], prev - t0

    def close(self) -> None:
        self.pool.close()


def reset_cost(
    env_id: str = "vizdoom:basic", env_kwargs: dict[str, Any] | None = None, n: int = 20, seed=0
) -> dict[str, float]:
    """Median milliseconds of one ``reset`` and of one random ``step`` of a single env, here.

    :param n: resets timed (and, between them, up to 20 steps each).
    """
    from rlkit.envs import make_env

    env = make_env(env_id, **(env_kwargs or {}))
    try:
        rng = np.random.default_rng(seed)
        resets, steps = [], []
        env.reset(seed=seed)
        for i in range(n):
            for _ in range(20):
                t0 = time.perf_counter()
                _, _, term, trunc, _ = env.step(int(rng.integers(env.action_space.n)))
                steps.append(time.perf_counter() - t0)
                if term or trunc:
                    break
            t0 = time.perf_counter()
            env.reset(seed=seed + 1 + i)
            resets.append(time.perf_counter() - t0)
    finally:
        env.close()
    return {"reset_ms": 1e3 * float(np.median(resets)), "step_ms": 1e3 * float(np.median(steps))}


def _split(batch_s: np.ndarray, resets: np.ndarray, num_envs: int, lockstep: bool) -> dict:
    """Batch times with and without a reset, and (lock-step) the env-seconds spent waiting."""
    plain, reset = batch_s[resets == 0], batch_s[resets > 0]
    base = float(np.median(plain)) if len(plain) else None
    out: dict[str, Any] = {
        "batches": len(batch_s),
        "reset_batches": len(reset),
        "plain_ms_p50": None if base is None else 1e3 * base,
        "reset_ms_p50": 1e3 * float(np.median(reset)) if len(reset) else None,
        "reset_excess_ms": None,
        "wait_env_seconds": None,
        "wait_share": None,
    }
    if base is not None and len(reset):
        out["reset_excess_ms"] = 1e3 * float(np.median(np.clip(reset - base, 0.0, None)))
    # A pool's envs do not wait for each other: only lock-step has an idle estimate.
    if lockstep and base is not None and len(reset):
        excess = np.clip(reset - base, 0.0, None)
        # While a resetting env finishes, the envs that did not reset have nothing to do.
        idle = float(np.sum(excess * (num_envs - resets[resets > 0])))
        out["wait_env_seconds"] = idle
        out["wait_share"] = idle / (num_envs * float(batch_s.sum()))
    return out


def bench_straggler(
    env_id: str = "vizdoom:basic",
    num_envs: int = 4,
    seconds: float = 3.0,
    repeats: int = 3,
    *,
    batch_size: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Lock-step against free-running envs on the same machine, in one run.

    :param env_id: the env (``"vizdoom:<scenario>"``).
    :param num_envs: envs of the lock-step and pool variants (≥ 2); the double-buffered one has
        twice as many.
    :param seconds: timed seconds per variant, all rounds together.
    :param repeats: interleaved rounds.
    :param batch_size: envs per ``recv`` of the ``pool`` variant (default ``num_envs - 1``: the
        slowest env is left behind at each batch).
    :param env_kwargs: passed to :func:`rlkit.envs.make_env` (``frame_skip``, ``resolution``…).
    :return: JSON-able record: header (``machine``…), ``reset_cost`` (one env's median reset
        and step, ms) and ``variants`` name -> ``{num_envs, batch_size, env_steps_per_s,
        batches, reset_batches, plain_ms_p50, reset_ms_p50, reset_excess_ms, wait_env_seconds,
        wait_share}`` (the waiting figures are lock-step's; a pool's are ``None``).
    :raises ValueError: on a bad ``num_envs``, ``batch_size``, ``seconds`` or ``repeats``.
    """
    from rlkit.envs import make_env
    from rlkit.envs.vector import EnvPool, SharedMemoryVectorEnv

    check_duration(seconds, repeats)
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 2:
        raise ValueError(
            f"num_envs must be an integer ≥ 2 (one env has no one to wait for), got {num_envs!r}"
        )
    b = num_envs - 1 if batch_size is None else batch_size
    if isinstance(b, bool) or not isinstance(b, int) or not 0 < b < num_envs:
        raise ValueError(
            f"batch_size must be an integer in [1, num_envs - 1 = {num_envs - 1}] "
            f"(free-running means fewer than all), got {batch_size!r}"
        )
    kwargs = dict(env_kwargs or {})

    def fns(n: int) -> list[Callable[[], Any]]:
        return [functools.partial(make_env, env_id, **kwargs) for _ in range(n)]

    built: dict[str, list[Any]] = {"lockstep": [], "pool": [], "double_buffered": []}

    def keep(name: str, work: Any) -> Any:
        built[name].append(work)
        return work

    factories = {
        # Every env in a worker (in_parent=False), like the pool's: only the discipline differs.
        "lockstep": lambda: keep(
            "lockstep",
            TimedVectorLoop(SharedMemoryVectorEnv(fns(num_envs), in_parent=False), seed),
        ),
        "pool": lambda: keep("pool", TimedPoolLoop(EnvPool(fns(num_envs), batch_size=b), seed)),
        "double_buffered": lambda: keep(
            "double_buffered",
            TimedPoolLoop(EnvPool(fns(2 * num_envs), batch_size=num_envs), seed),
        ),
    }
    cost = reset_cost(env_id, kwargs, seed=seed)
    rates = measure_interleaved(factories, seconds, repeats, log=log)
    variants = {}
    for name, works in built.items():
        recs = [w.records() for w in works]
        batch_s = np.concatenate([r[0] for r in recs])
        resets = np.concatenate([r[1] for r in recs])
        meta = works[0].meta
        variants[name] = {
            "num_envs": meta["num_envs"],
            "batch_size": meta["batch_size"],
            "env_steps_per_s": rates[name]["rate"],
            "startup_s": rates[name]["startup_s"],
        } | _split(batch_s, resets, meta["num_envs"], lockstep=name == "lockstep")
    return result_header("straggler") | {
        "env_id": env_id,
        "env_kwargs": kwargs,
        "seconds": seconds,
        "repeats": repeats,
        "reset_cost": cost,
        "variants": variants,
    }


def format_straggler_table(r: dict[str, Any]) -> str:
    c = r["reset_cost"]
    lines = [f"{r['env_id']}: one env's reset {c['reset_ms']:.2f} ms, step {c['step_ms']:.2f} ms"]

    def ms(x: float | None) -> str:
        return "   -  " if x is None else f"{x:6.2f}"

    for name, v in r["variants"].items():
        wait = "" if v["wait_share"] is None else f"  waiting {v['wait_share']:.1%} of env time"
        rate = v["env_steps_per_s"]
        lines.append(
            f"  {name:16s} {v['num_envs']} envs / batch {v['batch_size']}: "
            f"{rate:7,.0f} env steps/s; batch p50 {ms(v['plain_ms_p50'])} ms plain, "
            f"{ms(v['reset_ms_p50'])} ms with a reset ({v['reset_batches']}/{v['batches']}){wait}"
        )
    return "\n".join(lines)
