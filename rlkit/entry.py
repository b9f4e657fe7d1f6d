"""The entry point: ``train(config)``, which runs here, on Ray rollout workers or on a remote GPU.

Nothing in the engine imports this module: :class:`rlkit.training.Trainer` runs one agent on
one collector, :mod:`rlkit.remote` runs the same Trainer on a cluster's GPU, and this is where
a person's call is turned into one of them (and where Ctrl-C becomes a clean stop).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rlkit.config import DQNConfig, PPOConfig
from rlkit.records import TrainResult
from rlkit.training import Callback, Trainer


def train(
    config: Any,
    device: str | torch.device = "auto",
    callbacks: Sequence[Callback] = (),
    run_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    save_buffer: bool = False,
    workers: int | None = None,
    ray_address: str | None = None,
    overwrite: bool = False,
    collector: Any = None,
) -> TrainResult:
    """Train the algorithm a config describes.

    :param config: what to train, e.g. ``rlkit.presets.preset("vizdoom_basic")``.
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (see
        :func:`rlkit.devices.select_device`); a device that is not there is an error. Or a GPU
        in a Ray cluster: ``"ray"`` (``$RAY_ADDRESS``, else an embedded local cluster),
        ``"ray://HOST:PORT"`` (Ray Client) or ``"ray:HOST:PORT"``, which hands the run to
        :func:`rlkit.remote.train` (see there for its options).
    :param callbacks: :class:`Callback` objects (dashboard, early stop, keep best).
    :param run_dir: if given, checkpoints (``checkpoint.pt``), ``history.json`` and
        ``episodes.csv`` are written there (atomically).
    :param resume_from: a checkpoint to continue from (weights, optimizer and target state,
        counters, history, RNG streams; the replay buffer too if it was saved). Envs start
        fresh episodes: the episode that was running when the checkpoint was written is not
        resumed.
    :param save_buffer: include the replay buffer in checkpoints (large, but resumes exactly).
    :param workers: Ray rollout workers, short for ``config.replace(rollout_workers=workers)``:
        N Ray actors step the envs (``num_envs // N`` each) with copies of the policy, the
        learner trains here on ``device`` in synchronous rounds and broadcasts the weights
        (:mod:`rlkit.distributed.rollout`; ``backup_workers`` in the config adds spares whose
        late fragments are dropped). The run's result, checkpoints and callbacks are as usual;
        the time split gains ``transfer``.
    :param ray_address: the Ray cluster the rollout workers run in; ``None`` is
        ``$RAY_ADDRESS``, else an embedded local cluster (kept up for the next run;
        :func:`rlkit.remote.disconnect` stops it).
    :param overwrite: let a fresh run replace the trained run ``run_dir`` holds; without it
        (and without ``resume_from``) such a folder is refused (:mod:`rlkit.run_folder`).
    :param collector: a collector of your own (:mod:`rlkit.collectors`) to step the envs
        instead of the one the config chooses; the run closes it.
    :return: a :class:`rlkit.records.TrainResult` with the live model.
    :raises rlkit.stopping.TrainingInterrupted: the run was stopped (Ctrl-C, a kernel
        interrupt, SIGTERM, SIGHUP) after finishing its current iteration and writing its
        checkpoint; ``err.result`` is the partial result, live model included.
    """
    from rlkit.algorithms import agent_class
    from rlkit.remote.cluster import is_ray_device, parse_device
    from rlkit.stopping import TrainingInterrupted, stop_on_signals

    if workers is not None:
        agent_class(config)  # a config that is not one is named before anything else
        config = config.replace(rollout_workers=workers)
    if collector is not None and (is_ray_device(device) or getattr(config, "rollout_workers", 0)):
        raise ValueError(
            "a collector of your own steps envs in this process: no Ray device or workers"
        )
    if is_ray_device(device) and getattr(config, "rollout_workers", 0):
        from rlkit.remote.cluster import RemoteError

        raise RemoteError(
            "rollout workers train with the learner in this process; use device='cpu' or a "
            "local GPU with workers, or a Ray device without them"
        )
    if is_ray_device(device):
        from rlkit import remote

        return remote.train(
            config,
            parse_device(str(device)),
            callbacks=callbacks,
            run_dir=run_dir,
            resume_from=resume_from,
            save_buffer=save_buffer,
            overwrite=overwrite,
        )
    trainer = Trainer(
        config,
        agent_class(config),
        device,
        callbacks,
        run_dir,
        resume_from,
        save_buffer,
        ray_address=ray_address,
        overwrite=overwrite,
        collector=collector,
    )
    with stop_on_signals(trainer.request_stop):
        result = trainer.run()
    if result.stopped_by is not None:
        raise TrainingInterrupted(result, result.stopped_by)
    return result


def train_dqn(config: DQNConfig, *args: Any, **kwargs: Any) -> TrainResult:
    """Train a DQN agent: :func:`train` (same arguments) for a :class:`DQNConfig`."""
    if not isinstance(config, DQNConfig):
        raise TypeError(f"config must be a DQNConfig (see rlkit.presets.preset), got {config!r}")
    return train(config, *args, **kwargs)


def train_ppo(config: PPOConfig, *args: Any, **kwargs: Any) -> TrainResult:
    """Train a PPO agent: :func:`train` (same arguments) for a :class:`PPOConfig`."""
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a PPOConfig (see rlkit.presets.preset), got {config!r}")
    return train(config, *args, **kwargs)
