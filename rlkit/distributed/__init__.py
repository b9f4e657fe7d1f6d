"""Training past one process: Ray rollout workers, and data-parallel gradients with
``torch.distributed``.

- :mod:`.rollout`: :class:`RolloutWorkers`, N Ray actors stepping their own envs with a copy
  of the policy, in synchronous rounds with the learner (``train(config, workers=N)``), with
  backup workers; :class:`RolloutWorker`, :class:`Fragment`, :func:`weights_of`.
- :mod:`.allreduce`: :class:`FlatAllReduce` (``flat_allreduce_hook()``), the learners'
  ``grad_hook`` that averages gradients over the process group with one flattened all-reduce;
  :func:`flatten` / :func:`unflatten`.
- :mod:`.launcher`: :func:`launch` runs a package-level function in N processes joined in a
  group (gloo on CPU, NCCL on GPUs) on a free loopback port, and stops them all when one fails.
The measurements notebook 08 shows (what an all-reduce and moving frames cost, the projection
to more machines, the check that replicas stay identical) are in :mod:`rlkit.bench`.

Importing this package loads torch only when a name is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Fragment": "rlkit.distributed.rollout",
    "RolloutWorker": "rlkit.distributed.rollout",
    "RolloutWorkers": "rlkit.distributed.rollout",
    "weights_of": "rlkit.distributed.rollout",
    "FlatAllReduce": "rlkit.distributed.allreduce",
    "flat_allreduce_hook": "rlkit.distributed.allreduce",
    "flatten": "rlkit.distributed.allreduce",
    "unflatten": "rlkit.distributed.allreduce",
    "LaunchTimeoutError": "rlkit.distributed.launcher",
    "RankContext": "rlkit.distributed.launcher",
    "RankFailedError": "rlkit.distributed.launcher",
    "free_port": "rlkit.distributed.launcher",
    "launch": "rlkit.distributed.launcher",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rlkit.distributed' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
