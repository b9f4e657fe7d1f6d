"""StopAtConfirmedTarget: a crossing counts only when fresh episodes confirm it."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from rlkit.callbacks import StopAtConfirmedTarget
from rlkit.records import EvalRow, Progress


def _progress(mean: float, step: int, train_seconds: float) -> Progress:
    return Progress(
        event="eval",
        algo="dqn",
        env_id="CartPole-v1",
        env_steps=step,
        total_steps=10_000,
        updates=0,
        episodes=0,
        train_seconds=train_seconds,
        eval_seconds=0.0,
        metrics={},
        new_episodes=(),
        evaluation=EvalRow(step, train_seconds, mean, 1.0, (mean,)),
        frame=None,
    )


class _AlwaysLeft(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # where greedy_policy finds the device

    def forward(self, obs):
        return torch.tensor([[1.0, 0.0]]).expand(len(obs), 2)


def _agent():
    # Always pushing left ends a CartPole episode in about 9-10 steps: a known, low score.
    # The callback plays the agent's model greedily: this one's argmax is always action 0.
    return SimpleNamespace(model=_AlwaysLeft(), config=SimpleNamespace(env_kwargs={}))


def test_a_lucky_evaluation_is_not_confirmed_and_training_goes_on():
    stop = StopAtConfirmedTarget(50, confirm_episodes=5)
    stop.bind(_agent())
    assert stop.on_eval(_progress(40.0, 1000, 1.0)) is False  # below target: not even tried
    assert stop.attempts == []
    assert stop.on_eval(_progress(60.0, 2000, 2.0)) is False  # lucky: the policy plays ~10
    assert stop.seconds is None and stop.first_crossing_seconds == 2.0
    assert len(stop.attempts) == 1 and stop.attempts[0]["confirm_mean"] < 15


def test_a_confirmed_crossing_stops_with_the_confirmations_time_taken_out():
    stop = StopAtConfirmedTarget(5, confirm_episodes=5)
    stop.bind(_agent())
    stop._confirm_s = 0.5  # a confirmation earlier in the run took half a second
    assert stop.on_eval(_progress(9.0, 3000, 4.0)) is True
    assert stop.seconds == 3.5 and stop.steps == 3000 and stop.score == 9.0
    assert stop.confirm_mean >= 5
