"""Experiment configs: frozen dataclasses, named presets, keyword overrides.

``preset("vizdoom_basic", lr=1e-3)`` returns the named baseline with one field changed, so a
papermill parameter cell (or ``--set key=value`` on the CLI) can set any field. Every field has
a docstring; a wrong name or an out-of-range value is one clear error naming the field and what
is valid.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rlkit.errors import UserError

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
LOSSES = ("huber", "mse")
VECTOR_BACKENDS = ("sync", "threads", "shm", "async")
NETS = ("fast", "small", "nature")
BUFFER_DEVICES = ("auto", "cpu", "device")


class ConfigError(UserError, ValueError):
    """A config field is unknown or out of range."""


# -- per-field checks: each returns True when the value is valid; "valid" says what is -------------
@dataclass(frozen=True)
class Check:
    """A field's validity rule: ``ok(value)`` and the words that describe a valid value."""

    ok: Callable[[Any], bool]
    valid: str


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def int_at_least(lo: int) -> Check:
    return Check(lambda v: _is_int(v) and v >= lo, f"an integer ≥ {lo}")


def number_above(lo: float) -> Check:
    return Check(lambda v: _is_num(v) and v > lo, f"a number > {lo:g}")


def number_in(lo: float, hi: float, *, open_low: bool = False) -> Check:
    low = "(" if open_low else "["
    return Check(
        lambda v: _is_num(v) and (lo < v if open_low else lo <= v) and v <= hi,
        f"a number in {low}{lo:g}, {hi:g}]",
    )


def one_of(choices: Sequence[str]) -> Check:
    return Check(lambda v: v in choices, ", ".join(choices))


def optional(check: Check) -> Check:
    return Check(lambda v: v is None or check.ok(v), f"{check.valid} or None")


BOOL = Check(lambda v: isinstance(v, bool), "True or False")
NON_EMPTY_STR = Check(lambda v: isinstance(v, str) and bool(v), "a non-empty id")
DICT = Check(lambda v: isinstance(v, dict), "a dict")


def checked(default: Any = dataclasses.MISSING, check: Check | None = None, **kw: Any) -> Any:
    """A dataclass field whose value :func:`validate` checks with ``check``."""
    return field(default=default, metadata={"check": check}, **kw)


def validate(config: Any) -> None:
    """Check every field of a config against its :class:`Check`, then the config's relations.

    :raises ConfigError: naming the first bad field, its value and what is valid.
    """
    for f in dataclasses.fields(config):
        check = f.metadata.get("check")
        value = getattr(config, f.name)
        if check is not None and not check.ok(value):
            raise ConfigError(
                f"config field {f.name!r} = {value!r} is out of range; valid: {check.valid}"
            )
    config.check_relations()


@dataclass(frozen=True)
class RunConfig:
    """What every training run needs, whatever the algorithm: env, vector backend, budget,
    evaluation, logging, checkpoints, threads and seed. Each algorithm's config extends it."""

    algo: ClassVar[str] = ""
    """The algorithm's name (``"dqn"``, ``"ppo"``), which :func:`rlkit.training.train` reads."""

    env_id: str = checked("CartPole-v1", NON_EMPTY_STR)
    """Environment id for :func:`rlkit.envs.make_env` (``"vizdoom:<scenario>"`` or gymnasium)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict, metadata={"check": DICT})
    """Extra arguments for ``make_env`` (ViZDoom: ``resolution``, ``frame_skip``…)."""
    num_envs: int = checked(1, int_at_least(1))
    """Environments stepped together; each step adds ``num_envs`` transitions."""
    vector_backend: str = checked("sync", one_of(VECTOR_BACKENDS))
    """``sync`` (one by one), ``threads`` (in parallel threads: ViZDoom runs without the GIL),
    ``shm`` (rlkit's shared-memory worker processes) or ``async`` (gymnasium's processes)."""
    total_steps: int = checked(50_000, int_at_least(1))
    """Environment steps to train for, summed over all envs."""
    eval_interval: int = checked(2_000, int_at_least(0))
    """Env steps between greedy evaluations during training; 0 disables them."""
    eval_episodes: int = checked(10, int_at_least(1))
    """Greedy episodes per evaluation."""
    log_interval: int = checked(1_000, int_at_least(1))
    """Env steps between progress reports to callbacks."""
    checkpoint_interval: int = checked(0, int_at_least(0))
    """Env steps between checkpoints written to the run folder; 0 writes only the last."""
    torch_threads: int | None = checked(1, optional(int_at_least(1)))
    """Torch intra-op threads while training (restored afterwards); ``None`` keeps torch's.

    One is the safe default for rlkit's small networks on a small CPU: a second thread helps
    little on an idle machine and makes updates far slower when other work competes for the
    cores (torch's threads spin). Raise it on a dedicated machine or for big networks."""
    seed: int = checked(0, int_at_least(0))
    """Seed for envs, network init, exploration and sampling."""

    def __post_init__(self) -> None:
        validate(self)

    def check_relations(self) -> None:
        """Checks that involve several fields; a subclass adds its own."""

    def replace(self, **overrides: Any) -> Any:
        """A copy with some fields changed (validated like the original)."""
        return apply_overrides(self, overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        return apply_overrides(cls(), d)


@dataclass(frozen=True)
class DQNConfig(RunConfig):
    """Deep Q-learning (Mnih et al. 2015) with the usual improvements as switches."""

    algo: ClassVar[str] = "dqn"

    buffer_size: int = checked(50_000, int_at_least(1))
    """Replay capacity in transitions."""
    batch_size: int = checked(64, int_at_least(1))
    """Transitions per gradient update."""
    lr: float = checked(1e-3, number_above(0))
    """Optimizer learning rate."""
    optimizer: str = checked("adam", one_of(OPTIMIZERS))
    """One of ``adam``, ``adamw``, ``rmsprop``, ``sgd``."""
    gamma: float = checked(0.99, number_in(0, 1, open_low=True))
    """Discount factor, in (0, 1]."""
    learning_starts: int = checked(1_000, int_at_least(0))
    """Env steps of experience collected before the first update."""
    train_freq: int = checked(1, int_at_least(1))
    """Env steps (over all envs) between training rounds."""
    gradient_steps: int = checked(1, int_at_least(1))
    """Gradient updates per training round."""
    target_update_interval: int = checked(500, int_at_least(1))
    """Gradient updates between target-network syncs."""
    tau: float = checked(1.0, number_in(0, 1, open_low=True))
    """Target sync rate: 1.0 copies the weights (hard), < 1 is Polyak averaging."""
    eps_start: float = checked(1.0, number_in(0, 1))
    """Exploration epsilon at the start."""
    eps_end: float = checked(0.05, number_in(0, 1))
    """Exploration epsilon after the decay."""
    eps_decay_fraction: float = checked(0.2, number_in(0, 1, open_low=True))
    """Fraction of ``total_steps`` over which epsilon decays linearly."""
    double_dqn: bool = checked(True, BOOL)
    """Double DQN target (van Hasselt et al. 2016): online net picks, target net evaluates."""
    dueling: bool = checked(True, BOOL)
    """Dueling head (Wang et al. 2016): Q = V + A − mean(A)."""
    prioritized: bool = checked(False, BOOL)
    """Prioritized replay (Schaul et al. 2016) instead of uniform sampling."""
    per_alpha: float = checked(0.6, number_in(0, 1))
    """PER: how strongly priorities shape sampling (0 = uniform), in [0, 1]."""
    per_beta_start: float = checked(0.4, number_in(0, 1))
    """PER: importance-weight correction at the start, in [0, 1]."""
    per_beta_end: float = checked(1.0, number_in(0, 1))
    """PER: the correction at the end of training, reached linearly; equal to ``per_beta_start``
    it stays fixed (Schaul et al. anneal it to 1 so that late updates are unbiased)."""
    per_eps: float = checked(1e-6, number_above(0))
    """PER: added to |TD error| so no transition has zero priority."""
    loss: str = checked("huber", one_of(LOSSES))
    """TD loss: ``huber`` (smooth L1) or ``mse``."""
    max_grad_norm: float | None = checked(10.0, optional(number_above(0)))
    """Clip the gradient norm to this value; ``None`` disables clipping."""
    reward_scale: float = checked(1.0, number_above(0))
    """Rewards are multiplied by this before learning (Doom scores are in the hundreds)."""
    net: str = checked("small", one_of(NETS))
    """Image trunk: ``fast`` or ``small`` (CPU-sized) or ``nature`` (Mnih et al. 2015, 84×84)."""
    hidden: int | None = checked(None, optional(int_at_least(1)))
    """Width of the hidden layer(s); ``None``: the image preset's own, or 128 for an MLP."""
    buffer_device: str = checked("auto", one_of(BUFFER_DEVICES))
    """Where replay storage lives: ``device`` keeps it on the training GPU, so sampling makes no
    host round trip (uniform replay only); ``cpu`` keeps it in host memory and copies each batch;
    ``auto`` is ``device`` on CUDA when uniform replay fits in half of the GPU's free memory,
    else ``cpu``. On a CPU run all three are the same (see :mod:`rlkit.device_plan`)."""
    compile: bool = checked(False, BOOL)
    """``torch.compile`` the TD loss and its backward: seconds of compiling at the first update
    (and per new batch shape), so it pays only on long runs."""

    def check_relations(self) -> None:
        if self.batch_size > self.buffer_size:
            raise ConfigError(
                f"config field 'batch_size' = {self.batch_size!r} is out of range; valid: at "
                f"most buffer_size ({self.buffer_size})"
            )
        if self.prioritized and self.buffer_device == "device":
            # The sum tree that prioritized sampling walks lives in host memory.
            raise ConfigError(
                "config field 'buffer_device' = 'device' is out of range with prioritized=True; "
                "valid: auto or cpu (prioritized replay samples on the host)"
            )


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

PRESETS: dict[str, RunConfig] = {
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


def preset(name: str, **overrides: Any) -> RunConfig:
    """A named baseline config, with keyword overrides.

    :param name: one of :data:`PRESETS` (``cartpole``, ``vizdoom_basic``…).
    :param overrides: field values to change, e.g. ``lr=1e-3``.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid: {', '.join(sorted(PRESETS))}")
    return apply_overrides(PRESETS[name], overrides)
