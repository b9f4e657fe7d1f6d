"""The time-to-score model: the ideal line with nothing to pay, and each cost breaking the
scaling where, and as, it should."""

from __future__ import annotations

import dataclasses
import math

import pytest

from rlkit.bench.projection import (
    ASSUMPTIONS,
    BOTTLENECKS,
    SOURCE_RESULT,
    Measured,
    project,
    straggler_factor,
    where_it_breaks,
)

COUNTS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024]

# Nothing to pay but stepping envs: 8 workers at 500 steps/s, 1e6 steps to the score.
FREE = Measured(
    steps_to_score=1_000_000,
    steps_per_s_per_worker=500.0,
    workers_per_machine=8,
    fragment_steps=50,
    bytes_per_step=0.0,
    transfer_s_per_mb=0.0,
    weights_mb=0.0,
    learner_s_per_step=0.0,
    allreduce_s_per_mb=0.0,
    straggler_cv=0.0,
)


def with_(**changes) -> Measured:
    return dataclasses.replace(FREE, **changes)


def by_count(rows):
    return {r["machines"]: r for r in rows}


def test_with_nothing_to_pay_the_time_is_the_ideal_line():
    rows = project(FREE, COUNTS)
    one = FREE.steps_to_score / (FREE.workers_per_machine * FREE.steps_per_s_per_worker)
    for row in rows:
        assert row["total_s"] == pytest.approx(one / row["machines"], rel=1e-12)
        assert row["total_s"] == pytest.approx(row["ideal_seconds"], rel=1e-12)
        assert row["speedup"] == pytest.approx(row["machines"], rel=1e-12)
        assert row["bottleneck"] == "collect"
    assert where_it_breaks(rows) is None


@pytest.mark.parametrize("learner", ["central", "allreduce"])
def test_one_machine_has_speedup_one(learner):
    measured = with_(
        bytes_per_step=1350.0,
        transfer_s_per_mb=0.01,
        weights_mb=2.0,
        learner_s_per_step=1e-4,
        allreduce_s_per_mb=0.02,
        straggler_cv=0.2,
        backup_workers=1,
    )
    (row,) = project(measured, [1], learner=learner)
    assert row["speedup"] == 1.0 and row["efficiency"] == 1.0
    assert row["total_s"] == row["ideal_seconds"]
    assert row["allreduce_s"] == 0.0  # nothing to all-reduce with


def test_a_central_learner_caps_the_speedup_and_becomes_the_bottleneck():
    measured = with_(learner_s_per_step=2e-5)  # learning: 1/25 of the per-step work at M=1
    rows = by_count(project(measured, COUNTS))
    one = rows[1]
    # Every env step passes through the one learner, so no machine count beats this bound.
    bound = one["total_s"] / (measured.steps_to_score * measured.learner_s_per_step)
    assert bound == pytest.approx(
        (one["collect_s"] + one["learner_s"]) / one["learner_s"], rel=1e-12
    )
    speedups = [rows[m]["speedup"] for m in COUNTS]
    assert speedups == sorted(speedups) and all(s < bound for s in speedups)
    assert speedups[-1] > 0.9 * bound  # and it gets close to it
    assert rows[1]["bottleneck"] == "collect" and rows[1024]["bottleneck"] == "learner"
    assert rows[1024]["efficiency"] < 0.1
    broke = where_it_breaks(list(rows.values()))
    assert broke is not None and broke["bottleneck"] == "learner"


def test_learning_on_every_machine_with_an_all_reduce_scales_past_the_central_cap():
    measured = with_(learner_s_per_step=2e-5, weights_mb=1.0, allreduce_s_per_mb=0.01)
    central = by_count(project(measured, COUNTS, learner="central"))
    spread = by_count(project(measured, COUNTS, learner="allreduce"))
    assert spread[1024]["speedup"] > 10 * central[1024]["speedup"]
    assert spread[1]["learner_s"] == spread[1024]["learner_s"]  # each machine learns its share
    # A ring's all-reduce cost per machine rises towards twice its two-machine cost.
    assert spread[2]["allreduce_s"] == pytest.approx(0.01)
    assert spread[1024]["allreduce_s"] == pytest.approx(0.02 * 1023 / 1024)


def test_a_central_learners_link_is_shared_so_transfer_grows_with_machines():
    measured = with_(bytes_per_step=4 * 30 * 45, transfer_s_per_mb=0.05, weights_mb=1.0)
    rows = project(measured, COUNTS)
    transfer = [r["transfer_s"] for r in rows]
    assert transfer == sorted(transfer) and transfer[-1] > 100 * transfer[0]
    assert all(r["speedup"] < r["machines"] for r in rows[1:])
    assert rows[-1]["bottleneck"] == "network"
    slow = project(with_(bytes_per_step=4 * 30 * 45, transfer_s_per_mb=10.0), [1])
    assert slow[0]["bottleneck"] == "network"  # a slow enough link dominates even alone


def test_stragglers_cost_time_and_backup_workers_win_some_back():
    counts = [2, 8, 64]
    steady = by_count(project(FREE, counts))
    jittery = by_count(project(with_(straggler_cv=0.3), counts))
    backed = by_count(project(with_(straggler_cv=0.3, backup_workers=4), counts))
    for m in counts:
        assert jittery[m]["total_s"] > steady[m]["total_s"]
        assert backed[m]["total_s"] < jittery[m]["total_s"]
        assert jittery[m]["straggler_s"] > 0
    assert jittery[64]["bottleneck"] == "stragglers"
    # The wait for the slowest grows with the number of workers.
    assert jittery[64]["straggler_s"] > jittery[8]["straggler_s"] > jittery[2]["straggler_s"]


def test_the_expected_wait_matches_known_order_statistics():
    assert straggler_factor(1, 0, 0.5) == pytest.approx(1.0, abs=1e-9)  # one worker: the mean
    assert straggler_factor(64, 0, 0.0) == 1.0
    # For a small CV the lognormal is nearly normal, whose expected maximum of 2 and of 3 is
    # 1/sqrt(pi) and 3/(2 sqrt(pi)) standard deviations above the mean.
    cv, root_pi = 1e-4, math.sqrt(math.pi)
    assert (straggler_factor(2, 0, cv) - 1) / cv == pytest.approx(1 / root_pi, rel=1e-3)
    assert (straggler_factor(3, 0, cv) - 1) / cv == pytest.approx(1.5 / root_pi, rel=1e-3)
    assert straggler_factor(8, 2, 0.3) < straggler_factor(8, 0, 0.3)
    with pytest.raises(ValueError, match="workers >= 1"):
        straggler_factor(0, 0, 0.1)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"steps_to_score": 0}, "steps_to_score must be a finite number above 0"),
        ({"steps_per_s_per_worker": -5.0}, "steps_per_s_per_worker must be a finite number"),
        ({"workers_per_machine": 0}, "workers_per_machine must be an integer of at least 1"),
        ({"workers_per_machine": 2.5}, "workers_per_machine must be an integer"),
        ({"fragment_steps": True}, "fragment_steps must be an integer"),
        ({"bytes_per_step": -1.0}, "bytes_per_step must be a finite number of at least 0"),
        ({"transfer_s_per_mb": float("nan")}, "transfer_s_per_mb must be a finite number"),
        ({"weights_mb": "2"}, "weights_mb must be a finite number"),
        ({"learner_s_per_step": float("inf")}, "learner_s_per_step must be a finite number"),
        ({"allreduce_s_per_mb": -0.1}, "allreduce_s_per_mb must be a finite number"),
        ({"straggler_cv": -0.2}, "straggler_cv must be a finite number of at least 0"),
        ({"backup_workers": -1}, "backup_workers must be an integer of at least 0"),
    ],
)
def test_bad_measurements_raise_one_clear_value_error(changes, match):
    with pytest.raises(ValueError, match=match):
        with_(**changes)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (({"steps_to_score": 1}, [1]), "measured must be a Measured"),
        ((FREE, []), "machines must be a non-empty sequence of integers of at least 1"),
        ((FREE, [1, 0]), "machines must be a non-empty sequence"),
        ((FREE, [1.5]), "machines must be"),
        ((FREE, 4), "machines must be"),
    ],
)
def test_bad_projection_arguments_raise_value_error(args, match):
    with pytest.raises(ValueError, match=match):
        project(*args)


def test_an_unknown_learner_is_refused():
    with pytest.raises(ValueError, match="learner must be one of central, allreduce"):
        project(FREE, [1], learner="ps")
    with pytest.raises(ValueError, match="efficiency must be a number in"):
        where_it_breaks([], efficiency=0)


def test_rows_carry_every_part_and_the_source_and_assumptions_are_stated():
    (row,) = project(with_(learner_s_per_step=1e-5, straggler_cv=0.1), [8])
    parts = ("collect_s", "transfer_s", "learner_s", "allreduce_s")
    assert row["round_s"] == pytest.approx(sum(row[p] for p in parts))
    assert row["total_s"] == pytest.approx(row["rounds"] * row["round_s"])
    assert row["bottleneck"] in BOTTLENECKS
    assert SOURCE_RESULT["machines"] == [1, 64] and len(SOURCE_RESULT["minutes"]) == 2
    assert "arXiv:1801.02852" in SOURCE_RESULT["citation"]
    assert len(ASSUMPTIONS) >= 5 and all(isinstance(a, str) and a for a in ASSUMPTIONS)
