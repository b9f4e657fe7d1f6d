"""Uniform replay whose storage lives on the training device, so sampling never leaves the GPU.

The ring, the flat indices and the final-frame side store are those of
:class:`rlkit.buffers.replay.ReplayBuffer`; what moves is where the bytes are. Observations,
actions, rewards and terminal flags are torch tensors on ``device``; final frames of episodes
sit in a pool tensor there too, with the host keeping which pool row belongs to which flat index.

Sampling draws indices with the host buffer's numpy generator (same stream, same
``sampler_state``, so a run saved from either buffer resumes on the other and the two give the
same batches), packs them with the final-frame rows into one small int64 tensor, sends that in
one non-blocking copy, and gathers on the device; no value comes back to the host. Adding a
step is three copies (the obs pair, the actions, the reward/terminated pair), pinned and
non-blocking on a GPU.
:meth:`state_dict` writes the host buffer's format: checkpoints move between the two freely.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rlkit.buffers.replay import ReplayBatch, ReplayBuffer


class DeviceReplayBuffer(ReplayBuffer):
    """A :class:`ReplayBuffer` whose storage is on ``device`` (a GPU; a CPU works the same).

    Same arguments as :class:`ReplayBuffer`; ``pin_memory`` defaults to on for a CUDA device.
    Batches are :class:`ReplayBatch` with the same shapes and dtypes; their unit ``weights``
    tensor is shared between batches of one size (do not write into it).
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        n_envs: int = 1,
        obs_dtype: Any = np.uint8,
        device: torch.device | str = "cpu",
        seed: int | None = None,
        pin_memory: bool | None = None,
    ) -> None:
        if pin_memory is None:
            pin_memory = torch.device(device).type == "cuda"
        super().__init__(capacity, obs_shape, n_envs, obs_dtype, device, seed, pin_memory)
        self._ones: dict[int, torch.Tensor] = {}

    def _allocate(self, shape: tuple[int, int]) -> None:
        d = self.device
        self.obs = torch.zeros((*shape, *self.obs_shape), dtype=self.obs_torch_dtype, device=d)
        self.actions = torch.zeros(shape, dtype=torch.int64, device=d)
        # rewards [0] and terminated [1] side by side, so one copy writes both for a step.
        self._floats = torch.zeros((2, *shape), dtype=torch.float32, device=d)
        self._pool = torch.zeros((0, *self.obs_shape), dtype=self.obs_torch_dtype, device=d)
        self._free_rows: list[int] = []
        # self._final_obs maps a flat index to its row of self._pool.

    @property
    def rewards(self) -> torch.Tensor:
        return self._floats[0]

    @property
    def terminated(self) -> torch.Tensor:
        return self._floats[1]

    @property
    def nbytes(self) -> int:
        tensors = (self.obs, self.actions, self._floats, self._pool)
        return int(sum(t.nbytes for t in tensors) + self.episode_end.nbytes)

    def _copy_in(self, dst: torch.Tensor, src: np.ndarray, dtype: torch.dtype) -> None:
        staged = self.host_tensor(tuple(src.shape), dtype)
        staged.numpy()[...] = src
        dst.copy_(staged, non_blocking=True)

    def _pool_row(self) -> int:
        if not self._free_rows:  # grow the pool by doubling: rare, and never shrinks
            old = len(self._pool)
            grown = torch.zeros(
                (max(16, 2 * old), *self.obs_shape), dtype=self.obs_torch_dtype, device=self.device
            )
            grown[:old] = self._pool
            self._pool = grown
            self._free_rows = list(range(len(grown) - 1, old - 1, -1))
        return self._free_rows.pop()

    def _keep_next(self, slot: int, env: int) -> None:
        row = self._pool_row()
        self._final_obs[slot * self.n_envs + env] = row
        self._pool[row].copy_(self.obs[(slot + 1) % self._n_slots, env])

    def _drop_final(self, flat: int) -> None:
        row = self._final_obs.pop(flat, None)
        if row is not None:
            self._free_rows.append(row)

    def _store(self, cur, nxt, obs, actions, rewards, next_obs, terminated, ended) -> None:
        if nxt == cur + 1:  # the obs pair is contiguous unless the ring wraps here
            self._copy_in(self.obs[cur : cur + 2], np.stack([obs, next_obs]), self.obs_torch_dtype)
        else:
            self._copy_in(self.obs[cur], obs, self.obs_torch_dtype)
            self._copy_in(self.obs[nxt], next_obs, self.obs_torch_dtype)
        self._copy_in(self.actions[cur], actions, torch.int64)
        self._copy_in(self._floats[:, cur], np.stack([rewards, terminated]), torch.float32)
        for env in np.flatnonzero(ended):
            row = self._pool_row()
            self._final_obs[cur * self.n_envs + int(env)] = row
            self._pool[row].copy_(self.obs[nxt, env])  # on the device, before it is overwritten

    def _gather(self, flat: np.ndarray, weights: np.ndarray | None) -> ReplayBatch:
        n = len(flat)
        ended = np.flatnonzero(self.episode_end.reshape(-1)[flat])
        k = len(ended)
        # One int64 tensor crosses: [flat | next flat | rows that end an episode | pool rows].
        packed = self.host_tensor((2 * n + 2 * k,), torch.int64)
        index = packed.numpy()
        index[:n], index[n : 2 * n] = flat, self.next_flat(flat)
        if k:
            index[2 * n : 2 * n + k] = ended
            index[2 * n + k :] = [self._final_obs[int(f)] for f in flat[ended]]
        index = packed.to(self.device, non_blocking=True)
        taken = index[:n]
        frames = self.obs.view(-1, *self.obs_shape)
        obs = frames.index_select(0, taken)
        next_obs = frames.index_select(0, index[n : 2 * n])
        if k:  # the true final frames replace the reset frames in the ring
            next_obs.index_copy_(
                0, index[2 * n : 2 * n + k], self._pool.index_select(0, index[-k:])
            )
        floats = self._floats.view(2, -1).index_select(1, taken)
        if weights is None:
            if n not in self._ones:
                self._ones[n] = torch.ones(n, device=self.device)
            w = self._ones[n]
        else:
            w = torch.as_tensor(weights, dtype=torch.float32).to(self.device)
        return ReplayBatch(
            observations=obs,
            actions=self.actions.view(-1).index_select(0, taken),
            rewards=floats[0],
            next_observations=next_obs,
            terminated=floats[1],
            weights=w,
            indices=flat.astype(np.int64, copy=False),
        )

    def _storage_arrays(self, used: int) -> dict[str, np.ndarray]:
        return {
            "obs": self.obs[:used].cpu().numpy(),
            "actions": self.actions[:used].cpu().numpy(),
            "rewards": self._floats[0, :used].cpu().numpy(),
            "terminated": self._floats[1, :used].cpu().numpy(),
        }

    def _final_frames(self, keys: np.ndarray) -> np.ndarray:
        rows = torch.tensor([self._final_obs[int(k)] for k in keys], dtype=torch.int64)
        return self._pool.index_select(0, rows.to(self.device)).cpu().numpy()

    def _load_storage(self, used: int, state: dict[str, Any]) -> None:
        def put(dst: torch.Tensor, name: str) -> None:
            dst.copy_(torch.as_tensor(np.asarray(state[name])).to(dst.dtype))

        put(self.obs[:used], "obs")
        put(self.actions[:used], "actions")
        put(self._floats[0, :used], "rewards")
        put(self._floats[1, :used], "terminated")
        keys = [int(k) for k in state["final_keys"]]
        self._pool = torch.zeros(
            (max(16, len(keys)), *self.obs_shape), dtype=self.obs_torch_dtype, device=self.device
        )
        if keys:
            frames = torch.as_tensor(np.asarray(state["final_obs"], dtype=self.obs_dtype))
            self._pool[: len(keys)] = frames.to(self.device)
        self._final_obs = {k: row for row, k in enumerate(keys)}
        self._free_rows = list(range(len(self._pool) - 1, len(keys) - 1, -1))
