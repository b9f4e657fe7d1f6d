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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlkit.remote.cluster import RemoteError

# How long one round may take before the learner gives up on its workers.
ROUND_TIMEOUT_S = 300.0
# How long workers may take to start (import torch, open their envs).
START_TIMEOUT_S = 180.0


@dataclass
class Fragment:
    """``steps`` steps of ``k`` envs from one worker, as plain arrays (cheap to ship: Ray moves
    numpy arrays through its shared-memory object store without pickling their data).

    ``obs[t]`` is what the actions ``actions[t]`` were taken in; ``obs[steps]`` is where each
    env stands now (the next fragment starts there). Where an episode ended at step ``t``,
    ``obs[t + 1]`` is the reset observation and the true final one is in ``final_obs``
    (``final_at`` holds its ``(t, env)``). ``values``, ``log_probs``, ``final_values`` (the
    critic's value of a time-limited episode's final observation) and ``last_values`` are the
    acting policy's, for PPO; DQN leaves them empty.
    """

    worker: int
    round: int
    node_id: str
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray
    final_at: np.ndarray
    values: np.ndarray
    log_probs: np.ndarray
    final_values: np.ndarray
    last_values: np.ndarray
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    env_s: float = 0.0
    act_s: float = 0.0

    @property
    def steps(self) -> int:
        """Env steps in this fragment (over its envs)."""
        return int(self.actions.size)

    def next_obs(self) -> np.ndarray:
        """The observation after each step, the true final one where an episode ended."""
        out = self.obs[1:].copy()
        for (t, j), frame in zip(self.final_at, self.final_obs, strict=True):
            out[t, j] = frame
        return out


def weights_of(model: Any) -> dict[str, np.ndarray]:
    """A model's weights as CPU numpy arrays (what workers are sent)."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


class RolloutWorker:
    """One rollout worker: its envs, its copy of the policy, its random stream.

    A plain class (Ray makes it an actor; a test can also run it in-process).

    :param config: the run's config (``algo`` decides the network and the acting rule).
    :param index: the worker's number; its envs are ``index * k … index * k + k - 1``.
    :param num_envs: ``k``, the envs it steps (lock-step, one after another).
    :param slow_s: seconds it sleeps per fragment (a deliberate straggler).
    """

    def __init__(self, config: Any, index: int, num_envs: int, slow_s: float = 0.0):
        import torch

        from rlkit.envs import env_spec
        from rlkit.envs.vector import make_vector_env

        torch.set_num_threads(1)  # one core per worker
        self.config = c = config
        self.index = int(index)
        self.k = int(num_envs)
        self.slow_s = float(slow_s)
        self.envs = make_vector_env(c.env_id, self.k, backend="sync", **c.env_kwargs)
        self.spec = env_spec(self.envs, c.env_id, c.env_kwargs)
        n_actions = len(self.spec.action_names)
        rng = np.random.default_rng([c.seed, 7_919, self.index])
        torch.manual_seed(c.seed + 7_919 * (self.index + 1))
        if c.algo == "ppo":
            from rlkit.agents.ppo import StochasticActor
            from rlkit.agents.ppo_learner import build_actor_critic

            self.model = build_actor_critic(c, self.spec.observation_shape, n_actions)
            self.actor: Any = StochasticActor(self.model, rng, "cpu")
        else:
            from rlkit.agents.dqn import EpsilonGreedyActor, build_q_network

            self.model = build_q_network(c, self.spec.observation_shape, n_actions)
            self.actor = EpsilonGreedyActor(self.model, n_actions, rng, "cpu")
        self.model.eval()
        self.obs = self.envs.reset(seed=c.seed + self.index * self.k)[0]
        self._ep_return = np.zeros(self.k)
        self._ep_len = np.zeros(self.k, dtype=np.int64)

    def ready(self) -> dict[str, Any]:
        """The worker's env spec and node, once it is up."""
        return {"spec": self.spec.to_dict(), "node_id": _node_id(), "pid": os.getpid()}

    def reset(self, seed: int) -> None:
        """Start fresh episodes (a resumed run), env ``j`` seeded ``seed + index * k + j``."""
        self.obs = self.envs.reset(seed=seed + self.index * self.k)[0]
        self._ep_return[:] = 0.0
        self._ep_len[:] = 0

    def sample(
        self, weights: dict[str, np.ndarray], steps: int, round_: int, epsilon: float = 0.0
    ) -> Fragment:
        """``steps`` steps of every env with ``weights`` (PPO samples its policy; DQN acts
        epsilon-greedily with ``epsilon``)."""
        import torch

        from rlkit.agents.ppo import final_values

        self.model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
        ppo = self.config.algo == "ppo"
        T, k = int(steps), self.k
        obs = np.empty((T + 1, *self.obs.shape), dtype=self.obs.dtype)
        actions = np.empty((T, k), dtype=np.int64)
        rewards = np.empty((T, k), dtype=np.float32)
        terminated = np.empty((T, k), dtype=bool)
        truncated = np.empty((T, k), dtype=bool)
        values = np.empty((T, k) if ppo else (0,), dtype=np.float32)
        log_probs = np.empty_like(values)
        fvalues = np.zeros_like(values)
        finals, final_at, returns, lengths = [], [], [], []
        env_s = act_s = 0.0
        for t in range(T):
            obs[t] = self.obs
            t0 = time.perf_counter()
            if ppo:
                actions[t], log_probs[t], values[t] = self.actor.act(self.obs)
            else:
                actions[t] = self.actor.act(self.obs, epsilon)
            t1 = time.perf_counter()
            self.obs, r, term, trunc, infos = self.envs.step(actions[t])
            env_s += time.perf_counter() - t1
            act_s += t1 - t0
            rewards[t], terminated[t], truncated[t] = r, term, trunc
            self._ep_return += r
            self._ep_len += 1
            done = np.logical_or(term, trunc)
            if done.any():
                mask = infos.get("_final_obs", done)
                for j in np.flatnonzero(done):
                    returns.append(float(self._ep_return[j]))
                    lengths.append(int(self._ep_len[j]))
                    if mask[j]:
                        finals.append(infos["final_obs"][j])
                        final_at.append((t, j))
                self._ep_return[done] = 0.0
                self._ep_len[done] = 0
                if ppo:
                    t2 = time.perf_counter()
                    cut = np.logical_and(trunc, np.logical_not(term))
                    fvalues[t] = final_values(self.actor, cut, infos)
                    act_s += time.perf_counter() - t2
        obs[T] = self.obs
        last = self.actor.values(self.obs) if ppo else np.zeros(0, dtype=np.float32)
        if self.slow_s:
            time.sleep(self.slow_s)
        shape = self.obs.shape[1:]
        return Fragment(
            worker=self.index,
            round=int(round_),
            node_id=_node_id(),
            obs=obs,
            actions=actions,
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            final_obs=np.array(finals, dtype=obs.dtype).reshape(-1, *shape),
            final_at=np.array(final_at, dtype=np.int64).reshape(-1, 2),
            values=values,
            log_probs=log_probs,
            final_values=fvalues,
            last_values=np.asarray(last, dtype=np.float32),
            episode_returns=returns,
            episode_lengths=lengths,
            env_s=env_s,
            act_s=act_s,
        )

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


def side_by_side(fragments: list[Fragment], name: str) -> np.ndarray:
    """Field ``name`` of the fragments joined along their env axis (axis 1 of per-step arrays,
    axis 0 of ``last_values``), in the order given."""
    axis = 0 if name == "last_values" else 1
    return np.concatenate([getattr(f, name) for f in fragments], axis=axis)


class RolloutWorkers:
    """``rollout_workers + backup_workers`` Ray actors and the synchronous rounds between them
    and the learner; what :class:`rlkit.training.Trainer` uses in place of a vector env.

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

    def collect(
        self, weights: dict[str, np.ndarray], steps: int, epsilon: float = 0.0
    ) -> tuple[list[Fragment], float]:
        """One synchronous round: every idle worker samples ``steps`` steps per env with
        ``weights``; returns the first ``rollout_workers`` fragments of this round (in worker
        order) and the seconds the learner waited. Fragments of earlier rounds that arrive
        now are dropped, and their workers are sent this round at once."""
        import ray

        self.round += 1
        ref = ray.put(weights)  # once, for every worker

        def submit(i: int) -> None:
            self._pending[i] = self.actors[i].sample.remote(ref, steps, self.round, epsilon)

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
