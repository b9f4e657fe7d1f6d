"""Training loops. Each returns a :class:`rlkit.agents.common.TrainResult`."""

from rlkit.agents.common import Callback, History, KeepBest, TrainResult
from rlkit.agents.dqn import train_dqn

__all__ = ["Callback", "History", "KeepBest", "TrainResult", "train_dqn"]
