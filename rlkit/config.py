"""Experiment configs: frozen dataclasses, named presets, keyword overrides.

``preset("vizdoom_basic", lr=1e-3)`` returns the named baseline with one field changed, so a
papermill parameter cell (or ``--set key=value`` on the CLI) can set any field. Every field has
a docstring; a wrong name or an out-of-range value is one clear error naming the field and what
is valid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rlkit.errors import shown
from rlkit.fields import (
    BOOL,
    DICT,
    MAX_INT,
    NON_EMPTY_STR,
    ConfigError,
    apply_overrides,
    checked,
    int_at_least,
    int_in,
    number_above,
    number_at_least,
    number_in,
    one_of,
    optional,
    validate,
)

__all__ = [
    "ConfigError",
    "DQNConfig",
    "PPOConfig",
    "RunConfig",
    "apply_overrides",
    "config_class",
]

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
LOSSES = ("huber", "mse")
VECTOR_BACKENDS = ("sync", "threads", "shm", "async", "pool")
NETS = ("fast", "small", "nature")
BUFFER_DEVICES = ("auto", "cpu", "device")
MAX_TORCH_THREADS = 1024
"""The most torch threads a run may ask for: torch starts that many OpenMP threads at its first
parallel operation (more than any machine rlkit runs on has cores), and refuses 2**31 and beyond
only then, with "Overflow when unpacking long"."""


def _is_json_data(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is plain data that JSON can hold (32 levels deep at most; ints that fit
    in an int64: json.dumps refuses a 5000-digit one)."""
    if value is None or isinstance(value, bool | float | str):
        return True
    if isinstance(value, int):
        return -MAX_INT - 1 <= value <= MAX_INT
    if depth >= 32:
        return False
    if isinstance(value, list | tuple):
        return all(_is_json_data(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_data(v, depth + 1) for k, v in value.items())
    return False


@dataclass(frozen=True)
class RunConfig:
    """What every training run needs, whatever the algorithm: env, vector backend, budget,
    evaluation, logging, checkpoints, threads and seed. Each algorithm's config extends it."""

    algo: ClassVar[str] = ""
    """The algorithm's name (``"dqn"``, ``"ppo"``), which checkpoints record."""
    module: ClassVar[str] = ""
    """The module whose ``ALGORITHM`` trains this config (:mod:`rlkit.algorithms`)."""

    env_id: str = checked("CartPole-v1", NON_EMPTY_STR)
    """Environment id for :func:`rlkit.envs.make_env` (``"vizdoom:<scenario>"`` or gymnasium)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict, metadata={"check": DICT})
    """Extra arguments for ``make_env`` (ViZDoom: ``resolution``, ``frame_skip``…)."""
    num_envs: int = checked(1, int_at_least(1))
    """Environments stepped together; each step adds ``num_envs`` transitions."""
    vector_backend: str = checked("sync", one_of(VECTOR_BACKENDS))
    """``sync`` (one by one), ``threads`` (in parallel threads: ViZDoom runs without the GIL),
    ``shm`` (rlkit's shared-memory worker processes), ``async`` (gymnasium's processes), all
    lock-step, or ``pool``: free-running worker processes (:class:`rlkit.envs.vector.EnvPool`)
    where the agent acts on the ``pool_batch_size`` envs that answered first while the others
    still step, so a slow env (a reset, a busy core) no longer holds every step back. Each env
    keeps its own trajectory: DQN stores transitions per env, PPO fills one rollout column per
    env; ``env_steps`` counts the env steps actually made."""
    pool_batch_size: int | None = checked(None, optional(int_at_least(1)))
    """``pool`` only: envs the agent acts on at a time, at most ``num_envs``; ``None`` is
    ``num_envs // 2`` (double-buffered: one half steps while the policy acts on the other);
    ``num_envs`` is lock-step again. Other backends ignore it."""
    rollout_workers: int = checked(0, int_at_least(0))
    """Ray rollout workers (:mod:`rlkit.distributed.rollout`; ``train(config, workers=N)`` sets
    it): 0 steps the envs in this process; N > 0 starts N Ray actors, each stepping
    ``num_envs // N`` of the envs with a copy of the policy, and the learner here trains on
    their fragments in synchronous rounds (PPO: one rollout of ``n_steps``; DQN:
    ``worker_steps`` per env into the replay buffer), broadcasting the new weights each round.
    ``num_envs`` must be a multiple of N; ``vector_backend`` is then unused."""
    backup_workers: int = checked(0, int_at_least(0))
    """With rollout workers: this many more workers sample every round and the learner takes
    the first ``rollout_workers`` fragments, dropping the stragglers' late ones."""
    slow_worker_s: float = checked(0.0, number_in(0, 3600))
    """With rollout workers: seconds worker 0 sleeps per fragment, a deliberate straggler (to
    see what backup workers buy); 0 for real training. At most an hour: a longer sleep is no
    benchmark, and Python's sleeps overflow (inside the Ray worker) past about 2**33 s."""
    total_steps: int = checked(50_000, int_at_least(1))
    """Environment steps to train for, summed over all envs."""
    eval_interval: int = checked(2_000, int_at_least(0))
    """Env steps between greedy evaluations during training; 0 disables them."""
    eval_episodes: int = checked(10, int_at_least(1))
    """Greedy episodes per evaluation."""
    log_interval: int = checked(1_000, int_at_least(1))
    """Env steps between progress reports to callbacks."""
    checkpoint_interval: int = checked(0, int_at_least(0))
    """Env steps between checkpoints written to the run folder; 0: only by time and the last."""
    checkpoint_seconds: float = checked(10.0, number_at_least(0))
    """Training seconds between checkpoints written to the run folder (with a run folder only;
    besides ``checkpoint_interval``), so a killed run loses at most this much; the first comes
    as soon as the agent has learned (its first update). A checkpoint with the replay buffer
    (``save_buffer``) waits at least a minute: it is far larger. 0 turns the timed checkpoints
    off."""
    torch_threads: int | None = checked(1, optional(int_in(1, MAX_TORCH_THREADS)))
    """Torch intra-op threads while training (restored afterwards); ``None`` keeps torch's.

    One is the safe default for rlkit's small networks on a small CPU: a second thread helps
    little on an idle machine and makes updates far slower when other work competes for the
    cores (torch's threads spin). Raise it on a dedicated machine or for big networks."""
    seed: int = checked(0, int_at_least(0))
    """Seed for envs, network init, exploration and sampling."""

    def __post_init__(self) -> None:
        validate(self)

    @property
    def pool_batch(self) -> int:
        """The pool's batch: ``pool_batch_size``, or ``num_envs // 2`` when it is ``None``."""
        return self.num_envs // 2 if self.pool_batch_size is None else self.pool_batch_size

    def check_relations(self) -> None:
        """Checks that involve several fields; a subclass adds its own and calls this one."""
        self._check_env_kwargs()
        self._check_workers()
        if self.vector_backend != "pool":
            return
        if self.pool_batch_size is None and self.num_envs < 2:
            raise ConfigError(
                f"config field 'num_envs' = {self.num_envs!r} is out of range with "
                "vector_backend='pool' and pool_batch_size=None (num_envs // 2); valid: at least "
                "2, or pool_batch_size = num_envs"
            )
        if self.pool_batch_size is not None and self.pool_batch_size > self.num_envs:
            raise ConfigError(
                f"config field 'pool_batch_size' = {self.pool_batch_size!r} is out of range; "
                f"valid: an integer in [1, num_envs = {self.num_envs}], or None (num_envs // 2)"
            )

    def _check_env_kwargs(self) -> None:
        for key, value in self.env_kwargs.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise ConfigError(
                    f"config field 'env_kwargs' has the key {shown(key)}; valid: argument names "
                    "of the env (such as frame_skip)"
                )
            if not _is_json_data(value):
                # Checkpoints store the config as JSON: found at the first one, not now, it
                # would end the run after minutes of training.
                raise ConfigError(
                    f"config field 'env_kwargs' has {key} = {shown(value)}, which is not JSON "
                    "data; valid: numbers, strings, booleans, None, and lists, tuples and dicts "
                    "(with str keys) of them"
                )
        if self.env_id.startswith("vizdoom:"):
            # Named now, not by an env in a worker process once training has started. Other
            # ids' arguments are gymnasium's to check (make_env names them).
            from rlkit.env_options import check_doom_options

            try:
                check_doom_options(self.env_kwargs)
            except ValueError as e:
                raise ConfigError(f"config field 'env_kwargs' of {self.env_id}: {e}") from None

    def _check_workers(self) -> None:
        n = self.rollout_workers
        if not n:
            for name in ("backup_workers", "slow_worker_s"):
                if getattr(self, name):
                    raise ConfigError(
                        f"config field {name!r} = {getattr(self, name)!r} needs rollout workers; "
                        "valid: 0 while rollout_workers is 0"
                    )
            return
        if self.num_envs % n:
            raise ConfigError(
                f"config field 'num_envs' = {self.num_envs!r} is out of range with "
                f"rollout_workers={n}; valid: a multiple of rollout_workers (each worker steps "
                "num_envs // rollout_workers envs)"
            )
        if self.vector_backend == "pool":
            raise ConfigError(
                "config field 'vector_backend' = 'pool' is out of range with rollout workers; "
                "valid: any lock-step backend (the workers step their own envs)"
            )

    def replace(self, /, **overrides: Any) -> Any:
        """A copy with some fields changed (validated like the original); ``self`` is
        positional-only, so that any name is an override (and an unknown one an error)."""
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
    module: ClassVar[str] = "rlkit.agents.dqn"

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
    worker_steps: int = checked(32, int_at_least(1))
    """With rollout workers: steps each worker's envs take per round (the fragment length);
    the learner then makes the updates those steps owe (``train_freq``) before the next."""
    compile: bool = checked(False, BOOL)
    """``torch.compile`` the TD loss and its backward: seconds of compiling at the first update
    (and per new batch shape), so it pays only on long runs."""
    demos: str | None = checked(None, optional(NON_EMPTY_STR))
    """A play log folder or a recorded episode (:mod:`rlkit.human`): its complete episodes are
    replayed into the replay buffer before the first env step (DQfD's prefill, Hester et al.
    2018, in its simplest form). They must have been played on this config's env."""

    def check_relations(self) -> None:
        super().check_relations()
        if self.demos is not None and self.num_envs != 1:
            raise ConfigError(
                f"config field 'demos' needs num_envs = 1 (got {self.num_envs}): a recorded "
                "episode fills one env's column of the replay buffer"
            )
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


@dataclass(frozen=True)
class PPOConfig(RunConfig):
    """Proximal policy optimisation with the clipped objective (Schulman et al. 2017), with the
    implementation details of CleanRL's ``ppo.py`` (Huang et al. 2022) as switches.

    Each iteration collects a rollout of ``n_steps`` per env (``num_envs * n_steps``
    transitions), computes GAE advantages, then makes ``n_epochs`` passes over it in
    ``n_minibatches`` shuffled minibatches. Training runs whole rollouts, so it stops at the
    first multiple of ``num_envs * n_steps`` at or past ``total_steps``; logs, evaluations and
    checkpoints fall between rollouts.
    """

    algo: ClassVar[str] = "ppo"
    module: ClassVar[str] = "rlkit.agents.ppo"

    n_steps: int = checked(128, int_at_least(1))
    """Steps per env in one rollout."""
    n_epochs: int = checked(4, int_at_least(1))
    """Passes over each rollout."""
    n_minibatches: int = checked(4, int_at_least(1))
    """Minibatches per pass; each holds ``num_envs * n_steps / n_minibatches`` transitions."""
    lr: float = checked(2.5e-4, number_above(0))
    """Adam learning rate (at the start, when annealed)."""
    anneal_lr: bool = checked(True, BOOL)
    """Decay the learning rate linearly towards 0 over ``total_steps``."""
    gamma: float = checked(0.99, number_in(0, 1, open_low=True))
    """Discount factor, in (0, 1]."""
    gae_lambda: float = checked(0.95, number_in(0, 1))
    """GAE lambda, in [0, 1]: 1 gives Monte Carlo advantages, 0 one-step TD errors."""
    clip_coef: float = checked(0.2, number_above(0))
    """Probability ratios are clipped to ``[1 - clip_coef, 1 + clip_coef]``."""
    clip_vloss: bool = checked(True, BOOL)
    """Clip the value loss too: new values may move at most ``clip_coef`` from the old ones
    before the loss stops pulling them (the larger of the clipped and unclipped errors)."""
    ent_coef: float = checked(0.01, number_at_least(0))
    """Weight of the entropy bonus (keeps the policy exploring)."""
    vf_coef: float = checked(0.5, number_at_least(0))
    """Weight of the value loss in the total loss."""
    max_grad_norm: float | None = checked(0.5, optional(number_above(0)))
    """Clip the gradient norm to this value; ``None`` disables clipping."""
    norm_adv: bool = checked(True, BOOL)
    """Normalise advantages to zero mean and unit variance within each minibatch."""
    target_kl: float | None = checked(None, optional(number_above(0)))
    """Stop a rollout's epochs early once the approximate KL to the acting policy exceeds this;
    ``None`` always runs all ``n_epochs``."""
    reward_scale: float = checked(1.0, number_above(0))
    """Rewards are multiplied by this before learning (Doom scores are in the hundreds)."""
    net: str = checked("small", one_of(NETS))
    """Image trunk: ``fast`` or ``small`` (CPU-sized) or ``nature`` (Mnih et al. 2015, 84×84)."""
    hidden: int | None = checked(None, optional(int_at_least(1)))
    """Width of the hidden layer(s): one ReLU layer after the convs for images (``None``: 64, or
    512 for ``nature``), two tanh layers for vectors (``None``: 64)."""

    @property
    def rollout_size(self) -> int:
        """Transitions per rollout: ``num_envs * n_steps``."""
        return self.num_envs * self.n_steps

    @property
    def minibatch_size(self) -> int:
        """Transitions per gradient update."""
        return self.rollout_size // self.n_minibatches

    def check_relations(self) -> None:
        super().check_relations()
        if self.rollout_size % self.n_minibatches:
            raise ConfigError(
                f"config field 'n_minibatches' = {self.n_minibatches!r} is out of range; valid: "
                f"a divisor of num_envs * n_steps ({self.num_envs} * {self.n_steps} = "
                f"{self.rollout_size})"
            )


def config_class(algo: str) -> type[RunConfig]:
    """The config class of an algorithm, by the name a checkpoint records (``"dqn"``).

    :raises ConfigError: for a name no config class has.
    """
    classes = {cls.algo: cls for cls in RunConfig.__subclasses__() if cls.algo}
    if algo not in classes:
        raise ConfigError(f"no config for algorithm {algo!r}; valid: {', '.join(sorted(classes))}")
    return classes[algo]
