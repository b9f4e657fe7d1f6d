"""The measuring processes of ``rlkit bench infer``: one per inference path, started by spawn
(:class:`WorkerProcess` is the parent's handle on one; :func:`serve` is what runs in it).

Each path runs in a fresh interpreter of its own so that its peak memory is its own: the ONNX
Runtime process never imports torch (this module imports neither at module level), and a torch
path's memory does not land in its figure. The process hides CUDA and sets its thread count
before it imports any runtime, builds one greedy policy, then answers the parent's requests
over a pipe: ``("time", n, warmup, seconds)`` times decisions at batch 1, ``("play", steps,
seed)`` plays on in the env (:class:`Player`), and ``("exit",)`` reports how each decision's
time split between engine, env and network, the process's peak RSS and whether torch was
imported.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from typing import Any

import numpy as np

TORCH_PATHS = ("eager", "torchscript", "compile")
ONNX_PATH = "onnxruntime"


def _error(exc: BaseException) -> dict[str, Any]:
    first = " ".join(str(exc).split())[:300]
    return {"ok": False, "error": f"{type(exc).__name__}: {first}"}


def _torch_policy(job: dict[str, Any], obs: np.ndarray) -> tuple[Any, Any, dict[str, Any]]:
    import warnings

    import torch

    from rlkit.checkpoints import load_model
    from rlkit.evaluation import greedy_policy

    torch.set_num_threads(job["threads"])
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first parallel work; harmless if late
        pass
    model, _ = load_model(job["checkpoint"], device="cpu")
    model.eval()
    example = torch.from_numpy(obs[:1])
    info: dict[str, Any] = {}
    net: Any = model
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice, on every trace
        if job["path"] == "torchscript":
            net = torch.jit.freeze(torch.jit.trace(model, example))
        elif job["path"] == "compile":
            net = torch.compile(model)
            t0 = time.perf_counter()
            net(example)  # the first call compiles: timed apart from the decisions
            info["compile_s"] = time.perf_counter() - t0

    def q_values(o: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = net(torch.from_numpy(o[None]))
            return (out[0] if isinstance(out, tuple) else out)[0].numpy()

    # The same wrapper for every torch path (and the one rlkit's evaluation uses), so the paths
    # differ only in the network call.
    return greedy_policy(net, "cpu"), q_values, info


def _onnx_policy(job: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    from rlkit.player import OnnxPolicy

    policy = OnnxPolicy(job["onnx_path"], threads=job["threads"])
    return policy, lambda o: policy.q_values(o[None])[0], {}


def time_decisions(
    policy: Any, obs: np.ndarray, n: int, warmup: int, min_seconds: float = 0.0
) -> dict[str, Any]:
    """Latency of greedy decisions at batch 1, cycling through ``obs``: at least ``n`` of them,
    and more until ``min_seconds`` have passed.

    :param policy: obs -> action.
    :param obs: observations, ``(N, *obs_shape)``.
    :param n: the fewest timed decisions.
    :param warmup: untimed decisions first (caches, allocator, lazy initialisation).
    :param min_seconds: the shortest timed loop; equal times expose every path to the same
        background load.
    :return: ``{"latencies_ns": int64 array, "elapsed_s": wall time of the timed loop}``
    """
    m = len(obs)
    for i in range(warmup):
        policy(obs[i % m])
    lat = np.empty(max(n, 1024), dtype=np.int64)
    clock = time.perf_counter_ns
    stop_ns = int(min_seconds * 1e9)
    enabled = gc.isenabled()
    gc.disable()  # a collection in the middle of a decision is Python's cost, not the path's
    try:
        start = t = clock()
        i = 0
        while i < n or t - start < stop_ns:
            if i == len(lat):
                lat = np.concatenate([lat, np.empty_like(lat)])
            o = obs[i % m]
            t = clock()
            policy(o)
            lat[i] = clock() - t
            t += lat[i]
            i += 1
        elapsed = clock() - start
    finally:
        if enabled:
            gc.enable()
    return {"latencies_ns": lat[:i], "elapsed_s": elapsed / 1e9}


class _TimedGame:
    """Stands in for the env's ``DoomGame``: times the engine calls, forwards everything."""

    def __init__(self, game: Any):
        self._game = game
        self.seconds = 0.0

    def make_action(self, *args: Any) -> Any:
        t = time.perf_counter()
        try:
            return self._game.make_action(*args)
        finally:
            self.seconds += time.perf_counter() - t

    def get_state(self) -> Any:
        t = time.perf_counter()
        try:
            return self._game.get_state()
        finally:
            self.seconds += time.perf_counter() - t

    def __getattr__(self, name: str) -> Any:
        return getattr(self._game, name)


def _children_peak_rss_mb() -> float | None:
    """Peak RSS of this process's child processes (the ViZDoom engine), where Linux tells."""
    total, found = 0.0, False
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                for pid in f.read().split():
                    with open(f"/proc/{pid}/status") as s:
                        for line in s:
                            if line.startswith("VmHWM:"):
                                total += int(line.split()[1]) / 1024
                                found = True
    except OSError:
        return None
    return total if found else None


class Player:
    """Plays the env with a policy, a slice at a time, and splits the time of each decision.

    The env stays open between slices, so slices taken in turn with other processes add up to
    one game, and all of them are exposed alike to other work on the machine.

    :param policy: obs -> action.
    :param env_spec: an :class:`rlkit.envs.EnvSpec` as a dict.
    :param seed: seeds the first episode; episode ``k`` gets ``seed + k``.
    """

    def __init__(self, policy: Any, env_spec: dict[str, Any], seed: int):
        from rlkit.envs import make_env

        self.policy, self.seed = policy, seed
        self.env = make_env(env_spec["env_id"], **env_spec["env_kwargs"])
        game = getattr(self.env.unwrapped, "game", None)
        self.timed = None
        if game is not None:  # ViZDoom: separate the engine from the env around it
            self.timed = self.env.unwrapped.game = _TimedGame(game)
        self.obs, _ = self.env.reset(seed=seed)
        self.steps = self.episodes = 0
        self.sums = dict.fromkeys(("network", "env", "reset", "engine_reset", "total"), 0.0)
        if self.timed is not None:
            self.timed.seconds = 0.0  # the first reset is start-up, not play

    def play(self, steps: int) -> None:
        """Play ``steps`` more decisions."""
        env, policy, timed, s = self.env, self.policy, self.timed, self.sums
        clock, obs = time.perf_counter, self.obs
        start = clock()
        for _ in range(steps):
            t0 = clock()
            action = policy(obs)
            t1 = clock()
            obs, _, terminated, truncated, _ = env.step(action)
            t2 = clock()
            s["network"] += t1 - t0
            s["env"] += t2 - t1
            if terminated or truncated:
                self.episodes += 1
                e0 = timed.seconds if timed is not None else 0.0
                obs, _ = env.reset(seed=self.seed + self.episodes)
                s["reset"] += clock() - t2
                s["engine_reset"] += (timed.seconds - e0) if timed is not None else 0.0
        s["total"] += clock() - start
        self.steps += steps
        self.obs = obs

    def summary(self) -> dict[str, Any]:
        """Per decision, in ms: ``engine_ms`` (the engine simulating ``frame_skip`` tics and
        rendering the last), ``env_ms`` (rlkit's env around it: frame subsampling, copy, info),
        ``network_ms`` (the policy: array in, action out), ``reset_ms`` (new episodes, spread
        over the decisions) and ``other_ms`` (the loop); then ``decisions_per_s``, ``steps``,
        ``episodes`` and ``engine_peak_rss_mb``."""
        s, n = self.sums, max(self.steps, 1)
        engine = (self.timed.seconds - s["engine_reset"]) if self.timed is not None else 0.0
        ms = 1e3 / n
        return {
            "engine_ms": engine * ms,
            "env_ms": (s["env"] - engine) * ms,
            "network_ms": s["network"] * ms,
            "reset_ms": s["reset"] * ms,
            "other_ms": (s["total"] - s["network"] - s["env"] - s["reset"]) * ms,
            "decisions_per_s": self.steps / s["total"] if s["total"] else None,
            "steps": self.steps,
            "episodes": self.episodes,
            "engine_peak_rss_mb": _children_peak_rss_mb(),
        }

    def close(self) -> None:
        self.env.close()


def ru_maxrss_mb() -> float | None:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in MiB; ``None`` where there is none (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes there, KiB here


def peak_rss_mb() -> float | None:
    """This process's own peak resident memory, in MiB; ``None`` where it cannot be read.

    Linux's ``VmHWM`` where there is one: Linux carries ``ru_maxrss`` across ``exec``, so a
    process spawned (fork + exec) by a parent holding torch reports at least the parent's size,
    whatever it loads itself. ``ru_maxrss`` elsewhere.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return ru_maxrss_mb()


def serve(conn: Any, job: dict[str, Any]) -> None:
    """The spawned process's main: build the path's policy, then answer requests until exit.

    :param conn: this end of a ``multiprocessing.Pipe``.
    :param job: ``path``, ``threads``, ``checkpoint``, ``onnx_path``, ``observations`` and
        ``env_spec`` (a dict).
    """
    # Before any runtime is imported: they read these once, when they load.
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ["OMP_NUM_THREADS"] = str(job["threads"])
    os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = "1"  # compile in this process, no pool
    torch_at_start = "torch" in sys.modules
    obs = job["observations"]
    try:
        t0 = time.perf_counter()
        if job["path"] == ONNX_PATH:
            policy, q_values, info = _onnx_policy(job)
        elif job["path"] in TORCH_PATHS:
            policy, q_values, info = _torch_policy(job, obs)
        else:
            raise ValueError(f"unknown inference path {job['path']!r}")
        setup_s = time.perf_counter() - t0
        actions = np.array([policy(o) for o in obs], dtype=np.int64)
        q = np.stack([np.asarray(q_values(o), dtype=np.float32) for o in obs])
    except Exception as exc:
        conn.send(_error(exc))
        return
    conn.send({"ok": True, "setup_s": setup_s, "actions": actions, "q_values": q, **info})
    player: Player | None = None
    try:
        while True:
            try:
                msg = conn.recv()
            except EOFError:  # the parent went away
                return
            try:
                if msg[0] == "time":
                    reply = {"ok": True, **time_decisions(policy, obs, *msg[1:])}
                elif msg[0] == "play":
                    if player is None:
                        player = Player(policy, job["env_spec"], msg[2])
                    player.play(msg[1])
                    reply = {"ok": True, "steps": player.steps}
                elif msg[0] == "exit":
                    conn.send(_final(player, torch_at_start))
                    return
                else:
                    reply = {"ok": False, "error": f"unknown request {msg[0]!r}"}
            except Exception as exc:
                reply = _error(exc)
            conn.send(reply)
    finally:
        if player is not None:
            player.close()


def _final(player: Player | None, torch_at_start: bool) -> dict[str, Any]:
    """The last answer: the time split, and this process's memory while the env is open."""
    torch = sys.modules.get("torch")
    return {
        "ok": True,
        "time_split": None if player is None else player.summary(),
        "peak_rss_mb": peak_rss_mb(),
        "ru_maxrss_mb": ru_maxrss_mb(),
        "imported_torch": torch is not None,
        "torch_before_start": torch_at_start,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cuda_available": None if torch is None else torch.cuda.is_available(),
    }


class WorkerProcess:
    """The parent's side: one spawned measuring process (running :func:`serve`) and the
    parent's end of its pipe.

    :param ctx: a ``multiprocessing`` spawn context.
    :param job: what :func:`serve` takes.
    :param timeout_s: the longest one answer may take.
    """

    def __init__(self, ctx: Any, job: dict[str, Any], timeout_s: float):
        self.path, self.timeout_s = job["path"], timeout_s
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, job), name=f"rlkit-infer-{self.path}")
        self.proc.start()
        child.close()

    def reply(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while not self.conn.poll(0.2):
            if not self.proc.is_alive():
                raise RuntimeError(f"the {self.path} process exited ({self.proc.exitcode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {self.path} process gave no answer in {self.timeout_s} s")
        msg = self.conn.recv()
        if not msg.get("ok"):
            raise RuntimeError(msg.get("error", "failed"))
        return msg

    def ask(self, *request: Any) -> dict[str, Any]:
        self.conn.send(request)
        return self.reply()

    def close(self) -> None:
        self.conn.close()  # a process still waiting for a request sees the pipe end, and exits
        self.proc.join(5)
        if self.proc.is_alive():  # it did not exit when asked: it is ours to stop
            self.proc.terminate()
            self.proc.join(5)
