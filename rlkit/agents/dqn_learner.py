"""The learning half of DQN: the Q-network a config asks for, its optimizer, and the TD update
(:class:`DQNLearner`), with the seam between computing gradients and applying them where
data-parallel training averages them. :mod:`rlkit.agents.dqn` re-exports all of it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from rlkit.config import DQNConfig


def build_q_network(config: DQNConfig, obs_shape: Sequence[int], n_actions: int):
    """The Q-network a config asks for (image trunk for (C, H, W), MLP for (D,))."""
    from rlkit.models import build_q_network as build

    if len(obs_shape) == 3:
        return build(
            obs_shape, n_actions, dueling=config.dueling, preset=config.net, hidden=config.hidden
        )
    width = config.hidden or 128
    return build(obs_shape, n_actions, dueling=config.dueling, hidden=(width, width))


def make_optimizer(config: DQNConfig, params) -> torch.optim.Optimizer:
    # The fused kernels update all parameters in one call, which matters on a CPU for a small
    # net, where per-tensor overhead dominates.
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, fused=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, fused=True)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr)
    return torch.optim.SGD(params, lr=config.lr, momentum=0.9)


class DQNLearner:
    """The learning half of DQN: networks, optimizer and the TD update.

    :meth:`update` is :meth:`compute_gradients` then :meth:`apply_gradients`; a data-parallel
    trainer calls the two itself and averages the gradients in between (or sets ``grad_hook``).

    :param config: the run's config.
    :param obs_shape: shape of one observation.
    :param n_actions: number of discrete actions.
    :param device: where the networks live.
    :param grad_hook: called with the list of parameters after backward and before clipping
        and the optimizer step (e.g. an all-reduce of their ``.grad``).
    :param compile_update: ``torch.compile`` :meth:`td_loss` (its backward is compiled with it);
        ``None`` follows ``config.compile``. Each new batch shape compiles again.
    """

    def __init__(
        self,
        config: DQNConfig,
        obs_shape: Sequence[int],
        n_actions: int,
        device,
        grad_hook: Callable[[list[torch.nn.Parameter]], None] | None = None,
        compile_update: bool | None = None,
    ):
        self.config = config
        self.device = torch.device(device)
        self.q = build_q_network(config, obs_shape, n_actions).to(self.device)
        self.target = build_q_network(config, obs_shape, n_actions).to(self.device)
        self.target.load_state_dict(self.q.state_dict())
        self.target.requires_grad_(False)
        self.optimizer = make_optimizer(config, self.q.parameters())
        self.params = list(self.q.parameters())
        self.grad_hook = grad_hook
        self.updates = 0
        self.compiled = config.compile if compile_update is None else bool(compile_update)
        # Fixed shapes (dynamic=False): one graph per batch size, no symbolic-shape guards.
        self._loss = torch.compile(self.td_loss, dynamic=False) if self.compiled else self.td_loss

    def td_loss(
        self, obs, actions, rewards, next_obs, terminated, weights
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The weighted TD loss of a batch and its TD errors (the part that is compiled).

        :return: (loss with its graph, |TD error| detached).
        """
        c = self.config
        q_taken = self.q(obs).gather(1, actions.view(-1, 1)).squeeze(1)
        with torch.no_grad():
            next_target = self.target(next_obs)
            if c.double_dqn:
                # The online net picks the action, the target net scores it (van Hasselt 2016).
                best = self.q(next_obs).argmax(dim=1, keepdim=True)
                next_q = next_target.gather(1, best).squeeze(1)
            else:
                next_q = next_target.max(dim=1).values
            target = rewards + c.gamma * (1.0 - terminated) * next_q
        td = q_taken - target
        if c.loss == "huber":
            per_item = F.smooth_l1_loss(q_taken, target, reduction="none")
        else:
            per_item = td.pow(2)
        return (weights * per_item).mean(), td.detach().abs()

    def compute_gradients(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Fill ``.grad`` of the online network from a replay batch (nothing is stepped).

        :return: (loss, |TD error|) as detached tensors.
        """
        loss, td_abs = self._loss(
            batch.observations,
            batch.actions,
            batch.rewards,
            batch.next_observations,
            batch.terminated,
            batch.weights,
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return loss.detach(), td_abs

    def apply_gradients(self) -> None:
        """Clip the gradients, step the optimizer, and sync the target network when due."""
        c = self.config
        if self.grad_hook is not None:
            self.grad_hook(self.params)
        if c.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, c.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        if self.updates % c.target_update_interval == 0:
            self.sync_target()

    def update(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """One gradient step on a replay batch; returns (loss, |TD error|) as detached tensors."""
        out = self.compute_gradients(batch)
        self.apply_gradients()
        return out

    @torch.no_grad()
    def sync_target(self) -> None:
        if self.config.tau >= 1.0:
            self.target.load_state_dict(self.q.state_dict())
        else:
            # One fused call over all tensors: Polyak updates run after every gradient step.
            torch._foreach_lerp_(
                list(self.target.parameters()), list(self.q.parameters()), self.config.tau
            )

    def state_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
