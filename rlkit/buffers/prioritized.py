"""Proportional prioritized replay (Schaul et al. 2016) on the uniform ring of :mod:`.replay`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rlkit.buffers.replay import ReplayBatch, ReplayBuffer
from rlkit.buffers.sumtree import MinTree, SumTree
from rlkit.buffers.validation import check_unit_interval, to_numpy


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
    :param pin_memory: gather batches in page-locked memory for non-blocking copies to a GPU.

    The sum tree it samples from lives in host memory, so prioritized replay stays on the host
    even when training runs on a GPU (:mod:`rlkit.device_plan` says so in its plan).
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
        pin_memory: bool = False,
    ) -> None:
        super().__init__(capacity, obs_shape, n_envs, obs_dtype, device, seed, pin_memory)
        # alpha is fixed: stored priorities already carry the exponent.
        self._alpha = check_unit_interval(alpha, "alpha")
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
        self._beta = check_unit_interval(value, "beta")

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
        beta = self._beta if beta is None else check_unit_interval(beta, "beta")
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
        idx = to_numpy(indices).astype(np.int64, copy=False).ravel()
        pri = to_numpy(priorities).astype(np.float64, copy=False).ravel()
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
