"""Ray rollout workers with a synchronous learner: ``train(config, workers=N)``.

Each of N Ray actors (:class:`RolloutWorker`) steps its own ``num_envs // N`` envs with a copy
of the current policy and returns a :class:`Fragment` of ``steps`` steps per env (rollout
fragments, not single steps, so that the per-message costs are paid once per fragment). The
learner (:class:`rlkit.training.Trainer` with :class:`RolloutWorkers` in place of its vector
env) waits for the round's fragments, learns from them, and broadcasts the new weights with the
next round's request: one ``ray.put`` of the weights, read by every worker from the object
store. PPO turns the fragments into one on-policy rollout; DQN adds them to its replay buffer.

Backup workers (Chen et al. 2016, "Revisiting distributed synchronous SGD"; used by the
synchronous A3C that notebook 08 follows): with ``backup_workers=b``, N + b workers sample every
round and the learner takes the first N fragments; a straggler's late fragment (made with old
weights) is dropped when it arrives and that worker is sent the current round at once.

Workers are Ray actors in the cluster :func:`rlkit.remote.cluster.connect` joins (the same
connection code as training on a remote GPU): ``$RAY_ADDRESS`` or ``ray_address=``, else an
embedded local cluster, which stays up after training so the next run starts in seconds
(:func:`rlkit.remote.cluster.disconnect` stops it). Each worker asks for one CPU.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from rlkit.collectors.columns import Columns, join
from rlkit.remote.cluster import RemoteError

# How long one round may take before the learner gives up on its workers.
ROUND_TIMEOUT_S = 300.0
# How long workers may take to start (import torch, open their envs).
START_TIMEOUT_S = 180.0


Fragment = Columns
"""A rollout worker's :class:`rlkit.collectors.Columns` (``worker``, ``round``, ``node_id``
set), the name notebook 08 and the benchmarks know it by."""


def weights_of(model: Any) -> dict[str, np.ndarray]:
    """A model's weights as CPU numpy arrays (what workers are sent)."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


class RolloutWorker:
    """One rollout worker: its envs, its acting copy of the policy, its random stream.

    A plain class (Ray makes it an actor; a test can also run it in-process). It steps its envs
    with the same :class:`rlkit.collectors.LockStepCollector` as a run in one process, with the
    actor its algorithm builds (:mod:`rlkit.algorithms`).

    :param config: the run's config.
    :param index: the worker's number; its envs are ``index * k … index * k + k - 1``.
    :param num_envs: ``k``, the envs it steps (lock-step, one after another).
    :param slow_s: seconds it sleeps per fragment (a deliberate straggler).
    """

    def __init__(self, config: Any, index: int, num_envs: int, slow_s: float = 0.0):
        import torch

        from rlkit.algorithms import algorithm
        from rlkit.collectors.lockstep import LockStepCollector
        from rlkit.envs import env_spec
        from rlkit.envs.vector import make_vector_env

        torch.set_num_threads(1)  # one core per worker
        self.config = c = config
        self.index = int(index)
        self.k = int(num_envs)
        self.slow_s = float(slow_s)
        envs = make_vector_env(c.env_id, self.k, backend="sync", **c.env_kwargs)
        self.spec = env_spec(envs, c.env_id, c.env_kwargs)
        self.envs = LockStepCollector(envs, self.spec)
        rng = np.random.default_rng([c.seed, 7_919, self.index])
        torch.manual_seed(c.seed + 7_919 * (self.index + 1))
        self.actor = algorithm(c).make_actor(c, self.spec, rng)
        self.model = self.actor.model
        self.model.eval()
        self.reset(c.seed)

    def ready(self) -> dict[str, Any]:
        """The worker's env spec and node, once it is up."""
        return {"spec": self.spec.to_dict(), "node_id": _node_id(), "pid": os.getpid()}

    def reset(self, seed: int) -> None:
        """Start fresh episodes (a resumed run), env ``j`` seeded ``seed + index * k + j``."""
        self.envs.reset(seed + self.index * self.k)

    def sample(
        self,
        weights: dict[str, np.ndarray],
        steps: int,
        round_: int,
        settings: dict[str, Any] | None = None,
    ) -> Fragment:
        """``steps`` steps of every env, acted with ``weights`` and the actor's ``settings``
        (DQN's epsilon)."""
        import torch

        self.model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
        self.actor.apply(settings or self.actor.settings())
        frag = self.envs.collect(self.actor, int(steps))
        if self.slow_s:
            time.sleep(self.slow_s)
        frag.env_ids = frag.env_ids + self.index * self.k
        frag.worker, frag.round, frag.node_id = self.index, int(round_), _node_id()
        return frag

    def close(self) -> None:
        self.envs.close()


def _node_id() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # outside Ray (an in-process worker in a test)
        pass
    return "local"


class RolloutWorkers:
    """``rollout_workers + backup_workers`` Ray actors and the synchronous rounds between them
    and the learner: the collector (:mod:`rlkit.collectors`) of a run with rollout workers.

    :param config: the run's config (``rollout_workers``, ``backup_workers``, ``num_envs``,
        ``slow_worker_s``).
    :param address: a Ray cluster (see :func:`rlkit.remote.cluster.connect`); ``None`` is
        ``$RAY_ADDRESS`` or an embedded local cluster.
    """

    def __init__(self, config: Any, address: str | None = None):
        from rlkit.remote.cluster import connect, require_ray, resources

        ray = require_ray()
        c = config
        self.n = int(c.rollout_workers)
        self.total = self.n + int(c.backup_workers)
        self.k = c.num_envs // self.n
        t0 = time.perf_counter()
        # An embedded cluster's CPUs are scheduling tokens: enough for a later run's backup
        # workers too, since a notebook keeps the cluster between runs.
        logical = max(8, os.cpu_count() or 1, self.total)
        self.connection = connect(address, num_cpus=logical)
        cpus = resources().get("CPU", 0.0)
        if cpus < self.total:
            hint = "ask for fewer workers or add nodes"
            if self.connection.kind == "embedded":
                hint = "call rlkit.remote.disconnect() to start a larger embedded one"
            raise RemoteError(
                f"the Ray cluster has {cpus:g} CPUs and {self.total} rollout workers need one "
                f"each; {hint}"
            )
        actor = ray.remote(num_cpus=1, max_restarts=0)(RolloutWorker)
        self.actors = [
            actor.remote(c, i, self.k, c.slow_worker_s if i == 0 else 0.0)
            for i in range(self.total)
        ]
        self.spec: Any = None
        self.obs = None  # the workers hold their envs' observations
        # Without a length asked for (DQN), a round is the config's fragment length.
        self.fragment_steps = int(getattr(c, "worker_steps", 1))
        self.round = 0
        self.dropped_fragments = 0
        self.dropped_steps = 0
        self._pending: dict[int, Any] = {}  # worker -> its unfinished sample() call
        try:
            infos = self._get([a.ready.remote() for a in self.actors], START_TIMEOUT_S, "start")
        except BaseException:
            self.close()
            raise
        from rlkit.envs import EnvSpec

        self.spec = EnvSpec.from_dict(infos[0]["spec"])
        self.node_ids = [i["node_id"] for i in infos]
        self.pids = [i["pid"] for i in infos]
        """Each worker's process id (on its own node)."""
        self.startup_s = time.perf_counter() - t0

    def _get(self, refs: list[Any], timeout: float, doing: str) -> list[Any]:
        import ray

        try:
            return ray.get(refs, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            raise RemoteError(
                f"rollout workers did not {doing} within {timeout:g} s (is the cluster busy?)"
            ) from None
        except ray.exceptions.RayActorError as e:
            raise RemoteError(f"a rollout worker died during {doing}: {e}") from None

    def reset(self, seed: int) -> None:
        """Fresh episodes in every worker (``seed + env index``); drops unfinished fragments."""
        self._pending.clear()
        self._get([a.reset.remote(seed) for a in self.actors], ROUND_TIMEOUT_S, "reset")

    phases: tuple[str, ...] = ("env", "act", "transfer")

    def collect(self, actor: Any, steps: int | None = None) -> Columns:
        """One round acted by copies of ``actor`` (its model's weights and its settings):
        ``steps`` steps of every env (default: the config's ``worker_steps``), the fragments
        side by side in worker order. The time split is the workers' mean ``env`` and ``act``
        seconds and the rest, ``transfer`` (moving fragments and weights, Ray's overhead,
        waiting for the slowest worker)."""
        t0 = time.perf_counter()
        steps = self.fragment_steps if steps is None else int(steps)
        frags, _ = self.sample(weights_of(actor.model), steps, actor.settings())
        env_s = float(np.mean([f.seconds["env"] for f in frags]))
        act_s = float(np.mean([f.seconds["act"] for f in frags]))
        rest = max(0.0, time.perf_counter() - t0 - env_s - act_s)
        return join(frags, {"env": env_s, "act": act_s, "transfer": rest})

    def sample(
        self, weights: dict[str, np.ndarray], steps: int, settings: dict[str, Any] | None = None
    ) -> tuple[list[Fragment], float]:
        """One synchronous round: every idle worker samples ``steps`` steps per env with
        ``weights``; returns the first ``rollout_workers`` fragments of this round (in worker
        order) and the seconds the learner waited. Fragments of earlier rounds that arrive
        now are dropped, and their workers are sent this round at once."""
        import ray

        self.round += 1
        ref = ray.put(weights)  # once, for every worker

        def submit(i: int) -> None:
            self._pending[i] = self.actors[i].sample.remote(ref, steps, self.round, settings)

        t0 = time.perf_counter()
        for i in range(self.total):
            if i not in self._pending:
                submit(i)
        fresh: list[Fragment] = []
        deadline = t0 + ROUND_TIMEOUT_S
        while len(fresh) < self.n:
            owner = {r: i for i, r in self._pending.items()}
            left = deadline - time.perf_counter()
            ready, _ = ray.wait(list(owner), num_returns=1, timeout=max(0.0, left))
            if not ready:
                late = sorted(self._pending)
                raise RemoteError(
                    f"rollout workers {late} sent no fragment within {ROUND_TIMEOUT_S:g} s"
                )
            i = owner[ready[0]]
            del self._pending[i]
            try:
                frag = ray.get(ready[0])
            except ray.exceptions.RayActorError as e:
                raise RemoteError(f"rollout worker {i} died: {e}") from None
            except ray.exceptions.RayTaskError as e:
                raise RemoteError(f"rollout worker {i} failed: {e.cause!r}") from None
            if frag.round == self.round:
                fresh.append(frag)
            else:  # made with old weights: useless to an on-policy learner, and stale to DQN
                self.dropped_fragments += 1
                self.dropped_steps += frag.steps
                submit(i)
        fresh.sort(key=lambda f: f.worker)
        return fresh, time.perf_counter() - t0

    def close(self) -> None:
        """Close every worker's envs (bounded wait), then stop the actors."""
        import ray

        self._pending.clear()
        try:
            ray.wait(
                [a.close.remote() for a in self.actors], num_returns=len(self.actors), timeout=10
            )
        except Exception:  # a dead worker has nothing left to close
            pass
        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:
                pass
        self.actors = []
