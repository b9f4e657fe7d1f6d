"""Demonstrations: recorded episodes replayed into DQN's replay buffer before it starts."""

from __future__ import annotations

import numpy as np
import pytest

import rlkit
from rlkit.baselines import aim_and_shoot
from rlkit.buffers import ReplayBuffer
from rlkit.buffers.demos import prefill
from rlkit.config import ConfigError
from rlkit.envs import make_env
from rlkit.human import PlayLog, RecordingError, load_played

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    cfg = rlkit.preset("vizdoom_simpler_basic")
    folder = tmp_path_factory.mktemp("demos") / "you"
    env = make_env(cfg.env_id, **cfg.env_kwargs)
    act = aim_and_shoot(env.action_names)
    env.close()
    with PlayLog.open(folder) as log:
        for seed in range(3):
            log.play(act, cfg.env_id, seed, env_kwargs=cfg.env_kwargs, player="scripted")
    return folder


def test_demos_fill_the_buffer_with_their_own_transitions(demos):
    cfg = rlkit.preset("vizdoom_simpler_basic", demos=str(demos))
    buf = ReplayBuffer(1000, (1, 30, 45), seed=0)  # the preset's frame
    added = prefill(buf, cfg)
    eps = load_played(demos)
    assert added == sum(len(e.actions) for e in eps) == len(buf)
    stored = buf.rewards[:added, 0] if buf.rewards.ndim == 2 else buf.rewards[:added]
    total = sum(e.score for e in eps) * cfg.reward_scale
    assert np.isclose(float(np.sum(stored)), total)


def test_a_run_learns_after_demos_and_refuses_what_does_not_fit(demos, tmp_path):
    cfg = rlkit.preset(
        "vizdoom_simpler_basic",
        demos=str(demos),
        total_steps=300,
        learning_starts=100,
        eval_interval=0,
    )
    result = rlkit.train(cfg, device="cpu", run_dir=tmp_path / "run")
    assert result.history.env_steps == 300 and result.history.updates > 0
    other = rlkit.preset(
        "vizdoom_simpler_basic",
        demos=str(demos),
        env_kwargs={"resolution": (30, 45), "frame_skip": 4},
    )
    with pytest.raises(RecordingError, match="was played on vizdoom:simpler_basic with"):
        prefill(ReplayBuffer(100, (1, 30, 45), seed=0), other)
    with pytest.raises(ConfigError, match="'demos' needs num_envs = 1"):
        rlkit.preset("vizdoom_simpler_basic", demos=str(demos), num_envs=2)
