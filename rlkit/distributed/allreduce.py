"""Averaging gradients across processes with one flattened all-reduce.

Data-parallel training gives each process its share of a batch; after ``backward()`` each holds
the gradient of its share's loss, and before the optimizer steps they all replace it with the
mean over processes. Then every replica takes the same step from the same weights and stays
identical to the others, without any weights being sent.

:class:`FlatAllReduce` is that averaging as a learner's ``grad_hook`` (the seam
:class:`rlkit.agents.dqn.DQNLearner` and :class:`rlkit.agents.ppo_learner.PPOLearner` call
after backward and before clipping and the step). It copies every gradient into one flat,
preallocated buffer and makes ONE ``all_reduce`` call, instead of one per parameter: a network
has tens of parameter tensors, and each collective pays a fixed latency (a round of messages
between processes) however small its tensor, so fewer, larger messages are faster. Parameters
whose gradient is ``None`` on some ranks are handled inside the same call (see
:meth:`FlatAllReduce.__call__`).

:func:`flatten` and :func:`unflatten` are the copy in and the views out, written here because
torch's own versions live in a private module.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist

__all__ = ["FlatAllReduce", "flat_allreduce_hook", "flatten", "unflatten"]


def flatten(tensors: Sequence[torch.Tensor], out: torch.Tensor | None = None) -> torch.Tensor:
    """Concatenate tensors (any shapes, one dtype and device) into a 1-D tensor.

    :param tensors: the tensors, in the order :func:`unflatten` will give them back.
    :param out: a 1-D tensor of at least the total number of elements to write into (its first
        elements are filled); a new one is made when ``None``.
    :return: ``out`` (or the new tensor), holding the elements of each tensor in turn.
    """
    tensors = list(tensors)
    if not tensors:
        raise ValueError("flatten needs at least one tensor")
    total = sum(t.numel() for t in tensors)
    if out is None:
        out = torch.empty(total, dtype=tensors[0].dtype, device=tensors[0].device)
    elif out.dim() != 1 or out.numel() < total:
        raise ValueError(f"out must be 1-D with at least {total} elements, got {tuple(out.shape)}")
    start = 0
    for t in tensors:
        n = t.numel()
        out[start : start + n].copy_(t.reshape(-1))
        start += n
    return out


def unflatten(flat: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Views into ``flat`` shaped like each of ``like``, in order (no copy).

    :param flat: a 1-D tensor with at least as many elements as ``like`` together.
    :param like: tensors whose shapes to take (typically the parameters).
    :return: one view per tensor of ``like``; writing to a view writes to ``flat``.
    """
    if flat.dim() != 1:
        raise ValueError(f"flat must be 1-D, got shape {tuple(flat.shape)}")
    total = sum(t.numel() for t in like)
    if flat.numel() < total:
        raise ValueError(f"flat has {flat.numel()} elements, the tensors need {total}")
    views, start = [], 0
    for t in like:
        n = t.numel()
        views.append(flat[start : start + n].view(t.shape))
        start += n
    return views


class FlatAllReduce:
    """A ``grad_hook`` that replaces each gradient with its mean over the process group.

    :param group: the process group (``None``: the default one, from
        ``torch.distributed.init_process_group``).

    One buffer per (dtype, device) of the parameters (in practice one) is allocated at the first
    call and reused while the parameters stay the same, so a step allocates nothing.
    :attr:`calls` counts the collectives made, which tests use to check there is one per step.
    """

    def __init__(self, group=None):
        self.group = group
        self.calls = 0
        self._key: tuple | None = None
        self._buckets: list[tuple[list[torch.nn.Parameter], torch.Tensor]] = []

    @property
    def buffers(self) -> list[torch.Tensor]:
        """The flat buffers (gradients, then one has-a-gradient flag per parameter)."""
        return [buf for _, buf in self._buckets]

    def _prepare(self, params: list[torch.nn.Parameter]) -> None:
        key = tuple((id(p), p.shape, p.dtype, p.device) for p in params)
        if key == self._key:
            return
        by_kind: dict[tuple, list[torch.nn.Parameter]] = {}
        for p in params:
            by_kind.setdefault((p.dtype, p.device), []).append(p)
        # One slot per parameter after its gradient: 1 where this rank has a gradient, so the
        # same collective tells every rank whether any rank had one.
        self._buckets = [
            (ps, torch.zeros(sum(p.numel() for p in ps) + len(ps), dtype=dt, device=dev))
            for (dt, dev), ps in by_kind.items()
        ]
        self._key = key

    def __call__(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Average ``p.grad`` of ``params`` over the group, in place.

        Every rank must pass the same parameters in the same order (replicas of one network).
        A parameter without a gradient counts as a zero gradient on that rank; it gets the
        average when some rank had a gradient, and stays ``None`` when none had (so the
        optimizer skips it, as it would in a single process).
        """
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError(
                "FlatAllReduce needs an initialised process group; run it inside "
                "rlkit.distributed.launch (or call torch.distributed.init_process_group first)"
            )
        params = [p for p in params if p.requires_grad]
        if not params:
            return
        self._prepare(params)
        world = dist.get_world_size(self.group)
        for ps, buf in self._buckets:
            n_grad = buf.numel() - len(ps)
            grads, flags = buf[:n_grad], buf[n_grad:]
            views = unflatten(grads, ps)
            for i, (p, view) in enumerate(zip(ps, views, strict=True)):
                if p.grad is None:
                    view.zero_()
                    flags[i] = 0
                else:
                    view.copy_(p.grad)
                    flags[i] = 1
            dist.all_reduce(buf, op=dist.ReduceOp.SUM, group=self.group)
            self.calls += 1
            # Dividing the sum by the world size on every rank gives every rank the same bits.
            grads.div_(world)
            for p, view, flag in zip(ps, views, flags.tolist(), strict=True):
                if flag == 0:
                    continue  # no rank had a gradient: leave it None
                if p.grad is None:
                    p.grad = view.clone()
                else:
                    p.grad.copy_(view)


def flat_allreduce_hook(group=None) -> FlatAllReduce:
    """A learner ``grad_hook`` averaging gradients over ``group`` with one all-reduce per step.

    ``learner.grad_hook = flat_allreduce_hook()`` inside each process of a group (see
    :func:`rlkit.distributed.launch`).
    """
    return FlatAllReduce(group)
