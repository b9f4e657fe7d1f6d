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
from typing import Any, Protocol


class Agent(Protocol):
    """What an algorithm gives the :class:`rlkit.training.Trainer` (see
    :class:`rlkit.agents.dqn.DQNAgent`).

    Built as ``Agent(config, env_spec, device, rng, plan=plan)``; ``rng`` is the run's numpy
    generator, ``plan`` the :class:`rlkit.device_plan.DevicePlan` it follows (pinned copies,
    storage on the device, a compiled update).
    """

    phases: tuple[str, ...]
    """Names of the timed phases, in display order (``("env", "act", "learner")``)."""
    config: Any
    """The run's config."""
    env_spec: Any
    """The :class:`rlkit.envs.EnvSpec` it trains on."""
    model: Any
    """The policy network (a ``torch.nn.Module``): evaluated greedily (the argmax of its
    output, or of the first output: :func:`rlkit.evaluation.greedy_policy`), checkpointed,
    given to :meth:`rlkit.training.Callback.bind`."""
    updates: int
    """Gradient updates so far."""

    def start(self) -> None:
        """Training is about to start (after any resume), with fresh episodes in every env."""

    def iterate(self, run: Any) -> None:
        """One round: :meth:`rlkit.training.Trainer.collect` with its actor, then learn."""

    def log_metrics(self) -> dict[str, float]:
        """Keyed metrics since the previous call (``{}`` if nothing happened)."""

    def state_dict(self, include_buffer: bool) -> dict[str, Any]:
        """Everything beyond the policy weights that resuming needs (plain containers)."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


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
