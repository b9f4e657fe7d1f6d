"""DQN: smoke runs, the TD update, checkpoints written by training, resume."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from rlkit.agents.dqn import DQNLearner, epsilon_at
from rlkit.buffers import ReplayBatch
from rlkit.checkpoints import load_checkpoint, load_model
from rlkit.entry import train_dqn
from rlkit.presets import preset
from rlkit.training import Callback


def tiny(name="cartpole", **kw):
    base = dict(
        total_steps=300,
        learning_starts=64,
        batch_size=32,
        eval_interval=150,
        eval_episodes=2,
        log_interval=100,
        torch_threads=1,
    )
    base.update(kw)
    return preset(name, **base)


def _check_history(result, cfg):
    h = result.history
    assert h.env_steps == cfg.total_steps
    assert h.updates > 0
    _, losses = h.series("loss")
    assert losses and all(np.isfinite(losses))
    steps, eps = h.series("epsilon")
    assert steps[-1] == cfg.total_steps and eps[-1] == pytest.approx(cfg.eps_end)
    assert h.episodes == len(h.episode_returns) > 0
    assert len(h.eval_means) == cfg.total_steps // cfg.eval_interval
    split = h.time_split()
    assert list(split) == ["env", "act", "learner", "other"]
    assert split["env"] > 0 and split["learner"] > 0 and split["act"] > 0
    assert h.train_seconds >= split["env"] + split["learner"]
    assert h.env_steps_per_s > 0 and h.updates_per_s > 0


def test_cartpole_smoke():
    cfg = tiny()
    result = train_dqn(cfg, device="cpu")
    _check_history(result, cfg)
    assert result.algo == "dqn" and result.device == "cpu"
    assert result.env_spec.observation_shape == (4,)


@pytest.mark.parametrize("prioritized", [False, True])
@pytest.mark.slow
def test_vizdoom_smoke_with_two_envs(prioritized):
    cfg = tiny(
        "vizdoom_simpler_basic",
        num_envs=2,
        vector_backend="shm",
        prioritized=prioritized,
        total_steps=200,
        eval_interval=100,
    )
    result = train_dqn(cfg, device="cpu")
    _check_history(result, cfg)
    assert result.env_spec.observation_shape == (1, 30, 45)
    assert result.env_spec.action_names == ("MOVE_LEFT", "MOVE_RIGHT", "ATTACK")


def test_epsilon_schedule_is_linear_then_flat():
    cfg = preset("cartpole", total_steps=1000, eps_decay_fraction=0.5, eps_start=1.0, eps_end=0.1)
    assert epsilon_at(cfg, 0) == 1.0
    assert epsilon_at(cfg, 250) == pytest.approx(0.55)
    assert epsilon_at(cfg, 500) == pytest.approx(0.1)
    assert epsilon_at(cfg, 900) == pytest.approx(0.1)


def _batch(n=8, terminated=0.0):
    g = torch.Generator().manual_seed(0)
    return ReplayBatch(
        observations=torch.rand(n, 4, generator=g),
        actions=torch.randint(0, 2, (n,), generator=g),
        rewards=torch.ones(n),
        next_observations=torch.rand(n, 4, generator=g),
        terminated=torch.full((n,), terminated),
        weights=torch.ones(n),
        indices=np.arange(n),
    )


@pytest.mark.parametrize("double", [False, True])
def test_td_target_matches_hand_computation(double):
    cfg = preset("cartpole", double_dqn=double, loss="mse", max_grad_norm=None, lr=1e-9)
    learner = DQNLearner(cfg, (4,), 2, "cpu")
    with torch.no_grad():  # make the target net differ from the online net
        for p in learner.target.parameters():
            p.add_(0.1)
    b = _batch()
    with torch.no_grad():
        q = learner.q(b.observations).gather(1, b.actions[:, None]).squeeze(1)
        tq = learner.target(b.next_observations)
        if double:
            best = learner.q(b.next_observations).argmax(1)
            nq = tq.gather(1, best[:, None]).squeeze(1)
        else:
            nq = tq.max(1).values
        expected = ((q - (b.rewards + cfg.gamma * nq)) ** 2).mean()
    loss, td = learner.update(b)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert td.shape == (8,)


def _twin_learners(**kw):
    cfg = preset("cartpole", lr=1e-2, **kw)
    torch.manual_seed(3)
    a = DQNLearner(cfg, (4,), 2, "cpu")
    torch.manual_seed(3)
    b = DQNLearner(cfg, (4,), 2, "cpu")
    return a, b


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_fused_update_equals_its_two_halves(optimizer):
    fused, halves = _twin_learners(optimizer=optimizer, target_update_interval=2)
    for step in range(3):
        batch = _batch()
        loss_a, td_a = fused.update(batch)
        loss_b, td_b = halves.compute_gradients(batch)
        halves.apply_gradients()
        assert torch.equal(loss_a, loss_b) and torch.equal(td_a, td_b), step
    for net in ("q", "target"):
        for pa, pb in zip(
            getattr(fused, net).parameters(), getattr(halves, net).parameters(), strict=True
        ):
            assert torch.equal(pa, pb), net
    assert fused.updates == halves.updates == 3


def test_grad_hook_runs_between_backward_and_step():
    """The all-reduce seam: the hook sees gradients before clipping and the optimizer step."""
    plain, hooked = _twin_learners(optimizer="sgd", max_grad_norm=None)
    initial = [p.detach().clone() for p in hooked.params]
    seen = []

    def halve(params):
        assert all(p.grad is not None for p in params)
        assert all(torch.equal(a, b) for a, b in zip(params, initial, strict=True))  # not stepped
        seen.append(1)
        for p in params:
            p.grad.mul_(0.5)

    hooked.grad_hook = halve
    batch = _batch()
    plain.compute_gradients(batch)
    for p in plain.params:
        p.grad.mul_(0.5)
    plain.apply_gradients()
    hooked.update(batch)
    assert seen == [1]
    for pa, pb in zip(plain.q.parameters(), hooked.q.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_epsilon_greedy_actor_explores_at_the_given_rate():
    from rlkit.agents.dqn import EpsilonGreedyActor

    net = torch.nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.copy_(torch.tensor([0.0, 2.0, 1.0]))  # greedy action: 1
    actor = EpsilonGreedyActor(net, 3, np.random.default_rng(0), "cpu")
    obs = np.zeros((2000, 4), dtype=np.float32)
    assert (actor.act(obs, 0.0) == 1).all()
    random = actor.act(obs, 1.0)
    assert set(random.tolist()) == {0, 1, 2}
    share = (actor.act(obs, 0.3) != 1).mean()  # 2/3 of the explored envs pick another action
    assert share == pytest.approx(0.2, abs=0.04)


def test_terminated_transitions_do_not_bootstrap():
    cfg = preset("cartpole", loss="mse", max_grad_norm=None, lr=1e-9)
    learner = DQNLearner(cfg, (4,), 2, "cpu")
    b = _batch(terminated=1.0)
    with torch.no_grad():
        q = learner.q(b.observations).gather(1, b.actions[:, None]).squeeze(1)
    loss, _ = learner.update(b)
    assert loss.item() == pytest.approx(((q - 1.0) ** 2).mean().item(), rel=1e-5)


def test_target_network_syncs_every_interval():
    cfg = preset("cartpole", target_update_interval=3, tau=1.0, lr=1e-2)
    learner = DQNLearner(cfg, (4,), 2, "cpu")
    before = [p.clone() for p in learner.target.parameters()]
    for _ in range(2):
        learner.update(_batch())
    assert all(torch.equal(a, b) for a, b in zip(before, learner.target.parameters(), strict=True))
    learner.update(_batch())
    for t, q in zip(learner.target.parameters(), learner.q.parameters(), strict=True):
        assert torch.equal(t, q)


def test_polyak_sync_moves_target_part_way():
    cfg = preset("cartpole", target_update_interval=1, tau=0.5, lr=1e-2)
    learner = DQNLearner(cfg, (4,), 2, "cpu")
    old = [p.clone() for p in learner.target.parameters()]
    learner.update(_batch())
    for o, t, q in zip(old, learner.target.parameters(), learner.q.parameters(), strict=True):
        assert torch.allclose(t, 0.5 * o + 0.5 * q, atol=1e-6)


class _StopAt(Callback):
    def __init__(self):
        self.events = []

    def on_start(self, progress):
        self.events.append("start")

    def on_log(self, progress):
        self.events.append("log")

    def on_eval(self, progress):
        self.events.append("eval")
        return True

    def on_end(self, progress):
        self.events.append("end")


def test_callbacks_are_called_and_can_stop_training():
    cb = _StopAt()
    result = train_dqn(tiny(total_steps=1000), device="cpu", callbacks=[cb])
    assert result.stopped_early
    assert result.history.env_steps == 150
    assert cb.events[0] == "start" and cb.events[-1] == "end" and "eval" in cb.events


@pytest.mark.slow
def test_training_writes_a_loadable_checkpoint(tmp_path):
    result = train_dqn(tiny(), device="cpu", run_dir=tmp_path)
    assert (tmp_path / "history.json").exists() and (tmp_path / "episodes.csv").exists()
    model, ckpt = load_model(tmp_path / "checkpoint.pt", device="cpu")
    x = torch.rand(5, 4)
    assert torch.equal(model(x), result.model(x))
    assert ckpt.metadata["progress"]["env_steps"] == 300
    assert ckpt.metadata["config"]["env_id"] == "CartPole-v1"
    assert ckpt.metadata["env_spec"]["observation_shape"] == [4]


class _Checkpoints(Callback):
    def __init__(self):
        self.steps = []

    def on_checkpoint(self, path):
        self.steps.append(load_checkpoint(path).metadata["progress"]["env_steps"])


@pytest.mark.parametrize("every, more_than_the_last", [(0.05, True), (0, False)])
@pytest.mark.slow
def test_runs_with_a_folder_checkpoint_by_training_time(tmp_path, every, more_than_the_last):
    # Slowed so that the run lasts a few timed intervals whatever the machine's speed.
    class Slow(Callback):
        def on_log(self, progress):
            time.sleep(0.03)

    cb = _Checkpoints()
    cfg = tiny(total_steps=600, log_interval=10, eval_interval=0, checkpoint_seconds=every)
    train_dqn(cfg, device="cpu", run_dir=tmp_path, callbacks=[cb, Slow()])
    assert cb.steps[-1] == 600 and (len(cb.steps) > 1) == more_than_the_last
    assert cb.steps == sorted(set(cb.steps))


@pytest.mark.slow
def test_resume_restores_learner_state_and_continues(tmp_path):
    cfg = tiny(total_steps=200, checkpoint_interval=100)
    first = train_dqn(cfg, device="cpu", run_dir=tmp_path, save_buffer=True)
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    updates = saved.metadata["progress"]["updates"]

    more = cfg.replace(total_steps=400)
    resumed = train_dqn(
        more, device="cpu", run_dir=tmp_path, resume_from=tmp_path / "checkpoint.pt"
    )
    h = resumed.history
    assert h.env_steps == 400
    # The history continues the first run's rows instead of starting over.
    assert h.episode_returns[: len(first.history.episode_returns)] == first.history.episode_returns
    assert h.updates > updates
    assert h.eval_steps == [150, 300]


def test_resume_with_buffer_gives_the_same_first_update(tmp_path):
    """Two learners resumed from one checkpoint make identical updates: nothing is re-drawn."""
    cfg = tiny(total_steps=200)
    train_dqn(cfg, device="cpu", run_dir=tmp_path, save_buffer=True)
    more = cfg.replace(total_steps=216, eval_interval=0)
    a = train_dqn(more, device="cpu", resume_from=tmp_path / "checkpoint.pt")
    b = train_dqn(more, device="cpu", resume_from=tmp_path / "checkpoint.pt")
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_resume_rejects_a_checkpoint_of_another_env(tmp_path):
    from rlkit.checkpoints import CheckpointError

    train_dqn(tiny(total_steps=100, eval_interval=0), device="cpu", run_dir=tmp_path)
    with pytest.raises(CheckpointError):
        train_dqn(
            tiny("acrobot", total_steps=100, eval_interval=0),
            device="cpu",
            resume_from=tmp_path / "checkpoint.pt",
        )


def test_config_type_is_checked():
    with pytest.raises(TypeError, match="DQNConfig"):
        train_dqn({"env_id": "CartPole-v1"}, device="cpu")


def test_missing_gpu_is_an_error_not_a_fallback():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="cuda"):
        train_dqn(tiny(), device="cuda")


@pytest.mark.slow
def test_cartpole_learns_well_beyond_random():
    from rlkit.callbacks import StopAtTarget

    cfg = preset("cartpole", total_steps=20_000, eval_interval=5_000, eval_episodes=10, seed=1)
    # The same check as training all 20k steps: some evaluation reaches 150; it stops there.
    result = train_dqn(cfg, device="cpu", callbacks=[StopAtTarget(150)])
    # A random policy averages about 22 on CartPole-v1.
    assert max(result.history.eval_means) >= 150


def test_resume_continues_the_replay_sampler_stream(tmp_path, monkeypatch):
    """The resumed run draws replay indices from the saved sampler stream, not a fresh one."""
    from rlkit.buffers import ReplayBuffer

    cfg = tiny(total_steps=200, eval_interval=0)
    train_dqn(cfg, device="cpu", run_dir=tmp_path, save_buffer=True)
    saved = load_checkpoint(tmp_path / "checkpoint.pt").extra_state["rng"]["replay"]

    drawn = []
    sample = ReplayBuffer.sample

    def spy(self, batch_size):
        before = self.sampler_state()
        batch = sample(self, batch_size)
        drawn.append((before, batch.indices.copy()))
        return batch

    monkeypatch.setattr(ReplayBuffer, "sample", spy)
    train_dqn(cfg.replace(total_steps=210), device="cpu", resume_from=tmp_path / "checkpoint.pt")
    first_state, _ = drawn[0]
    assert first_state == saved
    fresh = np.random.default_rng(cfg.seed).bit_generator.state
    assert first_state != fresh


@pytest.mark.slow
def test_keep_best_restores_the_best_evaluated_weights():
    from rlkit.callbacks import KeepBest

    keep = KeepBest()
    result = train_dqn(tiny(total_steps=600, eval_interval=100), device="cpu", callbacks=[keep])
    assert keep.best_score == max(result.history.eval_means)
    assert keep.best_step in result.history.eval_steps
    for name, tensor in result.model.state_dict().items():
        assert torch.equal(tensor, keep.best_state[name]), name


@pytest.mark.parametrize(("start", "end"), [(0.5, 0.5), (0.4, 1.0)])
def test_per_beta_goes_from_start_to_end(monkeypatch, start, end):
    from rlkit.buffers import PrioritizedReplayBuffer

    betas = []
    sample = PrioritizedReplayBuffer.sample

    def spy(self, batch_size, beta=None):
        betas.append(beta)
        return sample(self, batch_size, beta=beta)

    monkeypatch.setattr(PrioritizedReplayBuffer, "sample", spy)
    cfg = tiny(prioritized=True, per_beta_start=start, per_beta_end=end, eval_interval=0)
    train_dqn(cfg, device="cpu")
    assert betas[0] == pytest.approx(start + (end - start) * cfg.learning_starts / 300)
    assert betas[-1] == pytest.approx(end) and min(betas) >= start
