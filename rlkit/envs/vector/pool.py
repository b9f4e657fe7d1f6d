"""Free-running envs: hand actions to some envs, receive whichever are ready (EnvPool-style).

:class:`EnvPool` runs every env in a worker process of its own (the shared-memory workers of
:class:`~rlkit.envs.vector.shm.SharedMemoryVectorEnv`) and drops lock-step: :meth:`EnvPool.send`
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
:meth:`EnvPool.call` (and ``get_attr``, ``set_attr``) reach every env while none is in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.envs.vector.protocol import (
    CALL,
    LANE,
    PIPE,
    POLL_S,
    RESET,
    SET_ATTR,
    STEP,
    spin_acquire,
)
from rlkit.envs.vector.shm import SharedMemoryVectorEnv

__all__ = ["POOL_SPIN_S", "EnvPool"]

POOL_SPIN_S = 0.0005


class EnvPool(SharedMemoryVectorEnv):
    """``num_envs`` envs stepped free-running in worker processes; receive ``batch_size`` at a
    time.

    :param env_fns: callables that each build one env (as for ``SharedMemoryVectorEnv``).
    :param batch_size: envs per :meth:`recv` (default: all of them, i.e. lock-step).
    :param kwargs: ``context``, ``copy``, ``pin_cpus``, ``spin_s``, ``envs_per_worker`` as for
        the shared-memory env.
    """

    _post_each = True

    def __init__(
        self, env_fns: Sequence[Callable[[], gym.Env]], batch_size: int | None = None, **kwargs
    ):
        kwargs["in_parent"] = False
        # The caller waits for *any* env, and on a small machine a long spin takes CPU from the
        # workers it waits for (an A/B on 2 vCPUs:
        # 0.5 ms beat 2 ms and 0; re-measure with `bench env`).
        kwargs.setdefault("spin_s", POOL_SPIN_S)
        super().__init__(env_fns, **kwargs)
        n = self.num_envs
        batch_size = n if batch_size is None else batch_size
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or not 0 < batch_size <= n
        ):
            self.close()
            raise ValueError(
                f"batch_size must be an integer in [1, num_envs={n}], got {batch_size!r}"
            )
        self.batch_size = batch_size
        self._env_seq = np.zeros(n, dtype=np.int64)  # each env's command number
        self._flying: list[int] = []  # envs sent and not yet received, in send order
        self._queue: list[int] = []  # envs seen finished and not yet returned, oldest first
        self._posts = 0  # "done" posts taken beyond the envs returned so far
        self._was_reset = np.zeros(n, dtype=bool)  # the env's last command was a reset

    # -- sending ----------------------------------------------------------------------------
    def _post(self, i: int, cmd: int) -> None:
        self._env_seq[i] += 1
        self._v["cmd"][i], self._v["seq"][i] = cmd, self._env_seq[i]
        self._was_reset[i] = cmd == RESET
        self._w.go[i].release()
        self._flying.append(i)

    def _check_ids(self, env_ids: Any) -> list[int]:
        if self.closed:
            raise RuntimeError("this EnvPool is closed; make a new one")
        ids = np.asarray(env_ids).reshape(-1).tolist()
        bad = [i for i in ids if type(i) is not int or not 0 <= i < self.num_envs]
        if bad:
            raise ValueError(f"env ids {bad} out of range [0, {self.num_envs})")
        busy = sorted(set(ids).intersection(self._flying))
        if busy or len(set(ids)) != len(ids):
            raise RuntimeError(f"envs {busy or ids} are already stepping: recv() them first")
        return ids

    def async_reset(self, seed: int | None = None) -> None:
        """Reset every env (env ``i`` gets ``seed + i``); their first observations come back
        through :meth:`recv` like steps, ``batch_size`` at a time."""
        ids = self._check_ids(range(self.num_envs)) if not self._flying else None
        if ids is None:
            raise RuntimeError("async_reset() while envs are stepping: recv() them first")
        import pickle

        for i in ids:
            self._post(i, RESET)
            args = (None if seed is None else seed + i, None)
            self._w.conns[i].send_bytes(pickle.dumps(args))
        self._needs_reset = False

    def send(self, actions: Any, env_ids: Any) -> None:
        """Start envs ``env_ids`` stepping with ``actions`` (one row each) and return at once."""
        if self._needs_reset:
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

    # -- every env at once, between steps ----------------------------------------------------
    # The shared-memory env's call/set_attr count one "done" post per command; the pool's
    # workers post once per env, so these wait for every env's post themselves.
    def _command_all(self, cmd: int, payloads: list[Any], phase: str) -> list[Any]:
        if self.closed:
            raise RuntimeError("this EnvPool is closed; make a new one")
        if self.in_flight:
            raise RuntimeError(f"{phase}() while envs are stepping: recv() them first")
        import pickle

        v, ids = self._v, range(self.num_envs)
        for i in ids:
            self._env_seq[i] += 1
            v["cmd"][i], v["seq"][i] = cmd, self._env_seq[i]
            self._w.go[i].release()
            self._w.conns[i].send_bytes(pickle.dumps(payloads[i]))
        for _ in ids:
            while not self._done.acquire(timeout=POLL_S):
                for i in ids:
                    if v["posted"][i] != self._env_seq[i]:
                        self._alive_or_raise(i, phase)
        replies, errors = [], []
        for i in ids:
            while v["posted"][i] != self._env_seq[i]:  # a worker posts just before it marks
                time.sleep(0)
            length = int(v["msg_len"][i])
            if length == PIPE:
                data = self._recv_pipe(i, phase)
            else:
                data = bytes(self._info_bufs[i][:length]) if length else None
            reply = None if data is None else pickle.loads(data)
            if v["status"][i] != 0:
                errors.append(self._error(i, phase, reply))  # the env itself is still usable
            replies.append(reply)
        if errors:
            raise errors[0]
        return replies

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call method ``name`` (or read attribute ``name``) of every env, while none steps."""
        return tuple(self._command_all(CALL, [(name, args, kwargs)] * self.num_envs, "call"))

    def set_attr(self, name: str, values: Any) -> None:
        """Set attribute ``name`` of every env (one value each, or the same), while none steps."""
        if not isinstance(values, list | tuple):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"need num_envs={self.num_envs} values, got {len(values)}")
        self._command_all(SET_ATTR, [(name, value) for value in values], "set_attr")

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
        need = int(need)
        if len(self._flying) + len(self._queue) < need:
            raise RuntimeError(
                f"recv() needs {need} envs stepping or finished, only "
                f"{len(self._flying) + len(self._queue)} are: send() to more envs first"
            )
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._posts < need:  # one "done" post per finished env
            if spin_acquire(self._done, self._spin_s) or self._done.acquire(timeout=POLL_S):
                self._posts += 1
                continue
            for i in self._flying:
                self._alive_or_raise(i, "step")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {need} envs finished within {timeout_s} s")
        while len(self._queue) < need:  # a worker posts just before it marks its answer
            self._finished()
        self._finished()
        ids, self._queue = self._queue[:need], self._queue[need:]
        self._posts -= need
        return self._gather(ids)

    def _reply(self, i: int) -> Any:
        length = int(self._v["msg_len"][i])
        if length <= LANE:
            return self._as_info(self._lane(i, LANE - length))
        if length == PIPE:
            data = self._recv_pipe(i, "step")
        else:
            data = bytes(self._info_bufs[i][:length]) if length else None
        import pickle

        reply = None if data is None else pickle.loads(data)
        if self._v["status"][i] != 0:
            raise self._fail(str(self._error(i, "step", reply)))
        return reply

    def _gather(self, ids: list[int]):
        v = self._v
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
            reply = self._reply(i)
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
            lane = self._lane(i, LANE - length)
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
