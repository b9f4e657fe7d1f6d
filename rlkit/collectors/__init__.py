"""Collectors: what steps the envs, behind one contract, whatever steps them.

A collector owns its envs and hands the agent :class:`Columns` of experience acted by an
:class:`Actor` it is given (the anchors: TorchRL's ``SyncDataCollector`` and
``MultiaSyncDataCollector``, Sample Factory's rollout workers, RLlib's ``EnvRunner``):

- :class:`LockStepCollector`: a vector env whose envs all take each step;
- :class:`PoolCollector`: a free-running :class:`rlkit.envs.vector.EnvPool`;
- :class:`rlkit.distributed.rollout.RolloutWorkers`: Ray actors, each running a
  :class:`LockStepCollector` of its own with a copy of the actor.

Each has ``spec`` (the envs' :class:`rlkit.envs.EnvSpec`), ``num_envs``, ``phases`` (the
timed phases its ``Columns.seconds`` hold), ``obs`` (the envs' current observations, or
``None`` where they live elsewhere), ``reset(seed)``, ``collect(actor, steps=None)`` and
``close()``. :func:`make_collector` is the one place that chooses one from a config; a new
backend is a new class with these, passed to ``train(..., collector=...)`` or chosen there.
"""

from __future__ import annotations

from typing import Any

from rlkit.collectors.columns import Actor, Columns, ColumnWriter, EpisodeCounter, join
from rlkit.collectors.lockstep import LockStepCollector
from rlkit.collectors.pool import PoolCollector

__all__ = [
    "Actor",
    "ColumnWriter",
    "Columns",
    "EpisodeCounter",
    "LockStepCollector",
    "PoolCollector",
    "join",
    "make_collector",
]


def make_collector(config: Any, ray_address: str | None = None) -> Any:
    """The collector a config asks for: Ray rollout workers (``rollout_workers``), the pool
    (``vector_backend="pool"``) or lock-step envs (any other backend).

    :param ray_address: the Ray cluster rollout workers run in (see
        :func:`rlkit.remote.cluster.connect`).
    """
    c = config
    if c.rollout_workers:
        from rlkit.distributed.rollout import RolloutWorkers

        return RolloutWorkers(c, ray_address)
    from rlkit.envs import env_spec
    from rlkit.envs.vector import make_env_pool, make_vector_env

    if c.vector_backend == "pool":
        envs, cls = make_env_pool(c.env_id, c.num_envs, c.pool_batch, **c.env_kwargs), PoolCollector
    else:
        envs = make_vector_env(c.env_id, c.num_envs, backend=c.vector_backend, **c.env_kwargs)
        cls = LockStepCollector
    try:
        return cls(envs, env_spec(envs, c.env_id, c.env_kwargs))
    except BaseException:
        envs.close()
        raise
