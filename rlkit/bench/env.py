"""``python -m rlkit bench env``: env steps/s of the raw engine loop, rlkit's env, vizdoom's
gymnasium env and the vector envs, measured interleaved in one run, with the ratios it targets.

Also :func:`env_throughput`, notebook 01's frames/s across env families, on the same timing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rlkit.bench.harness import (
    Workload,
    check_duration,
    load_average,
    measure_interleaved,
    result_header,
)

# Ratio name -> minimum wanted value (rlkit's env vs the raw engine loop and vizdoom's own
# gymnasium env; 2 shared-memory workers vs one env and vs gymnasium's AsyncVectorEnv).
ENV_TARGETS = {
    "rlkit/raw": 0.9,
    "rlkit/vizdoom_gym": 2.0,
    "vector2/rlkit": 1.6,
    "vector2/gym_async2": 1.3,
}
VECTOR_WORKERS = (1, 2, 4)
GYM_ASYNC_WORKERS = (2,)
THREAD_WORKERS = (2,)
IN_WORKERS = (2,)  # rlkit's vector env with every env in a worker (in_parent=False), for contrast
# Random actions are drawn before timing and replayed cyclically; a power of two makes the
# wrap-around a bit mask.
_N_ACTIONS = 4096


# -- workloads --------------------------------------------------------------------------------
def frames_per_step(env: Any, env_id: str) -> int:
    """Emulator frames behind one ``step``: the frame skip for ViZDoom and Atari, else 1."""
    from rlkit.envs import is_atari

    unwrapped = getattr(env, "unwrapped", env)
    skip = getattr(unwrapped, "frame_skip", None)
    if skip is None and is_atari(env_id):
        skip = getattr(unwrapped, "_frameskip", 1)
    # ALE allows a (low, high) range of random skips; count its mean.
    if isinstance(skip, tuple | list):
        return round(sum(skip) / len(skip))
    return int(skip) if skip else 1


class EnvLoop:
    """Steps one gymnasium env with pre-drawn random actions, resetting at episode ends.

    :param env: a gymnasium env with a ``Discrete`` action space.
    :param seed: seed of the first reset and of the action draws.
    :param env_id: used to count frames per step (see :func:`frames_per_step`).
    """

    def __init__(self, env: Any, seed: int, env_id: str = ""):
        self.env = env
        n = int(env.action_space.n)
        self._actions = np.random.default_rng(seed).integers(n, size=_N_ACTIONS).tolist()
        self._i = 0
        self.meta: dict[str, Any] = {"frames_per_step": frames_per_step(env, env_id)}
        game = getattr(env.unwrapped, "game", None)
        if hasattr(game, "get_screen_format"):  # a ViZDoom env: record what the engine renders
            self.meta["engine_screen"] = [game.get_screen_height(), game.get_screen_width()]
            self.meta["screen_format"] = game.get_screen_format().name
        env.reset(seed=seed)

    def run(self, seconds: float) -> tuple[int, float]:
        step, reset, actions = self.env.step, self.env.reset, self._actions
        mask, i, n = _N_ACTIONS - 1, self._i, 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while True:
            _, _, terminated, truncated, _ = step(actions[(i + n) & mask])
            n += 1
            if terminated or truncated:
                reset()
            if (now := time.perf_counter()) >= deadline:
                break
        self._i = (i + n) & mask
        return n, now - t0

    def close(self) -> None:
        self.env.close()


class RawDoomLoop:
    """The bare ``DoomGame`` loop: the floor under any ViZDoom env's cost per step.

    Same scenario cfg, engine screen, GRAY8 format and frame skip as rlkit's env; every step
    fetches the state and touches its screen buffer, as any pixel agent must.

    :param scenario: shipped scenario name.
    :param screen: engine ``(height, width)``.
    :param frame_skip: tics per action.
    :param seed: ViZDoom seed and seed of the button draws.
    """

    def __init__(self, scenario: str, screen: tuple[int, int], frame_skip: int, seed: int):
        import vizdoom as vzd

        from rlkit.envs.doom import scenarios_dir

        game = vzd.DoomGame()
        game.load_config(os.path.join(scenarios_dir(), scenario + ".cfg"))
        game.set_doom_scenario_path(os.path.join(scenarios_dir(), scenario + ".wad"))
        game.set_window_visible(False)
        game.set_mode(vzd.Mode.PLAYER)
        game.set_screen_resolution(getattr(vzd.ScreenResolution, f"RES_{screen[1]}X{screen[0]}"))
        game.set_screen_format(vzd.ScreenFormat.GRAY8)
        game.set_depth_buffer_enabled(False)
        game.set_labels_buffer_enabled(False)
        game.set_automap_buffer_enabled(False)
        game.set_sound_enabled(False)
        game.set_seed(seed)
        game.init()
        self.game, self.frame_skip = game, frame_skip
        n = len(game.get_available_buttons())
        one_hot = np.eye(n).tolist()
        picks = np.random.default_rng(seed).integers(n, size=_N_ACTIONS)
        self._actions = [one_hot[p] for p in picks]
        self._i = 0
        self.meta = {"frames_per_step": frame_skip}

    def run(self, seconds: float) -> tuple[int, float]:
        game, skip, actions = self.game, self.frame_skip, self._actions
        act, finished, new_episode, get_state = (
            game.make_action,
            game.is_episode_finished,
            game.new_episode,
            game.get_state,
        )
        mask, i, n = _N_ACTIONS - 1, self._i, 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while True:
            act(actions[(i + n) & mask], skip)
            n += 1
            if finished():
                new_episode()
            get_state().screen_buffer  # noqa: B018 -- reading the frame is part of the cost
            if (now := time.perf_counter()) >= deadline:
                break
        self._i = (i + n) & mask
        return n, now - t0

    def close(self) -> None:
        self.game.close()


def _raw_peer(scenario, screen, frame_skip, seed, cpu, go, done, stop) -> None:
    """The worker of :class:`RawPairLoop`: one bare ``DoomGame`` step per post of ``go``."""
    from rlkit.envs.vector.protocol import DEFAULT_SPIN_S, spin_acquire

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})  # before the engine starts: it inherits the CPU
    loop = RawDoomLoop(scenario, screen, frame_skip, seed)
    game, actions, mask, k = loop.game, loop._actions, _N_ACTIONS - 1, 0
    done.release()
    try:
        while True:
            if not spin_acquire(go, DEFAULT_SPIN_S):
                go.acquire()
            if stop.value:
                return
            game.make_action(actions[k & mask], frame_skip)
            k += 1
            if game.is_episode_finished():
                game.new_episode()
            game.get_state().screen_buffer  # noqa: B018 -- as in RawDoomLoop
            done.release()
    finally:
        loop.close()


class RawPairLoop:
    """Two bare ``DoomGame`` loops in lock-step: the ceiling of lock-step stepping here.

    This process steps one game, a worker process the other, and every step waits for both,
    polling before it sleeps and with the worker and each engine pinned, as rlkit's vector env
    does — but with none of a vector env's work (no actions array, infos, autoreset, checks).
    Its rate over :class:`RawDoomLoop`'s is what lock-step itself allows on this machine.
    """

    def __init__(self, scenario: str, screen: tuple[int, int], frame_skip: int, seed: int):
        import multiprocessing as mp

        from rlkit.envs.vector.protocol import build_on, default_context, worker_cpus

        ctx = mp.get_context(default_context())
        self.go, self.done, self.stop = ctx.Semaphore(0), ctx.Semaphore(0), ctx.RawValue("b", 0)
        cpus = worker_cpus(2, None)
        args = (scenario, screen, frame_skip, seed + 1, cpus[1], self.go, self.done, self.stop)
        self.proc = ctx.Process(target=_raw_peer, args=args, name="rlkit-raw-pair", daemon=True)
        self.proc.start()
        try:
            self.loop = build_on(cpus[0], lambda: RawDoomLoop(scenario, screen, frame_skip, seed))
            self._wait()
        except BaseException:
            self.proc.kill()
            raise
        self.meta = {"frames_per_step": frame_skip, "num_envs": 2}

    def _wait(self) -> None:
        from rlkit.envs.vector.protocol import DEFAULT_SPIN_S, spin_acquire

        if spin_acquire(self.done, DEFAULT_SPIN_S):
            return
        while not self.done.acquire(timeout=1.0):
            if not self.proc.is_alive():
                raise RuntimeError(f"the raw pair's worker died (exit code {self.proc.exitcode})")

    def run(self, seconds: float) -> tuple[int, float]:
        loop, go, wait = self.loop, self.go, self._wait
        game, skip, actions = loop.game, loop.frame_skip, loop._actions
        mask, i, n = _N_ACTIONS - 1, loop._i, 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while True:
            go.release()
            game.make_action(actions[(i + n) & mask], skip)
            n += 1
            if game.is_episode_finished():
                game.new_episode()
            game.get_state().screen_buffer  # noqa: B018 -- as in RawDoomLoop
            wait()
            if (now := time.perf_counter()) >= deadline:
                break
        loop._i = (i + n) & mask
        return 2 * n, now - t0

    def close(self) -> None:
        self.stop.value = 1
        self.go.release()
        self.proc.join(5.0)
        if self.proc.is_alive():
            self.proc.kill()
        self.loop.close()


class VectorLoop:
    """Steps a vector env with pre-drawn action batches; counts the steps of all workers.

    :param venv: a gymnasium-style vector env (``num_envs``, ``single_action_space``).
    :param seed: seed of the first reset and of the action draws.
    """

    def __init__(self, venv: Any, seed: int):
        self.venv = venv
        self.num_envs = int(venv.num_envs)
        n = int(venv.single_action_space.n)
        rng = np.random.default_rng(seed)
        self._actions = list(rng.integers(n, size=(256, self.num_envs)))
        self._i = 0
        self.meta = {"num_envs": self.num_envs}
        venv.reset(seed=seed)

    def run(self, seconds: float) -> tuple[int, float]:
        step, actions = self.venv.step, self._actions
        mask, i, n = len(actions) - 1, self._i, 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while True:
            step(actions[(i + n) & mask])
            n += 1
            if (now := time.perf_counter()) >= deadline:
                break
        self._i = (i + n) & mask
        return n * self.num_envs, now - t0

    def close(self) -> None:
        self.venv.close()


def vizdoom_gym_id(scenario: str) -> tuple[str | None, str | None]:
    """vizdoom's own gymnasium id for a scenario (Discrete actions), or ``(None, reason)``."""
    # pygame (imported by vizdoom's wrapper) would otherwise print a banner on stdout.
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import gymnasium as gym
        import vizdoom.gymnasium_wrapper  # noqa: F401 -- registers the Vizdoom* ids
    except ImportError as e:
        return None, f"vizdoom's gymnasium wrapper cannot be imported: {e}"
    for spec in gym.registry.values():
        kw = spec.kwargs or {}
        if (
            "vizdoom" in str(spec.entry_point)
            and kw.get("scenario_config_file") == f"{scenario}.cfg"
            and kw.get("max_buttons_pressed") == 1
            and "doom_map" not in kw
        ):
            return spec.id, None
    return None, f"vizdoom registers no gymnasium id for scenario {scenario!r}"


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
    ratios = {
        "rlkit/raw": _ratio(rlkit_rate, rate.get("raw")),
        "rlkit/vizdoom_gym": _ratio(rlkit_rate, rate.get("vizdoom_gym")),
        "vector2/rlkit": _ratio(vector_rates.get("2"), rlkit_rate),
        "vector2/gym_async2": _ratio(vector_rates.get("2"), async_rates.get("2")),
        "threads2/rlkit": _ratio(thread_rates.get("2"), rlkit_rate),
        "raw_pair2/raw": _ratio(rate.get("raw_pair2"), rate.get("raw")),
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
        "ratios": ratios,
        "targets": targets,
        "startup_s": {k: v["startup_s"] for k, v in m.items()},
        # Other work on the machine during the run: on 2 cores a load of 4 halves parallel rates.
        "load_average_1m": {"start": load_start, "end": load_average()},
        "rounds_steps_per_s": {k: v["rounds"] for k, v in m.items()},
        "null_reasons": null_reasons,
    }


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
    rows = [
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
        (f"rlkit vector threads ×{n}", f"threads{n}", r)
        for n, r in result.get("vector_threads_steps_per_s", {}).items()
    ]
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
