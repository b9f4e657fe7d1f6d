"""Uniform experience replay over a ring shared by ``n_envs`` parallel envs.

Layout: observations live in one ring of ``slots_per_env + 1`` slots, shape
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

With ``pin_memory`` (for a GPU) batches are gathered straight into page-locked tensors
(``np.take(..., out=)``), so each copy to the device is a DMA queued behind the running kernels
(``non_blocking``); torch's pinned-memory allocator does not hand a block out again until its
copy has finished, so a batch never changes under a copy still in flight.
:class:`rlkit.buffers.device.DeviceReplayBuffer` keeps the whole ring on the GPU instead.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from rlkit.buffers.validation import check_array, check_positive_int, check_shape


class ReplayBatch(NamedTuple):
    """A batch of transitions; tensors are on the buffer's device."""

    observations: torch.Tensor  # (B, *obs_shape), the buffer's obs dtype (uint8 for pixels)
    actions: torch.Tensor  # (B,) int64
    rewards: torch.Tensor  # (B,) float32
    next_observations: torch.Tensor  # (B, *obs_shape)
    terminated: torch.Tensor  # (B,) float32; 1.0 means do not bootstrap
    weights: torch.Tensor  # (B,) float32 importance weights; ones for uniform replay
    indices: np.ndarray  # (B,) int64 flat buffer indices, for update_priorities


class ReplayBuffer:
    """Uniform experience replay over a ring of transitions from ``n_envs`` parallel envs.

    :param capacity: total number of transitions kept; rounded up to a multiple of ``n_envs``.
    :param obs_shape: shape of one observation, e.g. ``(1, 60, 80)``.
    :param n_envs: number of parallel envs; every ``add`` carries one transition per env.
    :param obs_dtype: storage dtype of observations; keep pixels as uint8, the network converts.
    :param device: device the sampled tensors are moved to.
    :param seed: seed of the sampling random generator.
    :param pin_memory: gather batches in page-locked memory and copy them without waiting
        (for a CUDA ``device``; torch refuses pinned memory on a machine without one).
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        n_envs: int = 1,
        obs_dtype: Any = np.uint8,
        device: torch.device | str = "cpu",
        seed: int | None = None,
        pin_memory: bool = False,
    ) -> None:
        capacity = check_positive_int(capacity, "capacity")
        self.n_envs = check_positive_int(n_envs, "n_envs")
        self.obs_shape = check_shape(obs_shape, "obs_shape")
        self.obs_dtype = np.dtype(obs_dtype)
        self.device = torch.device(device)
        self.pin_memory = bool(pin_memory)
        self.obs_torch_dtype = torch.from_numpy(np.zeros(0, self.obs_dtype)).dtype
        self.slots_per_env = -(-capacity // self.n_envs)
        self.capacity = self.slots_per_env * self.n_envs
        self._n_slots = self.slots_per_env + 1
        shape = (self._n_slots, self.n_envs)
        self.episode_end = np.zeros(shape, dtype=bool)  # bookkeeping stays on the host
        self._final_obs: dict[int, Any] = {}  # flat index -> the final frame (or where it is)
        self._allocate(shape)
        self.pos = 0  # slot the next add writes; it already holds the newest next obs
        self._stored = 0  # transitions per env that can be sampled
        self._rng = np.random.default_rng(seed)

    def _allocate(self, shape: tuple[int, int]) -> None:
        """Create the storage arrays, ``(n_slots, n_envs)`` leading dims (a subclass's hook)."""
        # np.zeros maps zero pages lazily, so a 0.5 GB buffer costs memory only as it fills.
        self.obs = np.zeros((*shape, *self.obs_shape), dtype=self.obs_dtype)
        self.actions = np.zeros(shape, dtype=np.int64)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=np.float32)

    def host_tensor(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """An empty host tensor for data bound for the device (pinned with ``pin_memory``)."""
        return torch.empty(shape, dtype=dtype, pin_memory=self.pin_memory)

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
        obs = check_array(obs, "obs", oshape, self.obs_dtype)
        next_obs = check_array(next_obs, "next_obs", oshape, self.obs_dtype)
        actions = check_array(actions, "actions", (n,), np.int64)
        rewards = check_array(rewards, "rewards", (n,), np.float32)
        terminated = check_array(terminated, "terminated", (n,), np.bool_)
        truncated = check_array(truncated, "truncated", (n,), np.bool_)

        cur, nxt = self.pos, (self.pos + 1) % self._n_slots
        self._forget_finals(cur)
        self._forget_finals(nxt)
        ended = terminated | truncated
        self.episode_end[cur] = ended
        self._store(cur, nxt, obs, actions, rewards, next_obs, terminated, ended)
        self.pos = nxt
        self._stored = min(self._stored + 1, self.slots_per_env)
        self._after_add(cur, nxt)

    def _store(self, cur, nxt, obs, actions, rewards, next_obs, terminated, ended) -> None:
        """Write one checked transition per env into slot ``cur`` (next obs into ``nxt``)."""
        self.obs[cur] = obs
        self.actions[cur] = actions
        self.rewards[cur] = rewards
        self.terminated[cur] = terminated
        for env in np.flatnonzero(ended):
            self._final_obs[cur * self.n_envs + int(env)] = next_obs[env].copy()
        self.obs[nxt] = next_obs

    def cut_episodes(self) -> None:
        """The envs restart here (a resumed run starts fresh episodes): each env's newest
        transition keeps its true next observation aside, as at a time limit, so that the
        reset frame the next :meth:`add` writes into that slot does not become it."""
        if not self._stored:
            return
        last = (self.pos - 1) % self._n_slots
        for env in np.flatnonzero(~self.episode_end[last]):
            self._keep_next(last, int(env))
            self.episode_end[last, env] = True

    def _keep_next(self, slot: int, env: int) -> None:
        """Copy the frame that follows ``slot`` for ``env`` into the side store."""
        nxt = (slot + 1) % self._n_slots
        self._final_obs[slot * self.n_envs + env] = np.array(self.obs[nxt, env])

    def _forget_finals(self, slot: int) -> None:
        if self.episode_end[slot].any():
            for env in np.flatnonzero(self.episode_end[slot]):
                self._drop_final(slot * self.n_envs + int(env))
            self.episode_end[slot] = False

    def _drop_final(self, flat: int) -> None:
        self._final_obs.pop(flat, None)

    def _after_add(self, written_slot: int, invalidated_slot: int) -> None:
        """Hook for subclasses that track per-slot state (priorities)."""

    def _is_valid(self, flat: np.ndarray) -> np.ndarray:
        # Age 0 is the newest transition (slot pos - 1); the slot at pos only holds its next obs.
        age = (self.pos - 1 - flat // self.n_envs) % self._n_slots
        return age < self._stored

    def _check_batch_size(self, batch_size: int) -> int:
        batch_size = check_positive_int(batch_size, "batch_size")
        if len(self) == 0:
            raise ValueError("cannot sample from an empty buffer; add transitions first.")
        if batch_size > len(self):
            raise ValueError(
                f"batch_size {batch_size} exceeds the {len(self)} transitions stored; "
                f"add more transitions or ask for at most {len(self)}."
            )
        return batch_size

    def sampler_state(self) -> dict[str, Any]:
        """The state of the sampling random generator (JSON-able), for resuming the stream."""
        return self._rng.bit_generator.state

    def set_sampler_state(self, state: dict[str, Any]) -> None:
        """Continue the sampling stream from :meth:`sampler_state`'s output."""
        self._rng.bit_generator.state = state

    def sample(self, batch_size: int) -> ReplayBatch:
        """Draw ``batch_size`` transitions uniformly, with replacement.

        :param batch_size: number of transitions, between 1 and ``len(self)``.
        :return: a :class:`ReplayBatch` with unit weights.
        """
        batch_size = self._check_batch_size(batch_size)
        j = self._rng.integers(0, len(self), size=batch_size)
        slot = (self.pos - 1 - j // self.n_envs) % self._n_slots
        return self._gather(slot * self.n_envs + j % self.n_envs, None)

    def next_flat(self, flat: np.ndarray) -> np.ndarray:
        """Flat indices of the slots that hold the next observations of ``flat``'s."""
        slot, env = np.divmod(flat, self.n_envs)
        return ((slot + 1) % self._n_slots) * self.n_envs + env

    def _gather(self, flat: np.ndarray, weights: np.ndarray | None) -> ReplayBatch:
        if self.pin_memory:
            return self._gather_pinned(flat, weights)
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

    def _gather_pinned(self, flat: np.ndarray, weights: np.ndarray | None) -> ReplayBatch:
        """The batch gathered into three pinned tensors (frame pairs, actions, the float32
        columns), each sent to the device in one non-blocking copy."""
        n = len(flat)
        frames = self.host_tensor((2, n, *self.obs_shape), self.obs_torch_dtype)
        pair = frames.numpy()
        every = self.obs.reshape(-1, *self.obs_shape)  # a view: (n_slots * n_envs, *obs_shape)
        np.take(every, flat, axis=0, out=pair[0])
        np.take(every, self.next_flat(flat), axis=0, out=pair[1])
        for row in np.flatnonzero(self.episode_end.reshape(-1)[flat]):
            pair[1, row] = self._final_obs[int(flat[row])]
        actions = self.host_tensor((n,), torch.int64)
        np.take(self.actions.reshape(-1), flat, out=actions.numpy())
        floats = self.host_tensor((3, n), torch.float32)
        columns = floats.numpy()
        np.take(self.rewards.reshape(-1), flat, out=columns[0])
        np.take(self.terminated.reshape(-1), flat, out=columns[1])
        columns[2] = 1.0 if weights is None else weights
        frames = frames.to(self.device, non_blocking=True)
        floats = floats.to(self.device, non_blocking=True)
        return ReplayBatch(
            observations=frames[0],
            actions=actions.to(self.device, non_blocking=True),
            rewards=floats[0],
            next_observations=frames[1],
            terminated=floats[1],
            weights=floats[2],
            indices=flat.astype(np.int64, copy=False),
        )

    def state_dict(self) -> dict[str, Any]:
        """The buffer's contents as numpy arrays and ints (the generator state is not included).

        Arrays may share memory with the buffer: save or copy them before adding more.
        """
        used = self._stored + 1 if self._stored else 0  # slots 0..pos until the ring wraps
        keys = np.array(sorted(self._final_obs), dtype=np.int64)
        return {
            "capacity": self.capacity,
            "n_envs": self.n_envs,
            "obs_shape": np.array(self.obs_shape, dtype=np.int64),
            "pos": self.pos,
            "stored": self._stored,
            **self._storage_arrays(used),
            "episode_end": self.episode_end[:used],
            "final_keys": keys,
            "final_obs": self._final_frames(keys),
        }

    def _storage_arrays(self, used: int) -> dict[str, np.ndarray]:
        """``obs``, ``actions``, ``rewards``, ``terminated`` of the first ``used`` slots."""
        names = ("obs", "actions", "rewards", "terminated")
        return {name: getattr(self, name)[:used] for name in names}

    def _final_frames(self, keys: np.ndarray) -> np.ndarray:
        if not len(keys):
            return np.zeros((0, *self.obs_shape), self.obs_dtype)
        return np.stack([self._final_obs[int(k)] for k in keys])

    def _load_storage(self, used: int, state: dict[str, Any]) -> None:
        for name in ("obs", "actions", "rewards", "terminated"):
            getattr(self, name)[:used] = state[name]
        frames = state["final_obs"]
        if hasattr(frames, "numpy"):  # a checkpoint gives tensors back; rows as numpy arrays
            frames = frames.numpy()
        self._final_obs = {
            int(k): np.array(o, dtype=self.obs_dtype)
            for k, o in zip(state["final_keys"], frames, strict=True)
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
        self.episode_end[:used] = state["episode_end"]
        self._load_storage(used, state)
        self.pos, self._stored = pos, stored
