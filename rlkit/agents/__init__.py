"""Training loops. Each returns a :class:`rlkit.agents.common.TrainResult`."""

from rlkit.agents.common import Callback, History, TrainResult
from rlkit.agents.dqn import train_dqn

__all__ = ["Callback", "History", "TrainResult", "train_dqn"]
