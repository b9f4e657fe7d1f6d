"""PPO: GAE and the clipped loss against hand computation, the actor, the learner's seam,
truncation bootstrapping, smoke runs, checkpoints and resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rlkit.agents.ppo import (
    PPOAgent,
    PPOLearner,
    StochasticActor,
    clipped_loss,
    explained_variance,
)
from rlkit.algorithms import agent_class, algorithm
from rlkit.buffers import RolloutBatch, RolloutBuffer
from rlkit.checkpoints import load_checkpoint, load_model
from rlkit.entry import train_ppo
from rlkit.envs import EnvSpec
from rlkit.presets import preset
from rlkit.training import Trainer

METRIC_KEYS = {
    "loss/policy",
    "loss/value",
    "entropy",
    "approx_kl",
    "clipfrac",
    "lr",
    "explained_variance",
}


def tiny(name="cartpole_ppo", **kw):
    """Rollouts of 4 envs x 32 steps = 128 transitions, 4 epochs of 4 minibatches of 32."""
    base = dict(
        num_envs=4,
        n_steps=32,
        n_epochs=4,
        n_minibatches=4,
        total_steps=384,
        eval_interval=128,
        eval_episodes=2,
        log_interval=128,
        torch_threads=1,
    )
    base.update(kw)
    return preset(name, **base)


# -- GAE ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("terminated", "expected"),
    [
        # delta_2 = 2 + 0.9 * 0.2 - 0.3 = 1.88, delta_1 = 0.9 * 0.3 - 0.4 = -0.13,
        # delta_0 = 1 + 0.9 * 0.4 - 0.5 = 0.86; A_t = delta_t + 0.9 * 0.8 * A_{t+1}.
        ([False, False, False], [0.86 + 0.72 * (-0.13 + 0.72 * 1.88), -0.13 + 0.72 * 1.88, 1.88]),
        # The episode ends at step 1: delta_1 = 0 - 0.4 and A_1 does not look past it.
        ([False, True, False], [0.86 + 0.72 * -0.4, -0.4, 1.88]),
    ],
)
def test_gae_of_a_three_step_rollout_matches_hand_computation(terminated, expected):
    buffer = RolloutBuffer(3, 1, (1,), obs_dtype=np.float32)
    for t, (r, v) in enumerate(zip([1.0, 0.0, 2.0], [0.5, 0.4, 0.3], strict=True)):
        buffer.add([[t]], [0], [r], [terminated[t]], [False], [v], [0.0])
    buffer.compute_returns_and_advantages(np.array([0.2]), gamma=0.9, gae_lambda=0.8)
    np.testing.assert_allclose(buffer.advantages[:, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(buffer.returns[:, 0], np.add(expected, [0.5, 0.4, 0.3]), rtol=1e-6)


# -- the clipped loss -----------------------------------------------------------------------------
def _two_samples(advantages=(1.0, -2.0)):
    """Ratios 1.6 (clipped to 1.2) and 1.1 (inside the clip range)."""
    f = torch.float64
    batch = RolloutBatch(
        observations=torch.zeros(2, 1, dtype=f),
        actions=torch.zeros(2, dtype=torch.int64),
        old_values=torch.tensor([1.0, 0.0], dtype=f),
        old_log_probs=torch.tensor([0.5, 0.5], dtype=f).log(),
        advantages=torch.tensor(advantages, dtype=f),
        returns=torch.tensor([2.0, -1.0], dtype=f),
    )
    new_log_probs = torch.tensor([0.8, 0.55], dtype=f).log().requires_grad_()
    entropy = torch.tensor([0.6, 0.4], dtype=f)
    new_values = torch.tensor([1.5, 0.1], dtype=f)
    return new_log_probs, entropy, new_values, batch


def test_clipped_loss_matches_hand_computation():
    cfg = preset(
        "cartpole_ppo", clip_coef=0.2, clip_vloss=True, norm_adv=False, ent_coef=0.01, vf_coef=0.5
    )
    new_log_probs, entropy, new_values, batch = _two_samples()
    out = clipped_loss(new_log_probs, entropy, new_values, batch, cfg)
    # Sample 0: A = 1, r = 1.6: max(-1.6, -1.2) = -1.2 (clipped). Sample 1: A = -2, r = 1.1:
    # max(2.2, 2.2) = 2.2. Mean 0.5.
    assert out.policy.item() == pytest.approx(0.5)
    # Values: sample 0 moved 0.5 from its old value, clipped to 0.2: max(0.25, (1.2 - 2)^2) =
    # 0.64; sample 1 moved 0.1 (inside): 1.21. Half the mean: 0.4625.
    assert out.value.item() == pytest.approx(0.4625)
    assert out.entropy.item() == pytest.approx(0.5)
    assert out.total.item() == pytest.approx(0.5 - 0.01 * 0.5 + 0.5 * 0.4625)
    assert out.clipfrac.item() == pytest.approx(0.5)
    kl = ((0.6 - math.log(1.6)) + (0.1 - math.log(1.1))) / 2
    assert out.approx_kl.item() == pytest.approx(kl)
    # The clipped sample gives no policy gradient; the other one -A r / B = 2 * 1.1 / 2.
    (grad,) = torch.autograd.grad(out.total, new_log_probs)  # only policy depends on it
    np.testing.assert_allclose(grad.numpy(), [0.0, 1.1], rtol=1e-9)


def test_clipped_loss_without_value_clip_and_with_normalised_advantages():
    cfg = preset("cartpole_ppo", clip_vloss=False, norm_adv=True, ent_coef=0.0, vf_coef=1.0)
    out = clipped_loss(*_two_samples(), cfg)
    assert out.value.item() == pytest.approx(0.5 * (0.25 + 1.21) / 2)
    # (1, -2) normalised with the sample std (1.5 * sqrt 2) is (a, -a) with a = 1 / sqrt 2:
    # max(-1.6 a, -1.2 a) = -1.2 a and max(1.1 a, 1.1 a) = 1.1 a.
    a = 1 / math.sqrt(2)
    assert out.policy.item() == pytest.approx((-1.2 * a + 1.1 * a) / 2, rel=1e-6)
    assert out.total.item() == pytest.approx(out.policy.item() + out.value.item())


def test_explained_variance():
    r = np.array([1.0, 2.0, 3.0])
    assert explained_variance(r, r) == 1.0
    assert explained_variance(np.full(3, 2.0), r) == pytest.approx(0.0)
    assert math.isnan(explained_variance(r, np.ones(3)))


# -- the actor ------------------------------------------------------------------------------------
class _FixedPolicy(torch.nn.Module):
    """Logits log(0.2, 0.5, 0.3) and value 7 for every row; records the input dtype."""

    def __init__(self):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor([0.2, 0.5, 0.3]).log())
        self.seen = []

    def forward(self, obs):
        self.seen.append(obs.dtype)
        n = obs.shape[0]
        return self.logits.expand(n, 3), torch.full((n,), 7.0)


def test_actor_samples_from_the_softmax_and_keeps_frames_uint8():
    net = _FixedPolicy()
    actor = StochasticActor(net, np.random.default_rng(0), "cpu")
    obs = np.zeros((6000, 1, 2, 2), dtype=np.uint8)
    actions, log_probs, values = actor.act(obs)
    assert net.seen == [torch.uint8]
    assert actions.dtype == np.int64 and log_probs.dtype == values.dtype == np.float32
    np.testing.assert_allclose(np.bincount(actions) / len(obs), [0.2, 0.5, 0.3], atol=0.02)
    np.testing.assert_allclose(log_probs, np.log([0.2, 0.5, 0.3])[actions], rtol=1e-5)
    assert (values == 7.0).all() and (actor.values(obs[:3]) == 7.0).all()


def test_final_values_only_for_truncated_envs_that_report_a_final_obs():
    from rlkit.collectors import ColumnWriter, EpisodeCounter

    actor = StochasticActor(_FixedPolicy(), np.random.default_rng(0), "cpu")
    obs = np.zeros((4, 4), dtype=np.float32)
    final = np.empty(4, dtype=object)
    final[0] = final[2] = final[3] = np.ones(4, dtype=np.float32)
    # env 0 and 2 cut by a time limit, 1 runs on, 3 ends for real (terminated).
    term, trunc = np.array([0, 0, 0, 1], bool), np.array([1, 0, 1, 1], bool)
    infos = {"final_obs": final, "_final_obs": np.array([True, False, True, True])}
    for reported, want in ((infos, [7.0, 0.0, 7.0, 0.0]), ({}, [0.0] * 4)):
        writer, ids = ColumnWriter(1, obs, EpisodeCounter(4)), np.arange(4)
        out = (obs, np.ones(4), term, trunc, reported)
        cut = writer.write(0, ids, np.zeros(4, np.int64), {}, out)
        writer.finals_of(actor, 0, ids, cut, reported)
        cols = writer.columns(ids, {}, {})
        got = cols.finals.get("values", np.zeros((1, 4)))[0]
        np.testing.assert_array_equal(got, want)  # no final obs: treated as a termination


# -- the learner ----------------------------------------------------------------------------------
def _batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return RolloutBatch(
        observations=torch.rand(n, 4, generator=g),
        actions=torch.randint(0, 2, (n,), generator=g),
        old_values=torch.randn(n, generator=g),
        old_log_probs=torch.full((n,), math.log(0.5)),
        advantages=torch.randn(n, generator=g),
        returns=torch.randn(n, generator=g),
    )


def _twin_learners(**kw):
    cfg = preset("cartpole_ppo", lr=1e-2, **kw)
    torch.manual_seed(3)
    a = PPOLearner(cfg, (4,), 2, "cpu")
    torch.manual_seed(3)
    b = PPOLearner(cfg, (4,), 2, "cpu")
    return a, b


def test_the_update_equals_its_two_halves_and_the_hook_runs_between():
    fused, halves = _twin_learners(max_grad_norm=None)
    seen = []

    def halve(params):
        assert all(p.grad is not None for p in params)
        seen.append(1)
        for p in params:
            p.grad.mul_(0.5)

    halves.grad_hook = halve
    for step in range(3):
        batch = _batch(seed=step)
        a = fused.compute_gradients(batch)
        for p in fused.params:
            p.grad.mul_(0.5)
        fused.apply_gradients()
        b = halves.update(batch)
        assert torch.equal(a.total, b.total) and not b.total.requires_grad, step
    assert seen == [1, 1, 1] and fused.updates == halves.updates == 3
    for pa, pb in zip(fused.model.parameters(), halves.model.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_learner_loss_is_the_clipped_loss_of_the_models_own_distribution():
    learner, _ = _twin_learners()
    batch = _batch()
    log_probs, entropy, values = learner.model.evaluate_actions(batch.observations, batch.actions)
    expected = clipped_loss(log_probs, entropy, values, batch, learner.config)
    got = learner.loss(batch)
    for name, a, b in zip(got._fields, got, expected, strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


def test_learner_clips_the_gradient_norm():
    learner, _ = _twin_learners(max_grad_norm=1e-3)
    norms = []
    learner.compute_gradients(_batch())
    learner.optimizer.step = lambda: norms.append(
        torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in learner.params]))
    )
    learner.apply_gradients()
    assert norms[0].item() == pytest.approx(1e-3, rel=1e-4)


# -- training -------------------------------------------------------------------------------------
def test_ppo_is_registered_and_its_agent_follows_the_protocol():
    cfg = tiny()
    assert algorithm(cfg).agent is PPOAgent and type(cfg).module == "rlkit.agents.ppo"
    assert agent_class(cfg) is PPOAgent and PPOAgent.phases == ("env", "act", "learner")
    with pytest.raises(TypeError, match="PPOConfig"):
        train_ppo(preset("cartpole"), device="cpu")


def _check_history(result, cfg):
    h = result.history
    assert h.env_steps == cfg.total_steps and result.algo == "ppo"
    rollouts = cfg.total_steps // cfg.rollout_size
    assert h.updates == rollouts * cfg.n_epochs * cfg.n_minibatches
    assert METRIC_KEYS <= set(h.metrics)
    for key in METRIC_KEYS - {"explained_variance"}:
        steps, values = h.series(key)
        assert steps and all(np.isfinite(values)), key
    assert h.episodes == len(h.episode_returns) > 0
    assert len(h.eval_means) == cfg.total_steps // cfg.eval_interval
    split = h.time_split()
    assert list(split) == ["env", "act", "learner", "other"]
    assert split["env"] > 0 and split["act"] > 0 and split["learner"] > 0


def test_cartpole_smoke_anneals_the_learning_rate():
    cfg = tiny()
    result = train_ppo(cfg, device="cpu")
    _check_history(result, cfg)
    _, lrs = result.history.series("lr")
    # Set before each rollout from the steps done: 1, 2/3, 1/3 of lr.
    np.testing.assert_allclose(lrs[:3], [cfg.lr, cfg.lr * 2 / 3, cfg.lr / 3], rtol=1e-6)


def test_target_kl_stops_the_epochs_early():
    cfg = tiny(total_steps=128, eval_interval=0, target_kl=1e-9, lr=1e-2)
    result = train_ppo(cfg, device="cpu")
    assert result.history.updates == cfg.n_minibatches  # one epoch of the four


@pytest.mark.slow
def test_vizdoom_smoke_with_two_envs():
    cfg = tiny("vizdoom_basic_ppo", num_envs=2, total_steps=128, n_minibatches=2)
    result = train_ppo(cfg, device="cpu")
    assert result.history.updates == 2 * cfg.n_epochs * cfg.n_minibatches  # two rollouts of 64
    assert all(np.isfinite(result.history.series("loss/value")[1]))
    assert result.env_spec.observation_shape == (1, 30, 45)


def test_truncated_steps_bootstrap_the_value_of_the_final_observation(monkeypatch):
    """With learning switched off, a truncated step's stored reward is 1 + gamma V(final obs)."""
    cfg = tiny(total_steps=128, eval_interval=0, env_kwargs={"max_episode_steps": 5})
    stored, finals = [], []
    add, collect = RolloutBuffer.add, Trainer.collect

    def spy_add(self, obs, actions, rewards, terminated, truncated, values, log_probs):
        stored.append((np.array(rewards), np.array(terminated), np.array(truncated)))
        add(self, obs, actions, rewards, terminated, truncated, values, log_probs)

    def spy_collect(self, actor, steps=None):
        cols = collect(self, actor, steps)
        for t in range(len(cols.actions)):  # each step's final observations, by env
            at = zip(cols.final_at, cols.final_obs, strict=True)
            finals.append({j: f for (s, j), f in at if s == t})
        return cols

    monkeypatch.setattr(RolloutBuffer, "add", spy_add)
    monkeypatch.setattr(Trainer, "collect", spy_collect)
    monkeypatch.setattr(PPOAgent, "_learn", lambda self: None)
    result = train_ppo(cfg, device="cpu")
    checked = 0
    for (rewards, terminated, truncated), final in zip(stored, finals, strict=True):
        for i in np.flatnonzero(truncated & ~terminated):
            with torch.no_grad():
                v = result.model(torch.as_tensor(final[i][None]))[1].item()
            assert rewards[i] == pytest.approx(1.0 + cfg.gamma * v, rel=1e-5)
            checked += 1
        assert (rewards[~truncated] == 1.0).all()
    assert checked >= 4


def test_greedy_policy_takes_the_argmax_of_the_logits():
    from rlkit.evaluation import greedy_policy

    cfg = tiny()
    spec = EnvSpec("CartPole-v1", (4,), "float32", ("LEFT", "RIGHT"), {})
    agent = PPOAgent(cfg, spec, "cpu", np.random.default_rng(0))
    with torch.no_grad():  # make the two logits differ clearly
        agent.model.policy_head.weight.mul_(100)
    obs = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)
    with torch.no_grad():
        logits, _ = agent.model(torch.from_numpy(obs))
    greedy = greedy_policy(agent.model)
    assert [greedy(o) for o in obs] == logits.argmax(1).tolist()
    assert len(set(logits.argmax(1).tolist())) == 2


def test_checkpoint_save_and_resume_continue_training(tmp_path):
    cfg = tiny(total_steps=256, checkpoint_interval=128)
    first = train_ppo(cfg, device="cpu", run_dir=tmp_path)
    assert first.checkpoint_path == str(tmp_path / "checkpoint.pt")
    model, ckpt = load_model(tmp_path / "checkpoint.pt", device="cpu")
    x = torch.rand(5, 4)
    assert torch.equal(model(x)[0], first.model(x)[0])
    assert ckpt.metadata["algo"] == "ppo" and ckpt.metadata["progress"]["env_steps"] == 256
    extra = load_checkpoint(tmp_path / "checkpoint.pt").extra_state
    assert extra["rollouts"] == 2 and extra["learner"]["updates"] == 32

    more = cfg.replace(total_steps=512)
    runs = [train_ppo(more, device="cpu", resume_from=tmp_path / "checkpoint.pt") for _ in range(2)]
    h = runs[0].history
    assert h.env_steps == 512 and h.updates == 64
    assert h.episode_returns[: len(first.history.episode_returns)] == first.history.episode_returns
    assert h.eval_steps == [128, 256, 384, 512]
    _, lrs = h.series("lr")
    assert lrs[-1] == pytest.approx(more.lr * 0.25)  # annealed from where the first run stopped
    # Optimizer, sampling and shuffling streams come back: two resumes learn the same weights.
    for pa, pb in zip(runs[0].model.parameters(), runs[1].model.parameters(), strict=True):
        assert torch.equal(pa, pb)


@pytest.mark.slow
def test_cartpole_ppo_preset_reaches_475_greedy_on_fresh_episodes():
    from rlkit.callbacks import StopAtConfirmedTarget
    from rlkit.evaluation import evaluate

    # Stops once an evaluation's policy also reaches 475 on 20 fresh episodes, instead of
    # training the preset's whole budget past it; then 20 more fresh episodes.
    cfg = preset("cartpole_ppo", seed=1)
    stop = StopAtConfirmedTarget(475, confirm_episodes=20, seed=1)
    result = train_ppo(cfg, device="cpu", callbacks=[stop])
    assert stop.steps is not None, stop.attempts
    res = evaluate(result.model, cfg.env_id, episodes=20, seed=123_456)
    assert res.mean >= 475, res.scores


@pytest.mark.slow
def test_a_ppo_checkpoint_exports_to_onnx_and_plays_like_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    from rlkit.export import export_onnx
    from rlkit.player import load_policy

    train_ppo(tiny(total_steps=128, eval_interval=0), device="cpu", run_dir=tmp_path)
    report = export_onnx(tmp_path / "checkpoint.pt", tmp_path / "agent.onnx", check_observations=50)
    assert report.agreement == 1.0
    onnx_policy, spec = load_policy(tmp_path / "agent.onnx")
    assert spec.observation_shape == (4,)
    assert onnx_policy.metadata["output"]["names"] == ["logits", "value"]
    torch_policy, _ = load_policy(tmp_path / "checkpoint.pt")
    obs = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    assert [onnx_policy(o) for o in obs] == [torch_policy(o) for o in obs]


@pytest.mark.slow
def test_vizdoom_basic_ppo_preset_reaches_60_greedy_on_fresh_episodes():
    from rlkit.callbacks import StopAtConfirmedTarget
    from rlkit.evaluation import evaluate

    cfg = preset("vizdoom_basic_ppo", seed=1)
    stop = StopAtConfirmedTarget(60, confirm_episodes=20, seed=1)  # not the whole budget
    result = train_ppo(cfg, device="cpu", callbacks=[stop])
    assert stop.steps is not None, stop.attempts
    res = evaluate(result.model, cfg.env_id, episodes=20, seed=123_456, env_kwargs=cfg.env_kwargs)
    assert res.mean >= 60, res.scores
