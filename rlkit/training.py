"""What every training loop shares: callbacks and the hooks they are called at."""

from __future__ import annotations

from typing import Any

import torch


class Callback:
    """Hooks a training loop calls. Return ``True`` from :meth:`on_eval` to stop training.

    ``info`` is a dict with at least ``env_steps``, ``total_steps``, ``updates``, ``episodes``,
    ``train_seconds``, ``epsilon`` (DQN) and ``history``.
    """

    def on_start(self, info: dict[str, Any]) -> None:
        """Training is about to start (after resume, if any)."""

    def on_log(self, info: dict[str, Any]) -> None:
        """Every ``log_interval`` env steps."""

    def on_eval(self, info: dict[str, Any], scores: list[float]) -> bool | None:
        """After each greedy evaluation; return True to stop training."""

    def on_end(self, info: dict[str, Any]) -> None:
        """Training has finished (or was stopped)."""


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

    def on_eval(self, info: dict[str, Any], scores: list[float]) -> None:
        mean = float(sum(scores) / len(scores))
        if self.best_score is None or mean > self.best_score:
            self._model = info["model"]
            self.best_score, self.best_step = mean, info["env_steps"]
            self.best_state = {k: v.detach().clone() for k, v in self._model.state_dict().items()}

    def on_end(self, info: dict[str, Any]) -> None:
        if self.restore and self.best_state is not None:
            info["model"].load_state_dict(self.best_state)
