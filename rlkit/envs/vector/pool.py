"""Free-running envs: hand actions to some envs, receive whichever are ready (EnvPool-style).

:class:`EnvPool` runs every env in a worker process (the shared-memory workers of
:class:`~rlkit.envs.vector.transport.Transport`, which the lock-step env uses too) and drops
lock-step: :meth:`EnvPool.send`
starts the given envs stepping and returns at once; :meth:`EnvPool.recv` returns as soon as
``batch_size`` envs have finished, whichever they are, with their ``env_ids``. With
``batch_size < num_envs`` a slow env (an episode reset, a busy core) no longer holds the others
back: the caller acts on the ready ones while the rest still step.

How it differs from gymnasium's ``VectorEnv`` contract:

- there is no ``step(actions)`` for all envs: a batch is ``(obs, rewards, terminated,
  truncated, infos, env_ids)``, in the order the envs finished, and only ``env_ids`` says which
  rows belong to which env — a rollout must keep per-env trajectories by id (PPO), or just add
  the transitions (DQN);
- an env is in flight from its ``send`` until the ``recv`` that returns it; sending to an env in
  flight is an error;
- autoreset is ``SAME_STEP`` as in rlkit's vector envs: an ended env's row is already its next
  episode's first observation, the last one is in ``infos["final_obs"]`` at that row.

The double-buffered pattern is ``num_envs = 2 × batch_size``: while the policy acts on one half,
the other half steps. With ``envs_per_worker=k`` each worker process hosts ``k`` envs and steps
whichever of them have actions, one after another, posting each answer as it goes: with more
envs than cores, a worker then always has an env to step while the caller answers another
(Sample Factory's double-buffered sampling), and the machine runs one process per core instead
of one per env.

How a training loop uses it (``vector_backend="pool"`` in :mod:`rlkit.training`): after
:meth:`EnvPool.async_reset` it receives every env's first observation, so that every env waits
for an action; then each round acts on the envs just received, sends their actions
(:meth:`EnvPool.send`) and receives the next ``batch_size`` to answer (:meth:`EnvPool.recv`).
The rows that come back are other envs than the ones just sent, so an agent keeps per-env state
by id: DQN remembers the observation and action each env was sent and pairs them with that env's
answer; PPO gives each env its own rollout column and stops sending to an env whose column is
full, receiving the last envs in flight with ``recv(count=...)`` fewer than a batch.
:meth:`EnvPool.call` (and ``get_attr``, ``set_attr``) reach every env while none is in flight:
they are a send of that command to every env and a receive of all of them, on the same path.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space

from rlkit.envs.vector.protocol import CALL, LANE, POLL_S, RESET, SET_ATTR, STEP, spin_acquire
from rlkit.envs.vector.transport import Transport

__all__ = ["POOL_SPIN_S", "EnvPool"]

POOL_SPIN_S = 0.0005


class _Pool(enum.Enum):
    """Where a pool stands; which envs are in flight is its per-env data."""

    NEW = "started: async_reset() before send()"
    RUNNING = "reset: envs step as they are sent and come back as they finish"


class EnvPool:
    """``num_envs`` envs stepped free-running in worker processes; receive ``batch_size`` at a
    time.

    :param env_fns: callables that each build one env (as for ``SharedMemoryVectorEnv``).
    :param batch_size: envs per :meth:`recv` (default: all of them, i.e. lock-step).
    :param context: multiprocessing start method (as for ``SharedMemoryVectorEnv``).
    :param pin_cpus: pin each worker to one CPU, round robin (``None``: when 2+ envs and CPUs).
    :param spin_s: how long :meth:`recv` polls before it sleeps, in seconds.
    :param envs_per_worker: envs each worker process hosts, stepped one after another.
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        batch_size: int | None = None,
        *,
        context: str | None = None,
        pin_cpus: bool | None = None,
        # The caller waits for *any* env, and on a small machine a long spin takes CPU from the
        # workers it waits for (an A/B on 2 vCPUs: 0.5 ms beat 2 ms and 0; re-measure with
        # `bench env`).
        spin_s: float = POOL_SPIN_S,
        envs_per_worker: int = 1,
    ):
        self._t = t = Transport(
            env_fns, context, in_parent=False, pin_cpus=pin_cpus, spin_s=spin_s,
            envs_per_worker=envs_per_worker, post_each=True, owner="EnvPool",
        )  # fmt: skip
        self.num_envs = n = t.num_envs
        batch_size = n if batch_size is None else batch_size
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or not 0 < batch_size <= n
        ):
            t.close()
            raise ValueError(
                f"batch_size must be an integer in [1, num_envs={n}], got {batch_size!r}"
            )
        self.batch_size = batch_size
        self.single_observation_space, self.single_action_space = t.obs_space, t.act_space
        self.observation_space = batch_space(t.obs_space, n)
        self.action_space = batch_space(t.act_space, n)
        self.metadata, self.render_mode = t.metadata, t.render_mode
        self._v = t.v
        self._state = _Pool.NEW
        self._env_seq = np.zeros(n, dtype=np.int64)  # each env's command number
        self._flying: list[int] = []  # envs sent and not yet received, in send order
        self._queue: list[int] = []  # envs seen finished and not yet returned, oldest first
        self._posts = 0  # "done" posts taken beyond the envs returned so far
        self._was_reset = np.zeros(n, dtype=bool)  # the env's last command was a reset

    @property
    def closed(self) -> bool:
        """Closed by :meth:`close`, or by a worker's failure (which shuts every worker down)."""
        return self._t.closed

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the workers; each leads a process group with its env's children."""
        return self._t.worker_pids

    @property
    def worker_cpus(self) -> list[int | None]:
        """The CPU each env's worker is pinned to (``None``: not pinned)."""
        return self._t.worker_cpus

    def close(self) -> None:
        """Stop the workers and their envs (also on garbage collection and at exit)."""
        self._t.close()

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- sending ----------------------------------------------------------------------------
    def _post(self, i: int, cmd: int, payload: Any = None) -> None:
        self._env_seq[i] += 1
        self._v["cmd"][i], self._v["seq"][i] = cmd, self._env_seq[i]
        self._was_reset[i] = cmd == RESET
        self._t.go[i].release()
        if cmd != STEP:  # after the post: the worker reads it once it is awake
            self._t.post(i, payload)
        self._flying.append(i)

    def _check_ids(self, env_ids: Any) -> list[int]:
        self._t.check_open()
        ids = np.asarray(env_ids).reshape(-1).tolist()
        bad = [i for i in ids if type(i) is not int or not 0 <= i < self.num_envs]
        if bad:
            raise ValueError(f"env ids {bad} out of range [0, {self.num_envs})")
        busy = sorted(set(ids).intersection(self._flying))
        if busy or len(set(ids)) != len(ids):
            raise RuntimeError(f"envs {busy or ids} are already stepping: recv() them first")
        return ids

    def _all_idle(self, phase: str) -> list[int]:
        self._t.check_open()
        if self.in_flight:
            raise RuntimeError(f"{phase}() while envs are stepping: recv() them first")
        return list(range(self.num_envs))

    def async_reset(self, seed: int | None = None) -> None:
        """Reset every env (env ``i`` gets ``seed + i``); their first observations come back
        through :meth:`recv` like steps, ``batch_size`` at a time."""
        for i in self._all_idle("async_reset"):
            self._post(i, RESET, (None if seed is None else seed + i, None))
        self._state = _Pool.RUNNING

    def send(self, actions: Any, env_ids: Any) -> None:
        """Start envs ``env_ids`` stepping with ``actions`` (one row each) and return at once."""
        if self._state is _Pool.NEW:
            raise RuntimeError("call async_reset() before send()")
        ids = self._check_ids(env_ids)
        actions = np.asarray(actions)
        want = (len(ids), *self.single_action_space.shape)
        if actions.shape != want:
            raise ValueError(
                f"actions must have shape {want} (one per env id), got {actions.shape}"
            )
        self._v["actions"][ids] = actions
        for i in ids:
            self._post(i, STEP)

    # -- receiving ---------------------------------------------------------------------------
    def _finished(self) -> None:
        """Move envs whose answer is posted from the in-flight list to the queue."""
        posted = self._v["posted"]
        for i in list(self._flying):
            if posted[i] == self._env_seq[i]:
                self._flying.remove(i)
                self._queue.append(i)

    @property
    def in_flight(self) -> int:
        """Envs sent (or reset) and not yet returned by :meth:`recv`."""
        return len(self._flying) + len(self._queue)

    def _wait(self, need: int, timeout_s: float | None, phase: str) -> list[int]:
        """The first ``need`` envs to finish, once they have: what every receive is made of."""
        if self.in_flight < need:
            raise RuntimeError(
                f"recv() needs {need} envs stepping or finished, only {self.in_flight} are: "
                "send() to more envs first"
            )
        t, spin_s = self._t, self._t.spin_s
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._posts < need:  # one "done" post per finished env
            if spin_acquire(t.done, spin_s) or t.done.acquire(timeout=POLL_S):
                self._posts += 1
                continue
            for i in self._flying:
                t.alive_or_raise(i, phase)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {need} envs finished within {timeout_s} s")
        while len(self._queue) < need:  # a worker posts just before it marks its answer
            self._finished()
        self._finished()
        ids, self._queue = self._queue[:need], self._queue[need:]
        self._posts -= need
        return ids

    def recv(self, timeout_s: float | None = None, count: int | None = None):
        """Wait until ``count`` envs (default ``batch_size``) have finished; return their step.

        :param timeout_s: give up after this many seconds (``None``: wait as long as it takes).
        :param count: envs to return, in ``[1, num_envs]``; fewer than ``batch_size`` lets a
            caller that has stopped sending (the end of a PPO rollout) collect the last envs
            in flight.
        :return: ``(obs, rewards, terminated, truncated, infos, env_ids)``, one row per env id.
        :raises RuntimeError: when a worker died or failed (naming it), or nothing is stepping.
        :raises TimeoutError: after ``timeout_s`` seconds without enough envs finishing.
        """
        need = self.batch_size if count is None else count
        if (
            isinstance(need, bool)
            or not isinstance(need, int | np.integer)
            or not 0 < need <= self.num_envs
        ):
            raise ValueError(
                f"count must be an integer in [1, num_envs={self.num_envs}], got {count!r}"
            )
        return self._gather(self._wait(int(need), timeout_s, "step"))

    # -- every env at once, between steps: a send to all and a receive of all -----------------
    def _command_all(self, cmd: int, payloads: list[Any], phase: str) -> list[Any]:
        ids = self._all_idle(phase)
        for i in ids:
            self._post(i, cmd, payloads[i])
        got = self._wait(len(ids), None, phase)
        replies: list[Any] = [None] * len(ids)
        errors = []
        for i in sorted(got):  # every reply is read, so a failing env leaves none behind
            try:
                replies[i] = self._t.as_info(self._t.reply(i, phase))
            except RuntimeError as exc:
                if self._t.closed:
                    raise
                errors.append(exc)  # the env itself is still usable
        if errors:
            raise errors[0]
        return replies

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call method ``name`` (or read attribute ``name``) of every env, while none steps."""
        return tuple(self._command_all(CALL, [(name, args, kwargs)] * self.num_envs, "call"))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Attribute ``name`` of every env, while none steps."""
        return self.call(name)

    def set_attr(self, name: str, values: Any) -> None:
        """Set attribute ``name`` of every env (one value each, or the same), while none steps."""
        self._command_all(SET_ATTR, self._t.set_attr_payloads(name, values), "set_attr")

    def _gather(self, ids: list[int]):
        v, t = self._v, self._t
        obs = v["obs"][ids]  # fancy indexing copies
        rewards, terminated = v["rewards"][ids], v["terminated"][ids]
        truncated = v["truncated"][ids]
        fresh = self._was_reset[ids]  # a reset's row: no reward, not ended
        rewards[fresh], terminated[fresh], truncated[fresh] = 0.0, False, False
        infos = self._float_infos(ids) if not (terminated.any() or truncated.any()) else None
        if infos is not None:
            return obs, rewards, terminated, truncated, infos, np.asarray(ids, dtype=np.int64)
        infos = {}
        for k, i in enumerate(ids):
            reply = t.as_info(t.reply(i, "step"))
            if (terminated[k] or truncated[k]) and isinstance(reply, tuple):
                _put(infos, "final_obs", k, len(ids), v["final_obs"][i].copy())
                _put(infos, "final_info", k, len(ids), reply[0])
                reply = reply[1]
            for key, value in (reply or {}).items():
                _put(infos, key, k, len(ids), value)
        return obs, rewards, terminated, truncated, infos, np.asarray(ids, dtype=np.int64)

    def _float_infos(self, ids: list[int]) -> dict[str, Any] | None:
        """The common case in one go: every env answered with the same float keys (ViZDoom's
        game variables), whose values sit in the shared rows; ``None`` otherwise."""
        msg_len, keys = self._v["msg_len"], None
        for i in ids:
            length = int(msg_len[i])
            if length > LANE or self._v["status"][i] != 0:
                return None
            lane = self._t.lane(i, LANE - length)
            if keys is None:
                keys = lane.keys
            elif lane.keys is not keys and lane.keys != keys:
                return None
        values = self._v["info_values"][ids, : len(keys)].T
        mask = np.ones(len(ids), dtype=bool)
        infos: dict[str, Any] = {}
        for j, key in enumerate(keys):
            infos[key], infos["_" + key] = values[j], mask.copy()
        return infos


def _put(infos: dict[str, Any], key: str, row: int, n: int, value: Any) -> None:
    """gymnasium's info batching (value array + ``_key`` mask), over the batch's rows."""
    if key not in infos:
        floats = isinstance(value, float | int | np.number) and not isinstance(value, bool)
        infos[key] = np.zeros(n) if floats else np.full(n, None, dtype=object)
        infos["_" + key] = np.zeros(n, dtype=bool)
    infos[key][row] = value
    infos["_" + key][row] = True
