"""One factory for every environment: ``make_env("vizdoom:basic")``, ``make_env("CartPole-v1")``.

ViZDoom scenarios go through :class:`rlkit.envs.doom.ViZDoomEnv` (fast, uint8 ``(C, H, W)`` frames).
Any other id is a gymnasium id; Atari ids (``ALE/…`` from ale-py, which ships its ROMs) get the
standard DQN preprocessing (Mnih et al. 2015): 84×84 grayscale, frame skip 4, 4 stacked frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np

VIZDOOM_PREFIX = "vizdoom:"
EXAMPLE_GYM_IDS = ("CartPole-v1", "Acrobot-v1", "LunarLander-v3", "ALE/Pong-v5")
# Readable action names for classic-control envs (from gymnasium's documentation).
KNOWN_ACTION_NAMES = {
    "CartPole": ("PUSH_LEFT", "PUSH_RIGHT"),
    "Acrobot": ("TORQUE_-1", "TORQUE_0", "TORQUE_+1"),
    "LunarLander": ("NOOP", "FIRE_LEFT", "FIRE_MAIN", "FIRE_RIGHT"),
    "MountainCar": ("PUSH_LEFT", "NOOP", "PUSH_RIGHT"),
}


@dataclass(frozen=True)
class EnvSpec:
    """What a checkpoint needs to know about the env it was trained on.

    :param env_id: the id given to :func:`make_env`.
    :param observation_shape: shape of one observation.
    :param observation_dtype: numpy dtype name of observations.
    :param action_names: one name per discrete action.
    :param env_kwargs: keyword arguments given to :func:`make_env` (JSON-able).
    """

    env_id: str
    observation_shape: tuple[int, ...]
    observation_dtype: str
    action_names: tuple[str, ...]
    env_kwargs: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["observation_shape"] = list(self.observation_shape)
        d["action_names"] = list(self.action_names)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnvSpec:
        return cls(
            env_id=d["env_id"],
            observation_shape=tuple(d["observation_shape"]),
            observation_dtype=d["observation_dtype"],
            action_names=tuple(d["action_names"]),
            env_kwargs=dict(d.get("env_kwargs", {})),
        )


def is_vizdoom(env_id: str) -> bool:
    return env_id.startswith(VIZDOOM_PREFIX)


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id


def _register_atari() -> None:
    import ale_py

    gym.register_envs(ale_py)


def make_env(env_id: str, seed: int | None = None, **kwargs) -> gym.Env:
    """Create one environment.

    :param env_id: ``"vizdoom:<scenario>"`` (see :func:`rlkit.envs.doom.available_scenarios`) or a
        registered gymnasium id such as ``"CartPole-v1"`` or ``"ALE/Pong-v5"``.
    :param seed: if given, seeds the action space (the env itself is seeded by ``reset(seed=…)``).
    :param kwargs: for ViZDoom, :class:`rlkit.envs.doom.ViZDoomEnv` arguments (``resolution``,
        ``frame_skip``, ``frame_stack``, ``actions``, ``render_mode``…); for Atari, ``frame_skip``
        and ``frame_stack`` of the standard preprocessing; otherwise passed to ``gymnasium.make``.
    :return: a ``gymnasium.Env``.
    """
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"env_id must be a non-empty string, got {env_id!r}")
    if is_vizdoom(env_id):
        from rlkit.env_options import check_doom_options
        from rlkit.envs.doom import ViZDoomEnv

        check_doom_options(kwargs)  # an unknown name too is a ValueError, not Python's TypeError
        env: gym.Env = ViZDoomEnv(env_id[len(VIZDOOM_PREFIX) :], **kwargs)
    elif is_atari(env_id):
        _register_atari()
        frame_skip = kwargs.pop("frame_skip", 4)
        frame_stack = kwargs.pop("frame_stack", 4)
        # ALE skips frames and converts to grayscale itself; we only shrink and stack.
        base = _gym_make(env_id, frameskip=frame_skip, obs_type="grayscale", **kwargs)
        env = gym.wrappers.FrameStackObservation(_Shrink(base, (84, 84)), frame_stack)
    else:
        env = _gym_make(env_id, **kwargs)
    if seed is not None:
        env.action_space.seed(seed)
    return env


class _Shrink(gym.ObservationWrapper):
    """Nearest-pixel resize of a grayscale (H, W) frame with precomputed indices."""

    def __init__(self, env: gym.Env, size: tuple[int, int]):
        super().__init__(env)
        from rlkit.envs.doom import subsample_indices

        self._index = subsample_indices(env.observation_space.shape[:2], size)
        self.observation_space = gym.spaces.Box(0, 255, shape=size, dtype=np.uint8)

    def observation(self, observation):
        return observation[self._index]


def _gym_make(env_id: str, **kwargs) -> gym.Env:
    try:
        return gym.make(env_id, **kwargs)
    except (gym.error.NameNotFound, gym.error.NamespaceNotFound, gym.error.VersionNotFound) as e:
        from rlkit.envs.doom import available_scenarios

        doom = ", ".join(VIZDOOM_PREFIX + s for s in available_scenarios())
        raise ValueError(
            f"unknown environment id {env_id!r} ({e}); valid: a registered gymnasium id such as "
            f"{', '.join(EXAMPLE_GYM_IDS)}, or one of {doom}"
        ) from None
    except TypeError as e:
        if "unexpected keyword argument" not in str(e):
            raise
        # gymnasium passes env_kwargs on to the env's constructor, which names the stranger.
        raise ValueError(
            f"{env_id} does not take the env_kwargs it was given ({e}); valid: the arguments "
            f"of its constructor and of gymnasium.make"
        ) from None


def env_spec(env: gym.Env, env_id: str, env_kwargs: dict[str, Any] | None = None) -> EnvSpec:
    """Describe an env (single or vector) for checkpoints and reports."""
    obs_space = getattr(env, "single_observation_space", env.observation_space)
    act_space = getattr(env, "single_action_space", env.action_space)
    if not isinstance(act_space, gym.spaces.Discrete):
        raise ValueError(f"rlkit's agents need a Discrete action space, {env_id} has {act_space}")
    names = None
    if hasattr(env, "get_attr"):  # a vector env: ask the first sub-env
        try:
            names = env.get_attr("action_names")[0]
        except (AttributeError, RuntimeError):
            names = None
    elif hasattr(env, "unwrapped"):
        names = getattr(env.unwrapped, "action_names", None)
    if names is None:
        names = KNOWN_ACTION_NAMES.get(env_id.split("-v")[0])
    if names is None or len(names) != int(act_space.n):
        names = _action_names(env, int(act_space.n))
    return EnvSpec(
        env_id=env_id,
        observation_shape=tuple(int(s) for s in obs_space.shape),
        observation_dtype=np.dtype(obs_space.dtype).name,
        action_names=tuple(names),
        env_kwargs=dict(env_kwargs or {}),
    )


def _action_names(env: gym.Env, n: int) -> list[str]:
    unwrapped = getattr(env, "unwrapped", env)
    meanings = getattr(unwrapped, "get_action_meanings", None)
    if callable(meanings):
        return list(meanings())
    return [f"action_{i}" for i in range(n)]
