"""``python -m rlkit bench env``: env steps/s of the raw engine loop, rlkit's env, vizdoom's
gymnasium env and the vector envs, measured interleaved in one run, with the ratios it targets.

Also :func:`env_throughput`, notebook 01's frames/s across env families, on the same timing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rlkit.bench.harness import (
    Workload,
    check_duration,
    load_average,
    measure_interleaved,
    result_header,
)
from rlkit.bench.loops import (
    EnvLoop,
    IndependentLoops,
    PoolLoop,
    RawDoomLoop,
    RawPairLoop,
    VectorLoop,
    frames_per_step,
    vizdoom_gym_id,
)

# Ratio name -> minimum wanted value (rlkit's env vs the raw engine loop and vizdoom's own
# gymnasium env; 2 shared-memory workers vs one env and vs gymnasium's AsyncVectorEnv).
ENV_TARGETS = {
    "rlkit/raw": 0.9,
    "rlkit/vizdoom_gym": 2.0,
    "vector2/rlkit": 1.6,
    "vector2/gym_async2": 1.3,
    # the free-running pool, 2 worker processes: against one rlkit env and 2 independent ones
    "pool2/rlkit": 1.8,
    "pool2/independent2": 0.85,
}
VECTOR_WORKERS = (1, 2, 4)
GYM_ASYNC_WORKERS = (2,)
THREAD_WORKERS = (2,)
IN_WORKERS = (2,)  # rlkit's vector env with every env in a worker (in_parent=False), for contrast
POOL_WORKERS = (2,)  # EnvPool worker processes
# Each pool worker hosts two envs and the caller receives one worker's worth at a time: a worker
# steps one env while the caller answers the other (on 2 vCPUs, 2026-12-01, one interleaved run:
# 0.56 × the independent ceiling with one env per worker and batches of 1, 0.65 with this).
POOL_ENVS_PER_WORKER = 2
INDEPENDENT = (2,)  # processes stepping envs of their own: the machine's ceiling


# -- bench env --------------------------------------------------------------------------------
def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def bench_env(
    env_id: str = "vizdoom:basic",
    seconds: float = 10.0,
    repeats: int = 3,
    *,
    resolution: tuple[int, int] | None = None,
    frame_skip: int | None = None,
    seed: int = 0,
    vector_workers: Sequence[int] = VECTOR_WORKERS,
    async_workers: Sequence[int] = GYM_ASYNC_WORKERS,
    thread_workers: Sequence[int] = THREAD_WORKERS,
    in_workers: Sequence[int] = IN_WORKERS,
    pool_workers: Sequence[int] = POOL_WORKERS,
    independent: Sequence[int] = INDEPENDENT,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Steps per second of one env id, from the bare engine up to vector envs.

    Variants: the raw ``DoomGame`` loop at rlkit's settings and two of them in lock-step
    (:class:`RawPairLoop`; ViZDoom only), rlkit's env,
    vizdoom's own gymnasium env at its defaults (ViZDoom only), rlkit's shared-memory vector env
    with ``vector_workers`` envs (env 0 stepped by the calling process, the default) and with
    ``in_workers`` envs all in worker processes, and gymnasium's ``AsyncVectorEnv`` with
    ``async_workers``.

    :param env_id: any id :func:`rlkit.envs.make_env` accepts.
    :param seconds: timed seconds per variant (all rounds together).
    :param repeats: interleaved rounds; the median round is reported.
    :param resolution: observation ``(height, width)`` (ViZDoom only; default: rlkit's).
    :param frame_skip: tics per step (ViZDoom and Atari; default: rlkit's).
    :param seed: seed of resets and action draws.
    :param vector_workers: env counts for rlkit's vector env (the JSON calls them workers: the
        processes stepping envs, the calling process included).
    :param in_workers: env counts for rlkit's vector env with ``in_parent=False``.
    :param async_workers: worker counts for gymnasium's ``AsyncVectorEnv``.
    :param thread_workers: env counts for rlkit's thread-backed vector env (no target: shown
        next to the process-based one because ViZDoom steps without the GIL).
    :param pool_workers: worker-process counts for rlkit's free-running :class:`EnvPool`, each
        hosting ``POOL_ENVS_PER_WORKER`` envs; each recv takes half the envs (one half steps
        while the caller acts on the other).
    :param independent: process counts for the ceiling: envs in processes of their own.
    :param log: called with progress lines.
    :return: the JSON record (see ``tests/test_bench_cli.py`` for its fields).
    """
    from rlkit.envs import VIZDOOM_PREFIX, is_atari, is_vizdoom, make_env

    check_duration(seconds, repeats)
    for name, counts in (
        ("vector_workers", vector_workers),
        ("async_workers", async_workers),
        ("thread_workers", thread_workers),
        ("in_workers", in_workers),
        ("pool_workers", pool_workers),
        ("independent", independent),
    ):
        if not all(isinstance(c, int) and c >= 1 for c in counts):
            raise ValueError(f"{name} must be integers ≥ 1, got {list(counts)!r}")
    env_kwargs: dict[str, Any] = {}
    if resolution is not None:
        if not is_vizdoom(env_id):
            raise ValueError(f"resolution applies to vizdoom:<scenario> ids only, not {env_id!r}")
        env_kwargs["resolution"] = tuple(resolution)
    if frame_skip is not None:
        if not (is_vizdoom(env_id) or is_atari(env_id)):
            raise ValueError(f"frame_skip applies to ViZDoom and Atari ids only, not {env_id!r}")
        env_kwargs["frame_skip"] = frame_skip

    # A probe env validates the id and kwargs (ValueError naming valid choices) and tells the
    # engine settings the raw loop must copy.
    probe = make_env(env_id, **env_kwargs)
    try:
        obs_shape = list(probe.observation_space.shape)
        skip = frames_per_step(probe, env_id)
        settings: dict[str, Any] = {"observation_shape": obs_shape, "frame_skip": skip}
        if is_vizdoom(env_id):
            game = probe.unwrapped.game
            screen = (game.get_screen_height(), game.get_screen_width())
            settings.update(
                resolution=obs_shape[-2:],
                engine_screen=list(screen),
                screen_format=game.get_screen_format().name,
            )
    finally:
        probe.close()
    settings.update(
        seconds_per_measurement=seconds,
        repeats=repeats,
        seconds_per_round=seconds / repeats,
        seed=seed,
        pool_envs_per_worker=POOL_ENVS_PER_WORKER,
        env_kwargs={k: list(v) if isinstance(v, tuple) else v for k, v in env_kwargs.items()},
    )

    def rlkit_env() -> Workload:
        return EnvLoop(make_env(env_id, **env_kwargs), seed, env_id)

    factories: dict[str, Callable[[], Workload]] = {}
    null_reasons: dict[str, str] = {}
    gym_id = None
    if is_vizdoom(env_id):
        scenario = env_id[len(VIZDOOM_PREFIX) :]
        factories["raw"] = lambda: RawDoomLoop(scenario, screen, skip, seed)
        factories["raw_pair2"] = lambda: RawPairLoop(scenario, screen, skip, seed)
        factories["rlkit"] = rlkit_env
        gym_id, reason = vizdoom_gym_id(scenario)
        if gym_id is not None:
            import gymnasium as gym

            factories["vizdoom_gym"] = lambda: EnvLoop(gym.make(gym_id), seed)
        else:
            null_reasons["vizdoom_gym_steps_per_s"] = reason
    else:
        factories["rlkit"] = rlkit_env
        why = "only ViZDoom envs have a raw DoomGame loop and a vizdoom gymnasium env"
        for key in ("raw_steps_per_s", "raw_pair_steps_per_s", "vizdoom_gym_steps_per_s"):
            null_reasons[key] = why

    def vector(n: int, backend: str, **kw: Any) -> Callable[[], Workload]:
        def build() -> Workload:
            from rlkit.envs.vector import make_vector_env

            return VectorLoop(
                make_vector_env(env_id, n, backend=backend, seed=seed, **kw, **env_kwargs), seed
            )

        return build

    for n in vector_workers:
        factories[f"vector{n}"] = vector(n, "shm")
    for n in async_workers:
        factories[f"gym_async{n}"] = vector(n, "async")
    for n in thread_workers:
        factories[f"threads{n}"] = vector(n, "threads")
    for n in in_workers:
        factories[f"in_workers{n}"] = vector(n, "shm", in_parent=False)

    def pool(n: int) -> Callable[[], Workload]:
        def build() -> Workload:
            import functools

            from rlkit.envs.vector.pool import EnvPool

            k = POOL_ENVS_PER_WORKER
            fns = [functools.partial(make_env, env_id, **env_kwargs) for _ in range(n * k)]
            return PoolLoop(EnvPool(fns, batch_size=n, envs_per_worker=k), seed)

        return build

    for n in pool_workers:
        factories[f"pool{n}"] = pool(n)
    for n in independent:
        factories[f"independent{n}"] = functools.partial(
            IndependentLoops, env_id, env_kwargs, n, seed
        )

    load_start = load_average()
    m = measure_interleaved(factories, seconds, repeats, catch=True, log=log)
    rate = {k: v["rate"] for k, v in m.items()}
    if gym_id is not None:  # its own defaults, as the engine reported them
        settings["vizdoom_gym"] = {"id": gym_id, "kwargs": {}, **m["vizdoom_gym"]["meta"]}
    for k, v in m.items():
        if v["error"]:
            null_reasons[k] = v["error"]
    rlkit_rate = rate["rlkit"]
    vector_rates = {str(n): rate[f"vector{n}"] for n in vector_workers}
    async_rates = {str(n): rate[f"gym_async{n}"] for n in async_workers}
    thread_rates = {str(n): rate[f"threads{n}"] for n in thread_workers}
    in_worker_rates = {str(n): rate[f"in_workers{n}"] for n in in_workers}
    pool_rates = {str(n): rate[f"pool{n}"] for n in pool_workers}
    independent_rates = {str(n): rate[f"independent{n}"] for n in independent}
    ratios = {
        "rlkit/raw": _ratio(rlkit_rate, rate.get("raw")),
        "rlkit/vizdoom_gym": _ratio(rlkit_rate, rate.get("vizdoom_gym")),
        "vector2/rlkit": _ratio(vector_rates.get("2"), rlkit_rate),
        "vector2/gym_async2": _ratio(vector_rates.get("2"), async_rates.get("2")),
        "threads2/rlkit": _ratio(thread_rates.get("2"), rlkit_rate),
        "raw_pair2/raw": _ratio(rate.get("raw_pair2"), rate.get("raw")),
        "pool2/rlkit": _ratio(pool_rates.get("2"), rlkit_rate),
        "pool2/independent2": _ratio(pool_rates.get("2"), independent_rates.get("2")),
        "independent2/rlkit": _ratio(independent_rates.get("2"), rlkit_rate),
    }
    targets = {
        k: {"min": lo, "value": ratios[k], "pass": None if ratios[k] is None else ratios[k] >= lo}
        for k, lo in ENV_TARGETS.items()
        if k in ratios
    }
    return result_header("env") | {
        "env": env_id,
        "settings": settings,
        "raw_steps_per_s": rate.get("raw"),
        # Two raw loops in lock-step, no vector env around them: what lock-step itself allows.
        "raw_pair_steps_per_s": {"2": rate.get("raw_pair2")},
        "rlkit_steps_per_s": rlkit_rate,
        "rlkit_frames_per_s": None if rlkit_rate is None else rlkit_rate * skip,
        "vizdoom_gym_id": gym_id,
        "vizdoom_gym_steps_per_s": rate.get("vizdoom_gym"),
        "vector_steps_per_s": vector_rates,
        "gym_async_steps_per_s": async_rates,
        "vector_threads_steps_per_s": thread_rates,
        "vector_in_workers_steps_per_s": in_worker_rates,
        # EnvPool: free-running envs, half received at a time (workers -> steps/s)
        "async_steps_per_s": pool_rates,
        "independent_steps_per_s": independent_rates,
        "ratios": ratios,
        "targets": targets,
        "startup_s": {k: v["startup_s"] for k, v in m.items()},
        # Other work on the machine during the run: on 2 cores a load of 4 halves parallel rates.
        "load_average_1m": {"start": load_start, "end": load_average()},
        "rounds_steps_per_s": {k: v["rounds"] for k, v in m.items()},
        "null_reasons": null_reasons,
    }


def variant_rows(result: Mapping[str, Any]) -> list[tuple[str, str, float | None]]:
    """``(label, key, steps/s)`` for every variant of a :func:`bench_env` record, in table order.

    ``key`` names the variant in ``startup_s`` and ``rounds_steps_per_s``; ``steps/s`` is
    ``None`` for a variant that did not run (``null_reasons`` says why).
    """
    rows: list[tuple[str, str, float | None]] = [
        ("raw DoomGame loop", "raw", result["raw_steps_per_s"]),
        (
            "raw DoomGame loops ×2, lock-step",
            "raw_pair2",
            result.get("raw_pair_steps_per_s", {}).get("2"),
        ),
        ("rlkit env", "rlkit", result["rlkit_steps_per_s"]),
        (
            f"vizdoom gym ({result['vizdoom_gym_id']})",
            "vizdoom_gym",
            result["vizdoom_gym_steps_per_s"],
        ),
    ]
    rows += [
        (f"rlkit vector shm ×{n}", f"vector{n}", r) for n, r in result["vector_steps_per_s"].items()
    ]
    rows += [
        (f"gymnasium AsyncVectorEnv ×{n}", f"gym_async{n}", r)
        for n, r in result["gym_async_steps_per_s"].items()
    ]
    rows += [
        (f"rlkit vector shm ×{n}, all in workers", f"in_workers{n}", r)
        for n, r in result.get("vector_in_workers_steps_per_s", {}).items()
    ]
    rows += [
        (f"rlkit EnvPool, {n} workers × {POOL_ENVS_PER_WORKER} envs, free-running", f"pool{n}", r)
        for n, r in result.get("async_steps_per_s", {}).items()
    ]
    rows += [
        (f"independent processes ×{n} (ceiling)", f"independent{n}", r)
        for n, r in result.get("independent_steps_per_s", {}).items()
    ]
    rows += [
        (f"rlkit vector threads ×{n}", f"threads{n}", r)
        for n, r in result.get("vector_threads_steps_per_s", {}).items()
    ]
    return rows


def format_env_table(result: Mapping[str, Any]) -> str:
    """A human-readable table of a :func:`bench_env` record."""
    mach, s = result["machine"], result["settings"]
    lines = [
        f"bench env: {result['env']} on {mach.get('cpu_model')} ({mach.get('cpu_cores')} cores), "
        f"torch {mach.get('torch')}, vizdoom {mach.get('vizdoom')}",
        f"obs {s['observation_shape']}, frame skip {s['frame_skip']}"
        + (f", engine {s['engine_screen']} {s['screen_format']}" if "engine_screen" in s else "")
        + f"; {s['seconds_per_measurement']:g} s per variant in {s['repeats']} rounds",
    ]
    if "vizdoom_gym" in s:
        g = s["vizdoom_gym"]
        lines.append(
            f"vizdoom gym env at its defaults: frame skip {g.get('frames_per_step')}, "
            f"engine {g.get('engine_screen')} {g.get('screen_format')}"
        )
    lines += [
        "",
        f"{'variant':<38}{'steps/s':>12}{'start-up s':>12}",
    ]
    rows = variant_rows(result)
    for label, key, rate in rows:
        startup = result["startup_s"].get(key)
        lines.append(f"{label:<38}{_fmt(rate, ',.0f'):>12}{_fmt(startup, '.2f'):>12}")
    lines += ["", f"{'ratio':<22}{'value':>8}{'target':>9}  result"]
    for name, value in result["ratios"].items():
        t = result["targets"].get(name)
        if t is None:  # reported for comparison, no target
            lines.append(f"{name:<22}{_fmt(value, '.2f'):>8}{'-':>9}")
            continue
        verdict = {True: "pass", False: "MISS", None: "n/a"}[t["pass"]]
        lines.append(
            f"{name:<22}{_fmt(t['value'], '.2f'):>8}{'≥' + format(t['min'], 'g'):>9}  {verdict}"
        )
    load = result.get("load_average_1m") or {}
    if load.get("start") is not None:
        lines.append(
            f"load average (1 min) {load['start']:.1f} at start, {load['end']:.1f} at end "
            f"on {mach.get('cpu_cores')} cores"
        )
        cores = mach.get("cpu_cores") or 1
        if max(load["start"], load["end"] or 0) > 0.5 * cores:
            lines.append(
                "warning: other work was running; compare the rounds in the JSON "
                "(rounds_steps_per_s) before trusting a ratio"
            )
    for key, reason in result["null_reasons"].items():
        lines.append(f"note: {key} is null: {reason}")
    return "\n".join(lines)


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


# -- notebook 01: frames/s per env family ------------------------------------------------------
def env_throughput(
    env_ids: Sequence[str],
    seconds: float = 2.0,
    *,
    repeats: int = 1,
    seed: int = 0,
    env_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, float]]:
    """Steps and emulator frames per second of one env per id, measured interleaved.

    Frames count what the emulator simulates: ``steps × frame_skip`` for ViZDoom and Atari,
    steps for everything else.

    :param env_ids: ids for :func:`rlkit.envs.make_env`, e.g. ``["CartPole-v1", "ALE/Pong-v5",
        "vizdoom:basic"]``.
    :param seconds: timed seconds per env, all rounds together.
    :param repeats: interleaved rounds (median reported).
    :param seed: seed of resets and random actions.
    :param env_kwargs: optional per-id ``make_env`` keyword arguments.
    :return: ``{env_id: {"steps_per_s", "frames_per_step", "frames_per_s", "startup_s"}}``
    """
    from rlkit.envs import make_env

    check_duration(seconds, repeats)
    if isinstance(env_ids, str) or not env_ids:
        raise ValueError(f"env_ids must be a non-empty list of env ids, got {env_ids!r}")
    kw = dict(env_kwargs or {})
    unknown = set(kw) - set(env_ids)
    if unknown:
        raise ValueError(f"env_kwargs names ids not in env_ids: {sorted(unknown)}")

    def build(env_id: str) -> Callable[[], Workload]:
        return lambda: EnvLoop(make_env(env_id, **kw.get(env_id, {})), seed, env_id)

    m = measure_interleaved({e: build(e) for e in env_ids}, seconds, repeats)
    out = {}
    for env_id, rec in m.items():
        fps = rec["meta"]["frames_per_step"]
        out[env_id] = {
            "steps_per_s": rec["rate"],
            "frames_per_step": fps,
            "frames_per_s": rec["rate"] * fps,
            "startup_s": rec["startup_s"],
        }
    return out
