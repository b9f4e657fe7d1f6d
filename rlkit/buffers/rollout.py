"""On-policy rollout storage with GAE advantages, for PPO."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch

from rlkit.buffers.validation import (
    check_array,
    check_positive_int,
    check_shape,
    check_unit_interval,
)


class RolloutBatch(NamedTuple):
    """A minibatch of on-policy samples; tensors are on the buffer's device."""

    observations: torch.Tensor
    actions: torch.Tensor
    old_values: torch.Tensor
    old_log_probs: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor


class RolloutBuffer:
    """Fixed-length on-policy storage with GAE (Schulman et al. 2016, arXiv:1506.02438).

    :param n_steps: steps per env in one rollout.
    :param n_envs: number of parallel envs.
    :param obs_shape: shape of one observation.
    :param obs_dtype: storage dtype of observations (uint8 for pixels, float32 for vectors).
    :param device: device the minibatch tensors are moved to.
    :param action_shape: shape of one action; ``()`` for discrete actions.
    :param action_dtype: storage dtype of actions; int64 for discrete, float32 for continuous.
    :param seed: seed of the minibatch shuffling.
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_shape: tuple[int, ...],
        obs_dtype: Any = np.uint8,
        device: torch.device | str = "cpu",
        *,
        action_shape: tuple[int, ...] = (),
        action_dtype: Any = np.int64,
        seed: int | None = None,
    ) -> None:
        self.n_steps = check_positive_int(n_steps, "n_steps")
        self.n_envs = check_positive_int(n_envs, "n_envs")
        self.obs_shape = check_shape(obs_shape, "obs_shape")
        self.action_shape = tuple(int(d) for d in action_shape)
        self.obs_dtype, self.action_dtype = np.dtype(obs_dtype), np.dtype(action_dtype)
        self.device = torch.device(device)
        shape = (self.n_steps, self.n_envs)
        self.obs = np.zeros((*shape, *self.obs_shape), dtype=self.obs_dtype)
        self.actions = np.zeros((*shape, *self.action_shape), dtype=self.action_dtype)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.values = np.zeros(shape, dtype=np.float32)
        self.log_probs = np.zeros(shape, dtype=np.float32)
        self.advantages = np.zeros(shape, dtype=np.float32)
        self.returns = np.zeros(shape, dtype=np.float32)
        self._rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Start a new rollout; old contents are overwritten by the next adds."""
        self.pos = 0  # steps every column holds
        self._computed = False

    @property
    def full(self) -> bool:
        return self.pos == self.n_steps

    def __len__(self) -> int:
        return self.pos * self.n_envs

    @property
    def nbytes(self) -> int:
        names = ("obs", "actions", "rewards", "terminated", "truncated", "values")
        names += ("log_probs", "advantages", "returns")
        return int(sum(getattr(self, n).nbytes for n in names))

    def add(
        self,
        obs: Any,
        actions: Any,
        rewards: Any,
        terminated: Any,
        truncated: Any,
        values: Any,
        log_probs: Any,
    ) -> None:
        """Store one step of every env.

        :param obs: observations the actions were taken in, shape ``(n_envs, *obs_shape)``.
        :param actions: actions taken, shape ``(n_envs, *action_shape)``.
        :param rewards: rewards, shape ``(n_envs,)``. On a truncated step, add
            ``gamma * V(final_obs)`` to the reward yourself: the buffer cuts the trace at every
            episode end, and the next stored value belongs to the reset observation.
        :param terminated: episode ended by the MDP at this step.
        :param truncated: episode cut by a time limit at this step.
        :param values: ``V(obs)`` from the critic, shape ``(n_envs,)``.
        :param log_probs: log-probabilities of ``actions`` under the acting policy.
        """
        if self.full:
            raise ValueError(f"the rollout already holds {self.n_steps} steps; call reset().")
        n, t = self.n_envs, self.pos
        self.obs[t] = check_array(obs, "obs", (n, *self.obs_shape), self.obs_dtype)
        self.actions[t] = check_array(
            actions, "actions", (n, *self.action_shape), self.action_dtype
        )
        self.rewards[t] = check_array(rewards, "rewards", (n,), np.float32)
        self.terminated[t] = check_array(terminated, "terminated", (n,), np.bool_)
        self.truncated[t] = check_array(truncated, "truncated", (n,), np.bool_)
        self.values[t] = check_array(values, "values", (n,), np.float32)
        self.log_probs[t] = check_array(log_probs, "log_probs", (n,), np.float32)
        self.pos += 1
        self._computed = False

    def compute_returns_and_advantages(
        self,
        last_values: Any,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
    ) -> None:
        """Fill ``advantages`` (GAE) and ``returns = advantages + values``.

        ``delta_t = r_t + gamma * (1 - done_t) * V_{t+1} - V_t`` and
        ``A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}`` with
        ``done_t = terminated_t or truncated_t``, the flags given to :meth:`add` (the buffer
        holds every step's flags, the last one's included); see :meth:`add` for bootstrapping
        truncations.

        :param last_values: ``V`` of the observations after the last step, shape ``(n_envs,)``.
        :param gamma: discount factor in [0, 1].
        :param gae_lambda: GAE lambda in [0, 1]; 1 gives Monte Carlo returns, 0 one-step TD.
        """
        if not self.full:
            raise ValueError(
                f"the rollout holds {self.pos} of {self.n_steps} steps; fill it first."
            )
        gamma = check_unit_interval(gamma, "gamma")
        gae_lambda = check_unit_interval(gae_lambda, "gae_lambda")
        last_values = check_array(last_values, "last_values", (self.n_envs,), np.float32)
        not_done = 1.0 - (self.terminated | self.truncated).astype(np.float32)
        next_values = np.concatenate([self.values[1:], last_values[None]], axis=0)
        deltas = self.rewards + gamma * not_done * next_values - self.values
        running = np.zeros(self.n_envs, dtype=np.float32)
        for t in range(self.n_steps - 1, -1, -1):
            running = deltas[t] + gamma * gae_lambda * not_done[t] * running
            self.advantages[t] = running
        self.returns[:] = self.advantages + self.values
        self._computed = True

    def sampler_state(self) -> dict[str, Any]:
        """The state of the minibatch-shuffling generator (JSON-able), for resuming the stream."""
        return self._rng.bit_generator.state

    def set_sampler_state(self, state: dict[str, Any]) -> None:
        """Continue the shuffling stream from :meth:`sampler_state`'s output."""
        self._rng.bit_generator.state = state

    def get(self, batch_size: int | None = None) -> Iterator[RolloutBatch]:
        """Yield shuffled minibatches covering every stored sample once.

        :param batch_size: samples per minibatch; ``None`` yields one batch of everything. The
            last minibatch is smaller when ``batch_size`` does not divide ``n_steps * n_envs``.
        """
        if not self._computed:
            raise ValueError("call compute_returns_and_advantages() before get().")
        total = self.n_steps * self.n_envs
        batch_size = total if batch_size is None else check_positive_int(batch_size, "batch_size")

        # One transfer of the whole rollout, then indexing on the device.
        def dev(a: np.ndarray) -> torch.Tensor:
            flat = a.reshape(total, *a.shape[2:])
            return torch.from_numpy(np.ascontiguousarray(flat)).to(self.device, non_blocking=True)

        arrays = [self.obs, self.actions, self.values, self.log_probs]
        tensors = [dev(a) for a in (*arrays, self.advantages, self.returns)]
        perm = torch.from_numpy(self._rng.permutation(total)).to(self.device)
        for start in range(0, total, batch_size):
            idx = perm[start : start + batch_size]
            yield RolloutBatch(*(t[idx] for t in tensors))
