"""Hand-written players for Doom, to show what rules reach without learning.

:func:`aim_and_shoot` looks at the agent's own grayscale frame: the monster is the darkest
column of the band where the far wall is, so it strafes (or turns) towards that column and
fires once the column is centred under the gun. It plays ``basic``, ``simpler_basic`` and, with
turning actions, ``defend_the_center``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["aim_and_shoot"]


def _index(names: Sequence[str], *candidates: str) -> int:
    for c in candidates:
        if c in names:
            return list(names).index(c)
    raise ValueError(f"aim_and_shoot needs one of {candidates} among the actions, got {names}")


def aim_and_shoot(
    action_names: Sequence[str],
    band: tuple[float, float] = (0.35, 0.6),
    tolerance: float = 0.07,
) -> Callable[[np.ndarray], int]:
    """A scripted policy: move towards the darkest column of the wall band, fire when centred.

    :param action_names: the env's actions; needs ``ATTACK`` and ``MOVE_LEFT``/``MOVE_RIGHT`` (or
        ``TURN_LEFT``/``TURN_RIGHT``).
    :param band: the rows, as fractions of the frame height, where the monster stands.
    :param tolerance: how far from the centre, as a fraction of the width, still counts as aimed.
    :return: ``policy(obs) -> action`` for ``(C, H, W)`` uint8 frames (the newest channel is used).
    """
    left = _index(action_names, "MOVE_LEFT", "TURN_LEFT")
    right = _index(action_names, "MOVE_RIGHT", "TURN_RIGHT")
    attack = _index(action_names, "ATTACK")

    def act(obs: np.ndarray) -> int:
        frame = np.asarray(obs)[-1].astype(np.float32)
        h, w = frame.shape
        rows = frame[int(band[0] * h) : max(int(band[1] * h), int(band[0] * h) + 1)]
        # Columns averaged with their neighbours: one dark pixel of wall texture is not a monster.
        profile = np.convolve(rows.mean(axis=0), np.ones(3) / 3, mode="same")
        target = int(np.argmin(profile[1:-1])) + 1  # the monster is darker than the wall
        offset = (target - (w - 1) / 2) / w
        if abs(offset) <= tolerance:
            return attack
        return right if offset > 0 else left

    return act
