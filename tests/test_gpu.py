"""On a real CUDA device: what the rest of the suite can only check with CUDA monkeypatched.

Marked ``gpu``: deselected on a machine without CUDA (conftest), run by ``make gpu-record`` on
the GPU machine (``rlkit.bench.gpu_record``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_buffers import OBS_SHAPE, fake_steps

from rlkit import evaluate, load_model, train
from rlkit.buffers import ReplayBuffer
from rlkit.buffers.device import DeviceReplayBuffer
from rlkit.device_plan import apply, plan_for, restore
from rlkit.envs import EnvSpec
from rlkit.presets import preset

pytestmark = pytest.mark.gpu

DOOM = EnvSpec("vizdoom:basic", (1, 30, 45), "uint8", ("LEFT", "RIGHT", "ATTACK"), {})


def test_a_run_trained_on_cuda_plays_from_its_checkpoint_on_a_cpu(tmp_path):
    cfg = preset("cartpole", total_steps=600, learning_starts=100, eval_interval=0, seed=0)
    result = train(cfg, device="cuda", run_dir=tmp_path / "run")
    assert next(result.model.parameters()).device.type == "cuda"
    assert result.history.env_steps == 600
    model, ckpt = load_model(result.checkpoint_path)  # map_location="cpu" by default
    assert next(model.parameters()).device.type == "cpu"
    for key, value in result.model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value.cpu()), key
    stats = evaluate((model, ckpt), episodes=2)
    assert np.isfinite(stats["mean"])


def test_the_replay_buffer_on_cuda_gives_the_host_buffers_batches():
    host = ReplayBuffer(18, OBS_SHAPE, n_envs=2, seed=3)
    device = DeviceReplayBuffer(18, OBS_SHAPE, n_envs=2, seed=3, device="cuda")
    for _, args in fake_steps(2, 30, end_prob=0.3):
        host.add(*args)
        device.add(*args)
    batch = device.sample(16)
    assert batch.observations.device.type == "cuda"  # stored and gathered on the GPU
    for a, b in zip(host.sample(16), batch, strict=True):
        np.testing.assert_array_equal(torch.as_tensor(a).cpu().numpy(), b.cpu().numpy())


def test_the_cuda_plan_turns_its_switches_on_and_restores_the_callers_flags():
    plan = plan_for(torch.device("cuda", 0), preset("vizdoom_basic"), DOOM)
    assert plan.device == "cuda:0" and plan.switches()["cudnn_benchmark"]
    before = torch.backends.cudnn.benchmark
    changed = apply(plan)
    try:
        assert torch.backends.cudnn.benchmark is True
    finally:
        restore(changed)
    assert torch.backends.cudnn.benchmark == before
