"""Ready-made training callbacks: keep the best evaluated policy, stop at a target score, save
snapshots of the policy along the way."""

from __future__ import annotations

from typing import Any

import torch

from rlkit.algorithms import Agent
from rlkit.records import Progress
from rlkit.training import Callback


class KeepBest(Callback):
    """Remember the weights of the best greedy evaluation and restore them when training ends.

    DQN's greedy score often rises, dips and recovers as training goes on; keeping the best
    evaluated policy is the usual remedy. The evaluations use fresh episodes, but picking the
    maximum of several noisy evaluations still flatters it a little: confirm the kept policy on
    new episodes (``rlkit.evaluation.evaluate``) before quoting its score.

    :param restore: load the best weights into the model at the end of training.
    """

    def __init__(self, restore: bool = True):
        self.restore = restore
        self.best_score: float | None = None
        self.best_step: int | None = None
        self.best_state: dict[str, Any] | None = None
        self._model: torch.nn.Module | None = None

    def bind(self, agent: Agent) -> None:
        self._model = agent.model

    def on_eval(self, progress: Progress) -> None:
        ev = progress.evaluation
        if self._model is None or ev is None:
            return
        if self.best_score is None or ev.mean > self.best_score:
            self.best_score, self.best_step = ev.mean, ev.env_step
            self.best_state = {k: v.detach().clone() for k, v in self._model.state_dict().items()}

    def on_end(self, progress: Progress) -> None:
        if self.restore and self.best_state is not None and self._model is not None:
            self._model.load_state_dict(self.best_state)


class StopAtTarget(Callback):
    """Stop training at the first greedy evaluation whose mean reaches ``target``.

    After training, ``seconds``, ``steps`` and ``score`` say when it was reached (training
    seconds, evaluation excluded), or stay ``None``.
    """

    def __init__(self, target: float):
        self.target = float(target)
        self.seconds: float | None = None
        self.steps: int | None = None
        self.score: float | None = None

    def on_eval(self, progress: Progress) -> bool:
        ev = progress.evaluation
        if ev is not None and ev.mean >= self.target:
            self.seconds, self.steps, self.score = ev.train_seconds, ev.env_step, ev.mean
            return True
        return False


class StopAtConfirmedTarget(Callback):
    """Stop at the first greedy evaluation that reaches ``target`` *and* whose policy, played on
    ``confirm_episodes`` fresh episodes, reaches it again.

    Stopping at the first evaluation above a target selects a lucky one: its policy, played
    again, tends to land below (regression to the mean). Confirming on independent episodes
    before stopping makes the time honest; a crossing that fails its confirmation is kept in
    :attr:`attempts` and training goes on. The confirmations' own seconds are taken out of the
    training clock that :attr:`seconds` reports.

    :param target: the greedy mean score to reach.
    :param confirm_episodes: fresh episodes per confirmation (seeds disjoint from evaluations').
    :param seed: offsets the confirmation seeds, e.g. the run's seed.
    """

    def __init__(self, target: float, confirm_episodes: int = 100, seed: int = 0):
        self.target = float(target)
        self.confirm_episodes = int(confirm_episodes)
        self.seed = int(seed)
        self.seconds: float | None = None
        """Training seconds at the confirmed evaluation, or ``None``."""
        self.steps: int | None = None
        self.score: float | None = None
        """That evaluation's mean."""
        self.confirm_mean: float | None = None
        self.confirm_std: float | None = None
        self.first_crossing_seconds: float | None = None
        """Training seconds at the first evaluation ≥ target, confirmed or not."""
        self.attempts: list[dict[str, float]] = []
        self._agent: Agent | None = None
        self._confirm_s = 0.0

    def bind(self, agent: Agent) -> None:
        self._agent = agent

    def on_eval(self, progress: Progress) -> bool:
        import time

        from rlkit.evaluation import evaluate, greedy_policy

        ev = progress.evaluation
        if ev is None or self._agent is None or ev.mean < self.target:
            return False
        t0 = time.perf_counter()
        seed = 3_000_000 + 10_000 * self.seed + 1_000 * len(self.attempts)
        res = evaluate(
            greedy_policy(self._agent.model),
            progress.env_id,
            self.confirm_episodes,
            seed=seed,
            env_kwargs=self._agent.config.env_kwargs,
        )
        train_s = ev.train_seconds - self._confirm_s
        self._confirm_s += time.perf_counter() - t0
        if self.first_crossing_seconds is None:
            self.first_crossing_seconds = train_s
        self.attempts.append(
            {
                "env_step": ev.env_step,
                "train_seconds": train_s,
                "eval_mean": ev.mean,
                "confirm_mean": res.mean,
                "confirm_std": res.std,
            }
        )
        if res.mean < self.target:
            return False
        self.seconds, self.steps, self.score = train_s, ev.env_step, ev.mean
        self.confirm_mean, self.confirm_std = res.mean, res.std
        return True


class Snapshots(Callback):
    """Save the policy at fractions of training — 0 is the untrained network — so that a run's
    learning can be replayed as a progression (notebook 06).

    Each snapshot is an rlkit checkpoint ``<folder>/snapshot_<percent>.pt`` that
    :func:`rlkit.checkpoints.load_model` and ``python -m rlkit play`` read. A fraction is saved
    at the first report (start, log or end) at or past it, so log often enough to hit it.

    :param folder: where the snapshots go (created).
    :param fractions: fractions of ``total_steps``, in [0, 1].
    """

    def __init__(self, folder: Any, fractions: tuple[float, ...] = (0.0, 0.1, 0.3, 1.0)):
        from pathlib import Path

        if not fractions or any(not 0 <= f <= 1 for f in fractions):
            raise ValueError(f"fractions must lie in [0, 1], got {fractions!r}")
        self.folder = Path(folder)
        self.fractions = tuple(sorted(fractions))
        self.paths: dict[float, Any] = {}
        """Fraction -> the snapshot written for it."""
        self.steps: dict[float, int] = {}
        """Fraction -> the env step it was taken at."""
        self._agent: Agent | None = None

    def bind(self, agent: Agent) -> None:
        self._agent = agent

    def _take(self, progress: Progress) -> None:
        from rlkit.checkpoints import save_checkpoint

        agent = self._agent
        if agent is None:
            return
        for f in self.fractions:
            if f in self.paths or progress.env_steps < f * progress.total_steps:
                continue
            path = self.folder / f"snapshot_{round(100 * f):03d}.pt"
            save_checkpoint(
                path,
                model=agent.model,
                metadata={
                    "algo": progress.algo,
                    "config": agent.config.to_dict(),
                    "env_spec": agent.env_spec.to_dict(),
                    "progress": {"env_steps": progress.env_steps, "fraction": f},
                },
                sidecar=False,
            )
            self.paths[f], self.steps[f] = path, progress.env_steps

    on_start = on_log = on_end = _take
