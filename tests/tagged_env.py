"""A tiny env whose observation says which env it is and where it is, for pool training tests.

Registered as ``"tagged_env:Tagged-v0"``: gymnasium imports this module when it meets the
``module:`` prefix, so a pool's worker processes find the id too. It imports nothing heavy,
because every worker imports it.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ENV_ID = "tagged_env:Tagged-v0"


def length_of(tag: int) -> int:
    """Episode length of the env tagged ``tag`` (differs between neighbouring envs)."""
    return 3 + tag % 4


def reward_of(tag: int) -> float:
    """Reward per step of the env tagged ``tag`` (differs between every env)."""
    return 1.0 + tag


class TaggedEnv(gym.Env):
    """Observation ``(tag, episode, t, a)``: ``tag`` is the seed of the env's first reset (a
    vector env gives env ``i`` seed ``seed + i``, so it names the env), ``t`` the step within
    the episode, ``a`` 1 + the action that led to it (0 after a reset: a test sees which action
    each stored transition took). Episodes of ``length_of(tag)`` steps end terminated on even
    episodes and truncated on odd ones; every step pays ``reward_of(tag)``. Envs with an odd
    tag take a millisecond longer per step, so a pool's envs answer out of order."""

    def __init__(self):
        self.observation_space = spaces.Box(-1e7, 1e7, (4,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.tag, self.episode, self.t = None, -1, 0
        self.came_by = 0.0

    def _obs(self):
        return np.array([self.tag, self.episode, self.t, self.came_by], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if self.tag is None or seed is not None:
            self.tag = 0 if seed is None else int(seed)
        self.episode, self.t, self.came_by = self.episode + 1, 0, 0.0
        return self._obs(), {}

    def step(self, action):
        if self.tag % 2:
            time.sleep(0.001)
        self.t, self.came_by = self.t + 1, 1.0 + int(action)
        ended = self.t >= length_of(self.tag)
        terminated = ended and self.episode % 2 == 0
        return self._obs(), reward_of(self.tag), terminated, ended and not terminated, {}


gym.register("Tagged-v0", entry_point=TaggedEnv)
