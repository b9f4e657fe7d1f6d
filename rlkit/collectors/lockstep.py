"""Envs stepped together: every env takes each step (any vector env, in this process)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rlkit.collectors.columns import Actor, Columns, ColumnWriter, EpisodeCounter


class LockStepCollector:
    """Steps a vector env (``sync``, ``threads``, ``shm``, ``async``) with an actor.

    :param envs: a SAME_STEP-autoreset vector env (:func:`rlkit.envs.vector.make_vector_env`);
        the collector closes it.
    :param spec: its :class:`rlkit.envs.EnvSpec`.
    """

    phases: tuple[str, ...] = ("env", "act")

    def __init__(self, envs: Any, spec: Any):
        self.envs = envs
        self.spec = spec
        self.num_envs = int(envs.num_envs)
        self.obs: np.ndarray | None = None
        self.counter = EpisodeCounter(self.num_envs)

    def reset(self, seed: int) -> None:
        """Fresh episodes, env ``i`` seeded ``seed + i``."""
        self.obs = self.envs.reset(seed=seed)[0]
        self.counter.reset()

    def collect(self, actor: Actor, steps: int | None = None) -> Columns:
        """``steps`` steps of every env (default 1)."""
        T, ids = 1 if steps is None else int(steps), np.arange(self.num_envs)
        writer = ColumnWriter(T, self.obs, self.counter)
        env_s = act_s = 0.0
        for t in range(T):
            t0 = time.perf_counter()
            actions, records = actor.choose(self.obs)
            t1 = time.perf_counter()
            out = self.envs.step(actions)
            t2 = time.perf_counter()
            cut = writer.write(t, ids, actions, records, out)
            t3 = time.perf_counter()
            writer.finals_of(actor, t, ids, cut, out[4])
            self.obs = out[0]
            env_s += t2 - t1
            act_s += t1 - t0 + time.perf_counter() - t3
        t0 = time.perf_counter()
        last = actor.last(self.obs)
        act_s += time.perf_counter() - t0
        return writer.columns(ids, last, {"env": env_s, "act": act_s})

    def close(self) -> None:
        self.envs.close()
