"""Experience storage: uniform and prioritized replay for DQN, rollout storage with GAE for PPO."""

from rlkit.buffers.device import DeviceReplayBuffer
from rlkit.buffers.prioritized import PrioritizedReplayBuffer
from rlkit.buffers.replay import ReplayBatch, ReplayBuffer
from rlkit.buffers.rollout import RolloutBatch, RolloutBuffer

__all__ = [
    "DeviceReplayBuffer",
    "PrioritizedReplayBuffer",
    "ReplayBatch",
    "ReplayBuffer",
    "RolloutBatch",
    "RolloutBuffer",
]
