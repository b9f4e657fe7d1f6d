"""Before/after comparisons: the bootstrap interval, the score table, snapshots, the heuristic."""

from __future__ import annotations

import numpy as np
import pytest

from rlkit.evaluation import EvalResult
from rlkit.stats import bootstrap_diff, compare_scores


def test_bootstrap_diff_matches_a_hand_computed_case():
    # Identical players: the difference is 0 and its interval straddles 0 symmetrically.
    diff, low, high = bootstrap_diff([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], n_boot=4000)
    assert diff == 0.0 and low < 0 < high and low == pytest.approx(-high, abs=0.2)
    # Constant scores have no spread: the interval collapses on the difference.
    assert bootstrap_diff([5.0] * 10, [2.0] * 7) == (3.0, 3.0, 3.0)
    # Two fixed points: a's mean resamples to 0, 0.5 or 1 (probabilities 1/4, 1/2, 1/4), so the
    # 95 % interval of mean(a) - 0 runs from 0 to 1.
    assert bootstrap_diff([0.0, 1.0], [0.0]) == (0.5, 0.0, 1.0)


def test_bootstrap_diff_is_reproducible_and_checks_its_input():
    a, b = np.random.default_rng(0).normal(10, 3, 50), np.random.default_rng(1).normal(8, 3, 50)
    assert bootstrap_diff(a, b, seed=3) == bootstrap_diff(a, b, seed=3)
    d, lo, hi = bootstrap_diff(a, b)
    assert lo < d < hi and hi - lo < 3
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_diff([], [1.0])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_diff([1.0], [1.0], confidence=1.5)


def test_compare_scores_rows():
    results = {
        "trained": EvalResult(scores=[80.0, 90.0], lengths=[3, 4], extras={"kills": [1, 1]}),
        "random": EvalResult(scores=[-300.0, -100.0], lengths=[30, 10], extras={"kills": [0, 1]}),
    }
    rows = {r["player"]: r for r in compare_scores(results, "trained")}
    assert rows["trained"]["mean"] == 85.0 and "diff" not in rows["trained"]
    assert rows["random"]["diff"] == 285.0 and rows["random"]["kills"] == 0.5
    assert rows["random"]["diff_low"] <= 285.0 <= rows["random"]["diff_high"]
    with pytest.raises(ValueError, match="reference"):
        compare_scores(results, "nobody")


def test_aim_and_shoot_fires_when_centred_and_moves_towards_the_dark_column():
    from rlkit.baselines import aim_and_shoot

    act = aim_and_shoot(["MOVE_LEFT", "MOVE_RIGHT", "ATTACK"])
    frame = np.full((1, 30, 45), 200, dtype=np.uint8)
    for column, expected in [(22, 2), (5, 0), (40, 1)]:
        f = frame.copy()
        f[0, 11:17, column - 1 : column + 2] = 20  # a dark monster on the wall
        assert act(f) == expected, column
    with pytest.raises(ValueError, match="needs one of"):
        aim_and_shoot(["NOOP", "FIRE"])


@pytest.mark.slow
def test_snapshots_save_the_untrained_and_later_policies(tmp_path):
    from rlkit.callbacks import Snapshots
    from rlkit.checkpoints import load_model
    from rlkit.entry import train
    from rlkit.presets import preset

    snaps = Snapshots(tmp_path, fractions=(0.0, 0.5, 1.0))
    cfg = preset(
        "cartpole",
        total_steps=400,
        learning_starts=64,
        batch_size=32,
        log_interval=100,
        eval_interval=0,
    )
    result = train(cfg, device="cpu", callbacks=[snaps])
    assert snaps.steps == {0.0: 0, 0.5: 200, 1.0: 400}
    first, _ = load_model(snaps.paths[0.0])
    last, ckpt = load_model(snaps.paths[1.0])
    assert ckpt.env_spec.env_id == "CartPole-v1"
    import torch

    x = torch.rand(3, 4)
    assert torch.equal(last(x), result.model(x)) and not torch.equal(first(x), last(x))
