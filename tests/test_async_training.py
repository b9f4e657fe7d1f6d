"""Training on the free-running EnvPool (``vector_backend="pool"``): DQN's per-env transitions,
PPO's per-env rollout columns, episode bookkeeping by env id, checkpoints, resume, clean exit.

The pool runs use :mod:`tagged_env`, whose observations name their env and step, so a
transition or a rollout column that mixes envs or skips steps shows up."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import processes_gone
from tagged_env import ENV_ID, length_of, reward_of

from rlkit.algorithms import agent_class
from rlkit.buffers import PerEnvStaging, ReplayBuffer, RolloutBuffer
from rlkit.config import ConfigError, DQNConfig, PPOConfig
from rlkit.presets import preset
from rlkit.training import Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = dict(eval_interval=0, log_interval=64, torch_threads=1)


def _run(config, **kw):
    """Train with a :class:`Trainer` kept at hand (its agent, buffer and envs are inspected)."""
    trainer = Trainer(config, agent_class(config), "cpu", **kw)
    return trainer, trainer.run()


def _sampled(buf, rounds=5):
    """Transitions drawn from a replay buffer (``rounds`` times its size, with replacement):
    ``(obs, next_obs, env column, actions, terminated)`` as numpy."""
    batches = [buf.sample(len(buf)) for _ in range(rounds)]
    cat = [
        np.concatenate([getattr(b, k).numpy() for b in batches])
        for k in ("observations", "next_observations", "actions", "terminated")
    ]
    env = np.concatenate([b.indices for b in batches]) % buf.n_envs
    return cat[0], cat[1], env, cat[2], cat[3]


def _gone(pids):
    return processes_gone(pids)


def _check_episode_rows(history, tags):
    """Each row is one env's whole episode: its length and its reward per step."""
    assert history.episodes == len(history.episode_lengths) > 0
    envs = {(length_of(t), length_of(t) * reward_of(t)) for t in tags}
    rows = set(zip(history.episode_lengths, history.episode_returns, strict=True))
    assert rows <= envs, rows - envs
    assert len(rows) == len(envs)  # every env finished episodes


# -- config --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(num_envs=4, pool_batch_size=5), r"'pool_batch_size' = 5 .*\[1, num_envs = 4\]"),
        (dict(num_envs=4, pool_batch_size=0), r"'pool_batch_size' = 0 .*integer ≥ 1"),
        (dict(num_envs=4, pool_batch_size=2.0), r"'pool_batch_size' = 2.0"),
        (dict(num_envs=1), r"'num_envs' = 1 .*vector_backend='pool'.*at least 2"),
    ],
)
def test_bad_pool_batch_sizes_are_one_clear_error(kw, match):
    for cls in (DQNConfig, PPOConfig):
        with pytest.raises(ConfigError, match=match):
            cls(vector_backend="pool", **kw)


def test_pool_batch_defaults_to_half_the_envs():
    assert DQNConfig(vector_backend="pool", num_envs=6).pool_batch == 3
    assert DQNConfig(vector_backend="pool", num_envs=1, pool_batch_size=1).pool_batch == 1
    assert preset("cartpole_ppo", vector_backend="pool", pool_batch_size="8").pool_batch == 8
    DQNConfig(num_envs=1, pool_batch_size=7)  # ignored by lock-step backends


# -- the storage pieces, without envs --------------------------------------------------------------
def test_staging_fills_each_replay_column_with_one_envs_consecutive_steps():
    rng = np.random.default_rng(0)
    n = 3
    buf = ReplayBuffer(300, (2,), n_envs=n, obs_dtype=np.float32, seed=0)
    staging = PerEnvStaging(buf, (2,), np.float32, depth=1)
    steps = np.zeros(n, dtype=np.int64)
    total = 0
    for _ in range(60):  # env 2 answers far less often: the others run ahead and wait
        ids = rng.permutation([0, 1] + ([2] if rng.random() < 0.3 else []))
        obs = np.stack([ids, steps[ids]], axis=1).astype(np.float32)
        nxt = obs + np.array([0, 1], dtype=np.float32)
        total += staging.add(ids, obs, ids, np.ones(len(ids)), nxt, ids < 0, ids < 0)
        steps[ids] += 1
    assert staging.depth > 1  # it grew
    assert total == len(buf) == n * steps.min()
    assert staging.pending == steps.sum() - total
    obs, nxt, env, actions, _ = _sampled(buf)
    assert (obs[:, 0] == env).all() and (nxt[:, 0] == env).all()
    assert (nxt[:, 1] == obs[:, 1] + 1).all() and (actions == env).all()
    with pytest.raises(ValueError, match="distinct"):
        staging.add([0, 0], obs[:2], [0, 0], [0, 0], obs[:2], [0, 0], [0, 0])


def test_columns_written_out_of_order_equal_lock_step_columns_and_their_gae():
    from rlkit.collectors import ColumnWriter, EpisodeCounter

    rng = np.random.default_rng(1)
    t_len, n = 6, 3
    obs = rng.normal(size=(t_len + 1, n, 2)).astype(np.float32)
    actions = rng.integers(0, 2, (t_len, n))
    rewards = rng.normal(size=(t_len, n))
    terminated = rng.random((t_len, n)) < 0.2
    truncated = (rng.random((t_len, n)) < 0.2) & ~terminated
    values = rng.normal(size=(t_len, n)).astype(np.float32)
    log_probs = rng.normal(size=(t_len, n)).astype(np.float32)
    last = rng.normal(size=n).astype(np.float32)

    def step(t, ids):
        out = (obs[t + 1, ids], rewards[t, ids], terminated[t, ids], truncated[t, ids], {})
        recs = {"values": values[t, ids], "log_probs": log_probs[t, ids]}
        return actions[t, ids], recs, out

    lock = ColumnWriter(t_len, obs[0], EpisodeCounter(n))
    for t in range(t_len):
        lock.write(t, np.arange(n), *step(t, np.arange(n)))
    free = ColumnWriter(t_len, obs[0], EpisodeCounter(n))
    steps = np.zeros(n, dtype=int)
    while (steps < t_len).any():  # a few envs at a time, whichever still need steps
        open_ = np.flatnonzero(steps < t_len)
        ids = rng.permutation(open_)[: rng.integers(1, len(open_) + 1)]
        free.write(steps[ids], ids, *step(steps[ids], ids))
        steps[ids] += 1
    a, b = (w.columns(np.arange(n), {"values": last}, {}) for w in (lock, free))
    for name in ("obs", "actions", "rewards", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # Episodes are counted per env, so their returns and lengths agree as sets; where they
    # ended counts env steps in the order the envs answered.
    assert sorted(e[1:] for e in a.episodes) == sorted(e[1:] for e in b.episodes)
    bufs = []
    for cols in (a, b):
        buf = RolloutBuffer(t_len, n, (2,), obs_dtype=np.float32)
        for t in range(t_len):
            r = np.asarray(cols.rewards[t], dtype=np.float32)
            buf.add(
                cols.obs[t],
                cols.actions[t],
                r,
                cols.terminated[t],
                cols.truncated[t],
                cols.records["values"][t],
                cols.records["log_probs"][t],
            )
        buf.compute_returns_and_advantages(cols.last["values"], 0.9, 0.8)
        bufs.append(buf)
    np.testing.assert_array_equal(bufs[0].advantages, bufs[1].advantages)
    np.testing.assert_array_equal(bufs[0].returns, bufs[1].returns)


# -- training on the pool ------------------------------------------------------------------------
def _dqn(**kw):
    base = dict(
        env_id=ENV_ID,
        num_envs=4,
        vector_backend="pool",
        total_steps=300,
        buffer_size=1_000,
        batch_size=16,
        learning_starts=50,
        train_freq=4,
        seed=0,
        **FAST,
    )
    return DQNConfig(**{**base, **kw})


def _ppo(**kw):
    base = dict(
        env_id=ENV_ID,
        num_envs=4,
        vector_backend="pool",
        n_steps=16,
        n_epochs=2,
        n_minibatches=2,
        total_steps=128,
        seed=0,
        **FAST,
    )
    return PPOConfig(**{**base, **kw})


def test_dqn_on_the_pool_pairs_each_obs_with_the_same_envs_next_obs():
    trainer, result = _run(_dqn())
    agent, h = trainer.agent, result.history
    buf, staging = agent.buffer, agent._staging
    assert h.env_steps >= 300 and h.env_steps == len(buf) + staging.pending
    # One update per 4 env steps received from step 50 on, whichever envs answered first: the
    # pool answers in batches of 2, so the first boundary counted is 52 or 48 (received at 50 or
    # 51), and an update whose batch is still staged is owed, then paid, never dropped.
    assert agent.owed == 0 and len(buf) >= 16
    assert h.updates == h.env_steps // 4 - 12
    obs, nxt, env, actions, term = _sampled(buf)
    assert (obs[:, 0] == env).all() and (nxt[:, 0] == env).all()  # tag = seed 0 + env id
    # Each stored action is the one that env was sent: its next obs says which action led there
    # (the env was sent it in one exchange and answered in a later one).
    assert (nxt[:, 3] == actions.reshape(-1) + 1).all()
    ended = nxt[:, 2] == 0  # a reset obs would be a transition into the next episode
    assert not ended.any()
    assert (nxt[:, 2] == obs[:, 2] + 1).all() and (nxt[:, 1] == obs[:, 1]).all()
    assert (
        (term == 1) == ((nxt[:, 2] == [length_of(e) for e in env]) & (obs[:, 1] % 2 == 0))
    ).all()
    _check_episode_rows(h, range(4))
    assert _gone(trainer.collector.envs.worker_pids)


def test_ppo_on_the_pool_fills_each_column_with_one_envs_steps_in_order():
    trainer, result = _run(_ppo())
    buf, h = trainer.agent.buffer, result.history
    assert h.env_steps == 128 and trainer.agent.rollouts == 2
    assert buf.full and buf.pos == 16
    for i in range(4):
        col = buf.obs[:, i]
        assert (col[:, 0] == i).all()
        ended = buf.terminated[:, i] | buf.truncated[:, i]
        # the next step is this episode's next t, or t = 0 of the next episode after an end
        want_t = np.where(ended[:-1], 0, col[:-1, 2] + 1)
        want_ep = np.where(ended[:-1], col[:-1, 1] + 1, col[:-1, 1])
        assert (col[1:, 2] == want_t).all() and (col[1:, 1] == want_ep).all()
        assert (ended == (col[:, 2] + 1 == length_of(i))).all()
    # the bootstrap observation is each env's own next one
    last = trainer.collector.obs
    assert (last[:, 0] == np.arange(4)).all()
    _check_episode_rows(h, range(4))
    assert _gone(trainer.collector.envs.worker_pids)


@pytest.mark.slow
def test_cartpole_on_the_pool_gives_the_lock_step_history_keys():
    for cfg in (
        # eps_end=1: random play, whose episodes (~20 steps) surely end within the budget
        preset(
            "cartpole", num_envs=4, total_steps=256, learning_starts=64, eval_interval=128
        ).replace(eps_end=1.0),
        preset("cartpole_ppo", num_envs=4, n_steps=32, total_steps=256, eval_interval=128),
    ):
        cfg = cfg.replace(eval_episodes=2, log_interval=64, torch_threads=1)
        _, lock = _run(cfg)
        trainer, free = _run(cfg.replace(vector_backend="pool"))
        # Which keys a run logs does not depend on how its envs answered: the learner's keys
        # (DQN's loss) appear once any update ran, and the rest are lock-step's.
        assert set(free.history.metrics) <= set(lock.history.metrics)
        learned = set(lock.history.metrics) - set(free.history.metrics)
        assert not learned or (learned == {"loss"} and free.history.updates == 0)
        assert free.history.eval_steps and len(free.history.eval_steps) == len(
            lock.history.eval_steps
        )
        assert free.history.episodes > 0 and free.history.env_steps >= 256
        assert _gone(trainer.collector.envs.worker_pids)


@pytest.mark.slow
def test_checkpoint_and_resume_on_the_pool_restart_episodes(tmp_path):
    cfg = _ppo(total_steps=64, checkpoint_interval=64)
    trainer, first = _run(cfg, run_dir=tmp_path)
    assert first.checkpoint_path == str(tmp_path / "checkpoint.pt")
    resumed, more = _run(cfg.replace(total_steps=192), resume_from=tmp_path / "checkpoint.pt")
    h = more.history
    assert h.env_steps == 192 and resumed.agent.rollouts == 3
    n = len(first.history.episode_lengths)
    assert h.episode_lengths[:n] == first.history.episode_lengths
    # fresh episodes: envs were reset with seed 0 + 64 + i, so their tags moved on
    tags = resumed.agent.buffer.obs[:, :, 0]
    assert (tags == 64 + np.arange(4)).all()
    _check_episode_rows(h, list(range(4)) + list(range(64, 68)))
    assert _gone(trainer.collector.envs.worker_pids + resumed.collector.envs.worker_pids)


def test_a_failing_pool_run_leaves_no_workers(monkeypatch):
    calls = []

    def boom(self, run):
        calls.append(run.collector.envs.worker_pids)
        raise RuntimeError("boom")

    monkeypatch.setattr(agent_class(_dqn()), "iterate", boom)
    trainer = Trainer(_dqn(), agent_class(_dqn()), "cpu")
    with pytest.raises(RuntimeError, match="boom"):
        trainer.run()
    assert calls and _gone(calls[0])


@pytest.mark.slow
def test_cartpole_ppo_on_the_pool_still_learns():
    from rlkit.callbacks import StopAtConfirmedTarget

    cfg = preset("cartpole_ppo", vector_backend="pool", seed=1, total_steps=60_000)
    # Which envs answer first depends on process timing, so this run is not reproducible: its
    # greedy score at the end of 60k steps varied (345.8 on CI, above 400 here), and beside two
    # CPU-bound processes one run in four never confirmed 200. Random play scores ~22 and a pool
    # that paired observations with the wrong actions stays near it: a policy confirmed at 100
    # on 20 fresh episodes separates the two with a margin that load does not take away, and
    # the run stops there.
    stop = StopAtConfirmedTarget(100, confirm_episodes=20, seed=123_456)
    Trainer(cfg, agent_class(cfg), "cpu", callbacks=[stop]).run()
    assert stop.steps is not None and stop.confirm_mean >= 100, stop.attempts
