"""rlkit.remote: training on a Ray cluster's GPU, checked before it starts and never hanging.

The slow tests run real Ray clusters on loopback: a head node without GPUs plus a second node
started with ``--num-gpus=1`` (Ray's GPU count is logical, so this CPU-only machine can host a
"GPU node"), with token authentication on, as the README tells users to run it; and an open
head node (auth disabled) that rlkit must refuse. Every cluster is torn down even when a test
fails (its process groups are killed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import session_processes
from ray_cluster import free_port, ray_missing, start_cluster, stop_cluster

from rlkit.remote import cluster as rc
from rlkit.remote.node import RemoteDeviceReport, check_node, local_facts
from rlkit.training import Callback

# ------------------------------------------------------------------------------------------
# device strings, addresses, tokens (fast)


@pytest.mark.parametrize(
    "device, address",
    [
        ("ray", None),
        ("RAY", None),
        ("ray://10.0.0.5:10001", "ray://10.0.0.5:10001"),
        ("ray:gpu-box:6379", "gpu-box:6379"),
        ("ray:[::1]:6379", "[::1]:6379"),
    ],
)
def test_ray_device_strings_name_the_cluster(device, address):
    assert rc.is_ray_device(device)
    assert rc.parse_device(device) == address


@pytest.mark.parametrize(
    "device", ["ray:", "ray:host", "ray://host", "ray:host:99999", "ray:a b:1"]
)
def test_bad_ray_device_strings_say_what_is_valid(device):
    with pytest.raises(ValueError, match="HOST:PORT"):
        rc.parse_device(device)


@pytest.mark.parametrize("device", ["cpu", "cuda:0", "auto", "rays", "array", None, 3])
def test_other_devices_are_not_ray(device):
    assert not rc.is_ray_device(device)


def test_select_device_points_ray_requests_to_training():
    from rlkit.devices import select_device

    with pytest.raises(ValueError, match=r"rlkit.train\(config, device='ray'\)"):
        select_device("ray")


def test_token_search_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    assert rc.find_token() is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("home-token\n")
    assert rc.find_token().value == "home-token"
    path = tmp_path / "tok"
    path.write_text("path-token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(path))
    assert rc.find_token().value == "path-token"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "env-token")
    assert (rc.find_token().value, rc.find_token().source) == ("env-token", "$RAY_AUTH_TOKEN")
    assert rc.find_token("arg-token").value == "arg-token"


def test_the_first_token_is_written_once_and_shared_by_clusters_started_together(
    monkeypatch, tmp_path
):
    import threading

    monkeypatch.setenv("HOME", str(tmp_path))
    tokens, go = [], threading.Barrier(4)

    def start():
        go.wait()
        tokens.append(rc.first_token().value)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    path = tmp_path / ".ray" / "auth_token"
    assert len(tokens) == 4 and set(tokens) == {path.read_text()}  # one token, for everyone
    assert len(tokens[0]) == 64 and path.stat().st_mode & 0o777 == 0o600
    path.write_text("")  # an empty token file is named, not waited on forever
    with pytest.raises(rc.RemoteError, match=r"auth_token is empty: delete it"):
        rc.first_token()


@pytest.mark.skipif(ray_missing, reason="ray is not installed")
def test_an_embedded_node_that_aborts_while_starting_is_started_again(monkeypatch):
    """Ray's raylet aborts when its agent is slow to start (a fixed 15 s in Ray's C++ code;
    reproduced here by delaying the agent's imports 25 s): connect starts a fresh node, a few
    times, and any other error goes through at once."""
    calls = []

    class FakeRay:
        def init(self, **kw):
            calls.append(kw["address"])
            if calls.count("local") < rc.EMBEDDED_START_TRIES:
                raise Exception("The current node timed out during startup. This could happen")

        def shutdown(self):
            calls.append("shutdown")

    rc._start_embedded(FakeRay(), 1, 100)
    assert calls == ["local", "shutdown"] * (rc.EMBEDDED_START_TRIES - 1) + ["local"]

    class Broken(FakeRay):
        def init(self, **kw):
            raise ValueError("object_store_memory is too small")

    with pytest.raises(ValueError, match="too small"):
        rc._start_embedded(Broken(), 1, 1)


def test_an_unreachable_cluster_is_one_sentence_within_seconds():
    port = free_port()  # nothing listens there
    # rlkit's own sentence, not Ray's retry loop (which ends in another error after 20-30 s)
    with pytest.raises(rc.RemoteError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        rc.preflight(f"127.0.0.1:{port}", rc.Token("x", "test"), timeout_s=5)


# ------------------------------------------------------------------------------------------
# node checks (fast: plain data)


def _facts(**changes):
    local = local_facts()
    facts = dict(
        node_id="ab" * 28,
        node_ip="10.0.0.7",
        hostname="gpu-box",
        pid=1,
        ray_gpu_ids=["0"],
        cuda_visible_devices="0",
        python=local["python"],
        ray=local["ray"],
        torch=local["torch"],
        vizdoom="1.3.2",
        rlkit=local["rlkit"],
        torch_cuda=None,
        cuda_available=False,
        cuda_missing_reason="torch built without CUDA",
        gpus=[],
    )
    facts.update(changes)
    return facts


def test_a_matching_node_trains_on_cuda_or_cpu():
    gpu = _facts(cuda_available=True, torch_cuda="12.8", gpus=[{"name": "H200"}])
    assert check_node(gpu, local_facts(), "vizdoom:basic", require_gpu=True) == "cuda"
    assert check_node(_facts(), local_facts(), "vizdoom:basic", require_gpu=False) == "cpu"
    # a CUDA build of the same torch release is the same torch
    base = local_facts()["torch"].split("+")[0]
    assert check_node(_facts(torch=base + "+cu128"), local_facts(), "CartPole-v1", False) == "cpu"


@pytest.mark.parametrize(
    "changes, env_id, gpu, message",
    [
        ({"python": "3.9.1"}, "CartPole-v1", False, "runs Python 3.9.1"),
        ({"ray": "2.40.0"}, "CartPole-v1", False, "runs Ray 2.40.0"),
        ({"torch": None}, "CartPole-v1", False, "has no torch installed"),
        ({"torch": "1.13.1"}, "CartPole-v1", False, "has torch 1.13.1"),
        ({"vizdoom": None}, "vizdoom:basic", False, "has no vizdoom installed"),
        ({}, "CartPole-v1", True, r"finds no CUDA device \(torch built without CUDA\)"),
    ],
)
def test_a_node_that_cannot_train_is_named_with_the_reason(changes, env_id, gpu, message):
    with pytest.raises(rc.RemoteError, match=message) as info:
        check_node(_facts(**changes), local_facts(), env_id, require_gpu=gpu)
    assert "10.0.0.7" in str(info.value)  # which node


def test_remote_device_report_reads_as_a_table():
    report = RemoteDeviceReport(
        "ray://h:10001",
        "ray://h:10001",
        "token",
        "cuda",
        "why",
        _facts(gpus=[{"name": "NVIDIA H200", "total_memory_gb": 139.8}]),
    )
    text = str(report)
    assert "NVIDIA H200, 139.8 GB" in text and "auth: token" in text
    assert RemoteDeviceReport.from_dict({**report.to_dict(), "timings": {}}) == report


def test_callbacks_that_need_the_live_network_must_run_remotely():
    from rlkit.callbacks import KeepBest, StopAtTarget
    from rlkit.presets import preset
    from rlkit.remote import train

    with pytest.raises(TypeError, match="remote_callbacks"):
        train(preset("cartpole"), callbacks=[StopAtTarget(1), KeepBest()])


def test_train_with_a_ray_device_hands_the_run_to_remote(monkeypatch):
    from rlkit import entry, remote
    from rlkit.presets import preset

    seen = {}
    monkeypatch.setattr(remote, "train", lambda config, address, **kw: seen.update(kw, a=address))
    entry.train(preset("cartpole"), device="ray:gpu-box:6379", run_dir="x")
    assert seen["a"] == "gpu-box:6379" and seen["run_dir"] == "x"


@pytest.mark.slow
def test_cli_refuses_an_unreachable_cluster_in_one_line(tmp_path):
    port = free_port()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlkit",
            "train",
            "--preset",
            "cartpole",
            "--out",
            str(tmp_path / "r"),
            "--device",
            f"ray:127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"rlkit: error: cannot reach the Ray cluster at 127.0.0.1:{port}")
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------
# real clusters on loopback (slow)


@pytest.fixture
def ray_env(monkeypatch):
    """rlkit.remote sets RAY_AUTH_* in this process; restore them and leave no connection."""
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", os.environ.get("HOME", "/root"))
    yield monkeypatch
    rc.disconnect()


def _tiny(total=3000, **kw):
    from rlkit.presets import preset

    kw = {"eval_interval": 0, "log_interval": 500, "checkpoint_interval": 1000, **kw}
    return preset("cartpole", total_steps=total, **kw)


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def _note(self, progress):
        self.events.append((progress.event, progress.env_steps))

    on_start = on_log = on_eval = on_end = _note


@pytest.mark.slow
def test_a_client_without_the_right_token_is_turned_away(loopback_cluster, ray_env):
    from rlkit import remote

    for token, message in (("0" * 32, "refused the token"), (None, "demands a token")):
        ray_env.setenv("HOME", "/nonexistent")  # no ~/.ray/auth_token to fall back on
        # rlkit's preflight answers (Ray's own retries would end in another error)
        with pytest.raises(remote.RemoteError, match=message):
            remote.train(_tiny(), loopback_cluster.client_address, token=token, timeout_s=30)


@pytest.mark.slow
def test_require_gpu_lands_on_the_gpu_node_and_says_it_has_no_cuda(loopback_cluster, ray_env):
    from rlkit import remote

    nodes = loopback_cluster.node_ids()
    gpu_node = [n for n, res in nodes.items() if res.get("GPU")]
    assert len(nodes) == 2 and len(gpu_node) == 1
    ray_env.setenv("RAY_AUTH_TOKEN", loopback_cluster.token)
    with pytest.raises(remote.RemoteError, match="finds no CUDA device") as info:
        remote.train(_tiny(), loopback_cluster.address, timeout_s=60)
    assert gpu_node[0][:12] in str(info.value)  # the worker ran on the GPU node


@pytest.mark.slow
def test_trains_on_a_node_cpu_through_ray_client_and_streams_progress(
    loopback_cluster, ray_env, tmp_path
):
    from rlkit import remote
    from rlkit.checkpoints import load_checkpoint

    rec = Recorder()
    result = remote.train(
        _tiny(),
        loopback_cluster.client_address,
        token=loopback_cluster.token,
        require_gpu=False,
        callbacks=[rec],
        run_dir=tmp_path,
        timeout_s=60,
    )
    assert result.history.env_steps == 3000 and result.model is None
    assert result.get_model()(__import__("torch").zeros(1, 4)).shape == (1, 2)
    assert rec.events[0] == ("start", 0) and rec.events[-1] == ("end", 3000)
    assert [e for e, _ in rec.events].count("log") >= 5
    ckpt = load_checkpoint(result.checkpoint_path)
    assert Path(result.checkpoint_path).parent == tmp_path
    assert ckpt.metadata["progress"]["env_steps"] == 3000
    report = result.device_report
    assert report["selected"] == "cpu" and report["auth"] == "token"
    assert report["node"]["node_id"] in loopback_cluster.node_ids()
    assert report["timings"]["records"] == len(rec.events)


def _training_workers() -> list[int]:
    """Pids of this session's live processes whose title Ray set to ray::TrainingWorker."""
    return session_processes(b"ray::TrainingWorker")


@pytest.mark.slow
def test_a_remote_run_stopped_here_stops_its_worker_and_keeps_its_checkpoint_here(
    loopback_cluster, ray_env, tmp_path
):
    """Ctrl-C in the notebook during remote.train: the worker finishes its step and checkpoints,
    the checkpoint lands in the local run_dir, and no worker is left training."""
    from rlkit import remote
    from rlkit.checkpoints import load_checkpoint
    from rlkit.stopping import TrainingInterrupted

    class CtrlCAtTheFirstLog(Recorder):
        def on_log(self, progress):
            super().on_log(progress)
            if progress.env_steps >= 500 and not getattr(self, "sent", False):
                self.sent = True
                signal.raise_signal(signal.SIGINT)

    rec = CtrlCAtTheFirstLog()
    with pytest.raises(TrainingInterrupted) as stopped:
        remote.train(
            _tiny(total=1_000_000),
            loopback_cluster.client_address,
            token=loopback_cluster.token,
            require_gpu=False,
            callbacks=[rec],
            run_dir=tmp_path,
            timeout_s=60,
        )
    result = stopped.value.result
    steps = result.history.env_steps
    assert stopped.value.reason == "SIGINT" and 500 <= steps < 1_000_000
    assert result.checkpoint_path == str(tmp_path / "checkpoint.pt")
    assert load_checkpoint(tmp_path / "checkpoint.pt").progress["env_steps"] == steps
    deadline = time.monotonic() + 60
    while _training_workers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _training_workers()


def _kill_training_worker() -> bool:
    """SIGKILL this session's process whose title Ray set to ray::TrainingWorker."""
    for pid in _training_workers():
        os.kill(pid, signal.SIGKILL)
        return True
    return False


@pytest.mark.slow
def test_a_worker_that_dies_is_named_and_its_last_checkpoint_resumes(
    loopback_cluster, ray_env, tmp_path
):
    from rlkit import remote
    from rlkit.checkpoints import load_checkpoint

    class KillAfterACheckpoint(Recorder):
        def on_log(self, progress):
            super().on_log(progress)
            if (tmp_path / "checkpoint.pt").exists() and not getattr(self, "killed", False):
                self.killed = _kill_training_worker()

    ray_env.setenv("RAY_AUTH_TOKEN", loopback_cluster.token)
    killer = KillAfterACheckpoint()
    with pytest.raises(remote.RemoteError, match="died") as info:
        remote.train(
            _tiny(total=200_000),
            loopback_cluster.address,
            require_gpu=False,
            callbacks=[killer],
            run_dir=tmp_path,
            timeout_s=60,
        )
    assert killer.killed
    message = str(info.value)
    assert any(node[:12] in message for node in loopback_cluster.node_ids())  # names the node
    assert "resume_from=" in message
    saved = load_checkpoint(tmp_path / "checkpoint.pt").metadata["progress"]["env_steps"]
    assert 0 < saved < 200_000
    resumed = remote.train(
        _tiny(total=saved + 1000),
        loopback_cluster.address,
        require_gpu=False,
        resume_from=tmp_path / "checkpoint.pt",
        run_dir=tmp_path / "again",
        timeout_s=60,
    )
    assert resumed.history.env_steps == saved + 1000


@pytest.mark.slow
def test_an_open_cluster_is_refused_unless_the_user_opts_out(ray_env):
    if ray_missing:
        pytest.skip("ray is not installed")
    from rlkit import remote

    cluster = start_cluster(None)
    try:
        with pytest.raises(remote.RemoteError, match="accepts clients without a token"):
            remote.connect(cluster.address)
        conn = remote.connect(cluster.address, allow_unauthenticated=True)
        assert conn.auth == "none"
    finally:
        rc.disconnect()
        stop_cluster(cluster)


@pytest.mark.slow
def test_no_gpu_in_the_embedded_cluster_is_an_error_before_submitting(ray_env, tmp_path):
    from rlkit import remote

    ray_env.setenv("HOME", str(tmp_path))  # Ray writes this machine's token to ~/.ray
    with pytest.raises(remote.RemoteError, match="offers a GPU"):
        remote.train(_tiny(), require_gpu=True, run_dir=tmp_path / "r", timeout_s=60)
    conn = remote.connect()
    assert conn.kind == "embedded" and conn.auth == "token"
    assert (tmp_path / ".ray" / "auth_token").exists()
    import ray

    with pytest.raises(remote.RemoteError, match="demands a token"):  # not open to anyone
        rc.preflight(ray.get_runtime_context().gcs_address, None)


def test_bench_remote_refuses_a_malformed_address_before_starting():
    proc = subprocess.run(
        [sys.executable, "-m", "rlkit", "bench", "remote", "--address", "gpu-box"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "rlkit: error: unrecognised Ray cluster address" in proc.stderr


@pytest.mark.slow
def test_bench_remote_records_the_costs_of_the_remote_path(tmp_path):
    if ray_missing:
        pytest.skip("ray is not installed")
    import json

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlkit",
            "bench",
            "remote",
            "--steps",
            "600",
            "--repeats",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(proc.stdout)
    assert record["benchmark"] == "remote" and record["auth"] == "token"
    assert record["machine"]["cpu_cores"] and record["ray_startup_s"] > 0
    m = record["median"]
    assert m["worker_start_s"] > 0 and m["result_transfer_s"] > 0 and m["weights_mb"] > 0
    assert m["remote_wall_s"] > m["connect_s"]
