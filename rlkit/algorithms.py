"""The one algorithm registry: a config class names the module that holds its algorithm.

Each algorithm's config (a :class:`rlkit.config.RunConfig` subclass) sets ``algo`` (its name,
which checkpoints record) and ``module``; that module's ``ALGORITHM`` is an :class:`Algorithm`:
how to build its agent (which learns) and an actor (which acts: what a Ray rollout worker
builds). A new algorithm is a config, an actor, an agent and this one line at the end of its
module; nothing else in rlkit changes (``tests/toy_algorithm.py`` proves it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Algorithm:
    """What the engine needs to know about an algorithm.

    :param agent: the class the :class:`rlkit.training.Trainer` runs, built as
        ``agent(config, env_spec, device, rng, plan=plan)``.
    :param make_actor: ``make_actor(config, env_spec, rng)`` -> an acting copy of the policy
        on the CPU (:class:`rlkit.collectors.Actor`), whose ``model`` takes the agent's weights.
    """

    agent: type
    make_actor: Callable[[Any, Any, Any], Any]


def algorithm(config: Any) -> Algorithm:
    """The :class:`Algorithm` that trains ``config``.

    :raises TypeError: ``config`` is not an algorithm's config.
    """
    from rlkit.config import RunConfig

    module = getattr(type(config), "module", "")
    if not isinstance(config, RunConfig) or not module:
        raise TypeError(
            "config must be an algorithm's config such as DQNConfig or PPOConfig "
            f"(see rlkit.presets.preset), got {config!r}"
        )
    return importlib.import_module(module).ALGORITHM


def agent_class(config: Any) -> type:
    """The agent class that trains ``config``."""
    return algorithm(config).agent
