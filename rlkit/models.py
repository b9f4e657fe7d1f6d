"""Neural networks for value-based and actor-critic agents.

Every network here is a plain :class:`torch.nn.Module` that also carries ``model.spec``: a small
JSON-able dict ``{"class": <name>, "kwargs": {...}}`` holding the constructor arguments after
defaults were resolved. :func:`model_from_spec` turns such a dict back into a fresh network, which
is how :mod:`rlkit.checkpoints` rebuilds a model from a file without pickling any Python code.

Observations
------------
==============  ===============  ===================================================================
Kind            Shape            dtype and scaling
==============  ===============  ===================================================================
image           (B, C, H, W)     ``uint8`` in [0, 255]: divided by 255 inside ``forward`` on the
                                 tensor's own device. Floating-point input is used as given (it
                                 is assumed to be already scaled to [0, 1]).
vector          (B, D)           ``float32`` (other dtypes are cast to ``float32``).
==============  ===============  ===================================================================

``forward`` never moves its input between devices: put the network and the batch on the same
device yourself (``model.to(device)``; ``torch.as_tensor(obs, device=device)``).

References
----------
* Mnih et al. (2015), "Human-level control through deep reinforcement learning", Nature 518 --
  the conv trunk of the ``"nature"`` preset (32 8x8/4, 64 4x4/2, 64 3x3/1, then 512 units).
* Wang et al. (2016), "Dueling Network Architectures for Deep Reinforcement Learning",
  arXiv:1511.06581 -- the dueling head, ``Q = V + A - mean(A)`` (their equation 9).
* Huang et al. (2022), "The 37 Implementation Details of Proximal Policy Optimization", ICLR Blog
  Track, and Andrychowicz et al. (2021), "What Matters in On-Policy Reinforcement Learning?",
  arXiv:2006.05990 -- orthogonal initialisation with gain sqrt(2) in hidden layers, 0.01 for the
  policy output and 1 for the value output, as used by :class:`ActorCritic`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.distributions import Categorical

__all__ = [
    "IMAGE_PRESETS",
    "ActOutput",
    "ActorCritic",
    "ConvTrunk",
    "ImageQNetwork",
    "MLPQNetwork",
    "build_q_network",
    "count_parameters",
    "model_from_spec",
    "register_model",
]

#: Conv-trunk presets for image observations. ``"small"`` is the default: a few thousand conv
#: weights that run in well under a millisecond per step on one CPU thread at 1x30x45 (the usual
#: ViZDoom resolution). ``"nature"`` is the DQN network of Mnih et al. (2015), meant for 84x84.
IMAGE_PRESETS: dict[str, dict[str, Any]] = {
    "small": {"channels": (8, 16, 16), "kernels": (3, 3, 3), "strides": (2, 2, 1), "hidden": 32},
    # Two convs with large strides: ~40% cheaper per update than "small" on a CPU at 30x45,
    # where per-layer overhead, not arithmetic, dominates (measured with prof in notebook 03).
    "fast": {"channels": (8, 16), "kernels": (5, 3), "strides": (3, 2), "hidden": 32},
    "nature": {"channels": (32, 64, 64), "kernels": (8, 4, 3), "strides": (4, 2, 1), "hidden": 512},
}

_MODEL_CLASSES: dict[str, type[nn.Module]] = {}


def register_model(cls: type[nn.Module]) -> type[nn.Module]:
    """Make a model class known to :func:`model_from_spec` (usable as a class decorator).

    The class must set ``self.spec = {"class": cls.__name__, "kwargs": {...}}`` in its constructor,
    with ``kwargs`` JSON-able and accepted back by the constructor.

    :param cls: the :class:`torch.nn.Module` subclass to register under ``cls.__name__``
    :return: ``cls`` unchanged
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_model expects an nn.Module subclass, got {cls!r}")
    _MODEL_CLASSES[cls.__name__] = cls
    return cls


def model_from_spec(spec: Mapping[str, Any]) -> nn.Module:
    """Build a fresh (randomly initialised) network from a ``model.spec`` dict.

    :param spec: ``{"class": name, "kwargs": {...}}`` as stored in ``model.spec``; it may have been
        through JSON (tuples turned into lists), which the constructors accept.
    :return: a new model with the same architecture; load weights with ``load_state_dict``.
    :raises ValueError: if the spec is malformed or names an unknown class.
    """
    if not isinstance(spec, Mapping) or "class" not in spec or "kwargs" not in spec:
        raise ValueError(
            f"a model spec must be a dict with keys 'class' and 'kwargs', got {spec!r:.200}"
        )
    name, kwargs = spec["class"], spec["kwargs"]
    if name not in _MODEL_CLASSES:
        known = ", ".join(sorted(_MODEL_CLASSES))
        raise ValueError(
            f"unknown model class {name!r} in spec; known classes: {known} "
            "(custom classes must be registered with rlkit.models.register_model)"
        )
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"spec['kwargs'] must be a dict, got {type(kwargs).__name__}")
    return _MODEL_CLASSES[name](**dict(kwargs))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``model`` (shared parameters counted once).

    :param model: any :class:`torch.nn.Module`
    :param trainable_only: count only parameters with ``requires_grad=True``
    :return: the total number of elements
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------------------------
# helpers


def _int_tuple(values: int | Sequence[int], what: str) -> tuple[int, ...]:
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


def _check_n_actions(n_actions: int) -> int:
    try:
        ok = not isinstance(n_actions, bool) and int(n_actions) == n_actions and n_actions >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"n_actions must be a positive integer, got {n_actions!r}")
    return int(n_actions)


def _image_input(obs: torch.Tensor) -> torch.Tensor:
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


def _vector_input(obs: torch.Tensor) -> torch.Tensor:
    if obs.dim() != 2:
        raise ValueError(
            f"expected a vector batch of shape (B, D), got shape {tuple(obs.shape)}; "
            "add a batch dimension with obs.unsqueeze(0)"
        )
    return obs if obs.dtype == torch.float32 else obs.float()


def _mlp(sizes: Sequence[int], activation: Callable[[], nn.Module]) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, each followed by ``activation()``."""
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [nn.Linear(n_in, n_out), activation()]
    return nn.Sequential(*layers)


def _resolve_image_arch(
    preset: str,
    channels: Sequence[int] | None,
    kernels: Sequence[int] | None,
    strides: Sequence[int] | None,
    hidden: Any,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], Any]:
    if preset not in IMAGE_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(IMAGE_PRESETS)}")
    base = IMAGE_PRESETS[preset]
    ch = _int_tuple(base["channels"] if channels is None else channels, "channels")
    n = len(ch)
    ks = _int_tuple(base["kernels"] if kernels is None else kernels, "kernels")
    st = _int_tuple(base["strides"] if strides is None else strides, "strides")
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
        c, h, w = _int_tuple(obs_shape, "obs_shape")
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
            layers.append(nn.AdaptiveAvgPool2d(_int_tuple(pool, "pool")))
        layers.append(nn.Flatten())
        self.net = nn.Sequential(*layers)
        with torch.no_grad():
            self.out_features = int(self.net(torch.zeros(1, c, h, w)).shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


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
            self.value = nn.Sequential(_mlp(sizes, nn.ReLU), nn.Linear(width, 1))
            self.advantage = nn.Sequential(_mlp(sizes, nn.ReLU), nn.Linear(width, n_actions))
        else:
            self.q = nn.Sequential(_mlp(sizes, nn.ReLU), nn.Linear(width, n_actions))

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
        obs_shape = _int_tuple(obs_shape, "obs_shape")
        if len(obs_shape) != 3:
            raise ValueError(f"ImageQNetwork needs obs_shape (C, H, W), got {obs_shape}")
        n_actions = _check_n_actions(n_actions)
        ch, ks, st, hid = _resolve_image_arch(preset, channels, kernels, strides, hidden)
        hid = _int_tuple(hid, "hidden")
        pool_t = None if pool is None else _int_tuple(pool, "pool")
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
        return self.head(self.trunk(_image_input(obs)))


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
        (obs_dim,) = _int_tuple(obs_dim, "obs_dim")
        n_actions = _check_n_actions(n_actions)
        hid = _int_tuple(hidden, "hidden")
        self.obs_dim, self.n_actions, self.dueling = obs_dim, n_actions, bool(dueling)
        self.body = _mlp([obs_dim, *hid], nn.ReLU)
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
        h = self.body(_vector_input(obs))
        if not self.dueling:
            return self.q(h)
        advantage = self.advantage(h)
        return self.value(h) + advantage - advantage.mean(dim=1, keepdim=True)


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
        obs_shape = _int_tuple(obs_shape, "obs_shape")
        n_actions = _check_n_actions(n_actions)
        self.obs_shape, self.n_actions = obs_shape, n_actions
        self.is_image = len(obs_shape) == 3
        kwargs: dict[str, Any] = {"obs_shape": list(obs_shape), "n_actions": n_actions}
        if self.is_image:
            default_hidden = 512 if preset == "nature" else 64
            ch, ks, st, hid = _resolve_image_arch(
                preset, channels, kernels, strides, default_hidden if hidden is None else hidden
            )
            hid = _int_tuple(hid, "hidden")
            pool_t = None if pool is None else _int_tuple(pool, "pool")
            conv = ConvTrunk(obs_shape, ch, ks, st, pool_t)
            self.trunk = nn.Sequential(conv, _mlp([conv.out_features, *hid], nn.ReLU))
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
            hid = _int_tuple((64, 64) if hidden is None else hidden, "hidden")
            self.trunk = _mlp([obs_shape[0], *hid], nn.Tanh)
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
        x = _image_input(obs) if self.is_image else _vector_input(obs)
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
