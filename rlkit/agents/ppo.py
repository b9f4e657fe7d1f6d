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

``train_ppo(config, device="auto", callbacks=[...]) -> TrainResult``.
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
from rlkit.config import PPOConfig
from rlkit.device_plan import DevicePlan, plan_for
from rlkit.records import TrainResult
from rlkit.training import train


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


def explained_variance(values: np.ndarray, returns: np.ndarray) -> float:
    """``1 - Var(returns - values) / Var(returns)``: 1 is a perfect critic, 0 no better than a
    constant, negative worse; ``nan`` when the returns do not vary."""
    var = float(np.var(returns))
    return float("nan") if var == 0 else 1.0 - float(np.var(returns - values)) / var


def final_values(actor: StochasticActor, cut: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
    """``V(final obs)`` for the envs in ``cut`` (zeros elsewhere, and where no final observation
    was reported)."""
    out = np.zeros(len(cut), dtype=np.float32)
    mask = infos.get("_final_obs")
    if mask is None:
        return out
    idx = np.flatnonzero(cut & np.asarray(mask, dtype=bool))
    if len(idx):
        out[idx] = actor.values(np.stack([infos["final_obs"][i] for i in idx]))
    return out


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

    def start(self, obs: np.ndarray) -> None:
        self.obs = obs

    def iterate(self, run) -> None:
        c, timer, buf = self.config, run.timer, self.buffer
        # Linear to zero over the budget, from env steps so that a resumed run continues it
        # (and a resumed run's config, not the checkpoint's optimizer, sets the rate).
        frac = max(0.0, 1.0 - run.env_steps / c.total_steps) if c.anneal_lr else 1.0
        self.learner.set_lr(c.lr * frac)
        buf.reset()
        last_values = None
        if run.workers:
            last_values = self._collect_from_workers(run)
        elif run.pool:
            self._collect_free_running(run)
        else:
            for _ in range(c.n_steps):
                timer.start()
                actions, log_probs, values = self.actor.act(self.obs)
                timer.stop("act")
                next_obs, rewards, terminated, truncated, infos = run.step_envs(actions)
                rewards = self._rewards(rewards, terminated, truncated, infos, timer)
                buf.add(self.obs, actions, rewards, terminated, truncated, values, log_probs)
                self.obs = next_obs
        if last_values is None:  # (with workers the clock already runs as "learner")
            timer.start()
            last_values = self.actor.values(self.obs)
        buf.compute_returns_and_advantages(last_values, c.gamma, c.gae_lambda)
        self._explained = explained_variance(buf.values, buf.returns)
        self._learn()
        self.rollouts += 1
        timer.stop("learner")

    def _rewards(self, rewards, terminated, truncated, infos, timer) -> np.ndarray:
        """Scaled rewards, with ``gamma * V(final obs)`` added where a time limit cut in."""
        c = self.config
        rewards = np.asarray(rewards, dtype=np.float32) * c.reward_scale
        cut = np.logical_and(truncated, np.logical_not(terminated))
        if cut.any():
            timer.start()
            rewards += c.gamma * final_values(self.actor, cut, infos)
            timer.stop("act")
        return rewards

    def _collect_from_workers(self, run) -> np.ndarray:
        """One rollout from Ray rollout workers: their fragments side by side, one column per
        env, with the acting policy's values and log-probabilities (the same weights as the
        learner's: rounds are synchronous). Returns the bootstrap values."""
        from rlkit.distributed.rollout import side_by_side

        c, buf = self.config, self.buffer
        frags = run.collect(self.model, c.n_steps)
        run.timer.start()
        obs, actions = side_by_side(frags, "obs"), side_by_side(frags, "actions")
        term, trunc = side_by_side(frags, "terminated"), side_by_side(frags, "truncated")
        values, log_probs = side_by_side(frags, "values"), side_by_side(frags, "log_probs")
        # As _rewards: a time limit adds gamma * V(final obs), computed by the worker.
        rewards = side_by_side(frags, "rewards") * np.float32(c.reward_scale)
        rewards += np.float32(c.gamma) * side_by_side(frags, "final_values")
        for t in range(c.n_steps):
            buf.add(obs[t], actions[t], rewards[t], term[t], trunc[t], values[t], log_probs[t])
        return side_by_side(frags, "last_values")

    def _collect_free_running(self, run) -> None:
        """One rollout on the free-running pool: each env fills its own column, in its order.

        ``self.obs`` holds every env's current observation by env id (every env waits for an
        action between rollouts). The envs that answer are acted on again until their column
        holds ``n_steps``; then they wait while the rest finish, so the rollout ends with
        every env idle and its last observation in ``self.obs`` for the bootstrap.
        """
        c, timer, buf = self.config, run.timer, self.buffer
        n = c.num_envs
        cur = self.obs
        sent_actions = np.zeros(n, dtype=np.int64)
        sent_log_probs = np.zeros(n, dtype=np.float32)
        sent_values = np.zeros(n, dtype=np.float32)
        steps = np.zeros(n, dtype=np.int64)  # steps in each env's column
        send = np.arange(n)
        while not buf.full:
            actions = sent_actions[:0]
            if len(send):
                timer.start()
                actions, log_probs, values = self.actor.act(cur[send])
                timer.stop("act")
                sent_actions[send], sent_log_probs[send], sent_values[send] = (
                    actions,
                    log_probs,
                    values,
                )
            # Some env is in flight here: one not yet full was either sent now or earlier.
            next_obs, rewards, terminated, truncated, infos = run.step_envs(actions, send)
            got = run.env_ids
            rewards = self._rewards(rewards, terminated, truncated, infos, timer)
            # cur[got] is still what each env was sent with.
            buf.add_at(
                got,
                cur[got],
                sent_actions[got],
                rewards,
                terminated,
                truncated,
                sent_values[got],
                sent_log_probs[got],
            )
            cur[got] = next_obs
            steps[got] += 1
            send = got[steps[got] < c.n_steps]

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

    def policy(self):
        """The greedy policy (argmax of the logits), for evaluation."""
        from rlkit.evaluation import greedy_policy

        return greedy_policy(self.model, self.device)

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


def train_ppo(config: PPOConfig, *args: Any, **kwargs: Any) -> TrainResult:
    """Train a PPO agent: :func:`rlkit.training.train` (same arguments) for a :class:`PPOConfig`."""
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a PPOConfig (see rlkit.presets.preset), got {config!r}")
    return train(config, *args, **kwargs)
