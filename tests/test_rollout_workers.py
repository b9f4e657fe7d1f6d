"""Ray rollout workers with a synchronous learner (rlkit.distributed.rollout).

Fast tests run a worker in this process (no Ray); the slow ones run real Ray actors: training
rounds for PPO and DQN on the embedded cluster, backup workers racing a deliberately slow one, a
worker killed mid-run, and a two-node cluster on loopback whose workers must land on the node
that has the CPUs. Every cluster is stopped in a fixture finalizer, even when a test fails.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from conftest import processes_gone
from ray_cluster import ray_missing

from rlkit.collectors import join
from rlkit.config import ConfigError
from rlkit.distributed.rollout import RolloutWorker, weights_of
from rlkit.presets import preset

needs_ray = pytest.mark.skipif(ray_missing, reason="ray is not installed")


# ------------------------------------------------------------------------------------------
# one worker in this process (fast)


def test_a_ppo_fragment_holds_consecutive_steps_and_true_final_observations():
    cfg = preset("cartpole_ppo", rollout_workers=2)
    worker = RolloutWorker(cfg, index=1, num_envs=4)
    w = weights_of(worker.model)
    first = worker.sample(w, 100, round_=1)
    assert first.obs.shape == (101, 4, 4) and first.actions.shape == (100, 4)
    assert first.records["values"].shape == first.records["log_probs"].shape == (100, 4)
    assert first.last["values"].shape == (4,) and first.steps == 400
    assert first.worker == 1 and first.round == 1 and list(first.env_ids) == [4, 5, 6, 7]
    ends = np.logical_or(first.terminated, first.truncated)
    # Every episode end has its final observation; next_obs() puts it back in place of the reset.
    assert len(first.final_at) == ends.sum() == len(first.episodes) > 0
    nxt = first.next_obs()
    changed = np.argwhere((nxt != first.obs[1:]).any(axis=-1))
    assert sorted(map(tuple, changed)) == sorted(map(tuple, first.final_at))
    # CartPole ends when the cart leaves [-2.4, 2.4] or the pole tilts past 0.2095 rad.
    assert all(abs(x) > 2.4 or abs(th) > 0.2095 for x, _, th, _ in first.final_obs)
    # The next fragment starts where this one stopped; CartPole pays 1 per step.
    second = worker.sample(w, 10, round_=2)
    assert np.array_equal(second.obs[0], first.obs[-1])
    lengths = [n for _, _, n in first.episodes]
    assert sum(lengths) <= 400 and {r for _, r, _ in first.episodes} == set(map(float, lengths))
    # Each episode is recorded at the env step of this fragment at which it ended.
    ended = [4 * (t + 1) for t in np.flatnonzero(ends.any(axis=1)) for _ in range(ends[t].sum())]
    assert [at for at, _, _ in first.episodes] == ended
    worker.close()


def test_a_dqn_fragment_acts_with_the_given_epsilon_and_carries_no_critic():
    cfg = preset("cartpole", rollout_workers=1, num_envs=2)
    worker = RolloutWorker(cfg, index=0, num_envs=2)
    w = weights_of(worker.model)
    greedy = worker.sample(w, 50, round_=1, settings={"epsilon": 0.0})
    assert greedy.records == greedy.finals == greedy.last == {}
    # Epsilon 0 is the network's argmax in every state it met; epsilon 1 is coin flips.
    with torch.inference_mode():
        q = worker.model(torch.from_numpy(greedy.obs[:-1].reshape(-1, 4)))
    assert np.array_equal(greedy.actions.reshape(-1), q.argmax(dim=1).numpy())
    random = worker.sample(w, 200, round_=2, settings={"epsilon": 1.0})
    assert 0.4 < np.mean(random.actions) < 0.6
    worker.close()


def test_fragments_side_by_side_keep_worker_order():
    cfg = preset("cartpole_ppo", rollout_workers=2)
    a = RolloutWorker(cfg, index=0, num_envs=4)
    b = RolloutWorker(cfg, index=1, num_envs=4)
    fa, fb = a.sample(weights_of(a.model), 8, 1), b.sample(weights_of(a.model), 8, 1)
    both = join([fa, fb], {"env": 1.0})
    assert both.obs.shape == (9, 8, 4) and list(both.env_ids) == list(range(8))
    assert np.array_equal(both.obs[:, :4], fa.obs) and np.array_equal(both.obs[:, 4:], fb.obs)
    assert np.array_equal(both.last["values"][4:], fb.last["values"])
    assert np.array_equal(both.next_obs()[:, 4:], fb.next_obs())  # final obs moved with b
    # The learner hears of a round's episodes at its end; the next round may start elsewhere.
    assert {at for at, _, _ in both.episodes} <= {both.steps} and not both.contiguous
    # Envs are seeded by their global index, so the two workers' first observations differ.
    assert not np.array_equal(fa.obs[0], fb.obs[0])
    a.close()
    b.close()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"rollout_workers": 3}, "a multiple of rollout_workers"),
        ({"rollout_workers": 2, "vector_backend": "pool"}, "any lock-step backend"),
        ({"backup_workers": 1}, "needs rollout workers"),
        ({"slow_worker_s": 0.5}, "needs rollout workers"),
        ({"rollout_workers": -1}, "rollout_workers"),
    ],
)
def test_worker_settings_that_cannot_work_are_one_sentence(changes, message):
    with pytest.raises(ConfigError, match=message):
        preset("cartpole_ppo", **changes)


def test_workers_and_a_ray_device_are_refused_before_starting_anything():
    from rlkit.entry import train
    from rlkit.remote.cluster import RemoteError

    with pytest.raises(RemoteError, match="rollout workers train with the learner in this"):
        train(preset("cartpole_ppo"), device="ray", workers=2)


# ------------------------------------------------------------------------------------------
# real Ray actors (slow)


@pytest.fixture(scope="module")
def embedded_ray():
    if ray_missing:
        pytest.skip("ray is not installed")
    from rlkit.remote import cluster as rc

    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    os.environ.pop("RAY_ADDRESS", None)
    rc.connect(None, num_cpus=3, object_store_mb=100)
    yield
    rc.disconnect()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _gone(pids: list[int]) -> bool:
    """Whether every process in ``pids`` has exited (Ray reaps killed actors in a moment)."""
    return processes_gone(pids)


def _train(cfg, **kw):
    """Train through a Trainer kept at hand, to see its workers' processes afterwards."""
    from rlkit.algorithms import agent_class
    from rlkit.training import Trainer

    trainer = Trainer(cfg, agent_class(cfg), "cpu", **kw)
    return trainer.run(), trainer.collector.pids


@needs_ray
@pytest.mark.slow
def test_ppo_trains_on_two_ray_workers(embedded_ray):
    cfg = preset(
        "cartpole_ppo",
        total_steps=4 * 8 * 32,
        eval_interval=0,
        log_interval=256,
        rollout_workers=2,
    )
    result, pids = _train(cfg)
    h = result.history
    assert h.env_steps == 1024 and h.updates == 4 * cfg.n_epochs * cfg.n_minibatches
    assert set(h.phase_seconds) == {"env", "act", "transfer", "learner"}
    assert all(v > 0 for v in h.phase_seconds.values())
    # Episodes are recorded at the end of the round they finished in.
    assert h.episodes > 0 and all(step % 256 == 0 for step in h.episode_steps)
    assert len(pids) == 2 and _gone(pids)


@needs_ray
@pytest.mark.slow
def test_dqn_workers_feed_the_replay_buffer(embedded_ray, tmp_path):
    from rlkit.checkpoints import load_checkpoint

    cfg = preset(
        "cartpole",
        rollout_workers=2,
        num_envs=2,
        total_steps=1_280,
        learning_starts=256,
        worker_steps=64,
        eval_interval=640,
        eval_episodes=2,
    )
    result, pids = _train(cfg, run_dir=tmp_path)
    h = result.history
    assert h.env_steps == 1_280  # 10 rounds of 2 workers x 1 env x 64 steps
    # Each round from the one that reaches learning_starts (the 2nd) makes the updates its 128
    # steps owe.
    assert h.updates == 9 * (128 // cfg.train_freq) * cfg.gradient_steps
    assert h.eval_steps == [640, 1_280]
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt.metadata["config"]["rollout_workers"] == 2
    assert _gone(pids)


@needs_ray
@pytest.mark.slow
def test_a_run_on_rollout_workers_stopped_by_ctrl_c_keeps_its_round_and_leaves_no_actor(
    embedded_ray, tmp_path
):
    """Ctrl-C (as JupyterLab delivers it) during a run on Ray rollout workers: the round ends,
    the checkpoint and the records hold its step, and no RolloutWorker process is left."""
    import json
    import signal

    from conftest import session_processes

    from rlkit.checkpoints import load_checkpoint
    from rlkit.entry import train
    from rlkit.run_folder import CHECKPOINT, HISTORY
    from rlkit.stopping import TrainingInterrupted
    from rlkit.training import Callback

    class CtrlC(Callback):
        def on_log(self, progress):
            if progress.env_steps >= 512 and not getattr(self, "sent", False):
                self.sent = True
                signal.raise_signal(signal.SIGINT)

    cfg = preset(
        "cartpole_ppo", total_steps=10**6, eval_interval=0, log_interval=256, rollout_workers=2
    )
    with pytest.raises(TrainingInterrupted) as stopped:
        train(cfg, device="cpu", run_dir=tmp_path, callbacks=[CtrlC()])
    steps = stopped.value.result.history.env_steps
    assert stopped.value.reason == "SIGINT" and 512 <= steps < 10**6
    assert load_checkpoint(tmp_path / CHECKPOINT).progress["env_steps"] == steps
    assert json.loads((tmp_path / HISTORY).read_text())["env_steps"] == steps
    # Ray reaps the killed actors' processes in a moment: a bound, not a wait.
    import time

    deadline = time.monotonic() + 60
    while session_processes(b"ray::RolloutWorker") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not session_processes(b"ray::RolloutWorker")


@needs_ray
@pytest.mark.slow
def test_backup_workers_leave_a_slow_worker_behind(embedded_ray):
    from rlkit.distributed.rollout import RolloutWorkers

    cfg = preset("cartpole_ppo", num_envs=2, rollout_workers=2, backup_workers=1, slow_worker_s=4)
    workers = RolloutWorkers(cfg)
    try:
        w = weights_of(RolloutWorker(cfg, 0, 1).model)
        rounds = [workers.sample(w, 16)[0] for _ in range(4)]
        # Worker 0 sleeps 4 s per fragment; the other two answer 16 CartPole steps far sooner,
        # loaded machine or not, so every round is theirs, and worker 0's late fragment is
        # dropped when it finally arrives: rounds go on until it has (a bound, not a wait).
        assert all([f.worker for f in r] == [1, 2] for r in rounds)
        assert all(f.round == i + 1 for i, r in enumerate(rounds) for f in r)
        import time

        deadline = time.monotonic() + 120
        while workers.dropped_fragments < 1 and time.monotonic() < deadline:
            workers.sample(w, 16)
        assert workers.dropped_fragments >= 1 and workers.dropped_steps >= 16
    finally:
        workers.close()
    assert len(workers.pids) == 3 and _gone(workers.pids)


@needs_ray
@pytest.mark.slow
def test_a_worker_that_dies_is_named(embedded_ray):
    import ray

    from rlkit.distributed.rollout import RolloutWorkers
    from rlkit.remote.cluster import RemoteError

    cfg = preset("cartpole_ppo", num_envs=2, rollout_workers=2)
    workers = RolloutWorkers(cfg)
    try:
        w = weights_of(RolloutWorker(cfg, 0, 1).model)
        workers.sample(w, 8)
        ray.kill(workers.actors[1])
        with pytest.raises(RemoteError, match="rollout worker 1 died"):
            workers.sample(w, 8)
    finally:
        workers.close()


@needs_ray
@pytest.mark.slow
def test_workers_land_on_the_second_node_of_a_loopback_cluster(loopback_cluster, monkeypatch):
    from rlkit.entry import train
    from rlkit.remote import cluster as rc

    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN", loopback_cluster.token)
    rc.disconnect()
    try:
        nodes = loopback_cluster.node_ids()
        second = [n for n, res in nodes.items() if res.get("CPU", 0) == 2]
        assert len(nodes) == 2 and len(second) == 1
        from rlkit.distributed.rollout import RolloutWorkers

        cfg = preset("cartpole_ppo", num_envs=2, rollout_workers=2, total_steps=128)
        workers = RolloutWorkers(cfg, address=loopback_cluster.address)
        try:
            assert workers.node_ids == second * 2
            frags, _ = workers.sample(weights_of(RolloutWorker(cfg, 0, 1).model), 8)
            assert [f.node_id for f in frags] == second * 2
        finally:
            workers.close()
        result = train(
            cfg.replace(eval_interval=0), device="cpu", ray_address=loopback_cluster.address
        )
        assert result.history.env_steps == 128
    finally:
        rc.disconnect()
