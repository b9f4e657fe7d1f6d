"""What a training run records: its history and the result it returns.

DQN, PPO and the remote/distributed trainers all return a :class:`TrainResult`, so plots,
checkpoints, the dashboard and the benchmarks work with any of them.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class History:
    """Everything measured while training, as plain lists (JSON-able).

    Episode rows are appended when an episode ends; eval rows at each greedy evaluation; loss
    rows every ``log_interval`` steps (mean of the updates since the last row).
    """

    episode_steps: list[int] = field(default_factory=list)
    """Env step (over all envs) at which each episode ended."""
    episode_returns: list[float] = field(default_factory=list)
    """Undiscounted return of each episode, in the env's own reward units."""
    episode_lengths: list[int] = field(default_factory=list)
    """Length of each episode in env steps."""
    episode_times: list[float] = field(default_factory=list)
    """Training wall-clock seconds (evaluation excluded) at which each episode ended."""
    loss_steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    """Env step of each greedy evaluation."""
    eval_times: list[float] = field(default_factory=list)
    """Training wall-clock seconds (evaluation excluded) at each evaluation."""
    eval_means: list[float] = field(default_factory=list)
    eval_stds: list[float] = field(default_factory=list)
    env_steps: int = 0
    updates: int = 0
    episodes: int = 0
    env_seconds: float = 0.0
    """Seconds inside ``env.step``."""
    act_seconds: float = 0.0
    """Seconds choosing actions (network forward + exploration)."""
    learner_seconds: float = 0.0
    """Seconds sampling replay and updating the network."""
    train_seconds: float = 0.0
    """Wall-clock seconds of training, evaluation excluded."""
    eval_seconds: float = 0.0
    """Wall-clock seconds spent in greedy evaluations."""

    @property
    def env_steps_per_s(self) -> float:
        return self.env_steps / self.train_seconds if self.train_seconds else 0.0

    @property
    def updates_per_s(self) -> float:
        return self.updates / self.train_seconds if self.train_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["env_steps_per_s"] = self.env_steps_per_s
        d["updates_per_s"] = self.updates_per_s
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
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

    def time_split(self) -> dict[str, float]:
        """Where the training time went, in seconds (``other`` is bookkeeping)."""
        other = self.train_seconds - self.env_seconds - self.act_seconds - self.learner_seconds
        return {
            "env": self.env_seconds,
            "act": self.act_seconds,
            "learner": self.learner_seconds,
            "other": max(other, 0.0),
        }


@dataclass
class TrainResult:
    """What a training run returns: the trained network, its history and the config used.

    :param model: the trained network (on ``device``).
    :param config: the frozen config the run used.
    :param env_spec: the env it was trained on (id, observation shape, action names).
    :param history: curves and timings.
    :param device: the device it trained on, as a string.
    :param algo: ``"dqn"``, ``"ppo"``…
    :param checkpoint_path: where the final checkpoint was written, if it was.
    """

    model: torch.nn.Module
    config: Any
    env_spec: Any
    history: History
    device: str
    algo: str
    checkpoint_path: str | None = None
    stopped_early: bool = False

    def summary(self) -> str:
        h = self.history
        split = h.time_split()
        last = f"{h.eval_means[-1]:.1f}" if h.eval_means else "n/a"
        return (
            f"{self.algo} on {self.env_spec.env_id} ({self.device}): {h.env_steps} env steps, "
            f"{h.updates} updates, {h.episodes} episodes in {h.train_seconds:.1f} s "
            f"({h.env_steps_per_s:.0f} steps/s; env {split['env']:.1f} s, act "
            f"{split['act']:.1f} s, learner {split['learner']:.1f} s); last greedy eval {last}"
        )
