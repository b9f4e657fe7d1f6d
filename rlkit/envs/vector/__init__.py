"""Vector envs: ``make_vector_env(env_id, n, backend=...)`` over rlkit's shared-memory worker
processes (:mod:`.shm`, speaking :mod:`.protocol`), threads (:mod:`.threads`), or gymnasium's
own ``SyncVectorEnv`` / ``AsyncVectorEnv``; and :class:`EnvPool` (:mod:`.pool`), the same
workers free-running, received whichever are ready (``send`` / ``recv``, not ``step``), which
``make_env_pool(env_id, n, batch_size)`` builds the same way."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv

from rlkit.envs.factory import make_env
from rlkit.envs.vector.pool import EnvPool
from rlkit.envs.vector.protocol import default_context
from rlkit.envs.vector.shm import SharedMemoryVectorEnv
from rlkit.envs.vector.threads import ThreadVectorEnv

__all__ = [
    "BACKENDS",
    "EnvPool",
    "SharedMemoryVectorEnv",
    "ThreadVectorEnv",
    "make_env_pool",
    "make_vector_env",
]

BACKENDS = ("shm", "threads", "sync", "async")


def make_vector_env(
    env_id: str,
    num_envs: int,
    *,
    backend: str = "shm",
    seed: int | None = None,
    in_parent: bool = True,
    **env_kwargs: Any,
) -> VectorEnv:
    """Make ``num_envs`` copies of ``rlkit.envs.make_env(env_id, **env_kwargs)`` as one vector env.

    Every backend autoresets in gymnasium's SAME_STEP mode, so they are interchangeable.

    :param env_id: ``"vizdoom:<scenario>"`` or a gymnasium id (see :func:`rlkit.envs.make_env`).
    :param num_envs: number of envs (and, for ``"shm"``/``"async"``, of worker processes).
    :param backend: ``"shm"`` (:class:`SharedMemoryVectorEnv`, the fastest for ViZDoom; see
        ``bench env``), ``"threads"`` (:class:`ThreadVectorEnv`: envs step in threads of this
        process, no worker processes; ViZDoom's engine runs without the GIL),
        ``"sync"`` (gymnasium's ``SyncVectorEnv``, in this process: best for ``num_envs=1``,
        tests and debugging) or ``"async"`` (gymnasium's ``AsyncVectorEnv``, any space).
    :param seed: seeds the action spaces (env ``i`` with ``seed + i``, the batched one with
        ``seed``) so that ``action_space.sample()`` is reproducible; episodes are seeded by
        ``reset(seed=...)``.
    :param in_parent: ``"shm"`` only: step env 0 in this process and the others in
        ``num_envs - 1`` workers (see :class:`SharedMemoryVectorEnv`); ``False``: one worker each.
    :param env_kwargs: passed to :func:`rlkit.envs.make_env` (``frame_skip``, ``resolution``…).
    :return: a ``gymnasium.vector.VectorEnv``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if not in_parent and backend != "shm":
        raise ValueError(f"in_parent=False applies to backend='shm' only, not {backend!r}")
    fns = _env_fns(env_id, num_envs, seed, env_kwargs)
    if backend == "shm":
        envs: VectorEnv = SharedMemoryVectorEnv(fns, in_parent=in_parent)
    elif backend == "threads":
        envs = ThreadVectorEnv(fns)
    elif backend == "sync":
        envs = SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
    else:
        same_step, context = AutoresetMode.SAME_STEP, default_context()
        envs = AsyncVectorEnv(fns, context=context, autoreset_mode=same_step)
    if seed is not None:
        envs.action_space.seed(seed)
    return envs


def make_env_pool(
    env_id: str,
    num_envs: int,
    batch_size: int | None = None,
    *,
    seed: int | None = None,
    **env_kwargs: Any,
) -> EnvPool:
    """Make ``num_envs`` copies of ``make_env(env_id, **env_kwargs)`` as a free-running
    :class:`EnvPool` (one worker process each) that :meth:`EnvPool.recv` returns
    ``batch_size`` at a time (default: all, i.e. lock-step).

    :param seed: seeds the action spaces as in :func:`make_vector_env`.
    """
    envs = EnvPool(_env_fns(env_id, num_envs, seed, env_kwargs), batch_size=batch_size)
    if seed is not None:
        envs.action_space.seed(seed)
    return envs


def _env_fns(env_id: str, num_envs: int, seed: int | None, env_kwargs: dict[str, Any]) -> list:
    if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    return [
        functools.partial(make_env, env_id, seed=None if seed is None else seed + i, **env_kwargs)
        for i in range(int(num_envs))
    ]
