"""A vector env whose envs step in parallel threads of one process.

This pays off for envs that release Python's GIL while they wait — ViZDoom does: its engine is
a separate process, and ``make_action`` blocks in C++ without the GIL. Then N threads step N
games at once with no pickling and no worker processes. Their hand-offs sleep and wake, though,
so on a small VM they trail the ``"shm"`` backend, whose waiting sides poll instead
(``python -m rlkit bench env`` measures both; the figures are in ``data/benchmarks/``).
For pure-Python envs such as CartPole the GIL serialises the threads and this is slower than
``SyncVectorEnv``.

Results are identical to gymnasium's ``SyncVectorEnv`` with ``AutoresetMode.SAME_STEP``: the
per-env work (step, and reset where an episode ended) runs in the threads, then the batch and
its infos are assembled in env order exactly as the sync env does.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from copy import deepcopy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import concatenate, iterate


class _Threads:
    """Persistent helper threads; the caller's thread does job 0 itself.

    The threads hold only this pool, never the env: the job is handed over per call and
    dropped afterwards, so an env that is no longer referenced can be collected (and its
    finalizer stops the threads).
    """

    def __init__(self, n_helpers: int):
        self.jobs = [threading.Semaphore(0) for _ in range(n_helpers)]
        self.done = threading.Semaphore(0)
        self.stop = False
        self.work: Callable[[int], None] | None = None
        self.threads = [
            threading.Thread(target=self._loop, args=(i + 1,), daemon=True, name=f"env{i + 1}")
            for i in range(n_helpers)
        ]
        for t in self.threads:
            t.start()

    def _loop(self, index: int) -> None:
        while True:
            self.jobs[index - 1].acquire()
            if self.stop:
                return
            self.work(index)
            self.done.release()

    def run(self, work: Callable[[int], None]) -> None:
        if self.stop:
            raise RuntimeError("this vector env is closed")
        self.work = work
        for job in self.jobs:
            job.release()
        try:
            work(0)
        finally:
            for _ in self.jobs:  # always wait, so no thread is left mid-step
                self.done.acquire()
            self.work = None

    def shutdown(self) -> None:
        self.stop = True
        for job in self.jobs:
            job.release()
        for t in self.threads:
            t.join(timeout=5.0)


class ThreadVectorEnv(SyncVectorEnv):
    """``SyncVectorEnv`` (SAME_STEP autoreset) whose envs step concurrently in threads.

    :param env_fns: functions that each create one env.
    :param copy: return copies of the batched observations (as ``SyncVectorEnv``).
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], copy: bool = True):
        if len(env_fns) == 0:
            raise ValueError("ThreadVectorEnv needs at least one env function")
        super().__init__(env_fns, copy=copy, autoreset_mode=AutoresetMode.SAME_STEP)
        self._actions: list[Any] = [None] * self.num_envs
        self._results: list[Any] = [None] * self.num_envs
        self._pool = _Threads(self.num_envs - 1)
        self._finalizer = weakref.finalize(self, self._pool.shutdown)

    def _work(self, i: int) -> None:
        try:
            env = self.envs[i]
            obs, reward, terminated, truncated, info = env.step(self._actions[i])
            final = None
            if terminated or truncated:
                final = {"final_obs": obs, "final_info": info}
                obs, info = env.reset()
            self._results[i] = (obs, reward, terminated, truncated, info, final)
        except Exception as e:  # handed to the caller's thread, which raises it
            self._results[i] = e

    def step(self, actions):
        acts = list(iterate(self.action_space, actions))
        if len(acts) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(acts)}")
        self._actions[:] = acts
        self._pool.run(self._work)
        infos: dict[str, Any] = {}
        for i, res in enumerate(self._results):
            if isinstance(res, BaseException):
                raise RuntimeError(
                    f"env {i} failed during step: {type(res).__name__}: {res}"
                ) from res
            obs, self._rewards[i], self._terminations[i], self._truncations[i], info, final = res
            self._env_obs[i] = obs
            if final is not None:
                infos = self._add_info(infos, final, i)
            infos = self._add_info(infos, info, i)
        self._observations = concatenate(
            self.single_observation_space, self._env_obs, self._observations
        )
        self._autoreset_envs = np.logical_or(self._terminations, self._truncations)
        return (
            deepcopy(self._observations) if self.copy else self._observations,
            np.copy(self._rewards),
            np.copy(self._terminations),
            np.copy(self._truncations),
            infos,
        )

    def close_extras(self, **kwargs: Any) -> None:
        self._finalizer()
        super().close_extras(**kwargs)
