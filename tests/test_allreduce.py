"""rlkit.distributed: the flattened all-reduce hook, the launcher and its teardown, the checks.

Every launch runs real processes joined in a gloo group on loopback. The worker functions the
launcher runs are in :mod:`dist_workers` (processes import them by name).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import socket
import time

import dist_workers
import pytest
import torch

from rlkit.bench.allreduce_cost import allreduce_seconds_per_mb, flat_versus_per_parameter
from rlkit.bench.data_parallel import REFERENCE_ATOL, data_parallel_check
from rlkit.distributed import (
    FlatAllReduce,
    LaunchTimeoutError,
    RankFailedError,
    flatten,
    launch,
    unflatten,
)

# A rank failure ends the launch through its teardown, long before the 120 s collective
# timeout that is the only other way it could end: this bound tells the two apart on a loaded
# machine (start-up included), it is not a speed target.
PROMPT_S = 90.0


def _alive(pid: int) -> bool:
    try:
        import psutil
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def pid_dir(tmp_path):
    """Where ranks write their pids; afterwards, whatever the test's outcome, none may live."""
    yield tmp_path
    pids = [int(p.read_text()) for p in tmp_path.glob("rank*.pid")]
    left = [pid for pid in pids if _alive(pid)]
    for pid in left:  # clean up for the next tests before failing this one
        os.kill(pid, signal.SIGKILL)
    assert not left, f"rank processes left behind: {left}"


def _assert_gone(pid_dir, n: int) -> None:
    pids = [int(p.read_text()) for p in sorted(pid_dir.glob("rank*.pid"))]
    assert len(pids) == n, f"expected {n} ranks to have started, found {pids}"
    assert not [pid for pid in pids if _alive(pid)]
    assert not [p for p in mp.active_children() if p.name.startswith("rlkit-rank")]


# -- flatten / unflatten, and the hook in this process ------------------------------------------
def test_flatten_unflatten_round_trip():
    tensors = [torch.randn(2, 3), torch.randn(5), torch.randn(1, 1, 4), torch.randn(())]
    flat = flatten(tensors)
    assert flat.shape == (2 * 3 + 5 + 4 + 1,)
    views = unflatten(flat, tensors)
    for t, v in zip(tensors, views, strict=True):
        assert v.shape == t.shape
        assert torch.equal(v, t)
    views[1].fill_(7.0)  # views, not copies: writing one writes the flat buffer
    assert torch.equal(flat[6:11], torch.full((5,), 7.0))
    bigger = torch.zeros(20)
    assert flatten(tensors, out=bigger) is bigger
    assert torch.equal(bigger[16:], torch.zeros(4))


def test_flatten_and_unflatten_reject_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        flatten([])
    with pytest.raises(ValueError, match="at least 6"):
        flatten([torch.ones(6)], out=torch.zeros(5))
    with pytest.raises(ValueError, match="1-D"):
        unflatten(torch.zeros(2, 3), [torch.ones(6)])
    with pytest.raises(ValueError, match="need 7"):
        unflatten(torch.zeros(6), [torch.ones(7)])


def test_hook_outside_a_process_group_says_so():
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match="process group"):
        FlatAllReduce()([p])


@pytest.fixture
def group_of_one():
    """A gloo group of this process alone (an in-memory store: no port, no other process)."""
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_hook_makes_one_call_per_step_and_reuses_its_buffer(group_of_one):
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    params = list(net.parameters())
    hook = FlatAllReduce()
    for step in range(3):
        net.zero_grad(set_to_none=True)
        net(torch.randn(8, 3)).sum().backward()
        before = [p.grad.clone() for p in params]
        hook(params)
        assert hook.calls == step + 1
        # A group of one: the mean is the gradient itself, bit for bit.
        assert all(torch.equal(p.grad, b) for p, b in zip(params, before, strict=True))
        (buf,) = hook.buffers
        if step == 0:
            first = buf.data_ptr()
        assert buf.data_ptr() == first


# -- the launcher --------------------------------------------------------------------------------
@pytest.mark.slow
def test_launch_returns_each_ranks_result_in_rank_order(pid_dir):
    out = launch(dist_workers.echo, 3, args=(str(pid_dir),), timeout=30)
    assert [r["rank"] for r in out] == [0, 1, 2]
    assert [r["group_rank"] for r in out] == [0, 1, 2]
    assert {r["group_size"] for r in out} == {3}
    assert {r["backend"] for r in out} == {"gloo"}
    assert {r["master_addr"] for r in out} == {"127.0.0.1"}
    pids = {r["pid"] for r in out}
    assert len(pids) == 3 and os.getpid() not in pids
    _assert_gone(pid_dir, 3)


@pytest.mark.slow
def test_launch_with_spawn_where_there_is_no_forkserver(pid_dir):
    # Each spawned rank imports torch itself: seconds, hence slow.
    out = launch(dist_workers.echo, 2, args=(str(pid_dir),), timeout=120, start_method="spawn")
    assert [r["rank"] for r in out] == [0, 1]
    _assert_gone(pid_dir, 2)


@pytest.mark.slow
def test_hook_averages_across_ranks_and_handles_missing_grads():
    out = launch(dist_workers.average_grads, 2, timeout=30)
    assert out[0] == out[1]  # every rank holds the same averaged gradients
    steps = out[0]["steps"]
    for step, got in enumerate(steps):
        mean = ((1 + step) + (2 + step)) / 2
        assert got["both"] == [[mean] * 3] * 2
        # rank 0 had none: it counts as zero, and rank 0 now holds the average too
        assert got["only_rank1"] == [0.0, 0.5, 1.0, 1.5]
        assert got["nobody"] is None  # no rank had one: stays None, the optimizer skips it
        assert got["frozen"] is None
    assert out[0]["calls"] == 2  # one all-reduce per step


@pytest.mark.parametrize(
    ("how", "says", "exitcode"),
    [
        ("raise", r"rank 1 of 2 failed: raised ValueError: rank 1 was told to fail", 1),
        ("exit", r"rank 1 of 2 failed: exit code 3", 3),
        ("kill", r"rank 1 of 2 failed: killed by SIGKILL", -signal.SIGKILL),
    ],
)
@pytest.mark.slow
def test_a_failing_rank_is_named_and_nothing_is_left(pid_dir, how, says, exitcode):
    start = time.monotonic()
    with pytest.raises(RankFailedError, match=says) as info:
        # The collective timeout is long: only the launcher's teardown can end it this soon.
        launch(dist_workers.fail, 2, args=(1, how, str(pid_dir)), timeout=120)
    assert time.monotonic() - start < PROMPT_S
    assert info.value.rank == 1
    assert info.value.exitcode == exitcode
    if how == "raise":
        assert "was told to fail" in info.value.remote_traceback
    _assert_gone(pid_dir, 2)


@pytest.mark.slow
def test_a_run_past_its_timeout_is_stopped(pid_dir):
    # 20 s: time for both ranks to start (torch's import in each, slow on a loaded machine)
    # and hang; the stop itself is checked by its error and by the ranks being gone.
    with pytest.raises(LaunchTimeoutError, match=r"ranks \[0, 1\] of 2 had not finished"):
        launch(dist_workers.hang, 2, args=(str(pid_dir),), timeout=20)
    _assert_gone(pid_dir, 2)


def _nested():
    return None


def test_launch_rejects_bad_arguments():
    with pytest.raises(ValueError, match="world_size must be an integer of at least 1"):
        launch(dist_workers.echo, 0)
    with pytest.raises(ValueError, match="world_size"):
        launch(dist_workers.echo, 1.5)
    with pytest.raises(ValueError, match="lambda"):
        launch(lambda ctx: None, 2)
    in_main = _nested
    in_main.__module__ = "__main__"
    try:
        with pytest.raises(ValueError, match="__main__"):
            launch(in_main, 2)
    finally:
        in_main.__module__ = __name__
    with pytest.raises(ValueError, match="timeout"):
        launch(dist_workers.echo, 2, timeout=0)
    with pytest.raises(ValueError, match="threads"):
        launch(dist_workers.echo, 2, threads=0)
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        launch(dist_workers.echo, 2, device="tpu")
    with pytest.raises(ValueError, match="nccl backend needs device='cuda'"):
        launch(dist_workers.echo, 2, backend="nccl")
    with pytest.raises(ValueError, match="start_method"):
        launch(dist_workers.echo, 2, start_method="fork")
    assert not [p for p in mp.active_children() if p.name.startswith("rlkit-rank")]


# -- the data-parallel check ---------------------------------------------------------------------
def _assert_replicas_identical(report, steps):
    digests = report["digests"]
    assert len(digests) == report["world_size"]
    assert all(len(d) == steps + 1 for d in digests)
    assert report["identical"] and report["first_mismatch"] is None
    assert all(d == digests[0] for d in digests)
    # The weights moved at every step, so equal hashes are not equal because nothing happened.
    assert len(set(digests[0])) == steps + 1
    assert report["allreduce_calls"] == [steps] * report["world_size"]


@pytest.mark.slow
def test_dqn_replicas_are_bit_identical_and_match_one_process():
    report = data_parallel_check("cartpole", world_size=2, steps=3, batch=64, seed=1)
    _assert_replicas_identical(report, 3)
    ref = report["reference"]
    assert ref["tolerance"] == REFERENCE_ATOL
    assert ref["max_abs_diff_per_step"][0] == 0.0  # the same seed gives the same start
    assert ref["within_tolerance"], ref
    json.dumps(report)


@pytest.mark.slow
def test_ppo_replicas_are_bit_identical_and_match_one_process():
    report = data_parallel_check(
        "cartpole_ppo", world_size=2, steps=3, batch=64, seed=2, overrides={"norm_adv": False}
    )
    _assert_replicas_identical(report, 3)
    assert report["reference"]["max_abs_diff_per_step"][0] == 0.0
    assert report["reference"]["within_tolerance"], report["reference"]


@pytest.mark.slow
def test_ppo_with_advantage_normalisation_keeps_replicas_identical():
    # Each shard normalises its own advantages: no single-process match, but replicas agree.
    report = data_parallel_check("cartpole_ppo", world_size=2, steps=2, batch=32, reference=False)
    _assert_replicas_identical(report, 2)
    assert report["reference"] is None


def test_data_parallel_check_rejects_bad_arguments():
    with pytest.raises(ValueError, match="must divide by world_size"):
        data_parallel_check("cartpole", world_size=2, batch=63)
    with pytest.raises(ValueError, match="world_size must be an integer of at least 1"):
        data_parallel_check("cartpole", world_size=0)
    with pytest.raises(ValueError, match="steps"):
        data_parallel_check("cartpole", steps=0)
    with pytest.raises(ValueError, match="norm_adv"):
        data_parallel_check("cartpole_ppo")
    with pytest.raises(ValueError, match="unknown preset"):
        data_parallel_check("no_such_preset")


# -- the all-reduce timing ------------------------------------------------------------------------
@pytest.mark.slow
def test_allreduce_seconds_per_mb_is_a_json_record():
    record = allreduce_seconds_per_mb(sizes_mb=(0.01, 0.1), world_size=2, repeats=3, warmup=1)
    json.dumps(record)
    assert record["benchmark"] == "allreduce" and record["backend"] == "gloo"
    assert "cpu_model" in record["machine"]
    assert [r["bytes"] for r in record["rows"]] == [10_000, 100_000]
    for row in record["rows"]:
        assert 0 < row["min_s"] <= row["median_s"]
        assert row["seconds_per_mb"] == pytest.approx(row["median_s"] / row["mb"])


@pytest.mark.slow
def test_flat_versus_per_parameter_times_both_on_the_presets_network():
    record = flat_versus_per_parameter("cartpole", world_size=2, repeats=5, warmup=1)
    json.dumps(record)
    from rlkit.agents.dqn import build_q_network
    from rlkit.presets import preset

    net = build_q_network(preset("cartpole"), (4,), 2)
    assert record["tensors"] == len(list(net.parameters()))
    assert record["elements"] == sum(p.numel() for p in net.parameters())
    assert record["flat_median_s"] > 0 and record["per_parameter_median_s"] > 0
    ratio = record["per_parameter_median_s"] / record["flat_median_s"]
    assert record["per_parameter_over_flat"] == pytest.approx(ratio)


def test_allreduce_seconds_per_mb_rejects_bad_arguments():
    for bad in ((), (0.0,), (-1.0,)):
        with pytest.raises(ValueError, match="sizes_mb"):
            allreduce_seconds_per_mb(sizes_mb=bad)
    with pytest.raises(ValueError, match="repeats"):
        allreduce_seconds_per_mb(repeats=0)
    with pytest.raises(ValueError, match="world_size"):
        allreduce_seconds_per_mb(world_size=0)


@pytest.mark.slow
def test_a_group_that_fails_to_form_is_formed_again_at_a_new_port(pid_dir, monkeypatch):
    # The port handed to the first try is already taken: rank 0 cannot host the rendezvous
    # there, which is how a port taken between free_port() and the bind looks.
    from rlkit.distributed import launcher

    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = [taken.getsockname()[1]]
    real = launcher.free_port
    monkeypatch.setattr(launcher, "free_port", lambda: ports.pop() if ports else real())
    try:
        out = launch(dist_workers.echo, 2, args=(str(pid_dir),), timeout=60)
        assert not ports  # the taken port was handed out first
        assert [r["rank"] for r in out] == [0, 1]
        assert {r["master_port"] for r in out} != {str(taken.getsockname()[1])}
    finally:
        taken.close()
    _assert_gone(pid_dir, 2)


@pytest.mark.slow
def test_a_group_that_never_forms_ends_in_one_error_naming_the_tries(monkeypatch):
    from rlkit.distributed import launcher

    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    monkeypatch.setattr(launcher, "free_port", lambda: taken.getsockname()[1])
    try:
        with pytest.raises(RankFailedError, match="failed to form 3 times") as caught:
            launch(dist_workers.echo, 2, timeout=60)
    finally:
        taken.close()
    assert caught.value.joining and caught.value.rank == 0
