"""PPO's learning half: the clipped loss of a minibatch and the learner that applies it.

:func:`clipped_loss` is the objective of Schulman et al. (2017) with CleanRL's switches (value
clip, entropy bonus, advantage normalisation); :class:`PPOLearner` holds the actor-critic and
Adam, with a seam between computing gradients and applying them (where data-parallel training
averages them). The agent that collects rollouts is :mod:`rlkit.agents.ppo`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from rlkit.config import PPOConfig

__all__ = ["ADAM_EPS", "METRICS", "PPOLearner", "PPOLoss", "build_actor_critic", "clipped_loss"]

ADAM_EPS = 1e-5
"""Adam's epsilon, as in CleanRL's PPO (PyTorch's 1e-8 default makes early steps larger)."""

METRICS = ("loss/policy", "loss/value", "entropy", "approx_kl", "clipfrac")
"""The minibatch diagnostics :meth:`PPOAgent.log_metrics` averages, in :class:`PPOLoss` order."""


def build_actor_critic(config: PPOConfig, obs_shape: Sequence[int], n_actions: int):
    """The actor-critic a config asks for (conv trunk for (C, H, W), tanh MLP for (D,))."""
    from rlkit.models import ActorCritic

    if len(obs_shape) == 3:
        return ActorCritic(obs_shape, n_actions, hidden=config.hidden, preset=config.net)
    width = config.hidden or 64
    return ActorCritic(obs_shape, n_actions, hidden=(width, width))


class PPOLoss(NamedTuple):
    """What :func:`clipped_loss` returns; all but ``total`` are detached scalars."""

    total: torch.Tensor
    """``policy - ent_coef * entropy + vf_coef * value``, with its graph."""
    policy: torch.Tensor
    """The clipped surrogate loss (to minimise)."""
    value: torch.Tensor
    """Half the mean squared value error (clipped when ``clip_vloss``)."""
    entropy: torch.Tensor
    """Mean entropy of the new policy."""
    approx_kl: torch.Tensor
    """``mean((r - 1) - log r)``: an unbiased, non-negative estimate of KL(old ‖ new)."""
    clipfrac: torch.Tensor
    """Fraction of samples whose ratio left ``[1 - clip_coef, 1 + clip_coef]``."""


def clipped_loss(
    new_log_probs: torch.Tensor,
    entropy: torch.Tensor,
    new_values: torch.Tensor,
    batch,
    config: PPOConfig,
) -> PPOLoss:
    """PPO's loss on one minibatch.

    With ratio ``r = exp(log π(a|s) - log π_old(a|s))`` and advantages ``A`` (normalised within
    the minibatch when ``norm_adv``): policy loss ``mean(max(-A r, -A clip(r, 1 ± c)))``; value
    loss ``0.5 mean(max((V - R)², (V_old + clip(V - V_old, ±c) - R)²))`` when ``clip_vloss``,
    else ``0.5 mean((V - R)²)``.

    :param new_log_probs: (B,) log-probabilities of ``batch.actions`` under the current policy.
    :param entropy: (B,) entropies of the current policy.
    :param new_values: (B,) the critic's current values.
    :param batch: a :class:`rlkit.buffers.RolloutBatch` (old log-probs, old values, advantages,
        returns).
    :param config: reads ``clip_coef``, ``clip_vloss``, ``norm_adv``, ``ent_coef``, ``vf_coef``.
    """
    c = config
    log_ratio = new_log_probs - batch.old_log_probs
    ratio = log_ratio.exp()
    adv = batch.advantages
    if c.norm_adv and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    policy = torch.max(-adv * ratio, -adv * ratio.clamp(1 - c.clip_coef, 1 + c.clip_coef)).mean()
    err = (new_values - batch.returns).pow(2)
    if c.clip_vloss:
        moved = (new_values - batch.old_values).clamp(-c.clip_coef, c.clip_coef)
        err = torch.max(err, (batch.old_values + moved - batch.returns).pow(2))
    value = 0.5 * err.mean()
    ent = entropy.mean()
    total = policy - c.ent_coef * ent + c.vf_coef * value
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clipfrac = ((ratio - 1).abs() > c.clip_coef).float().mean()
    return PPOLoss(total, policy.detach(), value.detach(), ent.detach(), approx_kl, clipfrac)


class PPOLearner:
    """The learning half of PPO: the actor-critic, Adam and the clipped update.

    :meth:`update` is :meth:`compute_gradients` then :meth:`apply_gradients`; a data-parallel
    trainer calls the two itself and averages the gradients in between (or sets ``grad_hook``).

    :param config: the run's config.
    :param obs_shape: shape of one observation.
    :param n_actions: number of discrete actions.
    :param device: where the network lives.
    :param grad_hook: called with the list of parameters after backward and before clipping
        and the optimizer step (e.g. an all-reduce of their ``.grad``).
    """

    def __init__(
        self,
        config: PPOConfig,
        obs_shape: Sequence[int],
        n_actions: int,
        device,
        grad_hook: Callable[[list[torch.nn.Parameter]], None] | None = None,
    ):
        self.config = config
        self.device = torch.device(device)
        self.model = build_actor_critic(config, obs_shape, n_actions).to(self.device)
        self.params = list(self.model.parameters())
        # Fused: one kernel for all parameters, which matters on a CPU for a small net.
        self.optimizer = torch.optim.Adam(self.params, lr=config.lr, eps=ADAM_EPS, fused=True)
        self.grad_hook = grad_hook
        self.updates = 0

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def loss(self, batch) -> PPOLoss:
        """:func:`clipped_loss` of a minibatch under the current network."""
        logits, values = self.model(batch.observations)
        # What ActorCritic.evaluate_actions gives, without building a Categorical (whose
        # argument checks cost more than the small network's forward pass on a CPU).
        log_p = torch.log_softmax(logits, dim=-1)
        log_probs = log_p.gather(1, batch.actions.view(-1, 1)).squeeze(1)
        entropy = -(log_p.exp() * log_p).sum(dim=-1)
        return clipped_loss(log_probs, entropy, values, batch, self.config)

    def compute_gradients(self, batch) -> PPOLoss:
        """Fill ``.grad`` of the network from a minibatch (nothing is stepped)."""
        out = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        out.total.backward()
        return out._replace(total=out.total.detach())

    def apply_gradients(self) -> None:
        """Run ``grad_hook``, clip the gradient norm, step the optimizer."""
        if self.grad_hook is not None:
            self.grad_hook(self.params)
        if self.config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.config.max_grad_norm)
        self.optimizer.step()
        self.updates += 1

    def update(self, batch) -> PPOLoss:
        """One gradient step on a minibatch; returns its (detached) :class:`PPOLoss`."""
        out = self.compute_gradients(batch)
        self.apply_gradients()
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
