"""The workloads the env benchmarks time: loops that step an env, the bare engine, a lock-step
pair of bare engines, and a vector env, each with pre-drawn random actions (see
:class:`rlkit.bench.harness.Workload`)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

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


class PoolLoop:
    """Steps an :class:`rlkit.envs.vector.pool.EnvPool`: each ready batch gets its next actions
    at once, so envs step free-running; counts the steps of every env.

    :param pool: the pool (its ``batch_size`` set), not reset yet.
    :param seed: seed of the first reset and of the action draws.
    """

    def __init__(self, pool: Any, seed: int):
        self.pool = pool
        n = int(pool.single_action_space.n)
        self._actions = list(np.random.default_rng(seed).integers(n, size=(256, pool.batch_size)))
        self._i = 0
        self.meta = {"num_envs": pool.num_envs, "batch_size": pool.batch_size}
        pool.async_reset(seed=seed)
        for _ in range(pool.num_envs // pool.batch_size):  # first observations: start stepping
            ids = pool.recv()[5]
            pool.send(self._actions[0][: len(ids)], ids)

    def run(self, seconds: float) -> tuple[int, float]:
        recv, send, actions = self.pool.recv, self.pool.send, self._actions
        mask, i, n, b = len(actions) - 1, self._i, 0, self.pool.batch_size
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while True:
            ids = recv()[5]
            send(actions[(i + n) & mask], ids)
            n += 1
            if (now := time.perf_counter()) >= deadline:
                break
        self._i = (i + n) & mask
        return n * b, now - t0

    def close(self) -> None:
        self.pool.close()


def _independent_worker(conn: Any, env_id: str, env_kwargs: dict, seed: int, cpu: int | None):
    if cpu is not None:  # before the env: its engine process inherits the CPU
        os.sched_setaffinity(0, {cpu})
    from rlkit.envs import make_env

    loop = EnvLoop(make_env(env_id, **env_kwargs), seed, env_id)
    conn.send("ready")
    while (seconds := conn.recv()) is not None:
        conn.send(loop.run(seconds))
    loop.close()


class IndependentLoops:
    """``n`` processes, each stepping an env of its own with no coordination at all, timed for
    the same seconds: the most this machine can step with one env per process (the ceiling any
    vector env is measured against). Each process and its engine are pinned to one CPU.

    :param n: processes.
    """

    def __init__(self, env_id: str, env_kwargs: dict, n: int, seed: int):
        import multiprocessing as mp

        from rlkit.envs.vector.protocol import default_context, worker_cpus

        ctx = mp.get_context(default_context())
        self._conns, self._procs = [], []
        for i, cpu in enumerate(worker_cpus(n, None if n > 1 else False)):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_independent_worker,
                args=(child, env_id, env_kwargs, seed + i, cpu),
                daemon=True,
            )
            proc.start()
            self._conns.append(parent)
            self._procs.append(proc)
        for conn in self._conns:
            if not conn.poll(120) or conn.recv() != "ready":
                self.close()
                raise RuntimeError(f"an independent {env_id} process did not start")
        self.meta = {"processes": n}

    def run(self, seconds: float) -> tuple[int, float]:
        for conn in self._conns:
            conn.send(seconds)
        results = [conn.recv() for conn in self._conns]  # (steps, seconds) each
        return sum(s for s, _ in results), max(t for _, t in results)

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc in self._procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
