"""Recording "you": a scripted player posing as the keyboard, replays, the play log's rules, and
the paired comparison with an agent."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlkit.baselines import aim_and_shoot
from rlkit.envs import make_env
from rlkit.evaluation import EvalResult, evaluate
from rlkit.human import (
    PlayedEpisode,
    PlayLog,
    RecordingError,
    as_result,
    load_played,
    play_episode,
    replay,
    versus,
)
from rlkit.run_folder import RunFolderBusy
from rlkit.stats import bootstrap_diff, certified_score

ENV = "vizdoom:simpler_basic"
KW = {"resolution": (30, 45), "frame_skip": 12}


@pytest.fixture(scope="module")
def scripted():
    env = make_env(ENV, **KW)
    try:
        names = env.action_names
    finally:
        env.close()
    return aim_and_shoot(names)


def test_a_recorded_episode_replays_to_its_score_tic_by_tic(scripted, tmp_path):
    ep = play_episode(scripted, ENV, seed=3, env_kwargs=KW, player="scripted")
    assert ep.complete and ep.actions and ep.tics == [12 * i for i in range(len(ep.actions))]
    again = replay(ep)
    assert again.actions == ep.actions and again.score == ep.score and again.complete
    # The same episode as evaluate() plays it for an agent on that seed: one game, one score.
    res = evaluate(scripted, ENV, episodes=1, seed=3, env_kwargs=KW)
    assert res.scores == [ep.score]
    # Through the file: JSON, no pickle, and the round trip keeps everything.
    with PlayLog.open(tmp_path / "me") as log:
        path = log.add(ep)
    d = json.loads(path.read_text())
    assert d["format"] == "rlkit-played-episode" and d["steps"][1]["tic"] == 12
    assert load_played(path)[0] == ep


def test_a_replay_on_another_game_is_refused(scripted):
    ep = play_episode(scripted, ENV, seed=1, env_kwargs=KW)
    longer = PlayedEpisode(
        ep.env_id,
        ep.env_kwargs,
        ep.seed,
        ep.player,
        [*ep.actions, 0] * 3,
        [*ep.rewards, 0.0] * 3,
        True,
    )
    with pytest.raises(RecordingError, match=r"ended after .* recorded steps when replayed"):
        replay(longer)


def test_the_play_log_adds_never_overwrites_and_has_one_writer(scripted, tmp_path):
    folder = tmp_path / "me"
    with PlayLog.open(folder) as log:
        log.play(scripted, ENV, 0, env_kwargs=KW, player="scripted")
        with pytest.raises(RunFolderBusy, match="is being written by process"):
            PlayLog.open(folder)
    with PlayLog.open(folder) as log:  # a repeat into the same folder: episode 2, not 1 again
        log.play(scripted, ENV, 1, env_kwargs=KW, player="scripted")
    names = sorted(p.name for p in folder.glob("played-*.json"))
    assert names == ["played-0001.json", "played-0002.json"]
    summary = (folder / "played.csv").read_text().splitlines()
    assert summary[0].startswith("file,player,env_id,seed") and len(summary) == 3
    assert [e.seed for e in load_played(folder)] == [0, 1]


def test_a_player_stopped_half_way_is_recorded_as_such(scripted, tmp_path):
    calls = []

    def impatient(obs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return scripted(obs)

    with PlayLog.open(tmp_path / "me") as log, pytest.raises(KeyboardInterrupt):
        log.play(impatient, ENV, 0, env_kwargs=KW)
    eps = load_played(tmp_path / "me", complete_only=False)
    assert len(eps) == 1 and not eps[0].complete and len(eps[0].actions) == 1
    assert load_played(tmp_path / "me") == []  # never scored as a finished episode
    with pytest.raises(RecordingError, match="no complete episode"):
        as_result(eps)


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda d: d.update(format="x"), "'format' is not"),
        (lambda d: d.update(version=7), "version 7"),
        (lambda d: d.pop("seed"), "'seed' is missing"),
        (lambda d: d["steps"][0].update(action="left"), "'left' is not an integer"),
        (lambda d: d["steps"][0].update(tic=5), "tics do not follow"),
        (lambda d: d.update(score=1e9), "is not the sum of its rewards"),
    ],
)
def test_a_corrupted_recording_is_one_sentence(scripted, tmp_path, change, why):
    ep = play_episode(scripted, ENV, seed=0, env_kwargs=KW)
    d = ep.to_dict()
    change(d)
    path = tmp_path / "played-0001.json"
    path.write_text(json.dumps(d))
    with pytest.raises(RecordingError, match=why) as info:
        load_played(tmp_path)
    assert "\n" not in str(info.value)


def test_a_truncated_file_is_one_sentence(tmp_path):
    (tmp_path / "played-0001.json").write_text('{"format": "rlkit-pl')
    with pytest.raises(RecordingError, match=r"cannot read the recorded episode .*not valid JSON"):
        load_played(tmp_path)
    with pytest.raises(RecordingError, match="nothing-here: No such file or directory"):
        load_played(tmp_path / "nothing-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError, match="empty holds no recorded episodes"):
        load_played(tmp_path / "empty")


def test_the_paired_bootstrap_drops_the_shared_luck_of_a_seed():
    rng = np.random.default_rng(0)
    luck = rng.normal(0, 30, 40)  # some seeds are easy for both players
    a, b = 60 + luck, 55 + luck
    diff, low, high = bootstrap_diff(a, b, paired=True)
    assert diff == pytest.approx(5) and low == pytest.approx(5) and high == pytest.approx(5)
    with pytest.raises(ValueError, match="the same number when paired"):
        bootstrap_diff([1, 2], [1], paired=True)
    assert bootstrap_diff(a, b)[2] - bootstrap_diff(a, b)[1] > 10  # unpaired: the luck stays


def test_versus_pairs_seeds_and_says_when_too_few(scripted):
    agent = EvalResult(scores=[80.0, 70.0, 60.0, 75.0, 65.0, 90.0], lengths=[3] * 6)
    mine = [
        PlayedEpisode(ENV, KW, seed, "you", [0], [score], True)
        for seed, score in [(12, 50.0), (11, 40.0), (10, 60.0)]  # seeds 10.. = agent's 0..
    ]
    row = versus(agent, mine, seed=10)
    assert row["seeds"] == [10, 11, 12] and row["lead"] == pytest.approx((80 + 70 + 60 - 150) / 3)
    assert "too few to conclude" in row["verdict"]
    assert row["you_certified"] == pytest.approx(certified_score([50, 40, 60]))
    more = [
        PlayedEpisode(ENV, KW, 10 + i, "you", [0], [s - 30.0], True)
        for i, s in enumerate(agent.scores)
    ]
    assert versus(agent, more, seed=10)["verdict"].startswith("the agent beats you by 30.0")
    with pytest.raises(RecordingError, match="none of your complete episodes"):
        versus(agent, mine, seed=0)
