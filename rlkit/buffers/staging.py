"""Transitions from free-running envs, lined up for a replay buffer with one column per env.

:class:`rlkit.buffers.ReplayBuffer` stores ``n_envs`` columns in a ring and reads a
transition's next observation from the next slot of the same column, so each ``add`` must bring
every env's next transition. Envs of an :class:`rlkit.envs.vector.EnvPool` answer at their own
pace, a few at a time: :class:`PerEnvStaging` holds each env's transitions, in its order, until
every env has one, then adds a full row (and again while every env has one more). An env that
runs ahead waits here a few steps; nothing is dropped or reordered.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class PerEnvStaging:
    """Per-env queues in front of a replay buffer (any of rlkit's: uniform, prioritized, on the
    device), whose ``n_envs`` columns then each hold one env's consecutive transitions.

    :param buffer: the replay buffer; its ``n_envs`` is the number of envs.
    :param obs_shape: shape of one observation.
    :param obs_dtype: observation dtype.
    :param depth: initial queue length per env; it doubles when an env gets that far ahead.
    """

    def __init__(self, buffer: Any, obs_shape: tuple[int, ...], obs_dtype: Any, depth: int = 4):
        self.buffer = buffer
        self.n_envs = n = int(buffer.n_envs)
        self._obs_shape, self._obs_dtype = tuple(obs_shape), np.dtype(obs_dtype)
        self._alloc(max(1, int(depth)))
        self._count = np.zeros(n, dtype=np.int64)  # staged transitions per env
        self._head = 0  # ring slot of the oldest staged row (shared: rows leave together)

    def _alloc(self, depth: int) -> None:
        shape = (depth, self.n_envs)
        self._obs = np.zeros((*shape, *self._obs_shape), dtype=self._obs_dtype)
        self._next_obs = np.zeros_like(self._obs)
        self._actions = np.zeros(shape, dtype=np.int64)
        self._rewards = np.zeros(shape, dtype=np.float32)
        self._terminated = np.zeros(shape, dtype=bool)
        self._truncated = np.zeros(shape, dtype=bool)

    @property
    def depth(self) -> int:
        return len(self._actions)

    @property
    def pending(self) -> int:
        """Transitions staged and not yet in the buffer."""
        return int(self._count.sum())

    def _grow(self) -> None:
        """Double the queues, the oldest row first (rare: an env got ``depth`` steps ahead)."""
        order = (self._head + np.arange(self.depth)) % self.depth
        old = (self._obs, self._next_obs, self._actions, self._rewards)
        old += (self._terminated, self._truncated)
        self._alloc(2 * self.depth)
        new = (self._obs, self._next_obs, self._actions, self._rewards)
        new += (self._terminated, self._truncated)
        for dst, src in zip(new, old, strict=True):
            dst[: len(order)] = src[order]
        self._head = 0

    def add(
        self,
        env_ids: Any,
        obs: Any,
        actions: Any,
        rewards: Any,
        next_obs: Any,
        terminated: Any,
        truncated: Any,
    ) -> int:
        """Stage one transition for each of ``env_ids`` (distinct), rows as for
        ``ReplayBuffer.add`` (``next_obs`` is the final observation where an episode ended);
        then move every complete row into the buffer.

        :return: transitions added to the buffer by this call.
        """
        ids = np.asarray(env_ids, dtype=np.int64)
        if len(np.unique(ids)) != len(ids) or ((ids < 0) | (ids >= self.n_envs)).any():
            raise ValueError(f"env_ids must be distinct ids in [0, {self.n_envs}), got {ids}")
        if len(ids) and int(self._count[ids].max()) >= self.depth:
            self._grow()
        slots = (self._head + self._count[ids]) % self.depth
        self._obs[slots, ids] = obs
        self._next_obs[slots, ids] = next_obs
        self._actions[slots, ids] = actions
        self._rewards[slots, ids] = rewards
        self._terminated[slots, ids] = terminated
        self._truncated[slots, ids] = truncated
        self._count[ids] += 1
        added = 0
        while self._count.min() > 0:
            h = self._head
            self.buffer.add(
                self._obs[h],
                self._actions[h],
                self._rewards[h],
                self._next_obs[h],
                self._terminated[h],
                self._truncated[h],
            )
            self._head = (h + 1) % self.depth
            self._count -= 1
            added += self.n_envs
        return added
