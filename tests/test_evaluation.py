"""evaluate(): scores, statistics, policies of every accepted kind, recorded frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlkit.evaluation import EvalResult, as_policy, evaluate, greedy_policy, random_policy


def test_stats_are_computed_from_the_scores():
    r = EvalResult(scores=[1.0, 3.0, 5.0], lengths=[2, 4, 6], extras={"kills": [0, 1, 1]})
    s = r.stats()
    assert s["mean"] == 3.0 and s["min"] == 1.0 and s["max"] == 5.0 and s["median"] == 3.0
    assert s["std"] == pytest.approx(np.std([1, 3, 5]))
    assert s["mean_length"] == 4.0 and s["mean_kills"] == pytest.approx(2 / 3)
    assert "frames" not in r.to_dict()


def test_random_policy_accepts_an_id_an_env_or_a_count():
    assert 0 <= random_policy("CartPole-v1", seed=0)(None) < 2
    assert 0 <= random_policy(3, seed=0)(None) < 3
    same = [random_policy(5, seed=1)(None) for _ in range(2)]
    assert same[0] == same[1]


def test_greedy_policy_takes_the_argmax():
    net = torch.nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.copy_(torch.tensor([0.0, 2.0, 1.0]))
    assert greedy_policy(net)(np.zeros(4, dtype=np.float32)) == 1
    assert as_policy(net)(np.zeros(4, dtype=np.float32)) == 1
    with pytest.raises(TypeError, match="policy must be"):
        as_policy(42)


def test_evaluate_is_reproducible_under_a_seed():
    a = evaluate(random_policy(2, seed=0), "CartPole-v1", episodes=3, seed=7)
    b = evaluate(random_policy(2, seed=0), "CartPole-v1", episodes=3, seed=7)
    assert a.scores == b.scores and len(a.scores) == 3
    assert all(length >= 1 for length in a.lengths)


def test_vizdoom_evaluation_reports_game_variables_and_frames():
    res = evaluate(
        random_policy(3, seed=0),
        "vizdoom:simpler_basic",
        episodes=2,
        seed=0,
        env_kwargs={"frame_skip": 12, "resolution": (30, 45)},
        record_frames=1,
    )
    assert set(res.extras) == {"kills", "health", "ammo"}
    assert len(res.frames) == res.lengths[0] + 1  # the reset frame, then one per step
    assert res.frames[0].ndim == 3 and res.frames[0].shape[2] == 3


def test_bad_episode_count_is_a_value_error():
    with pytest.raises(ValueError, match="episodes must be an integer ≥ 1"):
        evaluate(random_policy(2), "CartPole-v1", episodes=0)
