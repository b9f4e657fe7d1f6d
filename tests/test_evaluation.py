"""evaluate(): scores, statistics, policies of every accepted kind, recorded frames."""

from __future__ import annotations

import gymnasium as gym
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


def _draws(policy, n: int = 50) -> list[int]:
    return [policy(None) for _ in range(n)]


def test_random_policy_accepts_an_id_an_env_or_a_count():
    # 50 draws: every action of a 2- or 3-action space shows up, none outside it.
    assert set(_draws(random_policy("CartPole-v1", seed=0))) == {0, 1}
    env = gym.make("Acrobot-v1")
    try:
        assert set(_draws(random_policy(env, seed=0))) == {0, 1, 2}
    finally:
        env.close()
    assert set(_draws(random_policy(3, seed=0))) == {0, 1, 2}


def test_random_policy_seed_fixes_the_whole_sequence():
    # Two 50-draw sequences from 5 actions agree by chance with probability 5**-50, so equal
    # sequences mean the seed drives the generator, and a different seed must change them.
    assert _draws(random_policy(5, seed=1)) == _draws(random_policy(5, seed=1))
    assert _draws(random_policy(5, seed=1)) != _draws(random_policy(5, seed=2))
    assert _draws(random_policy(5)) != _draws(random_policy(5))


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


@pytest.mark.slow  # starts a ViZDoom engine
def test_vizdoom_evaluation_reports_game_variables_and_per_episode_frames():
    res = evaluate(
        random_policy(3, seed=0),
        "vizdoom:simpler_basic",
        episodes=2,
        seed=0,
        env_kwargs={"frame_skip": 12, "resolution": (30, 45)},
        record_frames=2,
    )
    assert set(res.extras) == {"kills", "health", "ammo"}
    assert len(res.frames) == 2  # one list per recorded episode
    for episode, length in zip(res.frames, res.lengths, strict=True):
        assert len(episode) == length + 1  # the reset frame, then one per step
        assert all(f.ndim == 3 and f.shape[2] == 3 and f.dtype == np.uint8 for f in episode)


def test_record_frames_keeps_only_the_first_episodes():
    res = evaluate(
        random_policy(2, seed=0),
        "CartPole-v1",
        episodes=3,
        seed=0,
        env_kwargs={"render_mode": "rgb_array"},
        record_frames=2,
    )
    assert len(res.frames) == 2
    assert [len(f) for f in res.frames] == [n + 1 for n in res.lengths[:2]]
    assert evaluate(random_policy(2, seed=0), "CartPole-v1", episodes=1).frames == []


def test_bad_episode_count_is_a_value_error():
    with pytest.raises(ValueError, match="episodes must be an integer ≥ 1"):
        evaluate(random_policy(2), "CartPole-v1", episodes=0)


def test_evaluate_reads_the_env_from_a_result_a_checkpoint_or_its_path(tmp_path):
    from rlkit.checkpoints import load_model
    from rlkit.entry import train
    from rlkit.presets import preset

    cfg = preset("cartpole", total_steps=200, eval_interval=0, learning_starts=50)
    result = train(cfg, device="cpu", run_dir=tmp_path)
    path = tmp_path / "checkpoint.pt"
    explicit = evaluate(result, "CartPole-v1", episodes=3, seed=5).scores
    assert evaluate(result, episodes=3, seed=5).scores == explicit
    assert evaluate(load_model(path), episodes=3, seed=5).scores == explicit
    assert evaluate(path, episodes=3, seed=5).scores == explicit
    assert evaluate(str(path), episodes=3, seed=5).scores == explicit
    # What the spec says can be added to: a clip needs rgb frames.
    clip = evaluate(
        result, episodes=1, seed=5, env_kwargs={"render_mode": "rgb_array"}, record_frames=1
    )
    assert clip.scores == explicit[:1] and clip.frames[0][0].ndim == 3


def test_a_bare_policy_without_an_env_is_one_sentence():
    with pytest.raises(TypeError, match="evaluate needs env="):
        evaluate(lambda obs: 0, episodes=1)
