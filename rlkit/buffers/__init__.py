"""Experience storage: uniform and prioritized replay for DQN (with per-env staging for
free-running envs), rollout storage with GAE for PPO."""

from rlkit.buffers.device import DeviceReplayBuffer
from rlkit.buffers.prioritized import PrioritizedReplayBuffer
from rlkit.buffers.replay import ReplayBatch, ReplayBuffer
from rlkit.buffers.rollout import RolloutBatch, RolloutBuffer
from rlkit.buffers.staging import PerEnvStaging

__all__ = [
    "DeviceReplayBuffer",
    "PerEnvStaging",
    "PrioritizedReplayBuffer",
    "ReplayBatch",
    "ReplayBuffer",
    "RolloutBatch",
    "RolloutBuffer",
]
