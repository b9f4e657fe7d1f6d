"""What a collector hands an agent: per-env columns of experience, and the actor it acts with.

A :class:`Columns` holds ``T`` consecutive steps of ``m`` envs as plain numpy arrays (cheap to
ship: Ray moves them through its object store without pickling their data), with what the
acting policy recorded at each step and the episodes that ended. Every collector returns one,
whatever steps its envs (:mod:`rlkit.collectors`), so an agent never asks which backend made it.

An :class:`Actor` is the acting half of an algorithm: it chooses actions for a batch of
observations and records what its learner will need (PPO: log-probabilities and values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class Actor(Protocol):
    """What a collector acts with (see :class:`rlkit.agents.ppo.StochasticActor`).

    ``records`` are float32 arrays with one entry per observation given.
    """

    model: Any
    """The network whose weights a remote copy of the actor is sent."""

    def choose(self, obs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Actions (int64) for a batch of observations, and what the policy recorded."""

    def final(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """Records for the true final observations of episodes a time limit cut (PPO's
        bootstrap values); ``{}`` if it needs none."""

    def last(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """Records for the observations the columns end on; ``{}`` if it needs none."""

    def settings(self) -> dict[str, Any]:
        """What a copy elsewhere needs besides the weights to act the same (DQN's epsilon)."""

    def apply(self, settings: dict[str, Any]) -> None:
        """Take the :meth:`settings` of the actor this one copies."""


@dataclass
class Columns:
    """``T`` steps of ``m`` envs, one column per env (envs ``env_ids``, ascending).

    ``obs[t]`` is what ``actions[t]`` were taken in; ``obs[T]`` is where each env stands now.
    Where an episode ended at step ``t``, ``obs[t + 1]`` is the reset observation and the true
    final one is in ``final_obs`` (``final_at`` holds its ``(t, column)``). ``records[k][t]``
    is what the actor recorded acting at step ``t``; ``finals[k][t]`` what it recorded for a
    final observation cut by a time limit at step ``t`` (zero elsewhere); ``last[k]`` for
    ``obs[T]``. ``episodes`` rows are ``(at, return, length)``: the episode ended when ``at``
    of this call's env steps had been taken. ``contiguous`` says whether each column continues
    the column of the same env in the previous call (it does not when rollout workers race:
    a column's next fragment may come from another worker).
    """

    env_ids: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray
    final_at: np.ndarray
    records: dict[str, np.ndarray] = field(default_factory=dict)
    finals: dict[str, np.ndarray] = field(default_factory=dict)
    last: dict[str, np.ndarray] = field(default_factory=dict)
    episodes: list[tuple[int, float, int]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Time spent collecting, by phase (``env``, ``act``; ``transfer`` with rollout workers)."""
    contiguous: bool = True
    worker: int = 0
    round: int = 0
    node_id: str = "local"

    @property
    def steps(self) -> int:
        """Env steps in these columns (over their envs)."""
        return int(self.actions.size)

    def next_obs(self) -> np.ndarray:
        """The observation after each step, the true final one where an episode ended."""
        out = self.obs[1:].copy()
        for (t, j), frame in zip(self.final_at, self.final_obs, strict=True):
            out[t, j] = frame
        return out


def join(parts: list[Columns], seconds: dict[str, float]) -> Columns:
    """Columns of the same ``T`` side by side, in the order given (rollout workers' fragments).

    The episodes of every part count as ended at the end of the joined call, when the learner
    learns of them; ``seconds`` is the joined call's time split.
    """
    first = parts[0]
    widths = np.cumsum([0] + [len(p.env_ids) for p in parts])
    steps = sum(p.steps for p in parts)
    final_at = [p.final_at + np.array([0, w]) for p, w in zip(parts, widths, strict=False)]

    def cat(name: str, key: str | None = None, axis: int = 1) -> Any:
        if key is None:
            return np.concatenate([getattr(p, name) for p in parts], axis=axis)
        return np.concatenate([getattr(p, name)[key] for p in parts], axis=axis)

    return Columns(
        env_ids=cat("env_ids", axis=0),
        obs=cat("obs"),
        actions=cat("actions"),
        rewards=cat("rewards"),
        terminated=cat("terminated"),
        truncated=cat("truncated"),
        final_obs=cat("final_obs", axis=0),
        final_at=np.concatenate(final_at, axis=0),
        records={k: cat("records", k) for k in first.records},
        finals={k: cat("finals", k) for k in first.finals},
        last={k: cat("last", k, axis=0) for k in first.last},
        episodes=[(steps, ret, n) for p in parts for _, ret, n in p.episodes],
        seconds=seconds,
        contiguous=False,
        round=first.round,
    )


class EpisodeCounter:
    """Each env's running return and length; the one place episode bookkeeping lives."""

    def __init__(self, n: int):
        self.returns = np.zeros(n)
        self.lengths = np.zeros(n, dtype=np.int64)

    def reset(self) -> None:
        self.returns[:] = 0.0
        self.lengths[:] = 0

    def step(self, ids: np.ndarray, rewards: np.ndarray, done: np.ndarray) -> list[tuple]:
        """Count one step of envs ``ids`` (distinct); ``(return, length)`` of those ``done``,
        in the order given, whose counters then restart."""
        self.returns[ids] += rewards  # ids are distinct, so fancy-index += is exact
        self.lengths[ids] += 1
        ended = ids[done]
        rows = [(float(self.returns[i]), int(self.lengths[i])) for i in ended]
        self.returns[ended] = 0.0
        self.lengths[ended] = 0
        return rows


class ColumnWriter:
    """Fills :class:`Columns` one step of some envs at a time: what every collector shares.

    :param steps: ``T``, steps per column.
    :param obs: every env's current observation (env id order); it becomes row 0.
    :param counter: the collector's :class:`EpisodeCounter` (episodes span calls).
    """

    def __init__(self, steps: int, obs: np.ndarray, counter: EpisodeCounter):
        n, shape = len(obs), obs.shape[1:]
        self.obs = np.empty((steps + 1, n, *shape), dtype=obs.dtype)
        self.obs[0] = obs
        self.actions = np.empty((steps, n), dtype=np.int64)
        self.rewards = np.empty((steps, n), dtype=np.float64)  # as envs give them
        self.terminated = np.empty((steps, n), dtype=bool)
        self.truncated = np.empty((steps, n), dtype=bool)
        self.records: dict[str, np.ndarray] = {}
        self.finals: dict[str, np.ndarray] = {}
        self.final_obs: list[np.ndarray] = []
        self.final_at: list[tuple[int, int]] = []
        self.episodes: list[tuple[int, float, int]] = []
        self.counter = counter
        self.taken = 0  # env steps written so far

    def _put(self, into: dict[str, np.ndarray], t, ids, values: dict[str, np.ndarray]) -> None:
        for key, v in values.items():
            if key not in into:
                into[key] = np.zeros(self.actions.shape, dtype=np.float32)
            into[key][t, ids] = v

    def write(self, t, ids, actions, records, out) -> np.ndarray:
        """Step ``t`` (an int, or one per env) of envs ``ids``, which acted ``actions`` (with
        ``records``) and answered ``out`` = ``(next_obs, rewards, terminated, truncated,
        infos)`` (SAME_STEP autoreset). Returns the positions in ``ids`` of episodes a time
        limit cut whose final observation was reported (for :meth:`Actor.final`)."""
        next_obs, rewards, terminated, truncated, infos = out
        self.obs[t + 1, ids] = next_obs
        self.actions[t, ids] = actions
        self._put(self.records, t, ids, records)
        self.rewards[t, ids] = rewards
        self.terminated[t, ids] = terminated
        self.truncated[t, ids] = truncated
        self.taken += len(ids)
        done = np.logical_or(terminated, truncated)
        rows = self.counter.step(ids, rewards, done)
        self.episodes += [(self.taken, ret, length) for ret, length in rows]
        mask = infos.get("_final_obs")  # an env that reports none: its ends are terminations
        if not rows or mask is None:
            return np.zeros(0, dtype=np.int64)
        mask = np.asarray(mask, dtype=bool)
        rows_t = np.broadcast_to(t, len(ids))
        for i in np.flatnonzero(done & mask):
            self.final_obs.append(infos["final_obs"][i])
            self.final_at.append((int(rows_t[i]), int(ids[i])))
        return np.flatnonzero(truncated & ~terminated & mask)

    def finals_of(self, actor: Any, t, ids, cut: np.ndarray, infos: dict) -> None:
        """Record :meth:`Actor.final` for the final observations of ``ids[cut]``."""
        if len(cut):
            values = actor.final(np.stack([infos["final_obs"][i] for i in cut]))
            self._put(self.finals, np.broadcast_to(t, len(ids))[cut], ids[cut], values)

    def columns(self, env_ids: np.ndarray, last, seconds: dict[str, float]) -> Columns:
        """The columns of envs ``env_ids`` (all of them when every env was written)."""
        cols = np.asarray(env_ids, dtype=np.int64)
        whole = len(cols) == self.obs.shape[1]
        pick = (lambda a: a) if whole else (lambda a: a[:, cols])
        where = {int(j): k for k, j in enumerate(cols)}
        at = [(t, where[j]) for t, j in self.final_at if j in where]
        finals = [f for (t, j), f in zip(self.final_at, self.final_obs, strict=True) if j in where]
        shape = self.obs.shape[2:]
        return Columns(
            env_ids=cols,
            obs=pick(self.obs),
            actions=pick(self.actions),
            rewards=pick(self.rewards),
            terminated=pick(self.terminated),
            truncated=pick(self.truncated),
            final_obs=np.array(finals, dtype=self.obs.dtype).reshape(-1, *shape),
            final_at=np.array(at, dtype=np.int64).reshape(-1, 2),
            records={k: pick(v) for k, v in self.records.items()},
            finals={k: pick(v) for k, v in self.finals.items()},
            last=last,
            episodes=self.episodes,
            seconds=seconds,
        )
