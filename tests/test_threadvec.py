"""ThreadVectorEnv: identical results to gymnasium's SyncVectorEnv, errors, shutdown."""

from __future__ import annotations

import functools
import threading

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from rlkit.envs.vector import make_vector_env
from rlkit.envs.vector.threads import ThreadVectorEnv


class Counter(gym.Env):
    """Obs encodes env index and step; episodes end after `length` steps (odd envs truncate)."""

    def __init__(self, index: int, length: int = 3, fail_at: int | None = None):
        self.index, self.length, self.fail_at, self.t, self.total = index, length, fail_at, 0, 0
        self.observation_space = gym.spaces.Box(0, 10_000, shape=(2,), dtype=np.int64)
        self.action_space = gym.spaces.Discrete(4)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([self.index, self.total]), {"episode_start": self.total}

    def step(self, action):
        if self.fail_at is not None and self.total == self.fail_at:
            raise ValueError(f"boom in env {self.index}")
        self.t += 1
        self.total += 1
        end = self.t >= self.length + self.index
        obs = np.array([self.index, 100 * self.total + int(action)])
        info = {"t": self.t}
        return (
            obs,
            float(action) + self.index,
            end and self.index % 2 == 0,
            end and self.index % 2 == 1,
            info,
        )


def _fns(n, **kw):
    return [functools.partial(Counter, i, **kw) for i in range(n)]


def _same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, tuple) or (isinstance(a, np.ndarray) and a.dtype == object):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [1, 3])
def test_matches_sync_vector_env_step_for_step(n):
    ref = SyncVectorEnv(_fns(n), autoreset_mode=AutoresetMode.SAME_STEP)
    env = ThreadVectorEnv(_fns(n))
    _same(ref.reset(seed=1), env.reset(seed=1))
    rng = np.random.default_rng(0)
    for _ in range(25):
        actions = rng.integers(4, size=n)
        _same(ref.step(actions), env.step(actions))
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    ref.close()
    env.close()


def test_env_error_is_raised_with_its_index_and_threads_stay_usable():
    env = ThreadVectorEnv([functools.partial(Counter, 0), functools.partial(Counter, 1, fail_at=2)])
    env.reset()
    env.step([0, 0])
    env.step([0, 0])
    with pytest.raises(RuntimeError, match="env 1 failed during step: ValueError: boom in env 1"):
        env.step([0, 0])
    env.close()


def test_close_stops_the_helper_threads():
    before = threading.active_count()
    env = ThreadVectorEnv(_fns(3))
    assert threading.active_count() == before + 2
    env.close()
    env.close()  # idempotent
    assert threading.active_count() == before


@pytest.mark.slow
def test_make_vector_env_threads_backend_with_vizdoom():
    envs = make_vector_env("vizdoom:basic", 2, backend="threads")
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 1, 60, 80) and obs.dtype == np.uint8
    for _ in range(30):
        obs, _, _, _, infos = envs.step(envs.action_space.sample())
    assert "health" in infos
    envs.close()


def test_an_unreferenced_env_is_collected_and_its_threads_stop():
    import gc
    import weakref

    before = threading.active_count()
    env = ThreadVectorEnv(_fns(3))
    env.reset()
    env.step([0, 0, 0])
    ref = weakref.ref(env)
    del env
    gc.collect()
    assert ref() is None
    assert threading.active_count() == before


def test_wrong_number_of_actions_and_step_after_close_are_errors():
    env = ThreadVectorEnv(_fns(2))
    env.reset()
    with pytest.raises(ValueError, match="expected 2 actions, got 3"):
        env.step([0, 0, 0])
    env.close()
    with pytest.raises(RuntimeError, match="closed"):
        env.step([0, 0])
