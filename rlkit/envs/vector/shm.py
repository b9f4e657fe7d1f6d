"""Vector envs stepped in parallel processes, data exchanged through shared memory.

:class:`SharedMemoryVectorEnv` keeps every per-step array (observations, final observations,
actions, rewards, terminated, truncated, float infos) in one shared mapping, and steps envs in
lock-step like gymnasium's vector envs. What makes it fast on a small machine (measured with
``python -m rlkit bench env``; the figures are in ``data/benchmarks/`` and the README):

- **The calling process steps env 0 itself** while worker processes step the others: ``n`` envs
  cost ``n - 1`` workers, and the parent stops being an idle middleman that must be woken.
- **Waiters poll before they sleep** (``spin_s``): a sleeping process costs a wake-up, and on a
  VM an idle vCPU halts, so waking it is slow. The poll is a userspace atomic plus
  ``sched_yield``, which hands the CPU to anything else that is runnable.
- **Workers are pinned, one CPU each, round robin** (``pin_cpus``), and so are the ViZDoom
  engines their envs start: a worker and its engine ping-pong on one CPU instead of across two.
  The calling process is never pinned (only env 0's engine is).
- **Nothing is pickled per step** for ViZDoom: observations are written in place and an info of
  up to 16 floats (health, ammo, …) travels as numbers; other infos are pickled into a
  per-worker shared buffer, and only a reply larger than that goes through a pipe.

What is left is lock-step itself: an episode reset in one env makes the others wait, and the
parent spends some Python per step gathering and batching results.

POSIX only (Linux, macOS; pinning is Linux only). Scripts that start workers need an ``if
__name__ == "__main__":`` guard, as with any ``spawn``/``forkserver`` multiprocessing code;
notebooks do not.
"""

from __future__ import annotations

import enum
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rlkit.envs.vector.protocol import (
    CALL,
    DEFAULT_SPIN_S,
    ERROR,
    LANE,
    PIPE,
    POLL_S,
    RESET,
    SET_ATTR,
    STEP,
    Lane,
    float_keys,
    serve,
    spin_acquire,
)
from rlkit.envs.vector.transport import Transport

__all__ = ["SharedMemoryVectorEnv"]


class _Exchange(enum.Enum):
    """Where the exchange with the workers stands (gymnasium's ``AsyncState``, for one
    command at a time)."""

    IDLE = "no command out"
    BUSY = "a command is out and its replies are not all read"
    INTERRUPTED = "a wait was cut short (Ctrl-C): the next command drains its replies first"


class SharedMemoryVectorEnv(VectorEnv):
    """Step ``len(env_fns)`` envs in parallel: env 0 in this process, the others in worker
    processes, one env each or ``envs_per_worker`` each (or every env in a worker, with
    ``in_parent=False``).

    Behaves like gymnasium's vector envs with ``autoreset_mode=SAME_STEP``: when an env ends,
    ``step`` returns its reset observation, and ``infos["final_obs"]`` (object array) /
    ``infos["final_info"]`` hold the last observation and info at the ended indices, with
    ``infos["_final_obs"]`` / ``infos["_final_info"]`` as masks. Infos are batched exactly as
    ``SyncVectorEnv`` batches them.

    Only array observation and action spaces (``Box``, ``Discrete``, ``MultiDiscrete``,
    ``MultiBinary``) fit in shared memory; use ``backend="async"`` for others.

    :param env_fns: callables that each build one env; they must pickle (top-level functions,
        ``functools.partial(make_env, ...)``; lambdas work too, through cloudpickle).
    :param context: multiprocessing start method; default ``"forkserver"`` where available,
        else ``"spawn"``. ``"fork"`` is accepted but unsafe once torch has started threads.
    :param copy: return a copy of the observations; ``False`` returns a read-only view of the
        shared buffer, valid until the next ``step``/``reset``.
    :param in_parent: step env 0 in this process, during :meth:`step_wait` (so
        ``step_async`` still returns at once). Its errors are raised like a worker's; unlike a
        worker's env, its engine outlives a SIGKILL of this process, as a plain env's does.
    :param pin_cpus: pin each worker (and the processes its env starts) to one CPU, round robin
        over the CPUs this process may use; ``None``: pin when there are 2+ envs and 2+ CPUs.
        Turn it off when other heavy work shares the machine.
    :param spin_s: how long a waiting side polls before it sleeps, in seconds (0: sleep at once).
    :param envs_per_worker: envs each worker process hosts (consecutive indices), stepped one
        after another: fewer processes than envs, for machines with fewer cores than envs.
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        context: str | None = None,
        *,
        copy: bool = True,
        in_parent: bool = True,
        pin_cpus: bool | None = None,
        spin_s: float = DEFAULT_SPIN_S,
        envs_per_worker: int = 1,
    ) -> None:
        self._t = t = Transport(
            env_fns, context, in_parent=in_parent, pin_cpus=pin_cpus, spin_s=spin_s,
            envs_per_worker=envs_per_worker,
        )  # fmt: skip
        self.num_envs, self.copy = n, _ = t.num_envs, copy
        self.single_observation_space, self.single_action_space = t.obs_space, t.act_space
        self.observation_space = batch_space(t.obs_space, n)
        self.action_space = batch_space(t.act_space, n)
        self.metadata = {**t.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        self.render_mode = t.render_mode
        # The hot path reads these every step: plain attributes, not lookups through ``_t``.
        self._v = v = t.v
        self._done, self._spin_s, self._first = t.done, t.spin_s, t.first
        self._step_arrays = (v["rewards"], v["terminated"], v["truncated"])
        self._info_values = v["info_values"]
        self._act_shape, self._act_dtype = self.action_space.shape, self.action_space.dtype
        self._all, self._worker_ids = list(range(n)), list(range(t.first, n))
        self._targets: list[int] = []  # workers the last command went to (by env index)
        self._unread: list[int] = []  # of those, workers whose reply is not read yet
        self._local_job: tuple[int, Any] | None = None  # a command for the parent's env 0
        self._state, self._needs_reset, self._seq = _Exchange.IDLE, True, 0

    @property
    def closed(self) -> bool:
        """Closed by :meth:`close`, or by a worker's failure (which shuts every worker down)."""
        return self._t.closed

    @closed.setter
    def closed(self, value: bool) -> None:  # gymnasium's close() sets it
        if value:
            self._t.close()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the workers (of envs 1… with ``in_parent``, else of envs 0…); each
        leads a process group with its env's children."""
        return self._t.worker_pids

    @property
    def worker_cpus(self) -> list[int | None]:
        """The CPU each env's worker is pinned to (``None``: not pinned; env 0 with
        ``in_parent`` is stepped by this process, which is never pinned)."""
        return self._t.worker_cpus

    # -- plumbing ------------------------------------------------------------------------------
    def _ready(self) -> None:
        """Raise if closed or a step is pending; finish the replies of an interrupted command."""
        self._t.check_open()
        if self._state is _Exchange.BUSY:
            raise RuntimeError("a step_async() is pending: call step_wait() first")
        if self._state is _Exchange.INTERRUPTED:
            self._drain()

    def _send(self, targets: list[int], cmd: int, args: Sequence[Any] | None = None) -> None:
        """Wake workers ``targets`` with ``cmd``; ``args[k]`` (if any) goes to ``targets[k]``."""
        if self._state is not _Exchange.IDLE or self._t.closed:
            self._ready()
        self._seq += 1
        v, first = self._v, self._first
        if first and targets[0] == 0:  # the parent's env: done in _collect, after the posts
            self._local_job = (cmd, None if args is None else args[0])
        self._state = _Exchange.BUSY
        if targets is self._all and args is None:  # every step: the short way
            workers = self._worker_ids
            if workers:
                v["remaining"][0] = len(workers)
                v["cmd"][first:], v["seq"][first:] = cmd, self._seq
                for go in self._t.worker_go:
                    go.release()
            self._targets, self._unread = workers, workers[:]
            return
        ks = [k for k, i in enumerate(targets) if i >= first]  # positions in targets
        workers = [targets[k] for k in ks]
        v["remaining"][0] = len(workers)
        v["cmd"][workers], v["seq"][workers] = cmd, self._seq
        for k, i in zip(ks, workers, strict=True):
            self._t.go[i].release()
            if args is not None:  # after the post: the worker reads it once it is awake
                self._t.post(i, args[k])
        self._targets, self._unread = workers, list(workers)

    def _collect(self, phase: str) -> list[Any]:
        """Sleep until every target has answered, then unpickle the replies in index order."""
        out: list[Any] = [None] * self.num_envs
        t, msg_len, status, unread = self._t, self._v["msg_len"], self._v["status"], self._unread
        in_pipe = False  # a cut inside a pipe read cannot be repaired
        try:
            local_error = None
            if self._local_job is not None:  # env 0 steps here while the workers step theirs
                cmd, args = self._local_job
                self._local_job = None
                try:
                    out[0] = reply = serve(t.local, cmd, 0, self._v, lambda: args)
                    keys = float_keys(reply) if cmd == STEP else None
                    if keys is not None:  # as a worker does: numbers into the shared rows
                        self._info_values[0, : len(keys)] = tuple(reply.values())
                        out[0] = Lane(0, t.lane_keys_of(0, keys))
                except Exception as exc:
                    local_error = exc
            if self._targets and not spin_acquire(self._done, self._spin_s):
                while not self._done.acquire(timeout=POLL_S):
                    for i in self._targets:
                        if self._v["posted"][i] != self._seq:
                            t.alive_or_raise(i, phase)
            if local_error is not None:  # env 0 comes first, as with workers
                exc = local_error
                text = f"env 0 ({t.labels[0]}, in this process) failed during {phase}: "
                text += f"{type(exc).__name__}: {exc}"
                if phase in ("call", "set_attr"):  # the env itself is still usable
                    raise RuntimeError(text) from exc
                raise t.fail(text) from exc
            while unread:
                i = unread[0]
                length = msg_len.item(i)
                if length <= LANE:
                    unread.pop(0)
                    out[i], data = t.lane(i, LANE - length), None
                elif length == PIPE:
                    in_pipe = True
                    data = t.recv_pipe(i, phase)
                    unread.pop(0)
                    in_pipe = False
                else:
                    unread.pop(0)
                    data = t.info_bufs[i][:length] if length else None
                if data is not None:
                    out[i] = pickle.loads(data)
                if status.item(i) == ERROR:
                    if phase in ("call", "set_attr"):  # the env itself is still usable
                        raise t.error(i, phase, out[i])
                    raise t.fail(str(t.error(i, phase, out[i])))
        except BaseException:
            if in_pipe and not t.closed:
                raise t.fail("interrupted while reading a reply; make a new env") from None
            self._state = _Exchange.INTERRUPTED  # the next command drains what is left first
            raise
        self._state = _Exchange.IDLE
        return out

    def _drain(self) -> None:
        """Wait out and drop the replies of an interrupted command, so the next one is in sync."""
        for i in self._targets:
            while self._v["posted"][i] != self._seq:  # written by the worker after its post
                self._done.acquire(timeout=0.01)
                self._t.alive_or_raise(i, "drain")
        while self._done.acquire(False):  # a post nobody consumed; every worker is idle now
            pass
        for i in self._unread:
            if self._v["msg_len"][i] == PIPE:
                self._t.conns[i].recv_bytes()
        self._unread, self._state = [], _Exchange.IDLE

    def _obs(self) -> np.ndarray:
        if self.copy:
            return self._v["obs"].copy()
        view = self._v["obs"].view()
        view.flags.writeable = False
        return view

    def _batch_infos(self, replies: list[Any]) -> dict[str, Any]:
        """``SyncVectorEnv``'s info batching, vectorised when every env gave the same keys with
        scalars of one type (ViZDoom's game variables: the per-step common case)."""
        first = replies[0]
        if type(first) is Lane:  # the common case: every env's floats sit in the shared rows
            keys = first.keys
            for reply in replies:
                if type(reply) is not Lane or (reply.keys is not keys and reply.keys != keys):
                    break
            else:
                values = self._info_values[:, : len(keys)].T.copy()
                masks = np.empty(values.shape, dtype=bool)
                masks.fill(True)  # (np.ones is a Python function: slower here)
                infos = {}
                for j, key in enumerate(keys):
                    infos[key] = values[j]
                    infos["_" + key] = masks[j]
                return infos
        keys = first.keys if type(first) is Lane else float_keys(first)
        if keys is not None and "final_obs" not in keys:  # (_add_info treats it specially)
            lanes, dicts = [], []
            for i, reply in enumerate(replies):
                if type(reply) is Lane and reply.keys == keys:
                    lanes.append(i)
                elif float_keys(reply) == keys:
                    dicts.append(i)
                else:
                    break
            else:  # every env gave these keys, all floats: _add_info would make float64 arrays
                values = np.empty((len(replies), len(keys)))
                if lanes and lanes[-1] - lanes[0] == len(lanes) - 1:  # the usual: a slice
                    rows = slice(lanes[0], lanes[-1] + 1)
                    values[rows] = self._v["info_values"][rows, : len(keys)]
                elif lanes:
                    values[lanes] = self._v["info_values"][lanes, : len(keys)]
                for i in dicts:
                    values[i] = tuple(replies[i].values())
                values = values.T.copy()
                masks = np.empty(values.shape, dtype=bool)
                masks.fill(True)
                infos = {}
                for key, value, mask in zip(keys, values, masks, strict=True):
                    infos[key], infos["_" + key] = value, mask
                return infos
        infos = {}
        for i, reply in enumerate(replies):
            if reply:
                infos = self._add_info(infos, self._t.as_info(reply), i)
        return infos

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the envs: env ``i`` gets seed ``seed + i`` (or ``seed[i]`` from a list).

        ``options["reset_mask"]`` (bool array, one per env) resets only the masked envs, as in
        gymnasium; the other options go to every env's ``reset``.
        """
        n = self.num_envs
        if seed is None or isinstance(seed, int | np.integer):
            seeds = [None if seed is None else int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"seed list must have num_envs={n} entries, got {len(seeds)}")
        targets = self._all
        if options and "reset_mask" in options:
            options = dict(options)
            mask = options.pop("reset_mask")
            if not (isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (n,)):
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({n},)")
            if not mask.any():
                raise ValueError("options['reset_mask'] must select at least one env")
            targets = [int(i) for i in np.flatnonzero(mask)]
        self._send(targets, RESET, [(seeds[i], options) for i in targets])
        infos: dict[str, Any] = {}
        for i, reply in enumerate(self._collect("reset")):
            if reply:
                infos = self._add_info(infos, reply, i)
        self._needs_reset = False
        return self._obs(), infos

    def step_async(self, actions: Any) -> None:
        """Start stepping every env with ``actions`` (shape ``action_space.shape``) and return at
        once, so the caller can compute while the envs step. Finish with :meth:`step_wait`."""
        if self._state is not _Exchange.IDLE or self._t.closed:
            self._ready()  # before writing actions an interrupted step might still be reading
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        if type(actions) is not np.ndarray:
            actions = np.asarray(actions)
        if actions.shape != self._act_shape:
            raise ValueError(
                f"actions must have shape {self._act_shape} (num_envs={self.num_envs} × "
                f"action shape {self.single_action_space.shape}), got {actions.shape}"
            )
        dtype = self._act_dtype
        if actions.dtype != dtype and not np.can_cast(actions.dtype, dtype, "same_kind"):
            raise ValueError(
                f"actions of dtype {actions.dtype} do not fit the action dtype {dtype}"
            )
        self._v["actions"][...] = actions
        self._send(self._all, STEP)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Finish the step started by :meth:`step_async`; returns ``step``'s 5-tuple."""
        if self._state is not _Exchange.BUSY or self._t.closed:
            self._ready()
            raise RuntimeError("step_wait() needs a step_async() first")
        replies = self._collect("step")
        v = self._v
        rewards, terminated, truncated = self._step_arrays
        rewards, terminated, truncated = rewards.copy(), terminated.copy(), truncated.copy()
        if not (np.count_nonzero(terminated) or np.count_nonzero(truncated)):
            infos = self._batch_infos(replies)
        else:  # the general path, in SyncVectorEnv's order: final obs/info, then the new info
            infos = {}
            for i, reply in enumerate(replies):
                if terminated[i] or truncated[i]:
                    final = {"final_obs": v["final_obs"][i].copy(), "final_info": reply[0]}
                    infos = self._add_info(infos, final, i)
                    reply = reply[1]
                if reply:
                    infos = self._add_info(infos, self._t.as_info(reply), i)
        return self._obs(), rewards, terminated, truncated, infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every env; ended envs are reset in the same call (SAME_STEP autoreset)."""
        self.step_async(actions)
        return self.step_wait()

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call method ``name`` (or read attribute ``name``) of every env; one result each."""
        self._send(self._all, CALL, [(name, args, kwargs)] * self.num_envs)
        return tuple(self._collect("call"))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Attribute ``name`` of every env."""
        return self.call(name)

    def set_attr(self, name: str, values: Any) -> None:
        """Set attribute ``name`` of every env: one value each (list/tuple) or the same value."""
        self._send(self._all, SET_ATTR, self._t.set_attr_payloads(name, values))
        self._collect("set_attr")

    def render(self) -> tuple[Any, ...]:
        """Frames of every env (``render_mode`` must be set when the envs are made)."""
        return self.call("render")

    def close_extras(self, **kwargs: Any) -> None:
        """Stop the workers: each closes its env (ViZDoom's engine with it); stragglers are
        killed with their process group. Also runs on garbage collection and at exit."""
        self._t.close()
        self._unread = []
