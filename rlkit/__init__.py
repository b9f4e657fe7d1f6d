"""rlkit: learn deep reinforcement learning by doing it — Doom from pixels, on a CPU or a GPU.

The flat API below is all a notebook needs to start::

    import rlkit

    config = rlkit.preset("vizdoom_basic")
    result = rlkit.train(config, device="auto", callbacks=[rlkit.Dashboard()])
    print(rlkit.evaluate(result, episodes=20))  # on the env it was trained on

Importing rlkit has no side effects and loads nothing heavy: each name is imported from its
module on first use (torch, gymnasium and vizdoom load only then).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "preset": "rlkit.presets",
    "train": "rlkit.entry",
    "evaluate": "rlkit.evaluation",
    "random_policy": "rlkit.evaluation",
    "greedy_policy": "rlkit.evaluation",
    "compare_scores": "rlkit.stats",
    "certified_score": "rlkit.stats",
    "GameWidget": "rlkit.ui.game",
    "load_played": "rlkit.human",
    "versus": "rlkit.human",
    "frontend_check": "rlkit.ui.frontend",
    "load_model": "rlkit.checkpoints",
    "make_env": "rlkit.envs",
    "env_spec": "rlkit.envs",
    "EnvSpec": "rlkit.envs",
    "make_vector_env": "rlkit.envs.vector",
    "select_device": "rlkit.devices",
    "Dashboard": "rlkit.ui.dashboard",
    "KeepBest": "rlkit.callbacks",
    "StopAtTarget": "rlkit.callbacks",
    "StopAtConfirmedTarget": "rlkit.callbacks",
    "Snapshots": "rlkit.callbacks",
    "sweep": "rlkit.sweeps",
    "summarize": "rlkit.sweeps",
    "claim": "rlkit.ui.report",
    "verdict": "rlkit.ui.report",
    "show_table": "rlkit.ui.table",
    "show": "rlkit.ui.report",
    "eval_at_time": "rlkit.sweeps",
    "runs_dir": "rlkit.paths",
    "ROOT": "rlkit.paths",
    "CHECKPOINTS_DIR": "rlkit.paths",
    "write_json": "rlkit.atomic",
    "aim_and_shoot": "rlkit.baselines",
    "ConfigError": "rlkit.config",
    "DeviceNotAvailableError": "rlkit.devices",
    "machine_info": "rlkit.devices",
    "export_onnx": "rlkit.export",
    "OnnxPolicy": "rlkit.player",
    "ActorCritic": "rlkit.models",
    "count_parameters": "rlkit.models",
    "model_from_spec": "rlkit.models",
    "RemoteDeviceReport": "rlkit.remote",
    "disconnect": "rlkit.remote",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rlkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
