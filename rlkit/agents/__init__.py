"""Learning algorithms. Each trains through :func:`rlkit.training.train` and returns a
:class:`rlkit.records.TrainResult`."""

from rlkit.agents.dqn import train_dqn
from rlkit.agents.ppo import train_ppo

__all__ = ["train_dqn", "train_ppo"]
