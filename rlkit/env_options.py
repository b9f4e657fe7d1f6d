"""The keyword arguments of a ViZDoom env, checked without starting (or importing) anything.

:class:`rlkit.envs.doom.ViZDoomEnv` runs these checks before it starts the engine, and a config
runs them on its ``env_kwargs`` when it is made (``--set env_kwargs=…``), so that a frame skip
or a resolution the engine cannot use is named before training starts, not by an env in a
worker process minutes later. Nothing heavy is imported here: :mod:`rlkit.config` imports it.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from rlkit.errors import shown

__all__ = ["DOOM_OPTIONS", "MAX_FRAME_SKIP", "MAX_FRAME_STACK", "SCREENS", "check_doom_options"]

# Engine resolutions with a 4:3 aspect ratio, smallest first: (height, width).
SCREENS = ((120, 160), (240, 320), (480, 640), (600, 800), (768, 1024), (960, 1280))
MAX_FRAME_SKIP = 64
MAX_FRAME_STACK = 16
# ViZDoomEnv's keyword arguments after the scenario (tests/test_envs.py keeps them in step).
DOOM_OPTIONS = (
    "resolution",
    "frame_skip",
    "frame_stack",
    "actions",
    "render_mode",
    "render_resolution",
    "episode_timeout",
    "window",
    "realtime",
)


def _is_int(value: Any) -> bool:  # numpy's integers too, never a bool (numpy's is no Integral)
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if not (_is_int(value) and lo <= value <= hi):
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {shown(value)}")


def _check_size(name: str, value: Any) -> None:
    ok = (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(_is_int(v) and v >= 8 for v in value)
    )
    if not ok:
        raise ValueError(f"{name} must be (height, width) with integers ≥ 8, got {shown(value)}")
    height, width = SCREENS[-1]
    if value[0] > height or value[1] > width:
        raise ValueError(
            f"{name} {tuple(value)} is larger than the largest 4:3 engine screen "
            f"{SCREENS[-1]}; valid: height ≤ {height} and width ≤ {width}"
        )


def check_doom_options(options: Mapping[str, Any]) -> None:
    """Check keyword arguments for :class:`~rlkit.envs.doom.ViZDoomEnv` (all but the scenario).

    :raises ValueError: naming the first bad argument and what is valid.
    """
    unknown = [k for k in options if k not in DOOM_OPTIONS]
    if unknown:
        raise ValueError(
            f"ViZDoom envs take no argument {', '.join(map(shown, unknown))}; valid: "
            f"{', '.join(DOOM_OPTIONS)}"
        )
    if "frame_skip" in options:
        _check_int("frame_skip", options["frame_skip"], 1, MAX_FRAME_SKIP)
    if "frame_stack" in options:
        _check_int("frame_stack", options["frame_stack"], 1, MAX_FRAME_STACK)
    if "resolution" in options:
        _check_size("resolution", options["resolution"])
    if options.get("render_resolution") is not None:
        _check_size("render_resolution", options["render_resolution"])
    if options.get("actions", "buttons") not in ("buttons", "combinations"):
        raise ValueError(
            f"actions must be 'buttons' or 'combinations', got {shown(options['actions'])}"
        )
    if options.get("render_mode") not in (None, "rgb_array", "human"):
        raise ValueError(
            f"render_mode must be None, 'rgb_array' or 'human', got {shown(options['render_mode'])}"
        )
    if options.get("episode_timeout") is not None:
        _check_int("episode_timeout", options["episode_timeout"], 1, 10**9)
    for name in ("window", "realtime"):
        if not isinstance(options.get(name, False), bool):
            raise ValueError(f"{name} must be True or False, got {shown(options[name])}")
