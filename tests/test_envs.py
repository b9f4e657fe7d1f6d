"""Behaviour of :func:`rlkit.envs.make_env` and :class:`rlkit.envs.doom.ViZDoomEnv`.

Every ViZDoom episode here is seeded and driven by a fixed policy, so outcomes (timeout, kill,
death) are reproducible; a game starts in ~0.2 s, which keeps the whole file to a few seconds.
Tests that start an engine are marked ``slow``; the rest check arguments without one.
"""

from __future__ import annotations

import gc
import time
import warnings

import gymnasium as gym
import numpy as np
import psutil
import pytest
from gymnasium.utils.env_checker import check_env

from rlkit.envs import EnvSpec, env_spec, make_env
from rlkit.envs.doom import ViZDoomEnv, available_scenarios

BASIC_BUTTONS = ["MOVE_LEFT", "MOVE_RIGHT", "ATTACK"]
MOVE_LEFT, MOVE_RIGHT, ATTACK = range(3)


def _episode(env: gym.Env, action: int, seed: int, max_steps: int = 2000):
    """Play one episode with a constant action; return (steps, total reward, last step)."""
    env.reset(seed=seed)
    total = 0.0
    for steps in range(1, max_steps + 1):
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        assert not (terminated and truncated), "an episode end is either terminal or a timeout"
        if terminated or truncated:
            return steps, total, (obs, reward, terminated, truncated, info)
    raise AssertionError(f"episode did not end within {max_steps} steps")


def _engine_pids() -> set[int]:
    """Live (non-zombie) ``vizdoom`` engine processes started by this test process."""
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "vizdoom" in child.name() and child.status() != psutil.STATUS_ZOMBIE:
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return pids


def _wait_gone(pids: set[int], timeout: float = 5.0) -> set[int]:
    """Engine pids from ``pids`` still alive after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (alive := pids & _engine_pids()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


# -- gymnasium's own checker ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    "scenario, kwargs",
    [
        ("basic", {}),
        ("defend_the_center", {"frame_stack": 4}),
        ("health_gathering", {"actions": "combinations", "resolution": (30, 45)}),
        ("basic", {"render_mode": "rgb_array"}),
    ],
)
def test_check_env_vizdoom(scenario, kwargs):
    env = make_env(f"vizdoom:{scenario}", **kwargs)
    try:
        with warnings.catch_warnings():
            # The only warning is that an env without a registry spec has no other render
            # modes to try, which is true by design here.
            warnings.filterwarnings("ignore", message=".*alternative render modes.*")
            check_env(env)
    finally:
        env.close()


# -- observations -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    "resolution, frame_stack, engine",
    [
        ((60, 80), 1, (120, 160)),
        ((30, 45), 1, (120, 160)),
        ((84, 84), 4, (120, 160)),
        ((120, 160), 2, (120, 160)),
        ((240, 320), 1, (240, 320)),
    ],
)
def test_observation_shape_and_engine_screen(resolution, frame_stack, engine):
    env = make_env("vizdoom:basic", resolution=resolution, frame_stack=frame_stack)
    try:
        assert env.observation_space.shape == (frame_stack, *resolution)
        assert env.observation_space.dtype == np.uint8
        obs, _ = env.reset(seed=0)
        assert obs.shape == (frame_stack, *resolution) and obs.dtype == np.uint8
        assert env.observation_space.contains(obs)
        # The engine renders the smallest 4:3 screen that covers the observation.
        assert (env.game.get_screen_height(), env.game.get_screen_width()) == engine
        if frame_stack > 1:
            assert all(np.array_equal(obs[i], obs[-1]) for i in range(frame_stack))
            nxt = env.step(ATTACK)[0]
            # Oldest frame drops out, the rest shift one slot towards the front.
            np.testing.assert_array_equal(nxt[:-1], obs[1:])
    finally:
        env.close()


@pytest.mark.slow
def test_observation_is_a_copy():
    env = make_env("vizdoom:basic")
    try:
        first, _ = env.reset(seed=0)
        kept = first.copy()
        for _ in range(3):
            env.step(MOVE_LEFT)
        np.testing.assert_array_equal(first, kept)
    finally:
        env.close()


# -- episode ends -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("frame_skip, expected_steps", [(4, 75), (7, 43)])
def test_timeout_is_truncated(frame_skip, expected_steps):
    # simpler_basic never ends on its own while the player only strafes: the 300-tic timeout
    # ends it after ceil(300 / frame_skip) steps.
    env = make_env("vizdoom:simpler_basic", frame_skip=frame_skip)
    try:
        steps, _, (_, _, terminated, truncated, info) = _episode(env, MOVE_LEFT, seed=0)
        assert truncated and not terminated
        assert steps == expected_steps
        assert info["kills"] == 0 and info["health"] > 0
    finally:
        env.close()


@pytest.mark.slow
def test_kill_is_terminated():
    # basic puts the monster at a random spot; with some seeds it stands in the line of fire.
    env = make_env("vizdoom:basic")
    try:
        outcomes = {seed: _episode(env, ATTACK, seed=seed) for seed in range(6)}
        kills = {s: o for s, o in outcomes.items() if o[2][2]}
        assert kills, "shooting straight ahead never hit the monster in seeds 0..5"
        for steps, total, (_, _, terminated, truncated, info) in kills.values():
            assert terminated and not truncated and info["kills"] == 1
            assert steps < 75 and total > 0  # the kill bonus outweighs the living penalty
        # The same seed gives the same outcome.
        seed = next(iter(kills))
        assert _episode(env, ATTACK, seed=seed)[:2] == kills[seed][:2]
    finally:
        env.close()


@pytest.mark.slow
def test_death_is_terminated():
    # Standing still in defend_the_center lets the monsters walk up and kill the player.
    env = make_env("vizdoom:defend_the_center", actions="combinations")
    try:
        assert env.unwrapped.action_names[0] == "NOOP"
        _, _, (_, _, terminated, truncated, info) = _episode(env, 0, seed=1)
        assert terminated and not truncated
        assert info["health"] <= 0
        assert env.unwrapped.game.is_player_dead()
    finally:
        env.close()


# -- determinism ------------------------------------------------------------------------------
def _rollout(seed: int, actions: np.ndarray):
    env = make_env("vizdoom:basic")
    try:
        frames = [env.reset(seed=seed)[0]]
        rewards, infos = [], []
        for a in actions:
            obs, reward, terminated, truncated, info = env.step(int(a))
            frames.append(obs)
            rewards.append(reward)
            infos.append(info)
            if terminated or truncated:
                frames.append(env.reset()[0])
        return np.stack(frames), rewards, infos
    finally:
        env.close()


@pytest.mark.slow
def test_same_seed_same_trajectory():
    actions = np.random.default_rng(0).integers(0, 3, size=60)
    a, b = _rollout(7, actions), _rollout(7, actions)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1] and a[2] == b[2]


@pytest.mark.slow
def test_different_seed_different_start():
    # basic's monster spawns at a random place, drawn from the game's seeded RNG.
    starts = []
    env = make_env("vizdoom:basic")
    try:
        for seed in (0, 1, 2):
            starts.append(env.reset(seed=seed)[0])
        again = env.reset(seed=0)[0]
    finally:
        env.close()
    assert not np.array_equal(starts[0], starts[1])
    assert not np.array_equal(starts[1], starts[2])
    np.testing.assert_array_equal(starts[0], again)


def test_seed_seeds_action_space():
    e1, e2 = make_env("CartPole-v1", seed=3), make_env("CartPole-v1", seed=3)
    assert [e1.action_space.sample() for _ in range(20)] == [
        e2.action_space.sample() for _ in range(20)
    ]


# -- render, info, actions, frame skip --------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("render_resolution, shape", [(None, (120, 160, 3)), ((240, 320), None)])
def test_rgb_array_render(render_resolution, shape):
    env = make_env("vizdoom:basic", render_mode="rgb_array", render_resolution=render_resolution)
    try:
        with pytest.raises(RuntimeError, match="reset"):
            env.render()
        obs, _ = env.reset(seed=0)
        frame = env.render()
        expected = shape or (*render_resolution, 3)
        assert frame.shape == expected and frame.dtype == np.uint8
        assert obs.shape == (1, 60, 80)  # the observation stays small and gray
        assert frame.std() > 0  # a picture, not a blank buffer
    finally:
        env.close()


@pytest.mark.slow
def test_render_needs_rgb_array_mode():
    env = make_env("vizdoom:basic")
    try:
        env.reset(seed=0)
        with pytest.raises(RuntimeError, match="rgb_array"):
            env.render()
    finally:
        env.close()


@pytest.mark.slow
def test_info_fields():
    env = make_env("vizdoom:basic")
    try:
        _, info = env.reset(seed=0)
        assert set(info) == {"health", "ammo", "kills", "score"}
        assert info == {"health": 100.0, "ammo": 50.0, "kills": 0.0, "score": 0.0}
        total = 0.0
        for action in (ATTACK, ATTACK, MOVE_LEFT):
            _, reward, _, _, info = env.step(action)
            total += reward
        # The pistol fires once within the first two 4-tic steps (then it is still recovering).
        assert info["ammo"] == 49.0 and info["health"] == 100.0
        assert info["score"] == total  # the episode's running total
        assert all(isinstance(v, float) for v in info.values())
    finally:
        env.close()


@pytest.mark.slow
def test_action_names():
    env = make_env("vizdoom:basic")
    combos = make_env("vizdoom:basic", actions="combinations")
    try:
        assert env.unwrapped.action_names == BASIC_BUTTONS
        assert env.action_space == gym.spaces.Discrete(3)
        names = combos.unwrapped.action_names
        assert combos.action_space.n == len(names) == 8
        assert names[0] == "NOOP" and names[-1] == "MOVE_LEFT+MOVE_RIGHT+ATTACK"
        assert len(set(names)) == 8
    finally:
        env.close()
        combos.close()


@pytest.mark.slow
@pytest.mark.parametrize("frame_skip", [1, 4, 12])
def test_frame_skip_advances_tics(frame_skip):
    env = make_env("vizdoom:simpler_basic", frame_skip=frame_skip)
    try:
        env.reset(seed=0)
        start = env.unwrapped.game.get_episode_time()
        for _ in range(5):
            env.step(MOVE_RIGHT)
        assert env.unwrapped.game.get_episode_time() - start == 5 * frame_skip
    finally:
        env.close()


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "env_id, kwargs, match",
    [
        ("vizdoom:nope", {}, "valid: .*basic"),
        ("NoSuchEnv-v0", {}, "valid: .*CartPole-v1.*vizdoom:basic"),
        ("", {}, "non-empty string"),
        ("vizdoom:basic", {"resolution": (4, 4)}, r"resolution.*≥ 8"),
        ("vizdoom:basic", {"resolution": (60, 80, 3)}, r"\(height, width\)"),
        ("vizdoom:basic", {"resolution": (2000, 100)}, "largest"),
        ("vizdoom:basic", {"frame_skip": 0}, r"frame_skip.*1\.\.64"),
        ("vizdoom:basic", {"frame_skip": 2.5}, r"frame_skip.*1\.\.64"),
        ("vizdoom:basic", {"frame_stack": 17}, r"frame_stack.*1\.\.16"),
        ("vizdoom:basic", {"actions": "all"}, "'buttons' or 'combinations'"),
        ("vizdoom:basic", {"render_mode": "ansi"}, "None, 'rgb_array' or 'human'"),
        ("vizdoom:basic", {"episode_timeout": 0}, "episode_timeout"),
        ("vizdoom:basic", {"bogus": 1}, "ViZDoom envs take no argument 'bogus'; valid: resolution"),
        ("vizdoom:basic", {"window": 1}, "window must be True or False, got 1"),
        ("CartPole-v1", {"foo": 1}, "CartPole-v1 does not take the env_kwargs it was given"),
    ],
)
def test_bad_input_raises_value_error(env_id, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_env(env_id, **kwargs)


@pytest.mark.slow
def test_bad_action_names_valid_actions():
    env = make_env("vizdoom:basic")
    try:
        env.reset(seed=0)
        with pytest.raises(ValueError, match=r"0\.\.2 \(MOVE_LEFT, MOVE_RIGHT, ATTACK\)"):
            env.step(3)
    finally:
        env.close()


def test_the_options_a_config_checks_are_the_ones_vizdoom_env_takes():
    import inspect

    from rlkit.env_options import DOOM_OPTIONS

    assert tuple(inspect.signature(ViZDoomEnv).parameters)[1:] == DOOM_OPTIONS


def test_scalar_resolution_is_value_error():
    with pytest.raises(ValueError, match="resolution"):
        make_env("vizdoom:basic", resolution=84)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"render_mode": "rgb_array", "render_resolution": (5,)}, "render_resolution"),
        ({"episode_timeout": "x"}, "episode_timeout"),
        ({"frame_skip": True}, "frame_skip"),
        ({"frame_stack": True}, "frame_stack"),
    ],
)
def test_more_bad_arguments_are_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_env("vizdoom:basic", **kwargs)


@pytest.mark.slow
def test_step_after_the_episode_ended_asks_for_reset():
    env = make_env("vizdoom:simpler_basic", frame_skip=64)
    env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(0)
        done = terminated or truncated
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(0)
    env.reset()
    env.step(0)  # fine again after reset
    env.close()


@pytest.mark.parametrize("size", [(60, 80), (30, 45), (84, 84), (120, 160)])
def test_subsampling_picks_the_pixel_nearest_each_cell_centre(size):
    from rlkit.envs.doom import subsample_indices

    src = (120, 160)
    frame = np.arange(src[0] * src[1], dtype=np.int64).reshape(src)
    out = frame[subsample_indices(src, size)]
    assert out.shape == size
    rows = ((np.arange(size[0]) + 0.5) * src[0] / size[0]).astype(int)
    cols = ((np.arange(size[1]) + 0.5) * src[1] / size[1]).astype(int)
    assert np.array_equal(out, frame[np.ix_(rows, cols)])


def test_scenarios_listed():
    names = available_scenarios()
    assert {"basic", "simpler_basic", "defend_the_center"} <= set(names)
    assert not {"cig", "deathmatch", "multi"} & set(names)


# -- engine processes -------------------------------------------------------------------------
@pytest.mark.slow
def test_close_reaps_engine():
    before = _engine_pids()
    env = make_env("vizdoom:basic")
    mine = _engine_pids() - before
    assert len(mine) == 1, "one env runs one vizdoom engine process"
    env.close()
    assert not _wait_gone(mine)
    env.close()  # closing twice is harmless


@pytest.mark.slow
def test_garbage_collection_reaps_engine():
    before = _engine_pids()
    env = ViZDoomEnv("basic")
    env.reset(seed=0)
    mine = _engine_pids() - before
    assert len(mine) == 1
    del env
    gc.collect()
    assert not _wait_gone(mine)


# -- other families ---------------------------------------------------------------------------
def test_atari_pong_preprocessing():
    env = make_env("ALE/Pong-v5")
    try:
        assert env.observation_space.shape == (4, 84, 84)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
        obs, *_ = env.step(0)
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    finally:
        env.close()


# -- env_spec ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_env_spec_vizdoom_round_trip():
    kwargs = {"resolution": (30, 45), "frame_stack": 2}
    env = make_env("vizdoom:basic", **kwargs)
    try:
        spec = env_spec(env, "vizdoom:basic", kwargs)
    finally:
        env.close()
    assert spec.env_id == "vizdoom:basic"
    assert spec.observation_shape == (2, 30, 45)
    assert spec.observation_dtype == "uint8"
    assert spec.action_names == tuple(BASIC_BUTTONS)
    assert spec.env_kwargs == kwargs
    d = spec.to_dict()
    assert d["observation_shape"] == [2, 30, 45] and d["action_names"] == BASIC_BUTTONS
    assert EnvSpec.from_dict(d) == spec


def test_env_spec_gym_ids():
    cart = env_spec(make_env("CartPole-v1"), "CartPole-v1")
    assert cart.observation_shape == (4,) and cart.observation_dtype == "float32"
    assert cart.action_names == ("PUSH_LEFT", "PUSH_RIGHT") and cart.env_kwargs == {}
    with pytest.raises(ValueError, match="Discrete"):
        env_spec(make_env("Pendulum-v1"), "Pendulum-v1")
