"""Proximal policy optimisation: the clipped surrogate objective on GAE advantages.

Follows Schulman et al. (2017) with the details CleanRL's ``ppo.py`` uses (Huang et al. 2022,
"The 37 implementation details of PPO"), switched by :class:`rlkit.config.PPOConfig`, in four
parts:

- :func:`clipped_loss`: the loss of one minibatch from the new policy's log-probabilities,
  entropies and values (policy clip, value clip, entropy bonus) and its diagnostics;
- :class:`PPOLearner`: the actor-critic network, Adam and the update, with a seam between
  computing gradients and applying them (where data-parallel training averages them);
- :class:`StochasticActor`: samples actions for a batch of observations, with their
  log-probabilities and the critic's values (rollout workers reuse it);
- :class:`PPOAgent`: what :class:`rlkit.training.Trainer` runs — one rollout of ``n_steps`` per
  env, GAE (:class:`rlkit.buffers.RolloutBuffer`), then ``n_epochs`` over shuffled minibatches.

Observations stay uint8 until the network. Time limits are not failures: when an episode is
truncated the value of its final observation (which the vector env reports in
``infos["final_obs"]``) is added, discounted, to the last reward, and the trace is cut there;
an env that does not report final observations has its truncations treated as terminations.

Train it with ``rlkit.train(config)`` (:mod:`rlkit.entry`) for a :class:`PPOConfig`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rlkit.agents.ppo_learner import (  # noqa: F401 -- re-exported: the PPO API in one place
    ADAM_EPS,
    METRICS,
    PPOLearner,
    PPOLoss,
    build_actor_critic,
    clipped_loss,
)
from rlkit.algorithms import Algorithm
from rlkit.config import PPOConfig
from rlkit.device_plan import DevicePlan, plan_for


class StochasticActor:
    """Samples actions from an actor-critic's policy for a batch of observations.

    One forward pass gives logits and values; the action of each row is drawn from the softmax
    with the numpy generator ``rng`` (so the stream is saved with the run), by inverting the
    cumulative probabilities.

    :param model: an :class:`rlkit.models.ActorCritic` (``model(obs) -> (logits, values)``).
    :param rng: numpy generator for the draws.
    :param device: where the network lives.
    :param pin_memory: copy observations to the device from page-locked memory, without waiting.
    """

    def __init__(self, model: torch.nn.Module, rng: np.random.Generator, device, pin_memory=False):
        self.model = model
        self.rng = rng
        self.device = torch.device(device)
        self.pin_memory = bool(pin_memory)

    def _input(self, obs: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(obs))  # uint8 frames stay uint8
        if self.pin_memory:
            x = torch.empty(x.shape, dtype=x.dtype, pin_memory=True).copy_(x)
        return x.to(self.device, non_blocking=self.pin_memory)

    def act(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(actions int64, log_probs float32, values float32)``, one per row of ``obs``."""
        with torch.inference_mode():
            logits, values = self.model(self._input(obs))
            logits, values = logits.float().cpu().numpy(), values.float().cpu().numpy()
        # The softmax in numpy: for a few envs its small ops cost less than torch's dispatch.
        z = logits - logits.max(axis=1, keepdims=True)
        cdf = np.cumsum(np.exp(z), axis=1)
        total = cdf[:, -1]
        u = self.rng.random(len(obs)) * total
        actions = np.minimum((cdf < u[:, None]).sum(axis=1), cdf.shape[1] - 1).astype(np.int64)
        log_probs = z[np.arange(len(obs)), actions] - np.log(total)
        return actions, log_probs.astype(np.float32), values

    def values(self, obs: np.ndarray) -> np.ndarray:
        """The critic's values (float32), one per row of ``obs``."""
        with torch.inference_mode():
            return self.model(self._input(obs))[1].float().cpu().numpy()

    # -- the collector contract (rlkit.collectors.Actor) ---------------------------------------
    def choose(self, obs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        actions, log_probs, values = self.act(obs)
        return actions, {"log_probs": log_probs, "values": values}

    def final(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """The critic's values of final observations cut by a time limit (the bootstrap)."""
        return {"values": self.values(obs)}

    def last(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {"values": self.values(obs)}

    def settings(self) -> dict[str, Any]:
        return {}

    def apply(self, settings: dict[str, Any]) -> None:
        pass


def explained_variance(values: np.ndarray, returns: np.ndarray) -> float:
    """``1 - Var(returns - values) / Var(returns)``: 1 is a perfect critic, 0 no better than a
    constant, negative worse; ``nan`` when the returns do not vary."""
    var = float(np.var(returns))
    return float("nan") if var == 0 else 1.0 - float(np.var(returns - values)) / var


class PPOAgent:
    """PPO for :class:`rlkit.training.Trainer`: each :meth:`iterate` is one rollout, then learning.

    :param config: the run's :class:`PPOConfig`.
    :param spec: the env's :class:`rlkit.envs.EnvSpec`.
    :param device: where the network and minibatches live.
    :param rng: the run's numpy generator (action sampling).
    :param plan: the run's :class:`rlkit.device_plan.DevicePlan` (pinned copies);
        ``None`` makes it with :func:`rlkit.device_plan.plan_for`.
    """

    phases = ("env", "act", "learner")

    def __init__(
        self,
        config: PPOConfig,
        spec,
        device,
        rng: np.random.Generator,
        plan: DevicePlan | None = None,
    ):
        from rlkit.buffers import RolloutBuffer

        self.config = c = config
        self.env_spec = spec
        self.device = device
        self.rng = rng
        self.plan = plan = plan_for(device, c, spec) if plan is None else plan
        n_actions = len(spec.action_names)
        self.learner = PPOLearner(c, spec.observation_shape, n_actions, device)
        self.model = self.learner.model
        self.actor = StochasticActor(self.model, rng, device, plan.pin_memory)
        self.buffer = RolloutBuffer(
            c.n_steps,
            c.num_envs,
            tuple(spec.observation_shape),
            obs_dtype=np.dtype(spec.observation_dtype),
            device=device,
            seed=c.seed,
        )
        self.rollouts = 0
        self._sums = torch.zeros(len(METRICS))
        self._count = 0
        self._explained = float("nan")

    @property
    def updates(self) -> int:
        return self.learner.updates

    def start(self) -> None:
        pass

    def iterate(self, run) -> None:
        c, buf = self.config, self.buffer
        # Linear to zero over the budget, from env steps so that a resumed run continues it
        # (and a resumed run's config, not the checkpoint's optimizer, sets the rate).
        frac = max(0.0, 1.0 - run.env_steps / c.total_steps) if c.anneal_lr else 1.0
        self.learner.set_lr(c.lr * frac)
        cols = run.collect(self.actor, c.n_steps)
        run.timer.start()
        rewards = np.asarray(cols.rewards, dtype=np.float32) * c.reward_scale
        if "values" in cols.finals:  # a time limit is not a failure: add gamma * V(final obs)
            rewards += c.gamma * cols.finals["values"]
        values, log_probs = cols.records["values"], cols.records["log_probs"]
        buf.reset()
        for t in range(c.n_steps):
            buf.add(
                cols.obs[t],
                cols.actions[t],
                rewards[t],
                cols.terminated[t],
                cols.truncated[t],
                values[t],
                log_probs[t],
            )
        buf.compute_returns_and_advantages(cols.last["values"], c.gamma, c.gae_lambda)
        self._explained = explained_variance(buf.values, buf.returns)
        self._learn()
        self.rollouts += 1
        run.timer.stop("learner")

    def _learn(self) -> None:
        c = self.config
        for _ in range(c.n_epochs):
            for batch in self.buffer.get(c.minibatch_size):
                out = self.learner.update(batch)
                self._sums += torch.stack(out[1:]).cpu()
                self._count += 1
            # As CleanRL: the last minibatch's KL decides whether another epoch runs.
            if c.target_kl is not None and float(out.approx_kl) > c.target_kl:
                break

    def log_metrics(self) -> dict[str, float]:
        if not self._count:
            return {}
        means = (self._sums / self._count).tolist()
        self._sums.zero_()
        self._count = 0
        out = dict(zip(METRICS, means, strict=True))
        out["lr"] = self.learner.lr
        out["explained_variance"] = self._explained
        return out

    def state_dict(self, include_buffer: bool) -> dict[str, Any]:
        """Learner, counters and random streams; ``include_buffer`` adds nothing, since each
        rollout is used up by the iteration that collected it."""
        return {
            "learner": self.learner.state_dict(),
            "rollouts": self.rollouts,
            "rng": {
                "numpy": self.rng.bit_generator.state,
                "minibatch": self.buffer.sampler_state(),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.learner.load_state_dict(state["learner"])
        self.rollouts = int(state["rollouts"])
        self.rng.bit_generator.state = state["rng"]["numpy"]
        self.buffer.set_sampler_state(state["rng"]["minibatch"])


def worker_actor(config: PPOConfig, spec, rng: np.random.Generator) -> StochasticActor:
    """An acting copy of the actor-critic on the CPU (what a rollout worker builds)."""
    model = build_actor_critic(config, spec.observation_shape, len(spec.action_names))
    return StochasticActor(model, rng, "cpu")


ALGORITHM = Algorithm(agent=PPOAgent, make_actor=worker_actor)
