"""Environments: one factory (:func:`make_env`), the one :class:`EnvSpec`, the fast ViZDoom env
(:mod:`.doom`) and vector envs (:mod:`.vector`)."""

from rlkit.envs.factory import (
    VIZDOOM_PREFIX,
    EnvSpec,
    env_spec,
    is_atari,
    is_vizdoom,
    make_env,
)

__all__ = ["VIZDOOM_PREFIX", "EnvSpec", "env_spec", "is_atari", "is_vizdoom", "make_env"]
