"""Q-networks: image (conv trunk) and vector (MLP) inputs, plain or dueling heads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

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


class _QHead(nn.Module):
    """Maps features to Q-values, optionally through a dueling value/advantage split."""

    def __init__(
        self, in_features: int, n_actions: int, hidden: Sequence[int], dueling: bool
    ) -> None:
        super().__init__()
        self.dueling = dueling
        sizes = [in_features, *hidden]
        width = sizes[-1]
        if dueling:
            # Two streams with their own hidden layers (Wang et al. 2016, figure 1).
            self.value = nn.Sequential(mlp(sizes, nn.ReLU), nn.Linear(width, 1))
            self.advantage = nn.Sequential(mlp(sizes, nn.ReLU), nn.Linear(width, n_actions))
        else:
            self.q = nn.Sequential(mlp(sizes, nn.ReLU), nn.Linear(width, n_actions))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.dueling:
            return self.q(features)
        value = self.value(features)
        advantage = self.advantage(features)
        # Subtracting the mean advantage makes V and A identifiable (Wang et al. 2016, eq. 9).
        return value + advantage - advantage.mean(dim=1, keepdim=True)


@register_model
class ImageQNetwork(nn.Module):
    """Q-network for image observations: conv trunk, then a (dueling) fully connected head.

    ============  =================  ==========================================================
    Symbol        Shape              Meaning
    ============  =================  ==========================================================
    obs           (B, C, H, W)       ``uint8`` pixels (divided by 255 inside) or float in [0, 1]
    q             (B, n_actions)     action values; with ``dueling``, ``V + A - mean(A)``
    ============  =================  ==========================================================

    Architectures (arguments left as ``None`` come from ``preset``):

    * ``"small"`` (default): 8, 16, 16 channels of 3x3 convs with strides 2, 2, 1 and 32 hidden
      units per stream -- about 36k parameters at 1x30x45 with 3 actions.
    * ``"nature"``: Mnih et al. (2015) -- 32 8x8/4, 64 4x4/2, 64 3x3/1 and 512 hidden units;
      meant for 84x84 inputs (about 1.7M parameters at 4x84x84).

    Convolutions have no padding, so the flattened size grows with the input: at 120x160 the
    small trunk yields ~16k features; pass ``pool=(4, 6)`` (for example) to cap it.

    :param obs_shape: ``(C, H, W)`` of one observation
    :param n_actions: number of discrete actions
    :param dueling: use the dueling head of Wang et al. (2016)
    :param channels: output channels per conv layer
    :param kernels: square kernel size per conv layer (one value applies to all layers)
    :param strides: stride per conv layer (one value applies to all layers)
    :param hidden: hidden units of the fully connected head (per stream when dueling); an int or
        a sequence of ints for several layers
    :param preset: ``"small"`` or ``"nature"``, see :data:`IMAGE_PRESETS`
    :param pool: optional ``(h, w)`` adaptive average pooling after the last conv
    """

    def __init__(
        self,
        obs_shape: Sequence[int],
        n_actions: int,
        dueling: bool = True,
        channels: Sequence[int] | None = None,
        kernels: Sequence[int] | None = None,
        strides: Sequence[int] | None = None,
        hidden: int | Sequence[int] | None = None,
        preset: str = "small",
        pool: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        obs_shape = int_tuple(obs_shape, "obs_shape")
        if len(obs_shape) != 3:
            raise ValueError(f"ImageQNetwork needs obs_shape (C, H, W), got {obs_shape}")
        n_actions = check_n_actions(n_actions)
        ch, ks, st, hid = resolve_image_arch(preset, channels, kernels, strides, hidden)
        hid = int_tuple(hid, "hidden")
        pool_t = None if pool is None else int_tuple(pool, "pool")
        self.obs_shape, self.n_actions = obs_shape, n_actions
        self.trunk = ConvTrunk(obs_shape, ch, ks, st, pool_t)
        self.head = _QHead(self.trunk.out_features, n_actions, hid, bool(dueling))
        self.spec = {
            "class": type(self).__name__,
            "kwargs": {
                "obs_shape": list(obs_shape),
                "n_actions": n_actions,
                "dueling": bool(dueling),
                "channels": list(ch),
                "kernels": list(ks),
                "strides": list(st),
                "hidden": hid[0] if len(hid) == 1 else list(hid),
                "preset": preset,
                "pool": None if pool_t is None else list(pool_t),
            },
        }

    @classmethod
    def nature(
        cls, obs_shape: Sequence[int], n_actions: int, dueling: bool = False, **kw: Any
    ) -> ImageQNetwork:
        """The Mnih et al. (2015) architecture (``preset="nature"``), plain head by default.

        :param obs_shape: ``(C, H, W)``, typically ``(4, 84, 84)``
        :param n_actions: number of discrete actions
        :param dueling: use a dueling head instead of the original single stream
        :param kw: further keyword arguments for :class:`ImageQNetwork`
        """
        return cls(obs_shape, n_actions, dueling=dueling, preset="nature", **kw)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """:param obs: (B, C, H, W) uint8 or float batch
        :return: (B, n_actions) Q-values"""
        return self.head(self.trunk(image_input(obs)))


@register_model
class MLPQNetwork(nn.Module):
    """Q-network for vector observations: a ReLU multilayer perceptron.

    ============  =================  ==========================================================
    Symbol        Shape              Meaning
    ============  =================  ==========================================================
    obs           (B, D)             float observations (cast to float32 if needed)
    q             (B, n_actions)     action values
    ============  =================  ==========================================================

    With ``dueling=True`` the hidden layers are shared and only the last layer splits into a
    value output and an advantage output.

    :param obs_dim: ``D``, the length of one observation vector
    :param n_actions: number of discrete actions
    :param hidden: sizes of the hidden layers
    :param dueling: use the dueling combination ``V + A - mean(A)``
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden: Sequence[int] = (128, 128),
        dueling: bool = False,
    ) -> None:
        super().__init__()
        (obs_dim,) = int_tuple(obs_dim, "obs_dim")
        n_actions = check_n_actions(n_actions)
        hid = int_tuple(hidden, "hidden")
        self.obs_dim, self.n_actions, self.dueling = obs_dim, n_actions, bool(dueling)
        self.body = mlp([obs_dim, *hid], nn.ReLU)
        width = hid[-1] if hid else obs_dim
        if self.dueling:
            self.value = nn.Linear(width, 1)
            self.advantage = nn.Linear(width, n_actions)
        else:
            self.q = nn.Linear(width, n_actions)
        self.spec = {
            "class": type(self).__name__,
            "kwargs": {
                "obs_dim": obs_dim,
                "n_actions": n_actions,
                "hidden": list(hid),
                "dueling": self.dueling,
            },
        }

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """:param obs: (B, D) batch
        :return: (B, n_actions) Q-values"""
        h = self.body(vector_input(obs))
        if not self.dueling:
            return self.q(h)
        advantage = self.advantage(h)
        return self.value(h) + advantage - advantage.mean(dim=1, keepdim=True)


def build_q_network(obs_space_shape: Sequence[int], n_actions: int, **kw: Any) -> nn.Module:
    """Pick a Q-network by the rank of the observation shape.

    :param obs_space_shape: ``observation_space.shape``: rank 3 ``(C, H, W)`` gives an
        :class:`ImageQNetwork`, rank 1 ``(D,)`` an :class:`MLPQNetwork`
    :param n_actions: number of discrete actions
    :param kw: further keyword arguments for the chosen class
    :return: the network
    :raises ValueError: for any other rank
    """
    shape = tuple(obs_space_shape)
    if len(shape) == 3:
        return ImageQNetwork(shape, n_actions, **kw)
    if len(shape) == 1:
        return MLPQNetwork(shape[0], n_actions, **kw)
    raise ValueError(
        f"no Q-network for observation shape {shape}: expected (C, H, W) for images or (D,) for "
        "vectors (for (H, W) grayscale frames add a channel axis, e.g. a frame-stack wrapper)"
    )
