"""Tests for rlkit.buffers and rlkit.buffers.sumtree, on dummy data made here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlkit.buffers import PrioritizedReplayBuffer, ReplayBuffer, RolloutBuffer
from rlkit.buffers.device import DeviceReplayBuffer
from rlkit.buffers.sumtree import MinTree, SumTree

OBS_SHAPE = (3, 2, 2)
ORDINARY, RESET, FINAL = 0, 1, 2
# 99.9% quantile of the chi-square distribution with 7 degrees of freedom.
CHI2_7DOF_999 = 24.322


def frame(step: int, env: int, tag: int) -> np.ndarray:
    """An observation whose pixels say which env and step it comes from, and what kind it is."""
    out = np.empty(OBS_SHAPE, dtype=np.uint8)
    out[0], out[1], out[2] = step % 256, env, tag
    return out


def fake_steps(n_envs: int, n_steps: int, seed: int = 0, end_prob: float = 0.2):
    """Fake vector-env steps that end episodes at random; yields the arguments of one add.

    Actions are unique transition ids (step * n_envs + env), so a sampled row can be matched to
    what was added. An episode end is terminated or truncated at random; its next obs is a frame
    tagged FINAL and the obs of the following step a frame tagged RESET, as with autoreset.
    """
    rng = np.random.default_rng(seed)
    obs = np.stack([frame(0, e, RESET) for e in range(n_envs)])
    for step in range(n_steps):
        ended = rng.random(n_envs) < end_prob
        terminated = ended & (rng.random(n_envs) < 0.5)
        truncated = ended & ~terminated
        tags = np.where(ended, FINAL, ORDINARY)
        next_obs = np.stack([frame(step + 1, e, tags[e]) for e in range(n_envs)])
        actions = step * n_envs + np.arange(n_envs)
        rewards = actions.astype(np.float32) / 7
        yield step, (obs, actions, rewards, next_obs, terminated, truncated)
        obs = next_obs.copy()
        for e in np.flatnonzero(ended):
            obs[e] = frame(step + 1, e, RESET)


def fill(buffer, n_envs: int, n_steps: int, seed: int = 0, end_prob: float = 0.2) -> dict:
    """Add fake steps; return {transition id: (obs, reward, next_obs, terminated, truncated)}."""
    truth = {}
    for _, args in fake_steps(n_envs, n_steps, seed, end_prob):
        buffer.add(*args)
        remember(truth, args)
    return truth


def remember(truth: dict, args: tuple) -> None:
    obs, actions, rewards, next_obs, terminated, truncated = args
    for e, action in enumerate(actions):
        truth[int(action)] = (obs[e], rewards[e], next_obs[e], terminated[e], truncated[e])


def check_batch(batch, truth: dict, n_envs: int, newest_step: int, per_env: int) -> set:
    """Assert every sampled row equals what was added; return the transition ids seen."""
    ids = batch.actions.numpy()
    obs, rewards, next_obs, terminated, truncated = (
        np.stack(f) for f in zip(*map(truth.get, ids), strict=True)
    )
    steps = ids // n_envs
    assert np.all((steps > newest_step - per_env) & (steps <= newest_step)), "evicted transition"
    np.testing.assert_array_equal(batch.observations.numpy(), obs)
    np.testing.assert_array_equal(batch.next_observations.numpy(), next_obs)
    np.testing.assert_array_equal(batch.rewards.numpy(), rewards)
    np.testing.assert_array_equal(batch.terminated.numpy(), terminated.astype(np.float32))
    tags = batch.next_observations[:, 2, 0, 0].numpy()
    assert np.all(tags[truncated] == FINAL), "a truncated transition lost its final obs"
    assert np.all(tags != RESET), "a reset obs was returned as a next obs"
    return set(ids.tolist())


ALL_REPLAY = [ReplayBuffer, PrioritizedReplayBuffer, DeviceReplayBuffer]


@pytest.mark.parametrize("buffer_cls", ALL_REPLAY)
@pytest.mark.parametrize("n_envs", [1, 3])
def test_round_trip_across_wrap_around(buffer_cls, n_envs):
    capacity = 7 * n_envs
    buffer = buffer_cls(capacity, OBS_SHAPE, n_envs=n_envs, seed=1)
    truth = {}
    for step, args in fake_steps(n_envs, 40, end_prob=0.3):  # several wraps of the ring
        buffer.add(*args)
        remember(truth, args)
        stored = min(step + 1, 7)
        assert len(buffer) == stored * n_envs
        assert buffer.full == (stored == 7)
        expected = {
            s * n_envs + e for s in range(step + 1 - stored, step + 1) for e in range(n_envs)
        }
        seen = set()
        for _ in range(20):  # coverage: every stored transition shows up, nothing else does
            seen |= check_batch(buffer.sample(len(buffer)), truth, n_envs, step, 7)
        assert seen == expected
    # The side store holds final frames of stored transitions only: evicted ones were dropped.
    assert buffer._is_valid(np.array(sorted(buffer._final_obs), dtype=np.int64)).all()


@pytest.mark.parametrize("buffer_cls", ALL_REPLAY)
def test_cut_episodes_keeps_the_next_frame_a_restart_overwrites(buffer_cls):
    """A resumed run restarts its envs: the reset frame it adds next must not become the next
    observation of the last transition stored before the checkpoint."""
    n_envs = 2
    buffer = buffer_cls(8 * n_envs, OBS_SHAPE, n_envs=n_envs, seed=0)

    def frame(v):
        return np.full((n_envs, *OBS_SHAPE), v, dtype=np.uint8)

    no = np.zeros(n_envs, dtype=bool)
    acts, rews = np.zeros(n_envs, dtype=np.int64), np.zeros(n_envs, dtype=np.float32)
    buffer.add(frame(1), acts, rews, frame(2), no, no)
    buffer.add(frame(2), acts, rews, frame(3), no, no)  # mid-episode: next frame 3
    buffer.cut_episodes()
    buffer.cut_episodes()  # idempotent
    buffer.add(frame(100), acts, rews, frame(101), no, no)  # the restart's reset frame
    seen = {}
    for _ in range(30):
        b = buffer.sample(len(buffer))
        for o, n, t in zip(b.observations, b.next_observations, b.terminated, strict=True):
            seen[int(o.flatten()[0])] = (int(n.flatten()[0]), float(t))
    # 2 -> 3 survives the restart and still bootstraps (a cut is not a death).
    assert seen == {1: (2, 0.0), 2: (3, 0.0), 100: (101, 0.0)}


def test_cut_episodes_on_an_empty_buffer_does_nothing():
    buffer = ReplayBuffer(8, OBS_SHAPE)
    buffer.cut_episodes()
    assert len(buffer) == 0 and not buffer._final_obs


@pytest.mark.parametrize("buffer_cls", [ReplayBuffer, DeviceReplayBuffer])
def test_batch_types_and_shapes(buffer_cls):
    buffer = buffer_cls(10, OBS_SHAPE, n_envs=2)
    fill(buffer, 2, 8)
    batch = buffer.sample(5)
    assert batch.observations.dtype == torch.uint8 and batch.observations.shape == (5, *OBS_SHAPE)
    assert batch.next_observations.dtype == torch.uint8
    assert batch.actions.dtype == torch.int64 and batch.actions.shape == (5,)
    for name in ("rewards", "terminated", "weights"):
        assert getattr(batch, name).dtype == torch.float32 and getattr(batch, name).shape == (5,)
    assert torch.all(batch.weights == 1)
    assert isinstance(batch.indices, np.ndarray) and batch.indices.dtype == np.int64


def test_capacity_counts_transitions_and_rounds_up_to_n_envs():
    assert ReplayBuffer(10, OBS_SHAPE, n_envs=2).capacity == 10
    assert ReplayBuffer(10, OBS_SHAPE, n_envs=3).capacity == 12
    buffer = ReplayBuffer(1, OBS_SHAPE)
    fill(buffer, 1, 5)
    assert len(buffer) == 1 and buffer.full


def test_nbytes_of_large_frame_buffer_stores_frames_once():
    capacity, obs_shape = 100_000, (1, 60, 80)
    buffer = ReplayBuffer(capacity, obs_shape)
    frame_bytes = int(np.prod(obs_shape))
    assert buffer.nbytes < 1e9
    assert buffer.nbytes < 1.1 * capacity * frame_bytes
    per = PrioritizedReplayBuffer(capacity, obs_shape)
    assert per.nbytes < 1.1 * capacity * frame_bytes


def test_rejects_invalid_arguments():
    with pytest.raises(ValueError, match="capacity must be an integer >= 1"):
        ReplayBuffer(0, OBS_SHAPE)
    with pytest.raises(ValueError, match="obs_shape must be a tuple of positive integers"):
        ReplayBuffer(10, (3, 0))
    buffer = ReplayBuffer(10, OBS_SHAPE, n_envs=2)
    with pytest.raises(ValueError, match="empty buffer"):
        buffer.sample(1)
    good = np.zeros((2, *OBS_SHAPE), dtype=np.uint8)
    flags = np.zeros(2, dtype=bool)
    with pytest.raises(ValueError, match=r"obs has shape \(3, 3, 2, 2\).*expects \(2, 3, 2, 2\)"):
        buffer.add(np.zeros((3, *OBS_SHAPE)), [0, 0], [0, 0], good, flags, flags)
    with pytest.raises(ValueError, match="actions has shape"):
        buffer.add(good, [0, 0, 0], [0, 0], good, flags, flags)
    with pytest.raises(ValueError, match="cannot be stored as uint8"):
        buffer.add(good.astype(np.float32) / 255, [0, 0], [0, 0], good, flags, flags)
    buffer.add(good, [0, 0], [0, 0], good, flags, flags)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        buffer.sample(0)
    with pytest.raises(ValueError, match="exceeds the 2 transitions stored"):
        buffer.sample(3)


@pytest.mark.parametrize("buffer_cls", ALL_REPLAY)
def test_state_dict_round_trip_gives_identical_samples(buffer_cls):
    source = buffer_cls(12, OBS_SHAPE, n_envs=3, seed=5)
    fill(source, 3, 9, end_prob=0.4)  # wraps the ring
    if isinstance(source, PrioritizedReplayBuffer):
        source.update_priorities(np.arange(6), np.arange(6) * 3.0)
    state = source.state_dict()
    for value in state.values():
        assert isinstance(value, (np.ndarray, int))
    target = buffer_cls(12, OBS_SHAPE, n_envs=3, seed=5)
    target.load_state_dict(
        {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in state.items()}
    )
    assert len(target) == len(source)
    for _ in range(5):
        a, b = source.sample(8), target.sample(8)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))

    with pytest.raises(ValueError, match="state is for"):
        buffer_cls(15, OBS_SHAPE, n_envs=3).load_state_dict(state)


@pytest.mark.parametrize("n_envs", [1, 2])
def test_device_storage_gives_the_host_buffers_batches_and_state(n_envs):
    """Same seed, same adds: the device-storage buffer draws the same indices (one numpy stream)
    and returns the same batches; its state is the host buffer's, in both directions."""
    host = ReplayBuffer(9 * n_envs, OBS_SHAPE, n_envs=n_envs, seed=3)
    device = DeviceReplayBuffer(9 * n_envs, OBS_SHAPE, n_envs=n_envs, seed=3)
    for _, args in fake_steps(n_envs, 30, end_prob=0.3):
        host.add(*args)
        device.add(*args)
        for a, b in zip(host.sample(len(host)), device.sample(len(device)), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert host.sampler_state() == device.sampler_state()
    state = device.state_dict()
    for key, value in host.state_dict().items():
        np.testing.assert_array_equal(np.asarray(state[key]), np.asarray(value), err_msg=key)
    # The final-frame pool recycles rows: every row is either live or free, none twice.
    live = sorted(device._final_obs.values())
    assert sorted(live + device._free_rows) == list(range(len(device._pool)))
    for source, cls in ((host, DeviceReplayBuffer), (device, ReplayBuffer)):
        target = cls(9 * n_envs, OBS_SHAPE, n_envs=n_envs)
        target.load_state_dict(source.state_dict())
        target.set_sampler_state(source.sampler_state())
        for a, b in zip(source.sample(7), target.sample(7), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("buffer_cls", [ReplayBuffer, PrioritizedReplayBuffer])
def test_pinned_batches_equal_plain_ones(buffer_cls, monkeypatch):
    """On CUDA batches are gathered in pinned memory; here torch.empty records the request
    (a CPU-only torch cannot pin) and the batches must be the plain path's, weights included."""
    asked = []
    empty = torch.empty

    def fake_empty(*args, pin_memory=False, **kwargs):
        asked.append(pin_memory)
        return empty(*args, **kwargs)

    plain = buffer_cls(10, OBS_SHAPE, n_envs=2, seed=4)
    pinned = buffer_cls(10, OBS_SHAPE, n_envs=2, seed=4, pin_memory=True)
    truth = fill(plain, 2, 8, end_prob=0.4)
    fill(pinned, 2, 8, end_prob=0.4)
    if buffer_cls is PrioritizedReplayBuffer:
        for b in (plain, pinned):
            b.update_priorities(np.arange(10), np.arange(10) + 1.0)
    monkeypatch.setattr(torch, "empty", fake_empty)
    for _ in range(3):
        batch = pinned.sample(6)
        check_batch(batch, truth, 2, 7, 5)
        for a, b in zip(plain.sample(6), batch, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert batch.weights.dtype == torch.float32 and batch.actions.dtype == torch.int64
    assert asked and all(asked)


def test_state_dict_of_partly_filled_buffer_is_small():
    buffer = ReplayBuffer(1000, OBS_SHAPE)
    fill(buffer, 1, 4)
    assert buffer.state_dict()["obs"].shape == (5, 1, *OBS_SHAPE)
    assert ReplayBuffer(1000, OBS_SHAPE).state_dict()["obs"].shape[0] == 0


# --- sum tree ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_leaves", [1, 5, 8, 37])
def test_sum_tree_total_and_prefix_search_match_numpy(n_leaves):
    rng = np.random.default_rng(n_leaves)
    tree, mins = SumTree(n_leaves), MinTree(n_leaves)
    assert tree.total == 0 and mins.min == np.inf
    leaves = np.ones(n_leaves)
    tree.update(np.arange(n_leaves), leaves)
    mins.update(np.arange(n_leaves), leaves)
    for _ in range(20):
        idx = rng.choice(n_leaves, size=rng.integers(1, n_leaves + 1), replace=False)
        # Small integers are summed exactly, so the tree and np.cumsum agree bit for bit.
        values = rng.integers(0, 5, size=idx.size).astype(float)
        tree.update(idx, values)
        mins.update(idx, values)
        leaves[idx] = values
        assert tree.total == leaves.sum()
        assert mins.min == leaves.min()
        np.testing.assert_array_equal(tree.leaves, leaves)
        if tree.total > 0:
            queries = np.concatenate([rng.random(50) * tree.total, np.cumsum(leaves)[:-1]])
            queries = queries[queries < tree.total]
            found = tree.find_prefix(queries)
            expected = np.searchsorted(np.cumsum(leaves), queries, side="right")
            np.testing.assert_array_equal(found, expected)
            assert np.all(leaves[found] > 0)


@pytest.mark.parametrize("tree_cls", [SumTree, MinTree])
def test_update_range_equals_update(tree_cls):
    rng = np.random.default_rng(1)
    by_range, by_index = tree_cls(37), tree_cls(37)
    for _ in range(30):
        start = int(rng.integers(0, 37))
        values = rng.random(int(rng.integers(1, 38 - start)))
        by_range.update_range(start, values)
        by_index.update(np.arange(start, start + values.size), values)
        np.testing.assert_array_equal(by_range.tree, by_index.tree)
    with pytest.raises(ValueError, match="does not fit in 37 leaves"):
        by_range.update_range(36, [1.0, 2.0])


def test_sum_tree_never_returns_zero_leaf_at_the_upper_edge():
    tree = SumTree(6)
    tree.update(np.arange(6), [0.1, 0.2, 0.0, 0.3, 0.0, 0.0])
    found = tree.find_prefix(np.array([tree.total, np.nextafter(tree.total, 0), 1e9]))
    np.testing.assert_array_equal(found, [3, 3, 3])


def test_sum_tree_load_leaves_rebuilds_inner_nodes():
    rng = np.random.default_rng(0)
    leaves = rng.random(13)
    a, b = SumTree(13), SumTree(13)
    a.update(np.arange(13), leaves)
    b.load_leaves(leaves)
    np.testing.assert_allclose(a.tree, b.tree)


# --- prioritized replay -----------------------------------------------------------------------


def per_with_priorities(priorities, alpha, beta=0.4, seed=0) -> PrioritizedReplayBuffer:
    buffer = PrioritizedReplayBuffer(len(priorities), OBS_SHAPE, alpha=alpha, beta=beta, seed=seed)
    fill(buffer, 1, len(priorities), end_prob=0.0)
    buffer.update_priorities(np.arange(len(priorities)), np.asarray(priorities, dtype=float))
    return buffer


def draw_counts(buffer, n_leaves: int, n_draws: int, batch_size: int):
    counts = np.zeros(n_leaves)
    for _ in range(n_draws // batch_size):
        counts += np.bincount(buffer.sample(batch_size).indices, minlength=n_leaves)[:n_leaves]
    return counts


def chi_square(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = counts.sum() * probs
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_per_sampling_frequencies_follow_priority_to_the_alpha(alpha):
    priorities = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 8.0, 1.5, 6.0])
    # Eight copies of the eight priorities fill 64 slots, so batches of 64 can be drawn; slot i
    # has priority level i % 8 and the counts are summed per level.
    buffer = per_with_priorities(np.tile(priorities, 8), alpha)
    counts = draw_counts(buffer, 64, n_draws=80_000, batch_size=64).reshape(8, 8).sum(axis=0)
    assert counts.sum() == 80_000
    # Stratified draws vary less than independent ones, so the multinomial chi-square bound is
    # conservative under the right hypothesis and still rejects a wrong one.
    target = (priorities + buffer.eps) ** alpha
    assert chi_square(counts, target / target.sum()) < CHI2_7DOF_999
    # The same statistic must reject a wrong hypothesis, or the test above proves nothing.
    wrong = priorities ** (1.0 - alpha) if alpha != 0.5 else priorities
    assert chi_square(counts, wrong / wrong.sum()) > 10 * CHI2_7DOF_999


def test_per_weights_match_hand_computed_values():
    # p = |delta| + eps with alpha 1; w_i = (p_i / p_min)^-beta, normalised by the buffer-wide
    # max weight (that of the lowest priority), so with beta 0.5 the weights are 1/sqrt(p_i).
    buffer = per_with_priorities([1.0, 2.0, 3.0, 4.0], alpha=1.0, beta=0.5)
    by_index = np.array([1.0, 1 / np.sqrt(2), 1 / np.sqrt(3), 0.5])
    for _ in range(10):
        batch = buffer.sample(4)
        np.testing.assert_allclose(batch.weights.numpy(), by_index[batch.indices], rtol=1e-5)
    buffer.beta = 1.0
    batch = buffer.sample(4)
    np.testing.assert_allclose(batch.weights.numpy(), 1 / (batch.indices + 1.0), rtol=1e-5)
    assert torch.all(buffer.sample(4, beta=0.0).weights == 1)


def test_per_new_transitions_get_max_priority_and_updates_change_sampling():
    buffer = PrioritizedReplayBuffer(4, OBS_SHAPE, alpha=1.0, seed=0)
    fill(buffer, 1, 3, end_prob=0.0)
    buffer.update_priorities([0, 1, 2], [0.0, 0.0, 5.0])
    fill(buffer, 1, 1, end_prob=0.0)  # slot 3 arrives with the max priority, 5 + eps
    counts = draw_counts(buffer, 5, n_draws=4000, batch_size=4)
    # eps leaves slots 0 and 1 a chance of 1e-6 / 10 per draw; slot 4 holds no transition.
    assert counts[0] + counts[1] <= 1 and counts[4] == 0
    assert counts[2] == counts[3] == 2000  # two strata of the four land in each
    buffer.update_priorities([2, 3], [0.0, 0.0])
    buffer.update_priorities([0], [1.0])
    counts = draw_counts(buffer, 5, n_draws=400, batch_size=4)
    assert counts[0] >= 399


def test_per_repeated_and_stale_indices():
    buffer = PrioritizedReplayBuffer(3, OBS_SHAPE, alpha=1.0, seed=0)
    fill(buffer, 1, 3, end_prob=0.0)
    buffer.update_priorities([0, 0, 1, 2], [9.0, 1.0, 1.0, 1.0])  # the last value given wins
    np.testing.assert_allclose(buffer._sum.leaves[:3], 1 + buffer.eps)
    fill(buffer, 1, 1, end_prob=0.0)  # slot 3 written, slot 0 (the oldest) invalidated
    buffer.update_priorities([0], [100.0])  # a stale update must not revive slot 0
    assert buffer._sum.leaves[0] == 0
    assert 0 not in draw_counts(buffer, 4, n_draws=300, batch_size=3).nonzero()[0]


def test_per_rejects_invalid_inputs():
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        PrioritizedReplayBuffer(8, OBS_SHAPE, alpha=1.5)
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\]"):
        PrioritizedReplayBuffer(8, OBS_SHAPE, beta=-0.1)
    with pytest.raises(ValueError, match="eps must be"):
        PrioritizedReplayBuffer(8, OBS_SHAPE, eps=0.0)
    buffer = per_with_priorities([1.0, 2.0], alpha=0.6)
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\]"):
        buffer.beta = 2.0
    buffer.beta = 1.0  # annealing by assignment
    with pytest.raises(ValueError, match="priorities must be >= 0"):
        buffer.update_priorities([0], [-1.0])
    with pytest.raises(ValueError, match="priorities must be finite"):
        buffer.update_priorities([0, 1], [np.nan, 1.0])
    with pytest.raises(ValueError, match="priorities must be finite"):
        buffer.update_priorities([0], torch.tensor([float("inf")]))
    with pytest.raises(ValueError, match="one priority per index"):
        buffer.update_priorities([0, 1], [1.0])
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 3\)"):
        buffer.update_priorities([7], [1.0])


# --- rollout buffer ---------------------------------------------------------------------------


def reference_gae(rewards, values, dones, last_values, gamma, lam):
    n_steps, n_envs = rewards.shape
    advantages = np.zeros((n_steps, n_envs))
    for env in range(n_envs):
        gae = 0.0
        for t in reversed(range(n_steps)):
            next_value = last_values[env] if t == n_steps - 1 else values[t + 1, env]
            if dones[t, env]:
                next_value, gae = 0.0, 0.0
            delta = rewards[t, env] + gamma * next_value - values[t, env]
            gae = delta + gamma * lam * gae
            advantages[t, env] = gae
    return advantages, advantages + values


def make_rollout(n_steps, n_envs, end_at=(), seed=0):
    rng = np.random.default_rng(seed)
    buffer = RolloutBuffer(n_steps, n_envs, (4,), obs_dtype=np.float32, seed=seed)
    rewards = rng.normal(size=(n_steps, n_envs)).astype(np.float32)
    values = rng.normal(size=(n_steps, n_envs)).astype(np.float32)
    terminated = np.zeros((n_steps, n_envs), dtype=bool)
    truncated = np.zeros((n_steps, n_envs), dtype=bool)
    for t, env, kind in end_at:
        (terminated if kind == "terminated" else truncated)[t, env] = True
    for t in range(n_steps):
        obs = np.full((n_envs, 4), t, dtype=np.float32) + np.arange(n_envs)[:, None] * 1000
        actions = t * n_envs + np.arange(n_envs)
        buffer.add(obs, actions, rewards[t], terminated[t], truncated[t], values[t], -values[t])
    return buffer, rewards, values, terminated | truncated


@pytest.mark.parametrize(
    "end_at",
    [
        (),
        ((3, 0, "terminated"),),
        ((2, 1, "truncated"), (5, 0, "terminated"), (7, 1, "terminated")),
    ],
)
@pytest.mark.parametrize("gamma, lam", [(0.99, 0.95), (0.9, 1.0), (0.5, 0.0)])
def test_rollout_gae_matches_reference_loop(end_at, gamma, lam):
    buffer, rewards, values, dones = make_rollout(8, 2, end_at)
    last_values = np.array([0.7, -1.3], dtype=np.float32)
    buffer.compute_returns_and_advantages(last_values, gamma, lam)
    advantages, returns = reference_gae(rewards, values, dones, last_values, gamma, lam)
    np.testing.assert_allclose(buffer.advantages, advantages, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(buffer.returns, returns, rtol=1e-5, atol=1e-5)


def test_rollout_get_yields_every_sample_once_in_shuffled_minibatches():
    buffer, *_ = make_rollout(6, 3)
    buffer.compute_returns_and_advantages(np.zeros(3))
    seen = []
    sizes = []
    for batch in buffer.get(batch_size=5):
        sizes.append(len(batch.actions))
        # Fields stay aligned: obs of env e at step t was encoded as t + 1000 e.
        t, env = np.divmod(batch.actions.numpy(), 3)
        np.testing.assert_array_equal(batch.observations[:, 0].numpy(), t + 1000 * env)
        np.testing.assert_allclose(batch.old_log_probs.numpy(), -batch.old_values.numpy())
        np.testing.assert_allclose(
            batch.returns.numpy(), (batch.advantages + batch.old_values).numpy(), rtol=1e-6
        )
        seen.extend(batch.actions.tolist())
    assert sizes == [5, 5, 5, 3]
    assert sorted(seen) == list(range(18)) and seen != list(range(18))
    assert next(buffer.get()).observations.shape == (18, 4)  # None: one batch of everything


def test_rollout_lifecycle_and_validation():
    buffer, *_ = make_rollout(3, 2)
    assert buffer.full and len(buffer) == 6
    with pytest.raises(ValueError, match="already holds 3 steps; call reset"):
        buffer.add(np.zeros((2, 4)), [0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0])
    with pytest.raises(ValueError, match="before get"):
        next(buffer.get(2))
    with pytest.raises(ValueError, match="last_values has shape"):
        buffer.compute_returns_and_advantages(np.zeros(3))
    with pytest.raises(ValueError, match=r"gamma must lie in \[0, 1\]"):
        buffer.compute_returns_and_advantages(np.zeros(2), gamma=1.5)
    buffer.reset()
    assert not buffer.full and len(buffer) == 0
    with pytest.raises(ValueError, match="holds 0 of 3 steps"):
        buffer.compute_returns_and_advantages(np.zeros(2))
    pixels = RolloutBuffer(4, 2, (1, 6, 8))
    assert pixels.obs.dtype == np.uint8


def test_rollout_sampler_state_resumes_the_shuffling_stream():
    a, *_ = make_rollout(4, 2, seed=1)
    b, *_ = make_rollout(4, 2, seed=2)
    for buffer in (a, b):
        buffer.compute_returns_and_advantages(np.zeros(2))
    next(a.get(4))  # advance a's stream
    b.set_sampler_state(a.sampler_state())
    for x, y in zip(a.get(4), b.get(4), strict=True):
        assert torch.equal(x.actions, y.actions)
