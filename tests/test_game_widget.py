"""The playable game widget, driven as the browser drives it (keys held, start and stop), and
by a scripted player posing as the keyboard in batch runs. The browser itself: test_jupyterlab."""

from __future__ import annotations

import time

import pytest

from rlkit.baselines import aim_and_shoot
from rlkit.human import load_played, replay
from rlkit.ui.game import GameError, GameWidget, key_map

pytestmark = pytest.mark.slow

ENV = "vizdoom:simpler_basic"
KW = {"resolution": (30, 45), "frame_skip": 12}
WAIT_S = 120  # generous: only a bound on a wait for an event, never a measurement


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT_S} s"
        time.sleep(0.05)


def test_a_scripted_player_plays_through_the_widget_and_its_episode_replays(tmp_path):
    w = GameWidget(ENV, tmp_path / "me", seed=5, env_kwargs=KW, player="scripted")
    tics = []
    w.observe(lambda change: tics.append(change["new"]), names="tic")
    try:
        ep = w.play(aim_and_shoot(w.env.unwrapped.action_names), realtime=False)
    finally:
        w.close()
    assert ep.complete and ep.seed == 5
    # Every second tic reached the screen while each action repeated for the frame skip.
    assert set(range(2, 12 * (len(ep.actions) - 1), 2)) <= set(tics)
    (recorded,) = load_played(tmp_path / "me")
    assert recorded == ep and replay(recorded).score == ep.score
    again = GameWidget(ENV, tmp_path / "me", seed=5, env_kwargs=KW)  # a re-run cell
    try:
        assert again.next_seed() == 6  # seed 5 is played: the log goes on, never repeats it
    finally:
        again.close()
    assert w.frame[:2] == b"\xff\xd8"  # a JPEG the browser can show


def test_held_keys_reach_the_env_and_stop_records_a_half_played_episode(tmp_path):
    w = GameWidget(ENV, tmp_path / "me", env_kwargs=KW)
    right = w.env.unwrapped.action_names.index("MOVE_RIGHT")
    try:
        w.held = ["ArrowLeft", "ArrowRight"]  # the latest key pressed wins
        w.start()
        _until(lambda: w.tic >= 24, "two steps of MOVE_RIGHT")
        w.held = []  # no key held: the game waits
        w.stop()
    finally:
        w.close()
    (ep,) = load_played(tmp_path / "me", complete_only=False)
    assert not ep.complete and len(ep.actions) >= 2 and set(ep.actions) == {right}
    assert "stopped half way" in w.status_line


def test_a_rerun_cell_closes_the_previous_game(tmp_path):
    first = GameWidget(ENV, tmp_path / "a", env_kwargs=KW)
    game = first.env.unwrapped.game
    assert game.is_running()
    second = GameWidget(ENV, tmp_path / "a", env_kwargs=KW)  # same folder: its lock was freed
    try:
        assert not game.is_running()
    finally:
        second.close()


def test_what_the_widget_cannot_play_is_one_sentence(tmp_path):
    with pytest.raises(GameError, match="plays ViZDoom scenarios, not 'CartPole-v1'"):
        GameWidget("CartPole-v1", tmp_path / "x")
    with pytest.raises(GameError, match="no key plays the action 'ATTACK'"):
        GameWidget(ENV, tmp_path / "x", env_kwargs=KW, keys={"MOVE_LEFT": "a", "MOVE_RIGHT": "d"})
    with pytest.raises(GameError, match="is given to two actions"):
        key_map(["MOVE_LEFT", "TURN_LEFT"])
    with pytest.raises(GameError, match="show_every = 3"):
        GameWidget(ENV, tmp_path / "x", env_kwargs=KW, show_every=3)
