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
- :mod:`.check`: :func:`data_parallel_check`, replicas identical after every step and close to
  one process on the whole batch.
- :mod:`.timing`: :func:`allreduce_seconds_per_mb`, the all-reduce's cost per megabyte, and
  :func:`flat_versus_per_parameter`, what one flattened call saves over one per tensor.
- :mod:`.transfer`: :func:`transfer_costs`, megabytes of observation per second moved to
  another process as text, pickle, raw bytes, zlib or Ray object refs (the wire formats,
  ``encode`` / ``decode``, and ``METHODS`` stay in the module: too generic a name here).
- :mod:`.projection`: :func:`project`, time to score against machine count from
  :class:`Measured` costs, with its :data:`ASSUMPTIONS` and the :data:`SOURCE_RESULT` it is
  drawn against; :func:`straggler_factor`, :func:`where_it_breaks`.

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
    "REFERENCE_ATOL": "rlkit.distributed.check",
    "data_parallel_check": "rlkit.distributed.check",
    "synthetic_batches": "rlkit.distributed.check",
    "allreduce_seconds_per_mb": "rlkit.distributed.timing",
    "flat_versus_per_parameter": "rlkit.distributed.timing",
    "transfer_costs": "rlkit.distributed.transfer",
    "ASSUMPTIONS": "rlkit.distributed.projection",
    "Measured": "rlkit.distributed.projection",
    "SOURCE_RESULT": "rlkit.distributed.projection",
    "project": "rlkit.distributed.projection",
    "straggler_factor": "rlkit.distributed.projection",
    "where_it_breaks": "rlkit.distributed.projection",
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
