"""``bench scaling`` (rlkit.bench.scaling): bad input refused before Ray starts, and a tiny run
whose record holds every field that notebook 08 and the checks read.

Apart from tests/test_rollout_workers.py so that the two share the suite's workers: each starts
Ray clusters of its own, and one file held both for over five minutes.
"""

from __future__ import annotations

import pytest
from ray_cluster import ray_missing

needs_ray = pytest.mark.skipif(ray_missing, reason="ray is not installed")


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--preset", "cartpole"], "bench scaling runs a PPO policy; 'cartpole' is 'dqn'"),
        (["--set", "lr=-1"], "config field 'lr'"),
        (["--preset", "nope"], "nope"),
    ],
)
def test_bench_scaling_refuses_bad_input_before_starting_ray(argv, match, capsys):
    from rlkit import cli

    assert cli.main(["bench", "scaling", "--quiet", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlkit: error:") and match in err[0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"workers": [0, 2]}, "workers must be counts of at least 1"),
        ({"fragment_steps": 0}, "fragment_steps must be at least 1"),
        ({"seconds": 0}, "seconds"),
    ],
)
def test_bench_scaling_api_refuses_bad_input(kwargs, match):
    from rlkit.bench.scaling import bench_scaling

    with pytest.raises(ValueError, match=match):
        bench_scaling("cartpole_ppo", **kwargs)


@needs_ray
@pytest.mark.slow
def test_bench_scaling_records_every_field_the_checks_read():
    import json

    from rlkit.bench.scaling import bench_scaling, format_scaling_table

    r = bench_scaling(
        "cartpole_ppo",
        seconds=0.6,
        repeats=1,
        fragment_steps=16,
        transfer_seconds=0.05,
        allreduce_mb=(),  # timed in test_allreduce; here it would only add a gloo start-up
    )
    json.dumps(r)  # a plain record
    assert r["benchmark"] == "scaling" and r["machine"]
    for field in ("vector_steps_per_s", "ray_steps_per_s"):
        assert set(r[field]) == {"1", "2"} and all(v > 0 for v in r[field].values())
    assert r["ray_startup_s"] > r["ray_connect_s"] > 0
    assert set(r["targets"]) == {"ray_2_over_1", "ray_over_vector_at_2"}
    assert r["ratios"]["ray_2_over_1"] == pytest.approx(
        r["ray_steps_per_s"]["2"] / r["ray_steps_per_s"]["1"]
    )
    split = r["time_split"]["ray_2"]
    assert split["env"] + split["act"] + split["transfer"] == pytest.approx(1.0, abs=0.05)
    # The workers' busy time over the rounds' time: never more workers than there are (how
    # many more than one are busy at once with two is notebook 08's claim, at its scale).
    one, two = (r["time_split"][f"ray_{n}"]["busy_workers"] for n in (1, 2))
    assert 0 < one <= 1.0 + 1e-6 and 0 < two <= 2.0 + 1e-6
    b = r["backup"]
    assert b["slow_worker_s"] == pytest.approx(2.0 * b["normal_round_s"])
    # How many late fragments a round drops depends on which worker answers first: counted,
    # not fixed (test_backup_workers_leave_a_slow_worker_behind checks that backups drop them).
    assert b["time_split"]["slow_one_backup"]["dropped_fragments"] >= 0
    for size in ("fragment", "large"):
        assert set(r["transfer"][size]["methods"]) == {"text", "pickle", "raw", "zlib", "ray"}
    assert "allreduce" not in r
    assert "Ray workers" in format_scaling_table(r)
    import ray

    assert not ray.is_initialized()  # the benchmark's cluster is stopped
