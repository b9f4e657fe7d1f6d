"""Device plans: all off on a CPU, on for (monkeypatched) CUDA, flags restored, replay placed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rlkit import device_plan
from rlkit.agents.dqn import DQNAgent, DQNLearner, EpsilonGreedyActor
from rlkit.algorithms import agent_class
from rlkit.buffers import PrioritizedReplayBuffer, ReplayBatch, ReplayBuffer
from rlkit.buffers.device import DeviceReplayBuffer
from rlkit.config import ConfigError, DQNConfig
from rlkit.device_plan import DevicePlan, apply, plan_for, replay_bytes, restore
from rlkit.envs import EnvSpec
from rlkit.presets import preset
from rlkit.training import Callback, Trainer

DOOM = EnvSpec("vizdoom:basic", (1, 30, 45), "uint8", ("LEFT", "RIGHT", "ATTACK"), {})
CUDA = torch.device("cuda", 0)
GB = 1024**3


def flag_values() -> dict[str, object]:
    """Every flag a plan may set, read with the API the plan uses."""
    b = torch.backends
    names = [(b.cudnn, "benchmark")]
    if hasattr(b.cuda.matmul, "fp32_precision"):
        names += [(b.cuda.matmul, "fp32_precision"), (b.cudnn.conv, "fp32_precision")]
    else:
        names += [(b.cuda.matmul, "allow_tf32"), (b.cudnn, "allow_tf32")]
    return {f"{type(o).__name__}.{a}": getattr(o, a) for o, a in names}


@pytest.fixture
def free_gpu_memory(monkeypatch):
    """A pretend GPU with ``free[0]`` bytes free (plan_for asks torch.cuda.mem_get_info)."""
    free = [80 * GB]
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free[0], 80 * GB))
    return free


def test_cpu_plan_is_all_off_and_apply_changes_nothing():
    plan = plan_for(torch.device("cpu"), preset("vizdoom_basic"), DOOM)
    assert plan.device == "cpu"
    assert not any(plan.switches().values())
    lines = plan.describe()
    assert len(lines) == 6 and all(": off (" in line for line in lines)
    assert lines[0] == "cudnn autotune: off (cpu: cuDNN is a CUDA library)"
    before = flag_values()
    assert apply(plan) == {}
    assert flag_values() == before
    restore({})
    assert flag_values() == before


def test_cuda_plan_turns_the_switches_on_and_apply_restore_round_trips(free_gpu_memory):
    plan = plan_for(CUDA, preset("vizdoom_basic"), DOOM)
    assert plan.device == "cuda:0"
    on = plan.switches()
    assert on == {
        "cudnn_benchmark": True,
        "tf32": True,
        "pin_memory": True,
        "non_blocking": True,
        "buffer_on_device": True,
        "compile_update": False,
    }
    lines = plan.describe()
    assert (
        lines[0]
        == "cudnn autotune: on (cuda: fixed input shapes, so the fastest algorithm is picked once)"
    )
    assert lines[1].startswith("tf32 matmul/conv: on (cuda: 10-bit mantissa on Ampere+")
    assert lines[4].startswith("replay on device: on (auto: 0.02 GB fits in 0.5 of 80.00 GB free")
    assert plan.to_dict()["describe"] == lines

    before = flag_values()
    try:
        changed = apply(plan)
        assert "cudnn.benchmark" in changed and torch.backends.cudnn.benchmark is True
        if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
            assert torch.backends.cuda.matmul.fp32_precision == "tf32"
            assert torch.backends.cudnn.conv.fp32_precision == "tf32"
        else:
            assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert apply(plan) == {}  # already set: nothing more to undo
    finally:
        restore(changed)
    assert flag_values() == before


def test_apply_leaves_a_flag_the_caller_set_itself():
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        changed = apply(DevicePlan("cuda:0", cudnn_benchmark=True))
        assert "cudnn.benchmark" not in changed
        restore(changed)
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = saved


@pytest.mark.parametrize(
    "device, overrides, free_gb, spec, on, reason",
    [
        (CUDA, {}, 80, DOOM, True, "auto: 0.02 GB fits"),
        (CUDA, {"buffer_size": 10_000_000}, 8, DOOM, False, "GB > 0.5 of 8.00 GB free"),
        (CUDA, {}, 80, None, False, "auto: buffer size unknown"),
        (CUDA, {"buffer_device": "cpu"}, 80, DOOM, False, "buffer_device='cpu'"),
        (CUDA, {"buffer_device": "device", "buffer_size": 10**8}, 1, DOOM, True, "'device'"),
        (CUDA, {"prioritized": True}, 80, DOOM, False, "sum tree on the host"),
        ("cpu", {"buffer_device": "device"}, 80, DOOM, False, "cpu: host memory"),
        ("mps", {}, 80, DOOM, False, "implemented for cuda"),
    ],
)
def test_buffer_device_choices(free_gpu_memory, device, overrides, free_gb, spec, on, reason):
    free_gpu_memory[0] = free_gb * GB
    plan = plan_for(device, preset("vizdoom_basic", **overrides), spec)
    assert plan.buffer_on_device is on
    assert reason in plan.describe()[4]


def test_buffer_device_and_compile_are_checked_config_fields():
    assert DQNConfig().buffer_device == "auto" and DQNConfig().compile is False
    with pytest.raises(ConfigError, match=r"'buffer_device' = 'gpu'.*valid: auto, cpu, device"):
        DQNConfig(buffer_device="gpu")
    with pytest.raises(ConfigError, match=r"'buffer_device' = 'device'.*prioritized"):
        DQNConfig(prioritized=True, buffer_device="device")
    with pytest.raises(ConfigError, match="'compile' = 1"):
        DQNConfig(compile=1)
    cfg = preset("cartpole").replace(compile="true", buffer_device="cpu")
    assert cfg.compile is True and cfg.buffer_device == "cpu"
    assert plan_for("cpu", cfg).compile_update is True


def test_replay_bytes_is_what_a_device_buffer_allocates():
    for n_envs in (1, 3):
        cfg = preset("vizdoom_basic", buffer_size=1000, num_envs=n_envs)
        buffer = DeviceReplayBuffer(1000, DOOM.observation_shape, n_envs=n_envs)
        assert replay_bytes(cfg, DOOM) == buffer.nbytes


def test_the_agent_follows_the_plan():
    cfg = preset("cartpole")
    spec = EnvSpec("CartPole-v1", (4,), "float32", ("L", "R"), {})
    rng = np.random.default_rng(0)
    assert type(DQNAgent(cfg, spec, "cpu", rng).buffer) is ReplayBuffer
    on_device = DQNAgent(cfg, spec, "cpu", rng, plan=DevicePlan("cpu", buffer_on_device=True))
    assert type(on_device.buffer) is DeviceReplayBuffer
    per = DQNAgent(cfg.replace(prioritized=True), spec, "cpu", rng)
    assert type(per.buffer) is PrioritizedReplayBuffer


class _Flags(Callback):
    def __init__(self):
        self.seen = []

    def on_log(self, progress):
        self.seen.append(torch.backends.cudnn.benchmark)


def test_trainer_applies_the_plan_and_restores_the_callers_flags(monkeypatch):
    # A CUDA-like plan that a CPU can carry out: flags on, replay in a device-storage buffer.
    plan = DevicePlan("cpu", cudnn_benchmark=True, tf32=True, buffer_on_device=True)
    monkeypatch.setattr(device_plan, "plan_for", lambda device, config, spec=None: plan)
    cfg = preset("cartpole", total_steps=200, learning_starts=64, batch_size=32)
    cfg = cfg.replace(eval_interval=0, log_interval=100)
    before = flag_values()
    flags = _Flags()
    trainer = Trainer(cfg, agent_class(cfg), "cpu", callbacks=[flags])
    result = trainer.run()
    assert trainer.device_plan is plan and trainer.agent.plan is plan
    assert type(trainer.agent.buffer) is DeviceReplayBuffer
    assert flags.seen and all(flags.seen)  # on while training
    assert flag_values() == before  # the caller's settings afterwards
    assert result.history.updates > 0 and math.isfinite(
        result.history.metrics["loss"]["values"][-1]
    )


def test_pinned_actor_copies_through_page_locked_memory(monkeypatch):
    asked = []
    empty = torch.empty

    def fake_empty(*args, pin_memory=False, **kwargs):
        asked.append(pin_memory)
        return empty(*args, **kwargs)

    model = torch.nn.Linear(4, 2)
    actor = EpsilonGreedyActor(model, 2, np.random.default_rng(0), "cpu", pin_memory=True)
    monkeypatch.setattr(torch, "empty", fake_empty)
    obs = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    greedy = model(torch.from_numpy(obs)).argmax(1).numpy()
    np.testing.assert_array_equal(actor.act(obs, epsilon=0.0), greedy)
    assert asked == [True]


def _batch(n: int = 16) -> ReplayBatch:
    g = torch.Generator().manual_seed(0)
    return ReplayBatch(
        observations=torch.rand(n, 4, generator=g),
        actions=torch.randint(0, 2, (n,), generator=g),
        rewards=torch.ones(n),
        next_observations=torch.rand(n, 4, generator=g),
        terminated=torch.zeros(n),
        weights=torch.ones(n),
        indices=np.arange(n),
    )


def test_compile_update_wraps_the_td_loss(monkeypatch):
    """The wiring, without paying for a compile: torch.compile gets the loss, fixed shapes."""
    calls = []

    def fake_compile(fn, **kwargs):
        calls.append((fn.__name__, kwargs))
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    learner = DQNLearner(preset("cartpole", compile=True), (4,), 2, "cpu")
    assert learner.compiled and calls == [("td_loss", {"dynamic": False})]
    loss, td = learner.update(_batch())
    assert math.isfinite(loss.item()) and td.shape == (16,)
    assert not DQNLearner(preset("cartpole"), (4,), 2, "cpu", compile_update=False).compiled


@pytest.mark.slow
def test_compiled_learner_trains_like_the_eager_one():
    """torch.compile on a CPU (about 10 s of compiling): same losses as eager, finite."""
    cfg = preset("cartpole", lr=1e-2)
    torch.manual_seed(3)
    eager = DQNLearner(cfg, (4,), 2, "cpu")
    torch.manual_seed(3)
    compiled = DQNLearner(cfg, (4,), 2, "cpu", compile_update=True)
    for _ in range(4):
        batch = _batch()
        a, _ = eager.update(batch)
        b, _ = compiled.update(batch)
        assert math.isfinite(b.item())
        assert b.item() == pytest.approx(a.item(), rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_a_ppo_config_without_replay_or_compile_fields_gets_a_plan(free_gpu_memory, device):
    cfg = preset("vizdoom_basic_ppo")
    assert not hasattr(cfg, "buffer_device") and not hasattr(cfg, "compile")
    plan = plan_for(device, cfg, DOOM)
    assert plan.buffer_on_device is False and plan.compile_update is False
    lines = plan.describe()
    assert "no replay buffer" in lines[4] and "no compiled update" in lines[5]
    assert plan.pin_memory is (device == CUDA)
