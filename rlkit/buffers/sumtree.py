"""Array-backed segment trees for prioritized replay, vectorised over a batch with numpy.

The tree is a flat float64 array of length ``2 * size`` where ``size`` is the leaf count rounded
up to a power of two: node ``i`` has children ``2i`` and ``2i + 1``, the root is node 1 and leaf
``j`` is node ``size + j``. Batch operations walk all indices one tree level at a time, so the
Python-level loop has ``log2(size)`` iterations whatever the batch size.
"""

from __future__ import annotations

import numpy as np


class SegmentTree:
    """A complete binary tree whose inner nodes hold ``op`` of their two children.

    :param n_leaves: number of leaves that can be written (at least 1).
    :param op: a binary numpy ufunc that is associative, e.g. ``np.add`` or ``np.minimum``.
    :param neutral: the identity element of ``op``; empty leaves hold it.
    """

    def __init__(
        self,
        n_leaves: int,
        op: np.ufunc,
        neutral: float,
    ) -> None:
        if int(n_leaves) < 1:
            raise ValueError(f"n_leaves must be at least 1, got {n_leaves}.")
        self.n_leaves = int(n_leaves)
        self.size = 1 << max(0, (self.n_leaves - 1).bit_length())
        self.depth = self.size.bit_length() - 1
        self._op = op
        self._neutral = float(neutral)
        self.tree = np.full(2 * self.size, self._neutral, dtype=np.float64)
        # Row i of this view holds the two children of node i, fetched with one indexing call.
        self._pairs = self.tree.reshape(self.size, 2)
        self._shifts = np.arange(1, self.depth + 1, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        return int(self.tree.nbytes)

    @property
    def root(self) -> float:
        """``op`` reduced over all leaves."""
        return float(self.tree[1])

    @property
    def leaves(self) -> np.ndarray:
        """A read-only view of the ``n_leaves`` leaf values."""
        view = self.tree[self.size : self.size + self.n_leaves]
        view.flags.writeable = False
        return view

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Leaf values at ``indices``.

        :param indices: integer leaf indices in ``[0, n_leaves)``.
        :return: float64 array of the same shape.
        """
        return self.tree[np.asarray(indices, dtype=np.int64) + self.size]

    def update(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Set leaves and refresh every ancestor, O(batch · log n).

        Duplicate indices must not be passed with different values (numpy does not define
        which write wins); callers deduplicate first.

        :param indices: integer leaf indices in ``[0, n_leaves)``.
        :param values: new leaf values, broadcastable to ``indices``.
        """
        nodes = np.asarray(indices, dtype=np.int64).ravel()
        if nodes.size == 0:
            return
        if nodes.min() < 0 or nodes.max() >= self.n_leaves:
            raise ValueError(f"leaf indices must lie in [0, {self.n_leaves}).")
        nodes = nodes + self.size
        values = np.broadcast_to(np.asarray(values, dtype=np.float64).ravel(), nodes.shape)
        # Parents are recomputed from their children rather than adjusted by a delta, so no
        # rounding error accumulates over millions of updates.
        self.tree[nodes] = values
        # Row l of `ancestors` holds the level-l parents of every leaf. A parent shared by
        # several leaves is written several times with the same value, which is cheaper than
        # deduplicating each level.
        ancestors = nodes[None, :] >> self._shifts[:, None]
        for level in ancestors:
            children = self._pairs[level]
            self.tree[level] = self._op(children[:, 0], children[:, 1])

    def update_range(self, start: int, values: np.ndarray) -> None:
        """Set the contiguous leaves ``start, start + 1, ...`` and refresh their ancestors.

        The ancestors of a run of leaves are a run of nodes on every level, so slices replace
        fancy indexing: much cheaper for the few leaves one ``add`` of a replay buffer writes.

        :param start: first leaf index.
        :param values: new leaf values; ``start + len(values)`` must not exceed ``n_leaves``.
        """
        values = np.asarray(values, dtype=np.float64).ravel()
        if start < 0 or start + values.size > self.n_leaves:
            raise ValueError(
                f"leaf range [{start}, {start + values.size}) does not fit in "
                f"{self.n_leaves} leaves."
            )
        lo = start + self.size
        hi = lo + values.size  # half-open
        self.tree[lo:hi] = values
        for _ in range(self.depth):
            lo, hi = lo >> 1, ((hi - 1) >> 1) + 1
            self._op(self._pairs[lo:hi, 0], self._pairs[lo:hi, 1], out=self.tree[lo:hi])

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"leaves": self.tree[self.size : self.size + self.n_leaves].copy()}

    def load_leaves(self, leaves: np.ndarray) -> None:
        """Replace all leaves at once and rebuild the inner nodes bottom-up.

        :param leaves: array of length ``n_leaves``.
        """
        leaves = np.asarray(leaves, dtype=np.float64)
        if leaves.shape != (self.n_leaves,):
            raise ValueError(
                f"expected {self.n_leaves} leaves, got an array of shape {leaves.shape}."
            )
        self.tree[:] = self._neutral
        self.tree[self.size : self.size + self.n_leaves] = leaves
        for level in range(self.depth - 1, -1, -1):
            lo, hi = 1 << level, 2 << level
            self.tree[lo:hi] = self._op(
                self.tree[2 * lo : 2 * hi : 2], self.tree[2 * lo + 1 : 2 * hi : 2]
            )


class SumTree(SegmentTree):
    """Segment tree of sums with a vectorised prefix-sum search.

    :param n_leaves: number of leaves (at least 1); all start at 0.
    """

    def __init__(self, n_leaves: int) -> None:
        super().__init__(n_leaves, np.add, 0.0)

    @property
    def total(self) -> float:
        return self.root

    def find_prefix(self, values: np.ndarray) -> np.ndarray:
        """For each value v, the leaf i with ``cumsum[i-1] <= v < cumsum[i]``.

        This equals ``np.searchsorted(np.cumsum(leaves), v, side="right")`` for v in
        ``[0, total)``. The search never stops on a zero leaf, even when rounding pushes v to
        or past a boundary: a branch whose sum is zero is never entered.

        :param values: float array of prefix masses, expected in ``[0, total)``.
        :return: int64 leaf indices of the same shape.
        """
        remaining = np.array(values, dtype=np.float64, copy=True).ravel()
        nodes = np.ones(remaining.shape, dtype=np.int64)
        for _ in range(self.depth):
            children = self._pairs[nodes]
            left_sum = children[:, 0]
            go_right = (remaining >= left_sum) & (children[:, 1] > 0.0)
            remaining -= left_sum * go_right
            nodes = 2 * nodes + go_right
        return (nodes - self.size).reshape(np.shape(values))


class MinTree(SegmentTree):
    """Segment tree of minima; empty leaves hold +inf.

    :param n_leaves: number of leaves (at least 1).
    """

    def __init__(self, n_leaves: int) -> None:
        super().__init__(n_leaves, np.minimum, np.inf)

    @property
    def min(self) -> float:
        return self.root
