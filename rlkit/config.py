"""Experiment configs: frozen dataclasses, named presets, keyword overrides.

``preset("vizdoom_basic", lr=1e-3)`` returns the named baseline with one field changed, so a
papermill parameter cell (or ``--set key=value`` on the CLI) can set any field. Every field has
a docstring; a wrong name or an out-of-range value is one clear error naming the field and what
is valid.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
LOSSES = ("huber", "mse")
VECTOR_BACKENDS = ("sync", "threads", "shm", "async")


class ConfigError(ValueError):
    """A config field is unknown or out of range."""


@dataclass(frozen=True)
class DQNConfig:
    """Deep Q-learning (Mnih et al. 2015) with the usual improvements as switches."""

    env_id: str = "CartPole-v1"
    """Environment id for :func:`rlkit.envs.make_env` (``"vizdoom:<scenario>"`` or gymnasium)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra arguments for ``make_env`` (ViZDoom: ``resolution``, ``frame_skip``…)."""
    num_envs: int = 1
    """Environments stepped together; each step adds ``num_envs`` transitions."""
    vector_backend: str = "sync"
    """``sync`` (one by one), ``threads`` (in parallel threads: ViZDoom runs without the GIL),
    ``shm`` (rlkit's shared-memory worker processes) or ``async`` (gymnasium's processes)."""
    total_steps: int = 50_000
    """Environment steps to train for, summed over all envs."""
    buffer_size: int = 50_000
    """Replay capacity in transitions."""
    batch_size: int = 64
    """Transitions per gradient update."""
    lr: float = 1e-3
    """Optimizer learning rate."""
    optimizer: str = "adam"
    """One of ``adam``, ``adamw``, ``rmsprop``, ``sgd``."""
    gamma: float = 0.99
    """Discount factor, in (0, 1]."""
    learning_starts: int = 1_000
    """Env steps of experience collected before the first update."""
    train_freq: int = 1
    """Env steps (over all envs) between training rounds."""
    gradient_steps: int = 1
    """Gradient updates per training round."""
    target_update_interval: int = 500
    """Gradient updates between target-network syncs."""
    tau: float = 1.0
    """Target sync rate: 1.0 copies the weights (hard), < 1 is Polyak averaging."""
    eps_start: float = 1.0
    """Exploration epsilon at the start."""
    eps_end: float = 0.05
    """Exploration epsilon after the decay."""
    eps_decay_fraction: float = 0.2
    """Fraction of ``total_steps`` over which epsilon decays linearly."""
    double_dqn: bool = True
    """Double DQN target (van Hasselt et al. 2016): online net picks, target net evaluates."""
    dueling: bool = True
    """Dueling head (Wang et al. 2016): Q = V + A − mean(A)."""
    prioritized: bool = False
    """Prioritized replay (Schaul et al. 2016) instead of uniform sampling."""
    per_alpha: float = 0.6
    """PER: how strongly priorities shape sampling (0 = uniform), in [0, 1]."""
    per_beta_start: float = 0.4
    """PER: importance-weight correction at the start, annealed linearly to 1, in [0, 1]."""
    per_eps: float = 1e-6
    """PER: added to |TD error| so no transition has zero priority."""
    loss: str = "huber"
    """TD loss: ``huber`` (smooth L1) or ``mse``."""
    max_grad_norm: float | None = 10.0
    """Clip the gradient norm to this value; ``None`` disables clipping."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this before learning (Doom scores are in the hundreds)."""
    net: str = "small"
    """Image trunk: ``fast`` or ``small`` (CPU-sized) or ``nature`` (Mnih et al. 2015, 84×84)."""
    hidden: int | None = None
    """Width of the hidden layer(s); ``None``: the image preset's own, or 128 for an MLP."""
    eval_interval: int = 2_000
    """Env steps between greedy evaluations during training; 0 disables them."""
    eval_episodes: int = 10
    """Greedy episodes per evaluation."""
    log_interval: int = 1_000
    """Env steps between progress reports to callbacks."""
    checkpoint_interval: int = 0
    """Env steps between checkpoints written to the run folder; 0 writes only the last."""
    torch_threads: int | None = 1
    """Torch intra-op threads while training (restored afterwards); ``None`` keeps torch's.

    One is the safe default for rlkit's small networks on a small CPU: measured on 2 cores, a
    second thread saved ~20% of a batch-64 conv update when the machine was otherwise idle, but
    made updates 6-100x slower when other work competed for the cores (its threads spin).
    Raise it on a dedicated machine or for big networks."""
    seed: int = 0
    """Seed for envs, network init, exploration and replay sampling."""

    def __post_init__(self) -> None:
        _validate(self)

    def replace(self, **overrides: Any) -> DQNConfig:
        """A copy with some fields changed (validated like the original)."""
        return apply_overrides(self, overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DQNConfig:
        return apply_overrides(cls(), d)


def _check(ok: bool, name: str, value: Any, valid: str) -> None:
    if not ok:
        raise ConfigError(f"config field {name!r} = {value!r} is out of range; valid: {valid}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _validate(c: DQNConfig) -> None:
    for name in (
        "num_envs",
        "total_steps",
        "buffer_size",
        "batch_size",
        "train_freq",
        "gradient_steps",
        "target_update_interval",
        "eval_episodes",
        "log_interval",
    ):
        v = getattr(c, name)
        _check(_is_int(v) and v >= 1, name, v, "an integer ≥ 1")
    for name in ("learning_starts", "eval_interval", "checkpoint_interval", "seed"):
        v = getattr(c, name)
        _check(_is_int(v) and v >= 0, name, v, "an integer ≥ 0")
    _check(isinstance(c.env_id, str) and bool(c.env_id), "env_id", c.env_id, "a non-empty id")
    _check(isinstance(c.env_kwargs, dict), "env_kwargs", c.env_kwargs, "a dict")
    _check(
        c.batch_size <= c.buffer_size,
        "batch_size",
        c.batch_size,
        f"at most buffer_size ({c.buffer_size})",
    )
    _check(_is_num(c.lr) and c.lr > 0, "lr", c.lr, "a number > 0")
    _check(_is_num(c.gamma) and 0 < c.gamma <= 1, "gamma", c.gamma, "a number in (0, 1]")
    _check(_is_num(c.tau) and 0 < c.tau <= 1, "tau", c.tau, "a number in (0, 1]")
    for name in ("eps_start", "eps_end", "per_alpha", "per_beta_start"):
        v = getattr(c, name)
        _check(_is_num(v) and 0 <= v <= 1, name, v, "a number in [0, 1]")
    _check(
        _is_num(c.eps_decay_fraction) and 0 < c.eps_decay_fraction <= 1,
        "eps_decay_fraction",
        c.eps_decay_fraction,
        "a number in (0, 1]",
    )
    _check(_is_num(c.per_eps) and c.per_eps > 0, "per_eps", c.per_eps, "a number > 0")
    _check(
        _is_num(c.reward_scale) and c.reward_scale > 0,
        "reward_scale",
        c.reward_scale,
        "a number > 0",
    )
    _check(
        c.max_grad_norm is None or (_is_num(c.max_grad_norm) and c.max_grad_norm > 0),
        "max_grad_norm",
        c.max_grad_norm,
        "a number > 0 or None",
    )
    _check(
        c.torch_threads is None or (_is_int(c.torch_threads) and c.torch_threads >= 1),
        "torch_threads",
        c.torch_threads,
        "an integer ≥ 1 or None",
    )
    _check(c.optimizer in OPTIMIZERS, "optimizer", c.optimizer, ", ".join(OPTIMIZERS))
    _check(c.loss in LOSSES, "loss", c.loss, ", ".join(LOSSES))
    _check(c.net in ("fast", "small", "nature"), "net", c.net, "fast, small, nature")
    _check(
        c.hidden is None or (_is_int(c.hidden) and c.hidden >= 1),
        "hidden",
        c.hidden,
        "an integer ≥ 1 or None",
    )
    _check(
        c.vector_backend in VECTOR_BACKENDS,
        "vector_backend",
        c.vector_backend,
        ", ".join(VECTOR_BACKENDS),
    )
    for name in ("double_dqn", "dueling", "prioritized"):
        v = getattr(c, name)
        _check(isinstance(v, bool), name, v, "True or False")


def apply_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    """Return ``config`` with ``overrides`` applied; unknown names are an error listing valid ones.

    Values may be given as strings (from ``--set key=value``): they are parsed against the type
    of the field's current value.
    """
    names = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(
            f"unknown config field(s) {', '.join(unknown)} for {type(config).__name__}; "
            f"valid: {', '.join(sorted(names))}"
        )
    types = {f.name: str(f.type) for f in dataclasses.fields(config)}
    parsed = {k: _coerce(k, v, types[k]) for k, v in overrides.items()}
    if hasattr(config, "env_kwargs"):  # never share the preset's dict with a copy
        parsed.setdefault("env_kwargs", dict(config.env_kwargs))
    return dataclasses.replace(config, **parsed)


def _coerce(name: str, value: Any, annotation: str) -> Any:
    """Parse ``value`` for a field annotated ``annotation`` (e.g. ``"int | None"``)."""
    kinds = {part.strip().split("[")[0] for part in annotation.split("|")}
    if not isinstance(value, str) or "str" in kinds:
        # Papermill gives ints where a float is expected (lr=1): accept them as floats.
        if "float" in kinds and _is_int(value):
            return float(value)
        return value
    text = value.strip()
    if text.lower() in ("none", "null") and "None" in kinds:
        return None
    if "bool" in kinds:
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"config field {name!r} = {value!r} is not a boolean; valid: true, false")
    if "dict" in kinds:
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(
                f"config field {name!r} = {value!r} is not JSON; valid: a JSON object"
            ) from None
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"config field {name!r} = {value!r} is not a number") from None
    if "int" in kinds:
        if not number.is_integer():
            raise ConfigError(f"config field {name!r} = {value!r} is not a whole number")
        return int(number)  # accepts 1e5 for 100000
    return number


# -- named presets ---------------------------------------------------------------------------
_DOOM_SMALL = {"resolution": (30, 45), "frame_skip": 12}

PRESETS: dict[str, DQNConfig] = {
    # Polyak-averaged target (tau 0.01 after every update) kept CartPole's greedy score from
    # the collapse a hard-synced target showed in our sweeps; plain head, batch 128.
    "cartpole": DQNConfig(
        env_id="CartPole-v1",
        total_steps=50_000,
        buffer_size=50_000,
        batch_size=128,
        lr=1e-3,
        gamma=0.99,
        learning_starts=1_000,
        train_freq=2,
        target_update_interval=1,
        tau=0.01,
        eps_decay_fraction=0.1,
        dueling=False,
        eval_interval=1_000,
        eval_episodes=10,
        hidden=128,
    ),
    "acrobot": DQNConfig(
        env_id="Acrobot-v1",
        total_steps=60_000,
        buffer_size=50_000,
        batch_size=128,
        lr=1e-3,
        learning_starts=1_000,
        train_freq=2,
        target_update_interval=250,
        eps_decay_fraction=0.2,
        eval_interval=5_000,
        hidden=128,
    ),
    "lunarlander": DQNConfig(
        env_id="LunarLander-v3",
        total_steps=200_000,
        buffer_size=100_000,
        batch_size=128,
        lr=6.3e-4,
        learning_starts=5_000,
        train_freq=4,
        target_update_interval=250,
        eps_decay_fraction=0.12,
        eval_interval=10_000,
        hidden=256,
    ),
    "vizdoom_defend_the_center": DQNConfig(
        env_id="vizdoom:defend_the_center",
        env_kwargs={"resolution": (30, 45), "frame_skip": 4},
        total_steps=100_000,
        buffer_size=50_000,
        batch_size=64,
        lr=2.5e-4,
        learning_starts=2_000,
        train_freq=4,
        target_update_interval=500,
        eps_decay_fraction=0.3,
        reward_scale=1.0,
        eval_interval=10_000,
        eval_episodes=5,
    ),
}

# Tuned for time-to-score on a 2-core CPU (python -m rlkit bench dqn): a cheap conv trunk, one
# small-batch update every 2 env steps, and exploration decayed over the first 2k steps.
PRESETS["vizdoom_simpler_basic"] = DQNConfig(
    env_id="vizdoom:simpler_basic",
    env_kwargs=dict(_DOOM_SMALL),
    total_steps=10_000,
    buffer_size=10_000,
    batch_size=32,
    lr=1e-3,
    gamma=0.99,
    learning_starts=500,
    train_freq=2,
    target_update_interval=200,
    eps_decay_fraction=0.2,
    reward_scale=0.01,
    net="fast",
    eval_interval=500,
    eval_episodes=20,
)
# basic: the same task and recipe as simpler_basic (basic.cfg also sets doom_skill 5), longer.
PRESETS["vizdoom_basic"] = dataclasses.replace(
    PRESETS["vizdoom_simpler_basic"],
    env_id="vizdoom:basic",
    env_kwargs=dict(_DOOM_SMALL),
    total_steps=15_000,
    buffer_size=15_000,
    eval_interval=1_000,
)


def preset(name: str, **overrides: Any) -> DQNConfig:
    """A named baseline config, with keyword overrides.

    :param name: one of :data:`PRESETS` (``cartpole``, ``vizdoom_basic``…).
    :param overrides: field values to change, e.g. ``lr=1e-3``.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid: {', '.join(sorted(PRESETS))}")
    return apply_overrides(PRESETS[name], overrides)
