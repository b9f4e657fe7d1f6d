"""Learning algorithms. Each trains through :func:`rlkit.training.train` and returns a
:class:`rlkit.records.TrainResult`."""

from rlkit.agents.dqn import train_dqn

__all__ = ["train_dqn"]
