"""Free-running envs: each env steps at its own pace, and the actor acts on whichever answer.

The pool (:class:`rlkit.envs.vector.EnvPool`) returns ``batch_size`` envs at a time, in the
order they finished. Each env fills its own column in its own order, so a column is still one
env's consecutive steps, and what the actor recorded acting is written with the answer it got.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rlkit.collectors.columns import Actor, Columns, ColumnWriter, EpisodeCounter


class PoolCollector:
    """Steps a free-running :class:`rlkit.envs.vector.EnvPool` with an actor.

    Without ``steps``, :meth:`collect` is one exchange: the envs waiting for an action get one,
    and the next ``batch_size`` to answer come back, one step each (DQN: while the learner
    learns on them, the others keep stepping). With ``steps``, every env fills a column of
    ``steps`` steps (a PPO rollout): the envs that answer are sent again until their column is
    full, then wait, so the call ends with every env waiting.

    :param pool: the pool (the collector closes it).
    :param spec: its :class:`rlkit.envs.EnvSpec`.
    """

    phases: tuple[str, ...] = ("env", "act")

    def __init__(self, pool: Any, spec: Any):
        self.envs = pool
        self.spec = spec
        self.num_envs = n = int(pool.num_envs)
        self.obs: np.ndarray | None = None
        self.counter = EpisodeCounter(n)
        self._waiting = np.arange(n)  # envs waiting for an action
        # What each env was last sent and what the actor recorded choosing it: an env sent in
        # one exchange may answer in a later one.
        self._sent_actions = np.zeros(n, dtype=np.int64)
        self._sent: dict[str, np.ndarray] = {}

    def reset(self, seed: int) -> None:
        """Fresh episodes, env ``i`` seeded ``seed + i``; returns once every env has reset."""
        while self.envs.in_flight:  # answers of the previous exchange nobody will read
            self.envs.recv(count=self.envs.in_flight)
        self.envs.async_reset(seed=seed)
        obs, *_, ids = self.envs.recv(count=self.num_envs)
        self.obs = np.empty_like(obs)
        self.obs[ids] = obs
        self.counter.reset()
        self._waiting = np.arange(self.num_envs)

    def collect(self, actor: Actor, steps: int | None = None) -> Columns:
        n, pool = self.num_envs, self.envs
        T = 1 if steps is None else int(steps)
        want = pool.batch_size if steps is None else n
        writer = ColumnWriter(T, self.obs, self.counter)
        count = np.zeros(n, dtype=np.int64)  # steps in each env's column
        sent_actions, sent = self._sent_actions, self._sent
        full: list[np.ndarray] = []
        filled, send = 0, self._waiting
        env_s = act_s = 0.0
        while filled < want:
            if len(send):
                t0 = time.perf_counter()
                actions, records = actor.choose(self.obs[send])
                act_s += time.perf_counter() - t0
                sent_actions[send] = actions
                for key, v in records.items():
                    sent.setdefault(key, np.zeros(n, dtype=np.float32))[send] = v
                t0 = time.perf_counter()
                pool.send(actions, send)
                env_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            *out, got = pool.recv(count=min(pool.batch_size, pool.in_flight))
            t1 = time.perf_counter()
            rows = count[got]
            records = {key: v[got] for key, v in sent.items()}
            cut = writer.write(rows, got, sent_actions[got], records, tuple(out))
            t2 = time.perf_counter()
            writer.finals_of(actor, rows, got, cut, out[4])
            act_s += time.perf_counter() - t2
            env_s += t1 - t0
            self.obs[got] = out[0]
            count[got] += 1
            done = count[got] == T
            full.append(got[done])
            filled += int(done.sum())
            send = got[~done]
        self._waiting = ids = np.sort(np.concatenate(full))
        t0 = time.perf_counter()
        last = actor.last(self.obs[ids])
        act_s += time.perf_counter() - t0
        return writer.columns(ids, last, {"env": env_s, "act": act_s})

    def close(self) -> None:
        self.envs.close()
