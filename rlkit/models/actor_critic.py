"""The actor-critic network for PPO: a shared trunk, a policy head and a value head."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.distributions import Categorical

from rlkit.models.layers import (
    ConvTrunk,
    check_n_actions,
    image_input,
    int_tuple,
    mlp,
    resolve_image_arch,
    vector_input,
)
from rlkit.models.registry import register_model


class ActOutput(NamedTuple):
    """What :meth:`ActorCritic.act` returns; every field has shape ``(B,)``."""

    action: torch.Tensor
    log_prob: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor


def _orthogonal_init(module: nn.Module, gain: float) -> None:
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.orthogonal_(module.weight, gain=gain)
        nn.init.zeros_(module.bias)


@register_model
class ActorCritic(nn.Module):
    """Shared-trunk actor-critic for discrete actions (e.g. PPO, A2C).

    The trunk is a conv net + one ReLU layer for image observations (``obs_shape`` of rank 3) or a
    tanh MLP for vector observations (rank 1); a linear policy head gives action logits and a
    linear value head gives the state value.

    ============  =================  ==========================================================
    Symbol        Shape              Meaning
    ============  =================  ==========================================================
    obs           (B, C, H, W)       uint8 pixels (divided by 255 inside) or float in [0, 1]
                  or (B, D)          or float vectors
    logits        (B, n_actions)     unnormalised log-probabilities of the policy
    value         (B,)               state-value estimate V(s)
    ============  =================  ==========================================================

    Weights use orthogonal initialisation with zero biases: gain sqrt(2) in the trunk, 0.01 for
    the policy head (a near-uniform initial policy) and 1 for the value head, following common
    PPO practice (Huang et al. 2022; Andrychowicz et al. 2021).

    :param obs_shape: ``(C, H, W)`` or ``(D,)``
    :param n_actions: number of discrete actions
    :param hidden: sizes of the trunk's fully connected layers; default ``(64,)`` after the conv
        layers for images (512 for the nature preset) and ``(64, 64)`` for vectors
    :param channels: conv channels (images only; default from ``preset``)
    :param kernels: conv kernel sizes (images only)
    :param strides: conv strides (images only)
    :param preset: conv preset for images, see :data:`IMAGE_PRESETS`
    :param pool: optional adaptive pooling size after the convs (images only)
    """

    def __init__(
        self,
        obs_shape: Sequence[int],
        n_actions: int,
        hidden: int | Sequence[int] | None = None,
        channels: Sequence[int] | None = None,
        kernels: Sequence[int] | None = None,
        strides: Sequence[int] | None = None,
        preset: str = "small",
        pool: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        obs_shape = int_tuple(obs_shape, "obs_shape")
        n_actions = check_n_actions(n_actions)
        self.obs_shape, self.n_actions = obs_shape, n_actions
        self.is_image = len(obs_shape) == 3
        kwargs: dict[str, Any] = {"obs_shape": list(obs_shape), "n_actions": n_actions}
        if self.is_image:
            default_hidden = 512 if preset == "nature" else 64
            ch, ks, st, hid = resolve_image_arch(
                preset, channels, kernels, strides, default_hidden if hidden is None else hidden
            )
            hid = int_tuple(hid, "hidden")
            pool_t = None if pool is None else int_tuple(pool, "pool")
            conv = ConvTrunk(obs_shape, ch, ks, st, pool_t)
            self.trunk = nn.Sequential(conv, mlp([conv.out_features, *hid], nn.ReLU))
            width = hid[-1] if hid else conv.out_features
            kwargs.update(
                hidden=list(hid),
                channels=list(ch),
                kernels=list(ks),
                strides=list(st),
                preset=preset,
                pool=None if pool_t is None else list(pool_t),
            )
        elif len(obs_shape) == 1:
            if any(a is not None for a in (channels, kernels, strides, pool)):
                raise ValueError("channels/kernels/strides/pool only apply to image observations")
            hid = int_tuple((64, 64) if hidden is None else hidden, "hidden")
            self.trunk = mlp([obs_shape[0], *hid], nn.Tanh)
            width = hid[-1] if hid else obs_shape[0]
            kwargs["hidden"] = list(hid)
        else:
            raise ValueError(f"ActorCritic needs obs_shape (C, H, W) or (D,), got {obs_shape}")
        self.policy_head = nn.Linear(width, n_actions)
        self.value_head = nn.Linear(width, 1)
        self.trunk.apply(lambda m: _orthogonal_init(m, math.sqrt(2.0)))
        _orthogonal_init(self.policy_head, 0.01)
        _orthogonal_init(self.value_head, 1.0)
        self.spec = {"class": type(self).__name__, "kwargs": kwargs}

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:param obs: observation batch, see the class table
        :return: ``(logits, value)`` of shapes (B, n_actions) and (B,)"""
        x = image_input(obs) if self.is_image else vector_input(obs)
        h = self.trunk(x)
        return self.policy_head(h), self.value_head(h).squeeze(-1)

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> ActOutput:
        """Sample (or pick the most likely) action for each observation in the batch.

        Gradients flow as usual; wrap the call in ``torch.no_grad()`` while collecting rollouts.

        :param obs: observation batch
        :param deterministic: take ``argmax`` of the logits instead of sampling
        :return: :class:`ActOutput` ``(action, log_prob, value, entropy)``, each of shape (B,)
        """
        logits, value = self(obs)
        dist = Categorical(logits=logits)
        action = logits.argmax(dim=-1) if deterministic else dist.sample()
        return ActOutput(action, dist.log_prob(action), value, dist.entropy())

    def evaluate_actions(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of given actions under the current policy, and values.

        :param obs: observation batch
        :param actions: (B,) integer actions taken
        :return: ``(log_prob, entropy, value)``, each of shape (B,)
        """
        logits, value = self(obs)
        dist = Categorical(logits=logits)
        return dist.log_prob(actions), dist.entropy(), value
