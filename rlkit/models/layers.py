"""Building blocks shared by the networks: input scaling, MLPs, the conv trunk and its presets."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

#: Conv-trunk presets for image observations. ``"small"`` is the default: a few thousand conv
#: weights, sized for one CPU thread at 1x30x45 (the usual ViZDoom resolution). ``"nature"`` is
#: the DQN network of Mnih et al. (2015), meant for 84x84.
IMAGE_PRESETS: dict[str, dict[str, Any]] = {
    "small": {"channels": (8, 16, 16), "kernels": (3, 3, 3), "strides": (2, 2, 1), "hidden": 32},
    # Two convs with large strides: cheaper per update than "small" on a CPU at 30x45, where
    # per-layer overhead, not arithmetic, dominates.
    "fast": {"channels": (8, 16), "kernels": (5, 3), "strides": (3, 2), "hidden": 32},
    "nature": {"channels": (32, 64, 64), "kernels": (8, 4, 3), "strides": (4, 2, 1), "hidden": 512},
}


def int_tuple(values: int | Sequence[int], what: str) -> tuple[int, ...]:
    if isinstance(values, int) and not isinstance(values, bool):
        values = (values,)
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        msg = f"{what} must be a sequence of positive integers, got {values!r}"
        raise ValueError(msg) from None
    if any(v < 1 for v in out):
        raise ValueError(f"{what} must contain positive integers only, got {out}")
    return out


def check_n_actions(n_actions: int) -> int:
    try:
        ok = not isinstance(n_actions, bool) and int(n_actions) == n_actions and n_actions >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"n_actions must be a positive integer, got {n_actions!r}")
    return int(n_actions)


def image_input(obs: torch.Tensor) -> torch.Tensor:
    """Scale a uint8 image batch to float32 in [0, 1] on the tensor's own device."""
    if obs.dim() != 4:
        raise ValueError(
            f"expected an image batch of shape (B, C, H, W), got shape {tuple(obs.shape)}; "
            "add a batch dimension with obs.unsqueeze(0)"
        )
    if obs.dtype == torch.uint8:
        return obs.to(torch.float32).div_(255.0)
    if obs.dtype != torch.float32:
        return obs.float()
    return obs


def vector_input(obs: torch.Tensor) -> torch.Tensor:
    if obs.dim() != 2:
        raise ValueError(
            f"expected a vector batch of shape (B, D), got shape {tuple(obs.shape)}; "
            "add a batch dimension with obs.unsqueeze(0)"
        )
    return obs if obs.dtype == torch.float32 else obs.float()


def mlp(sizes: Sequence[int], activation: Callable[[], nn.Module]) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, each followed by ``activation()``."""
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [nn.Linear(n_in, n_out), activation()]
    return nn.Sequential(*layers)


def resolve_image_arch(
    preset: str,
    channels: Sequence[int] | None,
    kernels: Sequence[int] | None,
    strides: Sequence[int] | None,
    hidden: Any,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], Any]:
    if preset not in IMAGE_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(IMAGE_PRESETS)}")
    base = IMAGE_PRESETS[preset]
    ch = int_tuple(base["channels"] if channels is None else channels, "channels")
    n = len(ch)
    ks = int_tuple(base["kernels"] if kernels is None else kernels, "kernels")
    st = int_tuple(base["strides"] if strides is None else strides, "strides")
    # A single kernel/stride value applies to every layer; otherwise lengths must match.
    if len(ks) == 1:
        ks = ks * n
    if len(st) == 1:
        st = st * n
    if len(ks) != n or len(st) != n:
        raise ValueError(
            f"{n} conv layers (channels {ch}) need as many kernels and strides, got kernels {ks} "
            f"and strides {st}; pass kernels= and strides= explicitly (a single int applies to "
            "every layer)"
        )
    return ch, ks, st, base["hidden"] if hidden is None else hidden


class ConvTrunk(nn.Module):
    """Conv layers (no padding) + ReLU + flatten; the output size is found by a dry run.

    ============  ===============  ===========================================================
    Symbol        Shape            Meaning
    ============  ===============  ===========================================================
    x             (B, C, H, W)     float image batch, already scaled
    out           (B, F)           flattened features, ``F = self.out_features``
    ============  ===============  ===========================================================

    :param obs_shape: ``(C, H, W)`` of one observation
    :param channels: output channels of each conv layer
    :param kernels: square kernel size of each layer
    :param strides: stride of each layer
    :param pool: if given, an :class:`torch.nn.AdaptiveAvgPool2d` to this ``(h, w)`` after the
        last conv, which caps ``F`` for large inputs (e.g. 120x160)
    """

    def __init__(
        self,
        obs_shape: Sequence[int],
        channels: Sequence[int],
        kernels: Sequence[int],
        strides: Sequence[int],
        pool: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        c, h, w = int_tuple(obs_shape, "obs_shape")
        # Smallest input side that still leaves one output pixel, computed back to front.
        min_side = 1
        for k, s in zip(reversed(kernels), reversed(strides), strict=True):
            min_side = (min_side - 1) * s + k
        if h < min_side or w < min_side:
            raise ValueError(
                f"observation shape {(c, h, w)} is too small for conv kernels {tuple(kernels)} "
                f"with strides {tuple(strides)}: height and width must be at least {min_side}"
            )
        layers: list[nn.Module] = []
        in_ch = c
        for out_ch, k, s in zip(channels, kernels, strides, strict=True):
            layers += [nn.Conv2d(in_ch, out_ch, kernel_size=k, stride=s), nn.ReLU()]
            in_ch = out_ch
        if pool is not None:
            layers.append(nn.AdaptiveAvgPool2d(int_tuple(pool, "pool")))
        layers.append(nn.Flatten())
        self.net = nn.Sequential(*layers)
        with torch.no_grad():
            self.out_features = int(self.net(torch.zeros(1, c, h, w)).shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
