"""Deep Q-learning: double DQN targets, dueling head, uniform or prioritized replay.

Follows Mnih et al. (2015) with the switches of :class:`rlkit.config.DQNConfig`, in three parts:

- :class:`DQNLearner` (in :mod:`rlkit.agents.dqn_learner`): networks, optimizer and the TD
  update, with a seam between computing gradients and applying them (where data-parallel
  training averages them);
- :class:`EpsilonGreedyActor`: picks actions for a batch of observations (rollout workers reuse it);
- :class:`DQNAgent`: what :class:`rlkit.training.Trainer` runs — act, step, store, learn.

It is written for speed on a CPU: observations stay uint8 until the network, the replay buffer
is preallocated, exploration is vectorised over envs, and the time spent stepping envs, choosing
actions and learning is measured separately so a notebook can show where it goes. On a GPU it
follows the run's :class:`rlkit.device_plan.DevicePlan`: pinned, non-blocking copies, replay
storage on the device, and optionally a compiled TD loss.

Train it with ``rlkit.train(config)`` (:mod:`rlkit.entry`) for a :class:`DQNConfig`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rlkit.agents.dqn_learner import (  # noqa: F401 -- re-exported: the DQN API in one place
    DQNLearner,
    build_q_network,
    make_optimizer,
)
from rlkit.algorithms import Algorithm
from rlkit.buffers import PerEnvStaging
from rlkit.config import DQNConfig
from rlkit.device_plan import DevicePlan, plan_for


def epsilon_at(config: DQNConfig, step: int) -> float:
    """Linear decay from ``eps_start`` to ``eps_end`` over ``eps_decay_fraction`` of training."""
    span = max(1.0, config.eps_decay_fraction * config.total_steps)
    frac = min(1.0, step / span)
    return config.eps_start + frac * (config.eps_end - config.eps_start)


class EpsilonGreedyActor:
    """Epsilon-greedy actions for a batch of observations: each env explores with probability
    ``epsilon``, the rest take the network's argmax (one forward pass for the whole batch).

    :param model: a Q-network (or anything whose output's argmax is the greedy action).
    :param n_actions: number of discrete actions.
    :param rng: numpy generator for the exploration draws.
    :param device: where the network lives.
    :param pin_memory: copy observations to the device from page-locked memory, without waiting
        (the greedy actions coming back synchronise anyway).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        n_actions: int,
        rng: np.random.Generator,
        device,
        pin_memory: bool = False,
    ):
        self.model = model
        self.n_actions = int(n_actions)
        self.rng = rng
        self.device = torch.device(device)
        self.pin_memory = bool(pin_memory)
        self.epsilon = 1.0
        """The exploration rate :meth:`choose` uses (the agent sets it before collecting)."""

    def choose(self, obs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`act` with :attr:`epsilon`; DQN records nothing (the collector contract)."""
        return self.act(obs, self.epsilon), {}

    def final(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def last(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def settings(self) -> dict[str, float]:
        return {"epsilon": float(self.epsilon)}

    def apply(self, settings: dict[str, float]) -> None:
        self.epsilon = float(settings["epsilon"])

    def act(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """Actions (int64, one per row of ``obs``)."""
        n = len(obs)
        explore = self.rng.random(n) < epsilon
        actions = self.rng.integers(self.n_actions, size=n)
        if not explore.all():
            with torch.inference_mode():
                x = torch.from_numpy(obs)
                if self.pin_memory:
                    staged = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
                    x = staged.copy_(x)
                x = x.to(self.device, non_blocking=self.pin_memory)
                greedy = self.model(x).argmax(dim=1).cpu().numpy()
            actions = np.where(explore, actions, greedy)
        return actions


class DQNAgent:
    """DQN for :class:`rlkit.training.Trainer`: epsilon-greedy acting, replay, TD learning.

    :param config: the run's :class:`DQNConfig`.
    :param spec: the env's :class:`rlkit.envs.EnvSpec`.
    :param device: where the networks and replay batches live.
    :param rng: the run's numpy generator (exploration draws).
    :param plan: the run's :class:`rlkit.device_plan.DevicePlan` (pinned copies, replay on the
        device, compiled update); ``None`` makes it with :func:`rlkit.device_plan.plan_for`.
    """

    phases = ("env", "act", "learner")

    def __init__(
        self,
        config: DQNConfig,
        spec,
        device,
        rng: np.random.Generator,
        plan: DevicePlan | None = None,
    ):
        self.config = c = config
        self.env_spec = spec
        self.device = device
        self.rng = rng
        self.plan = plan = plan_for(device, c, spec) if plan is None else plan
        n_actions = len(spec.action_names)
        self.learner = DQNLearner(
            c, spec.observation_shape, n_actions, device, compile_update=plan.compile_update
        )
        self.model = self.learner.q
        self.buffer = make_replay_buffer(c, spec, device, plan)
        self.actor = EpsilonGreedyActor(self.model, n_actions, rng, device, plan.pin_memory)
        self._loss_sum = torch.zeros((), device=device)
        self._loss_count = 0
        self._epsilon = c.eps_start
        self._logged_at: int | None = None
        self._step = 0
        self._owed = 0  # updates owed whose batch is still staged
        # Each env's transitions wait here until every env has one (free-running envs answer
        # a few at a time; in lock-step a row passes straight through).
        self._staging = PerEnvStaging(self.buffer, spec.observation_shape, spec.observation_dtype)

    @property
    def updates(self) -> int:
        return self.learner.updates

    def start(self) -> None:
        if len(self.buffer):  # resumed with its buffer: the envs start fresh episodes now
            self.buffer.cut_episodes()
        elif self.config.demos is not None:
            from rlkit.buffers.demos import prefill

            self.demo_transitions = prefill(self.buffer, self.config)

    def iterate(self, run) -> None:
        """Act epsilon-greedily for one collection (one step of every env in lock-step; the
        envs that answered on the pool; a round of rollout workers), stage the transitions
        per env in front of the replay buffer, then make the updates the steps owe."""
        c = self.config
        self._epsilon = self.actor.epsilon = epsilon_at(c, run.env_steps)
        cols = run.collect(self.actor)
        truncated = cols.truncated
        if not cols.contiguous:
            # A column's next steps may come from another worker: the buffer must not read
            # across (the true next observation is kept, so bootstrapping is unchanged).
            truncated = truncated.copy()
            truncated[-1] = True
        rewards, next_obs = cols.rewards * c.reward_scale, cols.next_obs()
        for t in range(len(cols.actions)):
            self._staging.add(
                cols.env_ids,
                cols.obs[t],
                cols.actions[t],
                rewards[t],
                next_obs[t],
                cols.terminated[t],
                truncated[t],
            )
        self._learn_owed(run, cols.steps)

    def _learn_owed(self, run, stepped: int) -> None:
        """The updates owed for the ``train_freq`` boundaries crossed by the ``stepped`` env
        steps just received.

        On the free-running pool some received transitions still wait in the staging for the
        other envs' next steps; the updates they owe are kept, not dropped, and paid as soon as
        the buffer holds a batch, so the schedule follows the env steps received whatever order
        the envs answer in (in lock-step nothing is staged and every update is paid at once).
        """
        c, timer = self.config, run.timer
        self._step = step = run.env_steps
        rounds = step // c.train_freq - (step - stepped) // c.train_freq
        pending = self._staging.pending
        if rounds and step >= c.learning_starts and len(self.buffer) + pending >= c.batch_size:
            self._owed += rounds * c.gradient_steps
        if self._owed and len(self.buffer) >= c.batch_size:
            timer.start()
            for _ in range(self._owed):
                if c.prioritized:
                    beta = c.per_beta_start + (c.per_beta_end - c.per_beta_start) * min(
                        1.0, step / c.total_steps
                    )
                    batch = self.buffer.sample(c.batch_size, beta=beta)
                else:
                    batch = self.buffer.sample(c.batch_size)
                loss, td_abs = self.learner.update(batch)
                if c.prioritized:
                    self.buffer.update_priorities(batch.indices, td_abs.cpu().numpy())
                self._loss_sum += loss
                self._loss_count += 1
            self._owed = 0
            timer.stop("learner")

    @property
    def owed(self) -> int:
        """Updates owed and not yet run (only while their batch is staged: on the pool)."""
        return self._owed

    def log_metrics(self) -> dict[str, float]:
        if self._logged_at == self._step:
            return {}
        self._logged_at = self._step
        out = {"epsilon": float(self._epsilon)}
        if self._loss_count:
            out["loss"] = float(self._loss_sum) / self._loss_count
            self._loss_sum.zero_()
            self._loss_count = 0
        return out

    def state_dict(self, include_buffer: bool) -> dict[str, Any]:
        state = {
            "learner": self.learner.state_dict(),
            "rng": {"numpy": self.rng.bit_generator.state, "replay": self.buffer.sampler_state()},
            "owed": self._owed,
        }
        if include_buffer:
            state["buffer"] = self.buffer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.learner.load_state_dict(state["learner"])
        self.rng.bit_generator.state = state["rng"]["numpy"]
        self._owed = int(state.get("owed", 0))
        if "buffer" in state:
            self.buffer.load_state_dict(state["buffer"])
        if "replay" in state["rng"]:
            self.buffer.set_sampler_state(state["rng"]["replay"])


def make_replay_buffer(c: DQNConfig, spec, device, plan: DevicePlan | None = None):
    """The replay buffer a config asks for, placed as the device plan says.

    Uniform replay lives on the device when ``plan.buffer_on_device``
    (:class:`rlkit.buffers.device.DeviceReplayBuffer`), else in host memory; prioritized replay
    always lives in host memory (its sum tree is there). Host buffers gather batches in pinned
    memory when ``plan.pin_memory``.
    """
    from rlkit.buffers import DeviceReplayBuffer, PrioritizedReplayBuffer, ReplayBuffer

    plan = plan_for(device, c, spec) if plan is None else plan
    if not plan.buffer_on_device:
        check_replay_fits(c, spec)
    common = dict(
        capacity=c.buffer_size,
        obs_shape=spec.observation_shape,
        n_envs=c.num_envs,
        obs_dtype=np.dtype(spec.observation_dtype),
        device=device,
        seed=c.seed,
        pin_memory=plan.pin_memory,
    )
    if c.prioritized:
        return PrioritizedReplayBuffer(
            alpha=c.per_alpha, beta=c.per_beta_start, eps=c.per_eps, **common
        )
    if plan.buffer_on_device:
        return DeviceReplayBuffer(**common)
    return ReplayBuffer(**common)


def available_memory_bytes() -> int | None:
    """Memory the kernel says can be allocated without swapping (Linux ``MemAvailable``);
    ``None`` where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_replay_fits(c: DQNConfig, spec) -> None:
    """Refuse a host replay buffer larger than the memory available, before allocating it:
    numpy would otherwise fail with a MemoryError, or the zero pages it hands out lazily
    would fill up half way through training and the OOM killer end the run."""
    per_frame = int(np.prod(spec.observation_shape)) * np.dtype(spec.observation_dtype).itemsize
    per_transition = per_frame + 8 + 4 + 1 + 1  # frame, action, reward, terminated, episode end
    needed = (c.buffer_size + c.num_envs) * per_transition
    available = available_memory_bytes()
    if available is None or needed <= 0.9 * available:
        return
    from rlkit.config import ConfigError

    fits = int(0.9 * available // per_transition)
    raise ConfigError(
        f"config field 'buffer_size' = {c.buffer_size!r} needs {needed / 1e9:,.1f} GB of "
        f"replay storage ({per_transition:,} bytes a transition), more than the "
        f"{available / 1e9:,.1f} GB this machine has available; valid: at most about "
        f"{fits:,} transitions of this env here"
    )


def worker_actor(config: DQNConfig, spec, rng: np.random.Generator) -> EpsilonGreedyActor:
    """An acting copy of the Q-network on the CPU (what a rollout worker builds)."""
    n_actions = len(spec.action_names)
    model = build_q_network(config, spec.observation_shape, n_actions)
    return EpsilonGreedyActor(model, n_actions, rng, "cpu")


ALGORITHM = Algorithm(agent=DQNAgent, make_actor=worker_actor)
