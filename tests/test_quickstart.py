"""``python -m rlkit quickstart`` at CI scale: a run from scratch into its own folder that ends,
target reached or not, with the score table and the labelled random | trained clip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlkit.cli import main
from rlkit.paths import CHECKPOINTS_DIR

MAX_STEPS = 600  # one greedy evaluation (at 500 steps), a few learner updates
EPISODES = 2


@pytest.fixture(scope="module")
def panel_shape():
    """(height, width) of one player's frame in the clip: the env's own colour frame."""
    from rlkit.envs import make_env
    from rlkit.quickstart import quickstart_config

    cfg = quickstart_config()
    env = make_env(cfg.env_id, **cfg.env_kwargs, render_mode="rgb_array")
    try:
        env.reset(seed=0)
        return env.render().shape[:2]
    finally:
        env.close()


@pytest.fixture
def loads(monkeypatch):
    """Every checkpoint path anything loads during the test."""
    import rlkit.checkpoints

    seen: list[str] = []
    for name in ("load_checkpoint", "load_model"):
        real = getattr(rlkit.checkpoints, name)

        def record(path, *args, _real=real, **kwargs):
            seen.append(str(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(rlkit.checkpoints, name, record)
    return seen


def _gif_frames(path) -> list[np.ndarray]:
    from PIL import Image

    with Image.open(path) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
    return frames


@pytest.mark.slow  # two short trainings of Doom from scratch, ~10 s each on 2 cores
@pytest.mark.parametrize(
    ("target", "reached"),
    [(1000.0, False), (-1000.0, True)],  # out of reach; met by the first evaluation
    ids=["target-not-reached", "target-reached"],
)
def test_quickstart_trains_from_scratch_and_ends_with_table_and_clip(
    target, reached, tmp_path, capsys, loads, panel_shape
):
    out = tmp_path / "qs"
    argv = ["quickstart", "--out", str(out), "--max-steps", str(MAX_STEPS)]
    argv += ["--episodes", str(EPISODES), "--target", str(target)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()

    # The table: a header, then one row per player with mean ± std and the episode count.
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["player"])
    rows = {line.split("  ")[0].strip(): line for line in lines[header + 1 : header + 3]}
    assert set(rows) == {"random", "trained DQN"}, lines[header : header + 3]
    for line in rows.values():
        assert " ± " in line and line.split()[-1] == str(EPISODES), line
    assert ("NOT reached" in text) is not reached
    assert "make lab" in text and "notebooks/03_" in text

    record = json.loads((out / "quickstart.json").read_text())
    assert record["reached"] is reached and record["episodes"] == EPISODES
    for name in ("random", "trained DQN"):
        stats = record["players"][name]
        assert stats["episodes"] == len(stats["scores"]) == EPISODES
        assert stats["mean"] == pytest.approx(np.mean(stats["scores"]))
    if reached:
        assert record["steps_to_target"] == record["env_steps"] == 500  # stopped right there
    else:
        assert record["steps_to_target"] is None and record["env_steps"] == MAX_STEPS

    # Trained here, from scratch: the run's checkpoint is in the out folder and holds no more
    # steps than were allowed (the shipped model has 10,000), and nothing was loaded at all.
    assert record["checkpoint"] == str(out / "checkpoint.pt") and (out / "checkpoint.pt").is_file()
    meta = json.loads((out / "checkpoint.pt.json").read_text())["metadata"]
    assert meta["progress"]["env_steps"] == record["env_steps"] <= MAX_STEPS
    assert meta["config"]["total_steps"] == MAX_STEPS
    assert not any(str(CHECKPOINTS_DIR) in p for p in loads), loads
    assert loads == []

    # The clip: two panels side by side, each with its label box in its top-left corner.
    assert record["gif"] == str(out / "before_after.gif")
    frames = _gif_frames(out / "before_after.gif")
    assert len(frames) >= 2
    h, w = panel_shape
    gap = 4  # media.tile's
    assert frames[0].shape[:2] == (h, 2 * w + gap)
    for frame in (frames[0], frames[-1]):
        for x in (0, w + gap):  # the dark box behind each label, near-black but not the gap's
            pixel = frame[3, x].astype(int)
            assert np.all(np.abs(pixel - 16) <= 8), (x, pixel)
        assert not frame[:, w : w + gap].any()  # the black gap between the panels


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--episodes", "0"], "argument --episodes"),
        (["--target", "inf"], "argument --target"),
        (["--max-steps", "-5"], "argument --max-steps"),
        (["--seed", "-1"], "argument --seed"),
        (["--out", ""], "argument --out"),
        (["--out", "/dev/null/x"], "cannot create quickstart folder /dev/null/x"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    try:
        rc = main(["quickstart", *argv])
    except SystemExit as e:  # argparse's own usage errors
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1, err


def test_default_folder_and_options_reach_the_work(tmp_path, monkeypatch):
    """Without --out the run goes to <runs>/quickstart; the help's defaults are the module's."""
    import rlkit.quickstart as qs

    calls = []
    monkeypatch.setenv("RLKIT_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(qs, "quickstart", lambda out, **kw: calls.append((out, kw)))
    assert main(["quickstart"]) == 0
    out, kw = calls[0]
    assert out == tmp_path / "runs" / "quickstart" and out.is_dir()
    assert kw == {
        "episodes": qs.DEFAULT_EPISODES,
        "target": qs.DEFAULT_TARGET,
        "max_steps": qs.DEFAULT_MAX_STEPS,
        "seed": 0,
    }
    assert qs.DEFAULT_EPISODES >= 20


def test_the_api_refuses_what_the_command_line_would():
    from rlkit.quickstart import quickstart

    with pytest.raises(ValueError, match="episodes"):
        quickstart("unused", episodes=0)
    with pytest.raises(ValueError, match="target"):
        quickstart("unused", target=float("nan"))


def test_the_table_is_aligned():
    from rlkit.quickstart import format_scores

    rows = {
        "random": {"mean": -193.25, "std": 171.8, "episodes": 20},
        "trained DQN": {"mean": 75.8, "std": 15.0, "episodes": 20},
    }
    lines = format_scores(rows).splitlines()
    assert [line.split("  ")[0].strip() for line in lines] == ["player", "random", "trained DQN"]
    assert len({len(line) for line in lines}) == 1  # every column ends where its header does
    assert "-193.2 ± 171.8" in lines[1] and "75.8 ±  15.0" in lines[2]
