"""Experience storage: uniform and prioritized replay for DQN, rollout storage with GAE for PPO.

Replay layout: observations live in one ring of ``slots_per_env + 1`` slots, shape
``(n_slots, n_envs, *obs_shape)``. A transition added at slot ``t`` reads its next observation
from slot ``t + 1`` of the same env, so every frame is stored once. ``add`` writes ``next_obs``
into slot ``t + 1`` straight away (the next ``add`` overwrites it with the same frame, or with
the reset frame after an episode end), which makes the newest transition sampleable at once and
costs one spare slot per env: when the ring is full, the oldest slot's observation has just been
replaced and that slot is never sampled. When an episode ends at ``t`` (terminated or truncated),
slot ``t + 1`` will hold the reset frame, so the true final frame is copied into a small side
store keyed by the flat index and dropped when slot ``t`` is overwritten. Truncated transitions
need it to bootstrap; terminated ones keep it so that ``next_observations`` is never a frame
from another episode, at the cost of one frame per episode.

Flat indices, as returned in :class:`ReplayBatch` and taken by
:meth:`PrioritizedReplayBuffer.update_priorities`, are ``slot * n_envs + env``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch

from rlkit.sumtree import MinTree, SumTree


class ReplayBatch(NamedTuple):
    """A batch of transitions; tensors are on the buffer's device."""

    observations: torch.Tensor  # (B, *obs_shape), the buffer's obs dtype (uint8 for pixels)
    actions: torch.Tensor  # (B,) int64
    rewards: torch.Tensor  # (B,) float32
    next_observations: torch.Tensor  # (B, *obs_shape)
    terminated: torch.Tensor  # (B,) float32; 1.0 means do not bootstrap
    weights: torch.Tensor  # (B,) float32 importance weights; ones for uniform replay
    indices: np.ndarray  # (B,) int64 flat buffer indices, for update_priorities


class RolloutBatch(NamedTuple):
    """A minibatch of on-policy samples; tensors are on the buffer's device."""

    observations: torch.Tensor
    actions: torch.Tensor
    old_values: torch.Tensor
    old_log_probs: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _check_array(x: Any, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    arr = _to_numpy(x)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}, but this buffer expects {shape}.")
    # A same-kind check rejects e.g. float frames in [0, 1] going into a uint8 store, which
    # would silently truncate them to zeros.
    if np.dtype(dtype) != np.bool_ and not np.can_cast(arr.dtype, dtype, casting="same_kind"):
        raise ValueError(
            f"{name} has dtype {arr.dtype}, which cannot be stored as {np.dtype(dtype)} without "
            f"changing its kind; convert it first."
        )
    return arr.astype(dtype, copy=False)


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


def _check_shape(shape: Any, name: str) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not all(isinstance(d, (int, np.integer)) and d >= 1 for d in shape):
        raise ValueError(f"{name} must be a tuple of positive integers, got {shape!r}.")
    return tuple(int(d) for d in shape)


def _check_unit_interval(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}.")
    return value


class ReplayBuffer:
    """Uniform experience replay over a ring of transitions from ``n_envs`` parallel envs.

    :param capacity: total number of transitions kept; rounded up to a multiple of ``n_envs``.
    :param obs_shape: shape of one observation, e.g. ``(1, 60, 80)``.
    :param n_envs: number of parallel envs; every ``add`` carries one transition per env.
    :param obs_dtype: storage dtype of observations; keep pixels as uint8, the network converts.
    :param device: device the sampled tensors are moved to.
    :param seed: seed of the sampling random generator.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        n_envs: int = 1,
        obs_dtype: Any = np.uint8,
        device: torch.device | str = "cpu",
        seed: int | None = None,
    ) -> None:
        capacity = _check_positive_int(capacity, "capacity")
        self.n_envs = _check_positive_int(n_envs, "n_envs")
        self.obs_shape = _check_shape(obs_shape, "obs_shape")
        self.obs_dtype = np.dtype(obs_dtype)
        self.device = torch.device(device)
        self.slots_per_env = -(-capacity // self.n_envs)
        self.capacity = self.slots_per_env * self.n_envs
        self._n_slots = self.slots_per_env + 1
        shape = (self._n_slots, self.n_envs)
        # np.zeros maps zero pages lazily, so a 0.5 GB buffer costs memory only as it fills.
        self.obs = np.zeros((*shape, *self.obs_shape), dtype=self.obs_dtype)
        self.actions = np.zeros(shape, dtype=np.int64)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=np.float32)
        self.episode_end = np.zeros(shape, dtype=bool)
        self._final_obs: dict[int, np.ndarray] = {}
        self.pos = 0  # slot the next add writes; it already holds the newest next obs
        self._stored = 0  # transitions per env that can be sampled
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self._stored * self.n_envs

    @property
    def full(self) -> bool:
        return self._stored == self.slots_per_env

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage arrays and the final-observation side store."""
        arrays = (self.obs, self.actions, self.rewards, self.terminated, self.episode_end)
        side = sum(a.nbytes for a in self._final_obs.values())
        return int(sum(a.nbytes for a in arrays) + side)

    def add(
        self,
        obs: Any,
        actions: Any,
        rewards: Any,
        next_obs: Any,
        terminated: Any,
        truncated: Any,
    ) -> None:
        """Store one transition per env.

        :param obs: observations the actions were taken in, shape ``(n_envs, *obs_shape)``.
        :param actions: integer actions, shape ``(n_envs,)``.
        :param rewards: rewards, shape ``(n_envs,)``.
        :param next_obs: the observations that followed; where an episode ended this must be
            the true final observation (a vector env's ``final_obs``), not the reset one.
        :param terminated: episode ended by the MDP (death, goal): no bootstrapping.
        :param truncated: episode cut by a time limit: the target still bootstraps from the
            final observation.
        """
        n, oshape = self.n_envs, (self.n_envs, *self.obs_shape)
        obs = _check_array(obs, "obs", oshape, self.obs_dtype)
        next_obs = _check_array(next_obs, "next_obs", oshape, self.obs_dtype)
        actions = _check_array(actions, "actions", (n,), np.int64)
        rewards = _check_array(rewards, "rewards", (n,), np.float32)
        terminated = _check_array(terminated, "terminated", (n,), np.bool_)
        truncated = _check_array(truncated, "truncated", (n,), np.bool_)

        cur, nxt = self.pos, (self.pos + 1) % self._n_slots
        self._forget_finals(cur)
        self._forget_finals(nxt)
        self.obs[cur] = obs
        self.actions[cur] = actions
        self.rewards[cur] = rewards
        self.terminated[cur] = terminated
        ended = terminated | truncated
        self.episode_end[cur] = ended
        for env in np.flatnonzero(ended):
            self._final_obs[cur * n + int(env)] = next_obs[env].copy()
        self.obs[nxt] = next_obs
        self.pos = nxt
        self._stored = min(self._stored + 1, self.slots_per_env)
        self._after_add(cur, nxt)

    def _forget_finals(self, slot: int) -> None:
        if self.episode_end[slot].any():
            for env in np.flatnonzero(self.episode_end[slot]):
                self._final_obs.pop(slot * self.n_envs + int(env), None)
            self.episode_end[slot] = False

    def _after_add(self, written_slot: int, invalidated_slot: int) -> None:
        """Hook for subclasses that track per-slot state (priorities)."""

    def _is_valid(self, flat: np.ndarray) -> np.ndarray:
        # Age 0 is the newest transition (slot pos - 1); the slot at pos only holds its next obs.
        age = (self.pos - 1 - flat // self.n_envs) % self._n_slots
        return age < self._stored

    def _check_batch_size(self, batch_size: int) -> int:
        batch_size = _check_positive_int(batch_size, "batch_size")
        if len(self) == 0:
            raise ValueError("cannot sample from an empty buffer; add transitions first.")
        if batch_size > len(self):
            raise ValueError(
                f"batch_size {batch_size} exceeds the {len(self)} transitions stored; "
                f"add more transitions or ask for at most {len(self)}."
            )
        return batch_size

    def sample(self, batch_size: int) -> ReplayBatch:
        """Draw ``batch_size`` transitions uniformly, with replacement.

        :param batch_size: number of transitions, between 1 and ``len(self)``.
        :return: a :class:`ReplayBatch` with unit weights.
        """
        batch_size = self._check_batch_size(batch_size)
        j = self._rng.integers(0, len(self), size=batch_size)
        slot = (self.pos - 1 - j // self.n_envs) % self._n_slots
        return self._gather(slot * self.n_envs + j % self.n_envs, None)

    def _gather(self, flat: np.ndarray, weights: np.ndarray | None) -> ReplayBatch:
        slot, env = np.divmod(flat, self.n_envs)
        obs = self.obs[slot, env]
        next_obs = self.obs[(slot + 1) % self._n_slots, env]
        for row in np.flatnonzero(self.episode_end[slot, env]):
            next_obs[row] = self._final_obs[int(flat[row])]
        if weights is None:
            weights = np.ones(len(flat), dtype=np.float32)

        def dev(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(self.device, non_blocking=True)

        return ReplayBatch(
            observations=dev(obs),
            actions=dev(self.actions[slot, env]),
            rewards=dev(self.rewards[slot, env]),
            next_observations=dev(next_obs),
            terminated=dev(self.terminated[slot, env]),
            weights=dev(weights),
            indices=flat.astype(np.int64, copy=False),
        )

    def state_dict(self) -> dict[str, Any]:
        """The buffer's contents as numpy arrays and ints (the generator state is not included).

        Arrays may share memory with the buffer: save or copy them before adding more.
        """
        used = self._stored + 1 if self._stored else 0  # slots 0..pos until the ring wraps
        keys = np.array(sorted(self._final_obs), dtype=np.int64)
        finals = [self._final_obs[int(k)] for k in keys]
        final_obs = np.stack(finals) if finals else np.zeros((0, *self.obs_shape), self.obs_dtype)
        return {
            "capacity": self.capacity,
            "n_envs": self.n_envs,
            "obs_shape": np.array(self.obs_shape, dtype=np.int64),
            "pos": self.pos,
            "stored": self._stored,
            "obs": self.obs[:used],
            "actions": self.actions[:used],
            "rewards": self.rewards[:used],
            "terminated": self.terminated[:used],
            "episode_end": self.episode_end[:used],
            "final_keys": keys,
            "final_obs": final_obs,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore contents saved by :meth:`state_dict` into a buffer built with the same shape.

        :param state: the dict returned by :meth:`state_dict`.
        """
        saved = (int(state["capacity"]), int(state["n_envs"]), tuple(state["obs_shape"]))
        if saved != (self.capacity, self.n_envs, self.obs_shape):
            raise ValueError(
                f"state is for (capacity, n_envs, obs_shape) = {saved}, but this buffer has "
                f"{(self.capacity, self.n_envs, self.obs_shape)}."
            )
        stored, pos = int(state["stored"]), int(state["pos"])
        used = stored + 1 if stored else 0
        # Until the ring is full, the write position equals the number of stored transitions.
        if not (0 <= pos < self._n_slots and (pos == stored or stored == self.slots_per_env)):
            raise ValueError(f"state has inconsistent counters (stored={stored}, pos={pos}).")
        if state["obs"].shape != (used, self.n_envs, *self.obs_shape):
            raise ValueError(
                f"state obs has shape {state['obs'].shape}, expected "
                f"{(used, self.n_envs, *self.obs_shape)}."
            )
        self.episode_end[:] = False
        for name in ("obs", "actions", "rewards", "terminated", "episode_end"):
            getattr(self, name)[:used] = state[name]
        self._final_obs = {
            int(k): np.array(o, dtype=self.obs_dtype)
            for k, o in zip(state["final_keys"], state["final_obs"], strict=True)
        }
        self.pos, self._stored = pos, stored


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016, arXiv:1511.05952).

    Transition i is drawn with probability ``P(i) = p_i / sum_k p_k`` where
    ``p_i = (|delta_i| + eps) ** alpha``; new transitions get the largest ``p`` seen so far.

    :param capacity: total number of transitions kept; rounded up to a multiple of ``n_envs``.
    :param obs_shape: shape of one observation.
    :param n_envs: number of parallel envs.
    :param alpha: priority exponent in [0, 1]; 0 is uniform replay.
    :param beta: importance-sampling exponent in [0, 1]; anneal it towards 1 by assigning
        ``buffer.beta``.
    :param eps: added to ``|delta|`` so that no stored transition gets zero probability.
    :param device: device the sampled tensors are moved to.
    :param seed: seed of the sampling random generator.
    :param obs_dtype: storage dtype of observations.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        n_envs: int = 1,
        alpha: float = 0.6,
        beta: float = 0.4,
        eps: float = 1e-6,
        device: torch.device | str = "cpu",
        seed: int | None = None,
        obs_dtype: Any = np.uint8,
    ) -> None:
        super().__init__(capacity, obs_shape, n_envs, obs_dtype, device, seed)
        # alpha is fixed: stored priorities already carry the exponent.
        self._alpha = _check_unit_interval(alpha, "alpha")
        self.beta = beta
        if not (np.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {eps}.")
        self.eps = float(eps)
        n_leaves = self._n_slots * self.n_envs
        self._sum = SumTree(n_leaves)
        self._min = MinTree(n_leaves)
        self._max_priority = 1.0

    @property
    def alpha(self) -> float:
        return self._alpha

    @property
    def beta(self) -> float:
        return self._beta

    @beta.setter
    def beta(self, value: float) -> None:
        self._beta = _check_unit_interval(value, "beta")

    @property
    def nbytes(self) -> int:
        return super().nbytes + self._sum.nbytes + self._min.nbytes

    def _after_add(self, written_slot: int, invalidated_slot: int) -> None:
        n, top = self.n_envs, self._max_priority
        # Zero mass (and +inf for the min) keeps the slot whose obs was just replaced out of
        # every draw. The two slots are neighbours unless the ring wrapped.
        if invalidated_slot == written_slot + 1:
            self._sum.update_range(written_slot * n, np.repeat([top, 0.0], n))
            self._min.update_range(written_slot * n, np.repeat([top, np.inf], n))
        else:
            for slot, low, high in ((written_slot, top, top), (invalidated_slot, 0.0, np.inf)):
                self._sum.update_range(slot * n, np.full(n, low))
                self._min.update_range(slot * n, np.full(n, high))

    def sample(self, batch_size: int, beta: float | None = None) -> ReplayBatch:
        """Draw ``batch_size`` transitions with probability proportional to priority.

        The total mass is cut into ``batch_size`` equal segments and one transition is drawn
        from each (stratified sampling), which lowers the variance of the batch composition.

        :param batch_size: number of transitions, between 1 and ``len(self)``.
        :param beta: importance-sampling exponent for this call; defaults to ``self.beta``.
        :return: a :class:`ReplayBatch`; pass its ``indices`` back to :meth:`update_priorities`.
        """
        batch_size = self._check_batch_size(batch_size)
        beta = self._beta if beta is None else _check_unit_interval(beta, "beta")
        total = self._sum.total
        u = (np.arange(batch_size) + self._rng.random(batch_size)) * (total / batch_size)
        flat = self._sum.find_prefix(np.minimum(u, np.nextafter(total, 0.0)))
        # w_i = (N P(i))^-beta / max_j (N P(j))^-beta with the max taken over the whole buffer,
        # not the batch, so a transition's weight does not depend on what it was drawn with.
        # N and the sum cancel, leaving (p_i / p_min)^-beta.
        weights = (self._sum.get(flat) / self._min.min) ** (-beta)
        return self._gather(flat, weights.astype(np.float32))

    def update_priorities(self, indices: Any, priorities: Any) -> None:
        """Set new priorities from TD errors.

        Indices whose transition was overwritten since it was sampled are ignored, so a stale
        update never revives a slot that is no longer valid.

        :param indices: flat indices from :attr:`ReplayBatch.indices`.
        :param priorities: ``|delta|`` per index (numpy array or tensor); stored as
            ``(|delta| + eps) ** alpha``.
        """
        idx = _to_numpy(indices).astype(np.int64, copy=False).ravel()
        pri = _to_numpy(priorities).astype(np.float64, copy=False).ravel()
        if idx.shape != pri.shape:
            raise ValueError(
                f"got {idx.size} indices but {pri.size} priorities; pass one priority per index."
            )
        if idx.size == 0:
            return
        if not np.all(np.isfinite(pri)):
            raise ValueError("priorities must be finite; got NaN or inf (check the TD errors).")
        if np.any(pri < 0):
            raise ValueError("priorities must be >= 0; pass absolute TD errors |delta|.")
        n_leaves = self._sum.n_leaves
        if idx.min() < 0 or idx.max() >= n_leaves:
            raise ValueError(f"indices must lie in [0, {n_leaves}); use ReplayBatch.indices.")
        # Keep the last priority given for a repeated index.
        _, last = np.unique(idx[::-1], return_index=True)
        keep = idx.size - 1 - last
        idx, pri = idx[keep], pri[keep]
        valid = self._is_valid(idx)
        idx, values = idx[valid], (pri[valid] + self.eps) ** self._alpha
        if idx.size:
            self._sum.update(idx, values)
            self._min.update(idx, values)
            self._max_priority = max(self._max_priority, float(values.max()))

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["alpha"] = np.array(self._alpha)
        state["max_priority"] = np.array(self._max_priority)
        state["priorities"] = self._sum.state_dict()["leaves"]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if float(state["alpha"]) != self._alpha:
            raise ValueError(
                f"state was saved with alpha={float(state['alpha'])}, but this buffer has "
                f"alpha={self._alpha}; stored priorities depend on alpha."
            )
        super().load_state_dict(state)
        leaves = np.asarray(state["priorities"], dtype=np.float64)
        self._sum.load_leaves(leaves)
        self._min.load_leaves(np.where(leaves > 0, leaves, np.inf))
        self._max_priority = float(state["max_priority"])


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
        self.n_steps = _check_positive_int(n_steps, "n_steps")
        self.n_envs = _check_positive_int(n_envs, "n_envs")
        self.obs_shape = _check_shape(obs_shape, "obs_shape")
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
        self.pos = 0
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
        self.obs[t] = _check_array(obs, "obs", (n, *self.obs_shape), self.obs_dtype)
        self.actions[t] = _check_array(
            actions, "actions", (n, *self.action_shape), self.action_dtype
        )
        self.rewards[t] = _check_array(rewards, "rewards", (n,), np.float32)
        self.terminated[t] = _check_array(terminated, "terminated", (n,), np.bool_)
        self.truncated[t] = _check_array(truncated, "truncated", (n,), np.bool_)
        self.values[t] = _check_array(values, "values", (n,), np.float32)
        self.log_probs[t] = _check_array(log_probs, "log_probs", (n,), np.float32)
        self.pos += 1
        self._computed = False

    def compute_returns_and_advantages(
        self,
        last_values: Any,
        last_terminated: Any = None,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
    ) -> None:
        """Fill ``advantages`` (GAE) and ``returns = advantages + values``.

        ``delta_t = r_t + gamma * (1 - done_t) * V_{t+1} - V_t`` and
        ``A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}`` with
        ``done_t = terminated_t or truncated_t``; see :meth:`add` for bootstrapping truncations.

        :param last_values: ``V`` of the observations after the last step, shape ``(n_envs,)``.
        :param last_terminated: optional terminated flags of the last step; the buffer already
            has them from :meth:`add`, so they are only checked for agreement.
        :param gamma: discount factor in [0, 1].
        :param gae_lambda: GAE lambda in [0, 1]; 1 gives Monte Carlo returns, 0 one-step TD.
        """
        if not self.full:
            raise ValueError(
                f"the rollout holds {self.pos} of {self.n_steps} steps; fill it first."
            )
        gamma = _check_unit_interval(gamma, "gamma")
        gae_lambda = _check_unit_interval(gae_lambda, "gae_lambda")
        last_values = _check_array(last_values, "last_values", (self.n_envs,), np.float32)
        if last_terminated is not None:
            flags = _check_array(last_terminated, "last_terminated", (self.n_envs,), np.bool_)
            if not np.array_equal(flags, self.terminated[-1]):
                raise ValueError(
                    "last_terminated disagrees with the terminated flags of the last add(); "
                    "pass the flags returned by the step that produced last_values' obs."
                )
        not_done = 1.0 - (self.terminated | self.truncated).astype(np.float32)
        next_values = np.concatenate([self.values[1:], last_values[None]], axis=0)
        deltas = self.rewards + gamma * not_done * next_values - self.values
        running = np.zeros(self.n_envs, dtype=np.float32)
        for t in range(self.n_steps - 1, -1, -1):
            running = deltas[t] + gamma * gae_lambda * not_done[t] * running
            self.advantages[t] = running
        self.returns[:] = self.advantages + self.values
        self._computed = True

    def get(self, batch_size: int | None = None) -> Iterator[RolloutBatch]:
        """Yield shuffled minibatches covering every stored sample once.

        :param batch_size: samples per minibatch; ``None`` yields one batch of everything. The
            last minibatch is smaller when ``batch_size`` does not divide ``n_steps * n_envs``.
        """
        if not self._computed:
            raise ValueError("call compute_returns_and_advantages() before get().")
        total = self.n_steps * self.n_envs
        batch_size = total if batch_size is None else _check_positive_int(batch_size, "batch_size")

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
