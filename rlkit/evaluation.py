"""Play greedy episodes and summarise the scores.

This module imports PyTorch only to wrap a network, so a player without torch can use it.

``evaluate(policy, "vizdoom:simpler_basic", episodes=50, seed=0)`` works with a trained network,
a :class:`rlkit.records.TrainResult`, or any function from one observation to an action
(the random baseline is ``random_policy(env)``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

Policy = Callable[[np.ndarray], int]
# Doom game variables summarised per episode when the env reports them in ``info``.
_DOOM_KEYS = ("kills", "health", "ammo")


@dataclass
class EvalResult:
    """Scores of a set of evaluation episodes.

    :param scores: undiscounted return of each episode.
    :param lengths: length of each episode in env steps.
    :param extras: per-episode end-of-episode game variables (Doom: kills, health, ammo).
    :param frames: colour frames of the recorded episodes, one list per episode: ``frames[i]``
        holds the reset frame of episode ``i`` then one frame per step, so
        ``len(frames[i]) == lengths[i] + 1``; empty when no frames were recorded.
    """

    scores: list[float]
    lengths: list[int]
    extras: dict[str, list[float]] = field(default_factory=dict)
    frames: list[list[np.ndarray]] = field(default_factory=list, repr=False)

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))

    def stats(self) -> dict[str, float]:
        """Mean, std, min, max of the scores, mean episode length, and means of game variables."""
        s = np.asarray(self.scores, dtype=np.float64)
        out = {
            "episodes": len(s),
            "mean": float(s.mean()),
            "std": float(s.std()),
            "min": float(s.min()),
            "max": float(s.max()),
            "median": float(np.median(s)),
            "mean_length": float(np.mean(self.lengths)),
        }
        for key, values in self.extras.items():
            out[f"mean_{key}"] = float(np.mean(values))
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("frames")
        d["stats"] = self.stats()
        return d


def greedy_policy(model: Any, device: Any = None) -> Policy:
    """Wrap a Q-network (or actor-critic) as obs → argmax action, batch of one, no gradients."""
    import torch

    if device is None:
        device = next(model.parameters()).device

    def act(obs: np.ndarray) -> int:
        with torch.inference_mode():
            x = torch.from_numpy(np.asarray(obs)[None]).to(device)
            out = model(x)
            logits = out[0] if isinstance(out, tuple) else out
            return int(logits.argmax(dim=1).item())

    return act


def random_policy(env: gym.Env | str | int, seed: int | None = None) -> Policy:
    """Uniform random actions — the baseline every trained agent is compared with.

    :param env: an env, an env id, or the number of discrete actions.
    :param seed: seed of the policy's own random generator.
    """
    if isinstance(env, str):
        from rlkit.envs import make_env

        probe = make_env(env)
        n = int(probe.action_space.n)
        probe.close()
    elif isinstance(env, int):
        n = env
    else:
        n = int(env.action_space.n)
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray) -> int:
        return int(rng.integers(n))

    return act


def as_policy(policy: Any) -> Policy:
    # torch is only looked for where it is already loaded: a torch-free player passes functions.
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(policy, torch.nn.Module):
        return greedy_policy(policy)
    if callable(getattr(policy, "get_model", None)):  # a TrainResult, live or portable
        return greedy_policy(policy.get_model())
    if callable(policy):
        return policy
    raise TypeError(
        f"policy must be a torch module, a TrainResult or a function obs -> action, "
        f"got {type(policy).__name__}"
    )


def _player_and_env(policy: Any) -> tuple[Any, tuple[str, dict[str, Any]] | None]:
    """What plays, and the env it was trained on where ``policy`` says: a ``TrainResult``, a
    ``(model, checkpoint)`` pair as :func:`rlkit.checkpoints.load_model` returns, or the path of
    a checkpoint (loaded here, on the CPU)."""
    if isinstance(policy, (str, os.PathLike)):
        from rlkit.checkpoints import load_model

        policy = load_model(policy)
    if isinstance(policy, tuple) and len(policy) == 2 and hasattr(policy[1], "metadata"):
        model, ckpt = policy
        spec = ckpt.metadata.get("env_spec") or {}
        found = (spec["env_id"], dict(spec.get("env_kwargs") or {})) if "env_id" in spec else None
        return model, found
    spec = getattr(policy, "env_spec", None)
    if spec is not None and getattr(spec, "env_id", None):
        return policy, (spec.env_id, dict(spec.env_kwargs or {}))
    return policy, None


def evaluate(
    policy: Any,
    env: str | gym.Env | None = None,
    episodes: int = 10,
    seed: int | None = 0,
    env_kwargs: dict[str, Any] | None = None,
    record_frames: int = 0,
    max_steps: int = 100_000,
) -> EvalResult:
    """Play ``episodes`` episodes with ``policy`` and return their scores.

    :param policy: an ``nn.Module`` (greedy), a ``TrainResult``, what
        :func:`rlkit.checkpoints.load_model` returns, the path of a checkpoint, or a function
        obs → action.
    :param env: an env id for :func:`rlkit.envs.make_env`, or an env to reuse (not closed);
        ``None`` (the default) is the env ``policy`` was trained on, from its env spec.
    :param episodes: number of episodes (≥ 1).
    :param seed: episode ``i`` is reset with ``seed + i`` so the same seed replays the same
        episode starts; ``None`` leaves the env's randomness running.
    :param env_kwargs: arguments for ``make_env`` when ``env`` is an id; with ``env=None``
        they update those of the spec (``render_mode`` for clips, say).
    :param record_frames: keep the colour frames (``render()``) of this many first episodes,
        one list per episode in ``EvalResult.frames``; the env must have
        ``render_mode="rgb_array"``.
    :param max_steps: safety cap on the steps of one episode.
    """
    if not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be an integer ≥ 1, got {episodes!r}")
    policy, trained_on = _player_and_env(policy)
    if env is None:
        if trained_on is None:
            raise TypeError(
                "evaluate needs env= (an env id or an env) for a policy that does not say "
                "which env it was trained on (a TrainResult, a checkpoint or its path does)"
            )
        env, env_kwargs = trained_on[0], {**trained_on[1], **(env_kwargs or {})}
    act = as_policy(policy)
    owned = isinstance(env, str)
    if owned:
        from rlkit.envs import make_env

        kwargs = dict(env_kwargs or {})
        if record_frames:
            kwargs.setdefault("render_mode", "rgb_array")
        env = make_env(env, **kwargs)
    scores: list[float] = []
    lengths: list[int] = []
    extras: dict[str, list[float]] = {}
    frames: list[list[np.ndarray]] = []
    try:
        for i in range(episodes):
            obs, info = env.reset(seed=None if seed is None else seed + i)
            total, n, done = 0.0, 0, False
            # One list per episode, so clips and before/after comparisons keep the boundaries.
            episode_frames: list[np.ndarray] | None = None
            if i < record_frames:
                episode_frames = [env.render()]
                frames.append(episode_frames)
            while not done and n < max_steps:
                obs, reward, terminated, truncated, info = env.step(act(obs))
                total += float(reward)
                n += 1
                done = terminated or truncated
                if episode_frames is not None:
                    episode_frames.append(env.render())
            scores.append(total)
            lengths.append(n)
            for key in _DOOM_KEYS:
                if key in info:
                    extras.setdefault(key, []).append(float(info[key]))
    finally:
        if owned:
            env.close()
    return EvalResult(scores=scores, lengths=lengths, extras=extras, frames=frames)
