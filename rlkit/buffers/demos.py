"""Demonstrations: recorded episodes (a person's, or a stand-in's) replayed into a replay buffer
before DQN takes its first step, the prefill of DQfD (Hester et al. 2018) in its simplest form.

A recording holds the seed and the actions, not the frames (:mod:`rlkit.human`): the episode is
played again on the config's env, which gives the very observations the agent would have seen.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from rlkit.human import RecordingError, load_played

__all__ = ["prefill"]


def prefill(buffer: Any, config: Any) -> int:
    """Add the transitions of ``config.demos``' complete episodes to ``buffer``.

    :return: the transitions added.
    :raises RecordingError: a recording made on another env than the config's, or none at all.
    """
    from rlkit.envs import make_env

    episodes = load_played(config.demos)
    if not episodes:
        raise RecordingError(f"{config.demos} holds no complete episode to learn from")
    wanted = json.loads(json.dumps(dict(config.env_kwargs)))
    env = make_env(config.env_id, **config.env_kwargs)
    added = 0
    try:
        for ep in episodes:
            if ep.env_id != config.env_id or ep.env_kwargs != wanted:
                raise RecordingError(
                    f"the demonstration of seed {ep.seed} was played on {ep.env_id} with "
                    f"{ep.env_kwargs}, and this run trains on {config.env_id} with {wanted}"
                )
            obs, _ = env.reset(seed=ep.seed)
            for a in ep.actions:
                nxt, reward, terminated, truncated, _ = env.step(a)
                buffer.add(
                    obs[None],
                    np.array([a]),
                    np.array([reward * config.reward_scale], dtype=np.float32),
                    nxt[None],
                    np.array([terminated]),
                    np.array([truncated]),
                )
                added += 1
                obs = nxt
                if terminated or truncated:
                    break
        buffer.cut_episodes()  # the run's first reset is not the demo's next frame
    finally:
        env.close()
    return added
