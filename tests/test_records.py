"""Records that cross processes: Progress pickles, History rebuilds from it, portable results."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from rlkit.checkpoints import load_checkpoint
from rlkit.entry import train
from rlkit.paths import CHECKPOINTS_DIR
from rlkit.presets import preset
from rlkit.records import EpisodeRow, EvalRow, History, Progress
from rlkit.training import Callback


class Recorder(Callback):
    """Keeps every Progress record, pickled and unpickled as if it came from another process."""

    def __init__(self):
        self.records: list[Progress] = []

    def _keep(self, progress):
        self.records.append(pickle.loads(pickle.dumps(progress)))

    on_start = on_log = on_end = _keep

    def on_eval(self, progress):
        self._keep(progress)


def tiny_run(**kw):
    cfg = preset(
        "cartpole",
        total_steps=400,
        learning_starts=64,
        batch_size=32,
        eval_interval=200,
        eval_episodes=2,
        log_interval=100,
        **kw,
    )
    first, rec = Recorder(), Recorder()  # every callback sees the same records
    result = train(cfg, device="cpu", callbacks=[first, rec])
    assert first.records == rec.records
    return result, rec


def test_progress_holds_plain_data_and_rebuilds_the_history():
    result, rec = tiny_run()
    events = [p.event for p in rec.records]
    assert events[0] == "start" and events[-1] == "end"
    assert events.count("eval") == 2 and events.count("log") == 4
    for p in rec.records:
        assert not any(isinstance(v, torch.Tensor) for v in vars(p).values())
        assert all(isinstance(v, float) for v in p.metrics.values())
    log = next(p for p in rec.records if p.event == "log" and "loss" in p.metrics)
    assert {"epsilon", "loss", "time/env", "time/act", "time/learner"} <= set(log.metrics)
    rebuilt = History()
    for p in rec.records:
        rebuilt.absorb(p)
    assert rebuilt.to_dict() == result.history.to_dict()


def test_history_round_trips_through_json_dicts():
    h = History()
    h.add_episode(EpisodeRow(10, 0.5, 3.0, 10))
    h.add_eval(EvalRow(10, 0.5, 2.0, 1.0, (1.0, 3.0)))
    h.record("kl", 10, 0.01)
    h.record("kl", 20, 0.02)
    h.phase_seconds["comm"] = 0.25
    h.train_seconds = 1.0
    back = History.from_dict(h.to_dict())
    assert back == h
    assert back.series("kl") == ([10, 20], [0.01, 0.02]) and back.latest("kl") == 0.02
    assert back.series("missing") == ([], []) and back.latest("missing") is None
    assert back.time_split() == {"comm": 0.25, "other": 0.75}


def test_a_history_from_before_keyed_metrics_still_loads():
    """The shipped checkpoint's history has fixed loss and time fields; they become keys."""
    ckpt = load_checkpoint(CHECKPOINTS_DIR / "vizdoom_simpler_basic" / "checkpoint.pt")
    old = ckpt.extra_state["history"]
    h = History.from_dict(old)
    assert h.series("loss") == (old["loss_steps"], old["losses"])
    assert h.phase_seconds == {k: old[f"{k}_seconds"] for k in ("env", "act", "learner")}
    assert h.env_steps == old["env_steps"] and h.episode_returns == old["episode_returns"]


def test_a_portable_result_pickles_and_rebuilds_the_model():
    result, _ = tiny_run()
    portable = pickle.loads(pickle.dumps(result.portable()))
    assert portable.model is None
    assert all(t.device.type == "cpu" for t in portable.weights.values())
    x = torch.rand(7, 4)
    with torch.no_grad():
        assert torch.equal(portable.get_model()(x), result.model(x))
    with pytest.raises(ValueError, match="neither a model nor weights"):
        type(result)(result.config, result.env_spec, result.history, "cpu", "dqn").get_model()


def test_progress_rates_and_phases():
    p = Progress("log", "dqn", "x", 1000, 2000, 10, 3, 2.0, metrics={"time/env": 1.5, "loss": 1})
    assert p.steps_per_s == 500.0 and p.phase_seconds() == {"env": 1.5}
    assert np.isclose(Progress("start", "dqn", "x", 0, 1, 0, 0, 0.0).steps_per_s or 0, 0)
