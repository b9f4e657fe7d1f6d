"""``make gpu-record`` (rlkit.bench.gpu_record): the one prepared GPU run, tried here on the CPU."""

from __future__ import annotations

import json

import pytest
import torch

from rlkit.bench import gpu_record


def test_on_a_gpu_every_benchmark_runs_on_it_and_beside_it_on_that_machines_cpu():
    names = [name for name, _, _ in gpu_record.parts("cuda", quick=False)]
    assert names == [
        "learner-cuda", "learner-cpu-beside-cuda", "dqn-cuda", "dqn-cpu-beside-cuda",
        "ppo-cuda", "ppo-cpu-beside-cuda", "device-tests",
    ]  # fmt: skip
    files = [f for _, _, f in gpu_record.parts("cuda", quick=False) if f]
    assert len(set(files)) == len(files)  # no part overwrites another's record
    assert "dqn-vizdoom_simpler_basic-cpu.json" not in files  # this machine's CPU record
    for _, argv, _ in gpu_record.parts("cuda", quick=False)[:-1]:
        assert "--json" in argv and "--device" in argv


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_one_is_one_sentence_and_exit_2(tmp_path, capsys):
    assert gpu_record.main(["--device", "cuda", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlkit: error: no CUDA device")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_the_whole_path_runs_on_a_cpu_and_writes_every_record(tmp_path):
    assert gpu_record.main(["--device", "cpu", "--quick", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "gpu-record-cpu.json").read_text())
    assert summary["benchmark"] == "gpu_record" and summary["machine"]["torch"]
    assert set(summary["parts"]) == {"learner-cpu", "dqn-cpu", "ppo-cpu", "device-tests"}
    assert all(p["status"] == "ok" for p in summary["parts"].values()), summary["parts"]
    for name, benchmark in [
        ("learner-vizdoom_basic-cpu.json", "learner"),
        ("dqn-vizdoom_simpler_basic-cpu.json", "dqn_time_to_score"),
        ("ppo-vizdoom_basic_ppo-cpu.json", "ppo_time_to_score"),
    ]:
        record = json.loads((tmp_path / name).read_text())
        assert record["benchmark"] == benchmark and record["device"] == "cpu"
