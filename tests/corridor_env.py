"""A deterministic env that ignores its seed, for resume tests: a straight run and a resumed one
see the same transitions when the checkpoint falls on an episode boundary.

Registered as ``"corridor_env:Corridor-v0"`` (gymnasium imports this module for the prefix).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ENV_ID = "corridor_env:Corridor-v0"
LENGTH = 8  # steps per episode


class Corridor(gym.Env):
    """Observation ``(t / LENGTH, 1 - t / LENGTH, last action, 1)``; reward 1 when the action
    equals ``t % 2``; every episode ends (terminated) after ``LENGTH`` steps."""

    def __init__(self):
        self.observation_space = spaces.Box(-2.0, 2.0, (4,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.t, self.last = 0, 0

    def _obs(self):
        x = self.t / LENGTH
        return np.array([x, 1.0 - x, self.last, 1.0], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.last = 0, 0
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == self.t % 2)
        self.t, self.last = self.t + 1, int(action)
        return self._obs(), reward, self.t >= LENGTH, False, {}


gym.register("Corridor-v0", entry_point=Corridor)


def dqn_config():
    """The DQN config the resume tests train on this env: 480 steps, checkpoints at episode
    boundaries when cut at 240."""
    from rlkit.presets import preset

    return preset(
        "cartpole",
        env_id=ENV_ID,
        total_steps=480,
        learning_starts=40,
        buffer_size=1_000,
        eval_interval=0,
        log_interval=40,
    )
