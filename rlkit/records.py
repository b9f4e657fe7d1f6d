"""What a training run records, in plain data that can cross a process boundary.

- :class:`Progress` is what callbacks receive at each event (start, log, eval, end): counters,
  the latest keyed metrics, the episodes finished since the previous record, the evaluation
  just made. It holds no tensors and no model, so a Ray worker can stream it to a notebook.
- :class:`History` is the whole run: episodes, evaluations, keyed metric series and where the
  time went. ``History.absorb(progress)`` rebuilds it from the stream of Progress records.
- :class:`TrainResult` is what a run returns; :meth:`TrainResult.portable` keeps only CPU
  weights and the checkpoint path (what a remote run sends back).

Metrics are keyed scalars. Every algorithm reports its own (DQN: ``"loss"``, ``"epsilon"``;
PPO: ``"loss/policy"``, ``"loss/value"``, ``"entropy"``, ``"approx_kl"``, ``"clipfrac"``,
``"lr"``, ``"explained_variance"``); time spent per phase travels as
``"time/<phase>"`` (``"time/env"``, ``"time/act"``, ``"time/learner"``…), cumulative seconds.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

TIME_PREFIX = "time/"
"""Metric keys that start with this are cumulative seconds of one phase of training."""
EVENTS = ("start", "log", "eval", "end")


class EpisodeRow(NamedTuple):
    """One finished training episode."""

    env_step: int
    """Env step (over all envs) at which it ended."""
    train_seconds: float
    """Training seconds (evaluation excluded) at which it ended."""
    ret: float
    """Undiscounted return, in the env's own reward units."""
    length: int
    """Length in env steps."""


class EvalRow(NamedTuple):
    """One greedy evaluation during training."""

    env_step: int
    train_seconds: float
    mean: float
    std: float
    scores: tuple[float, ...]


@dataclass(frozen=True)
class Progress:
    """A snapshot of a training run, sent to callbacks; plain data only (it pickles).

    :param event: ``"start"``, ``"log"``, ``"eval"`` or ``"end"``.
    :param algo: the algorithm (``"dqn"``…).
    :param env_id: the env trained on.
    :param env_steps: env steps so far, over all envs.
    :param total_steps: the run's budget of env steps.
    :param updates: gradient updates so far.
    :param episodes: training episodes finished so far.
    :param train_seconds: training wall-clock seconds, evaluations and checkpoints excluded.
    :param eval_seconds: seconds spent in evaluations.
    :param metrics: the latest keyed metrics, ``"time/<phase>"`` included.
    :param new_episodes: episodes finished since the previous Progress of this run.
    :param evaluation: at ``"eval"``, the evaluation just made; else ``None``.
    :param frame: env 0's current observation (uint8 pixels or a feature vector), for displays.
    """

    event: str
    algo: str
    env_id: str
    env_steps: int
    total_steps: int
    updates: int
    episodes: int
    train_seconds: float
    eval_seconds: float = 0.0
    metrics: Mapping[str, float] = field(default_factory=dict)
    new_episodes: tuple[EpisodeRow, ...] = ()
    evaluation: EvalRow | None = None
    frame: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def steps_per_s(self) -> float | None:
        """Average env steps per training second so far."""
        return self.env_steps / self.train_seconds if self.train_seconds > 0 else None

    def phase_seconds(self) -> dict[str, float]:
        """The ``"time/<phase>"`` metrics as ``{phase: seconds}``."""
        n = len(TIME_PREFIX)
        return {k[n:]: float(v) for k, v in self.metrics.items() if k.startswith(TIME_PREFIX)}


@dataclass
class History:
    """Everything measured while training, as plain lists and dicts (JSON-able).

    Episode rows are appended when an episode ends; eval rows at each greedy evaluation; each
    metric series gets a row at every log event (and at the end), keyed by name.
    """

    episode_steps: list[int] = field(default_factory=list)
    """Env step (over all envs) at which each episode ended."""
    episode_returns: list[float] = field(default_factory=list)
    """Undiscounted return of each episode, in the env's own reward units."""
    episode_lengths: list[int] = field(default_factory=list)
    """Length of each episode in env steps."""
    episode_times: list[float] = field(default_factory=list)
    """Training wall-clock seconds (evaluation excluded) at which each episode ended."""
    eval_steps: list[int] = field(default_factory=list)
    """Env step of each greedy evaluation."""
    eval_times: list[float] = field(default_factory=list)
    """Training wall-clock seconds (evaluation excluded) at each evaluation."""
    eval_means: list[float] = field(default_factory=list)
    eval_stds: list[float] = field(default_factory=list)
    metrics: dict[str, dict[str, list]] = field(default_factory=dict)
    """Keyed scalar series: ``{"loss": {"steps": [...], "values": [...]}, ...}``."""
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Cumulative seconds per phase of training (``env``, ``act``, ``learner``…)."""
    env_steps: int = 0
    updates: int = 0
    episodes: int = 0
    train_seconds: float = 0.0
    """Wall-clock seconds of training, evaluation excluded."""
    eval_seconds: float = 0.0
    """Wall-clock seconds spent in greedy evaluations."""

    # -- writing ------------------------------------------------------------------------------
    def record(self, key: str, step: int, value: float) -> None:
        """Append one row to the metric series ``key``."""
        series = self.metrics.setdefault(key, {"steps": [], "values": []})
        series["steps"].append(int(step))
        series["values"].append(float(value))

    def add_episode(self, row: EpisodeRow) -> None:
        self.episode_steps.append(int(row.env_step))
        self.episode_times.append(float(row.train_seconds))
        self.episode_returns.append(float(row.ret))
        self.episode_lengths.append(int(row.length))
        self.episodes += 1

    def add_eval(self, row: EvalRow) -> None:
        self.eval_steps.append(int(row.env_step))
        self.eval_times.append(float(row.train_seconds))
        self.eval_means.append(float(row.mean))
        self.eval_stds.append(float(row.std))

    def absorb(self, progress: Progress) -> None:
        """Apply one :class:`Progress` record, as the training loop applied it to its own.

        Fed every record of a run in order, this rebuilds the run's History: the episodes, the
        evaluations, the metric series (rows at ``log`` and ``end``) and the counters.
        """
        for row in progress.new_episodes:
            self.add_episode(row)
        if progress.evaluation is not None:
            self.add_eval(progress.evaluation)
        if progress.event in ("log", "end"):
            for key, value in progress.metrics.items():
                if not key.startswith(TIME_PREFIX):
                    self.record(key, progress.env_steps, value)
        self.phase_seconds.update(progress.phase_seconds())
        self.env_steps, self.updates = progress.env_steps, progress.updates
        self.episodes = progress.episodes
        self.train_seconds, self.eval_seconds = progress.train_seconds, progress.eval_seconds

    # -- reading ------------------------------------------------------------------------------
    def series(self, key: str) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of a metric; two empty lists if it was never recorded."""
        s = self.metrics.get(key)
        return (list(s["steps"]), list(s["values"])) if s else ([], [])

    def latest(self, key: str, default: float | None = None) -> float | None:
        """The last value of a metric, or ``default``."""
        s = self.metrics.get(key)
        return s["values"][-1] if s and s["values"] else default

    @property
    def env_steps_per_s(self) -> float:
        return self.env_steps / self.train_seconds if self.train_seconds else 0.0

    @property
    def updates_per_s(self) -> float:
        return self.updates / self.train_seconds if self.train_seconds else 0.0

    def time_split(self) -> dict[str, float]:
        """Where the training time went, in seconds, per phase; ``other`` is bookkeeping."""
        split = {k: float(v) for k, v in self.phase_seconds.items()}
        split["other"] = max(self.train_seconds - sum(split.values()), 0.0)
        return split

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["env_steps_per_s"] = self.env_steps_per_s
        d["updates_per_s"] = self.updates_per_s
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> History:
        """Read :meth:`to_dict`'s output, or a history written before metrics were keyed."""
        d = dict(d)
        if "metrics" not in d:  # the earlier layout: fixed loss and time fields
            d["metrics"] = {}
            if d.get("losses"):
                d["metrics"]["loss"] = {"steps": d["loss_steps"], "values": d["losses"]}
            d["phase_seconds"] = {
                k: d[f"{k}_seconds"] for k in ("env", "act", "learner") if f"{k}_seconds" in d
            }
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def episodes_csv(self) -> str:
        """Episode rows as CSV text (step, time, return, length)."""
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["env_step", "train_seconds", "return", "length"])
        w.writerows(
            zip(
                self.episode_steps,
                self.episode_times,
                self.episode_returns,
                self.episode_lengths,
                strict=True,
            )
        )
        return buf.getvalue()


@dataclass
class TrainResult:
    """What a training run returns: the trained network (or its weights), history and config.

    :param config: the frozen config the run used.
    :param env_spec: the :class:`rlkit.envs.EnvSpec` it was trained on.
    :param history: curves and timings.
    :param device: the device it trained on, as a string.
    :param algo: ``"dqn"``, ``"ppo"``…
    :param model: the trained network, on ``device``; ``None`` in a portable result.
    :param weights: the network's weights on the CPU (portable results).
    :param model_spec: how to rebuild the network (``model.spec``; see :mod:`rlkit.models`).
    :param checkpoint_path: where the final checkpoint was written, if it was.
    :param stopped_early: a callback stopped training before ``total_steps``.
    :param stopped_by: what stopped it from outside (``"SIGINT"``, ``"SIGTERM"``…, see
        :mod:`rlkit.stopping`), or ``None``.
    :param device_report: where it ran and why, as plain data: the local device report
        (:class:`rlkit.devices.DeviceReport`) or, for a run on a Ray cluster, the node it ran
        on (:class:`rlkit.remote.RemoteDeviceReport`).
    """

    config: Any
    env_spec: Any
    history: History
    device: str
    algo: str
    model: Any = None
    weights: dict[str, Any] | None = field(default=None, repr=False)
    model_spec: dict[str, Any] | None = None
    checkpoint_path: str | None = None
    stopped_early: bool = False
    stopped_by: str | None = None
    device_report: dict[str, Any] | None = None

    def portable(self) -> TrainResult:
        """A copy holding CPU weights, the model spec and the checkpoint path, no live model:
        what can be pickled across processes or machines without a GPU on the other side."""
        weights = self.weights
        if self.model is not None:
            weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        spec = self.model_spec or getattr(self.model, "spec", None)
        return dataclasses.replace(self, model=None, weights=weights, model_spec=spec)

    def get_model(self, device: Any = "cpu") -> Any:
        """The trained network: the live one if this result holds it, else rebuilt from the
        weights and model spec onto ``device``."""
        if self.model is not None:
            return self.model
        if self.weights is None or self.model_spec is None:
            raise ValueError("this TrainResult holds neither a model nor weights with a model spec")
        from rlkit.models import model_from_spec

        model = model_from_spec(self.model_spec)
        model.load_state_dict(self.weights)
        return model.to(device)

    def summary(self) -> str:
        h = self.history
        split = ", ".join(f"{k} {v:.1f} s" for k, v in h.time_split().items())
        last = f"{h.eval_means[-1]:.1f}" if h.eval_means else "n/a"
        return (
            f"{self.algo} on {self.env_spec.env_id} ({self.device}): {h.env_steps} env steps, "
            f"{h.updates} updates, {h.episodes} episodes in {h.train_seconds:.1f} s "
            f"({h.env_steps_per_s:.0f} steps/s; {split}); last greedy eval {last}"
        )


def next_multiple(step: int, interval: int) -> float:
    """The first multiple of ``interval`` after ``step`` (``inf`` when ``interval`` is 0)."""
    if not interval:
        return math.inf
    return (step // interval + 1) * interval


class PhaseTimer:
    """Cumulative seconds per phase: ``start()``, then ``stop("env")`` adds the time since.

    Two calls per phase and no objects per step, so it costs well under a microsecond."""

    __slots__ = ("_t", "seconds")

    def __init__(self, seconds: dict[str, float]):
        self.seconds = seconds
        self._t = time.perf_counter()

    def start(self) -> None:
        self._t = time.perf_counter()

    def stop(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._t
        self._t = now
