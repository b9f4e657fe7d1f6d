"""rlkit: learn deep reinforcement learning by doing it — Doom from pixels, on a CPU or a GPU.

Importing rlkit has no side effects: no seeding, no printing, no device selection, and heavy
modules (vizdoom, ray) load only when used.
"""

from rlkit.envs import EnvSpec, env_spec, make_env

__version__ = "0.1.0"

__all__ = ["EnvSpec", "__version__", "env_spec", "make_env"]
