"""A fast ViZDoom environment that drives ``vizdoom.DoomGame`` directly.

vizdoom's own gymnasium wrapper renders 320×240 RGB into dict observations, which costs far
more than the raw game loop at low resolution (``python -m rlkit bench env`` compares them).
This env renders grayscale at the smallest engine resolution that covers the requested
observation size, subsamples with precomputed indices (no per-step resize library call), and
returns uint8 frames shaped ``(stack, H, W)``.

Episode ends follow gymnasium's convention: ``terminated`` when the player dies or the scenario's
goal ends the episode, ``truncated`` when the scenario's ``episode_timeout`` is reached — never
both.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import operator
import os
import sys
import tempfile
import time
import weakref
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlkit.env_options import SCREENS as _SCREENS
from rlkit.env_options import check_doom_options
from rlkit.envs.engine_guard import engine_path
from rlkit.errors import UserError

# Game variables reported in ``info`` whatever the scenario (name -> vizdoom.GameVariable name).
_INFO_VARIABLES = {"health": "HEALTH", "ammo": "SELECTED_WEAPON_AMMO", "kills": "KILLCOUNT"}
TICS_PER_SECOND = 35  # Doom's fixed game clock
DEFAULT_FRAME_SKIP = 4  # tics per step unless an env is made with its own frame_skip


def scenarios_dir() -> str:
    """Folder of the scenarios (``.cfg`` + ``.wad``) shipped with the vizdoom package."""
    import vizdoom

    return vizdoom.scenarios_path


def available_scenarios() -> list[str]:
    """Names of the shipped single-player scenarios, e.g. ``basic``, ``simpler_basic``."""
    skip = {"multi", "multi_duel", "cig", "deathmatch", "learning", "oblige"}
    names = []
    for f in sorted(os.listdir(scenarios_dir())):
        stem, ext = os.path.splitext(f)
        # Only scenarios whose cfg points at a map of their own (doom.cfg etc. need IWAD episodes).
        if (
            ext == ".cfg"
            and stem not in skip
            and os.path.exists(os.path.join(scenarios_dir(), stem + ".wad"))
        ):
            names.append(stem)
    return names


def subsample_indices(src: tuple[int, int], dst: tuple[int, int]) -> tuple:
    """An index that picks the pixel nearest each output cell's centre: ``frame[index]``.

    Computed once, it replaces a resize call per step (ViZDoom's own example spends most of its
    step time resizing). Where the size ratio is a whole number the index is a strided slice
    (a few times cheaper than a gather); otherwise an index array. Both pick the same pixels.
    """

    def axis(n_src: int, n_dst: int):
        if n_src % n_dst == 0:
            f = n_src // n_dst
            return slice(f // 2, f // 2 + f * n_dst, f)
        return ((np.arange(n_dst) + 0.5) * n_src / n_dst).astype(np.intp)

    rows, cols = axis(src[0], dst[0]), axis(src[1], dst[1])
    if isinstance(rows, np.ndarray) and isinstance(cols, np.ndarray):
        return rows[:, None], cols[None, :]  # broadcast to a (H, W) gather
    return rows, cols


def _engine_screen(height: int, width: int) -> tuple[int, int]:
    for h, w in _SCREENS:
        if h >= height and w >= width:
            return h, w
    raise ValueError(
        f"resolution {(height, width)} is larger than the largest 4:3 engine screen "
        f"{_SCREENS[-1]}; valid: height ≤ {_SCREENS[-1][0]} and width ≤ {_SCREENS[-1][1]}"
    )


class NoDisplayError(UserError, RuntimeError):
    """A visible game window was asked for where no display can show it."""


def check_display(what: str = "a visible game window") -> None:
    """Make sure a window can be opened here: without a display the engine does not raise, it
    crashes the whole process (a segmentation fault).

    On Linux and other X11 systems that needs ``$DISPLAY`` naming a display that answers (or
    ``$WAYLAND_DISPLAY``); macOS and Windows always have one.

    :param what: what needs the window, to start the message with (e.g. ``"--window"``).
    :raises NoDisplayError: naming what is missing.
    """
    if sys.platform in ("darwin", "win32") or os.environ.get("WAYLAND_DISPLAY"):
        return
    display = os.environ.get("DISPLAY")
    if not display:
        raise NoDisplayError(
            f"{what} needs a display, but $DISPLAY is not set (no X server here: a remote shell "
            "without ssh -X, a container or a CI machine); play without a window, or in a "
            "virtual display with xvfb-run"
        )
    name = ctypes.util.find_library("X11")
    if name is None:  # nothing to ask the server with; the engine will say what it finds
        return
    try:
        xlib = ctypes.CDLL(name)
        xlib.XOpenDisplay.restype = ctypes.c_void_p
        xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return
    handle = xlib.XOpenDisplay(display.encode())
    if not handle:
        raise NoDisplayError(
            f"{what} needs a display, but $DISPLAY={display} cannot be opened (is its X server "
            "running, and may this user connect to it?)"
        )
    xlib.XCloseDisplay(handle)


class ViZDoomEnv(gym.Env):
    """One ViZDoom game as a gymnasium env with uint8 pixel observations.

    ==============  ==============================================================
    observation     ``Box(0, 255, (frame_stack, H, W), uint8)``, grayscale
    action          ``Discrete(n)``: one button each, or every button combination
    reward          sum of the scenario's rewards over the ``frame_skip`` tics
    info            ``health``, ``ammo``, ``kills``, ``score`` (episode total so far)
    ==============  ==============================================================

    :param scenario: a shipped scenario name (see :func:`available_scenarios`).
    :param resolution: observation size ``(height, width)``; the engine renders the smallest
        4:3 screen covering it and the frame is subsampled.
    :param frame_skip: tics each action is repeated for (the engine renders only the last one).
    :param frame_stack: number of most recent frames stacked along the channel axis.
    :param actions: ``"buttons"`` (one action per button) or ``"combinations"`` (every on/off
        combination of the buttons, as in ViZDoom's own PyTorch example).
    :param render_mode: ``None``, ``"rgb_array"`` (colour frames for clips; the engine then
        renders RGB and the observation is converted to gray here, which costs some speed) or
        ``"human"`` (gymnasium's name for a visible window: the same as ``window=True``, and
        ``render()`` returns ``None``).
    :param render_resolution: engine screen ``(height, width)`` for ``rgb_array`` clips and for
        the window. By default the engine renders the screen the observations are cut from, so
        the agent sees exactly what it saw in training; a larger screen makes a larger window,
        but the observations are then subsampled from finer pixels and a trained agent can
        play worse (the shipped simpler_basic model: mean 76 at 160×120, 70 at 640×480).
    :param episode_timeout: override the scenario's timeout in tics (``None`` keeps it).
    :param window: show the game in a window of the engine's own, for a person to watch; it
        needs a display (:func:`check_display`). Separate from ``render_mode`` so that a window
        and ``rgb_array`` frames can go together (watch while recording a clip).
    :param realtime: hold Doom's clock of :data:`TICS_PER_SECOND` tics per second: each step of
        ``frame_skip`` tics then takes at least ``frame_skip / 35`` s (by sleeping, so the game
        stays synchronous and every step is still decided by the agent).
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": TICS_PER_SECOND}

    def __init__(
        self,
        scenario: str = "basic",
        resolution: tuple[int, int] = (60, 80),
        frame_skip: int = DEFAULT_FRAME_SKIP,
        frame_stack: int = 1,
        actions: str = "buttons",
        render_mode: str | None = None,
        render_resolution: tuple[int, int] | None = None,
        episode_timeout: int | None = None,
        window: bool = False,
        realtime: bool = False,
    ):
        import vizdoom as vzd

        valid = available_scenarios()
        if scenario not in valid:
            raise ValueError(f"unknown ViZDoom scenario {scenario!r}; valid: {', '.join(valid)}")
        # The checks a config runs on its env_kwargs too (rlkit.env_options).
        check_doom_options(
            dict(
                resolution=resolution,
                frame_skip=frame_skip,
                frame_stack=frame_stack,
                actions=actions,
                render_mode=render_mode,
                render_resolution=render_resolution,
                episode_timeout=episode_timeout,
                window=window,
                realtime=realtime,
            )
        )
        window = window or render_mode == "human"
        if window:
            check_display()  # before init(): the engine crashes the process without a display

        self.scenario = scenario
        self.frame_skip = int(frame_skip)
        self.frame_stack = int(frame_stack)
        self.render_mode = render_mode
        self.window = window
        self.realtime = bool(realtime)
        self._step_seconds = self.frame_skip / TICS_PER_SECOND
        self._due = 0.0  # perf_counter() time before which the next realtime step may not start
        height, width = int(resolution[0]), int(resolution[1])
        screen = _engine_screen(height, width)
        if (render_mode == "rgb_array" or window) and render_resolution is not None:
            rh, rw = int(render_resolution[0]), int(render_resolution[1])
            screen = _engine_screen(max(rh, height), max(rw, width))

        game = vzd.DoomGame()
        launcher = engine_path(os.path.join(os.path.dirname(vzd.__file__), "vizdoom"))
        if launcher is not None:  # the engine then dies with this process, even by SIGKILL
            game.set_vizdoom_path(launcher)
        game.load_config(os.path.join(scenarios_dir(), scenario + ".cfg"))
        game.set_doom_scenario_path(os.path.join(scenarios_dir(), scenario + ".wad"))
        # The engine writes its settings file into the working directory unless told otherwise.
        game.set_doom_config_path(os.path.join(tempfile.gettempdir(), "rlkit_vizdoom.ini"))
        # The window shows the game in colour whatever the screen format of the buffer.
        game.set_window_visible(window)
        game.set_mode(vzd.Mode.PLAYER)
        game.set_screen_resolution(getattr(vzd.ScreenResolution, f"RES_{screen[1]}X{screen[0]}"))
        game.set_screen_format(
            vzd.ScreenFormat.RGB24 if render_mode == "rgb_array" else vzd.ScreenFormat.GRAY8
        )
        game.set_depth_buffer_enabled(False)
        game.set_labels_buffer_enabled(False)
        game.set_automap_buffer_enabled(False)
        game.set_sound_enabled(False)
        if episode_timeout is not None:
            game.set_episode_timeout(int(episode_timeout))
        self._variables = [getattr(vzd.GameVariable, v) for v in _INFO_VARIABLES.values()]
        for var in self._variables:
            game.add_available_game_variable(var)
        game.init()
        self.game = game
        # The cfg's own variables come first in state.game_variables; find ours by position.
        listed = [v.name for v in game.get_available_game_variables()]
        self._var_index = np.array([listed.index(v.name) for v in self._variables], dtype=np.intp)
        # Close the engine process when this object is collected, even without close().
        self._finalizer = weakref.finalize(self, game.close)

        buttons = [b.name for b in game.get_available_buttons()]
        n = len(buttons)
        if actions == "buttons":
            table = np.eye(n, dtype=np.float64)
            self.action_names = list(buttons)
        else:
            table = np.array(list(itertools.product((0.0, 1.0), repeat=n)), dtype=np.float64)
            self.action_names = [
                "+".join(b for b, on in zip(buttons, row, strict=True) if on) or "NOOP"
                for row in table
            ]
        self.buttons = buttons
        self._action_lists = [row.tolist() for row in table]
        self.action_space = spaces.Discrete(len(self._action_lists))
        self._n_actions = len(self._action_lists)
        self._ended = True  # until the first reset()
        self.observation_space = spaces.Box(
            0, 255, shape=(self.frame_stack, height, width), dtype=np.uint8
        )
        self._index = subsample_indices(screen, (height, width))
        self._frames = np.zeros((self.frame_stack, height, width), dtype=np.uint8)
        self._rgb: np.ndarray | None = None

    # -- helpers ---------------------------------------------------------------------------
    def _grab(self, state) -> None:
        """Write the newest frame into the stack from a game state."""
        screen = state.screen_buffer
        if self.render_mode == "rgb_array":
            self._rgb = screen
            # ITU-R BT.601 luma, integer weights summing to 256 so the result fits uint8.
            small = screen[self._index].astype(np.uint16)
            gray = (small[..., 0] * 77 + small[..., 1] * 150 + small[..., 2] * 29) >> 8
        else:
            gray = screen[self._index]
        if self.frame_stack > 1:
            self._frames[:-1] = self._frames[1:]
        self._frames[-1] = gray

    def _read_info(self, state) -> dict[str, Any]:
        if state is not None:
            health, ammo, kills = state.game_variables[self._var_index].tolist()
        else:  # the episode has ended: no state, but the variables can still be read
            health, ammo, kills = (float(self.game.get_game_variable(v)) for v in self._variables)
        return {
            "health": health,
            "ammo": ammo,
            "kills": kills,
            "score": self.game.get_total_reward(),
        }

    # -- gymnasium API -----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            # ViZDoom's own RNG (monster placement, damage rolls) is separate from numpy's.
            self.game.set_seed(int(seed) % (2**31))
        self.game.new_episode()
        self._ended = False
        self._due = time.perf_counter() + self._step_seconds
        state = self.game.get_state()
        self._grab(state)
        if self.frame_stack > 1:
            self._frames[:-1] = self._frames[-1]
        return self._frames.copy(), self._read_info(state)

    def _check_action(self, action) -> int:
        try:
            a = operator.index(action)
        except TypeError:
            a = -1
        if not 0 <= a < self._n_actions:
            raise ValueError(
                f"action {action!r} is not valid; valid: integers 0..{self._n_actions - 1} "
                f"({', '.join(self.action_names)})"
            )
        return a

    def step(self, action):
        a = self._check_action(action)
        if self._ended:
            raise RuntimeError("the episode has ended; call reset() before step()")
        if self.realtime:
            self._wait_for_game_clock()
        return self._outcome(self.game.make_action(self._action_lists[a], self.frame_skip))

    def step_showing(self, action, every: int, show: Callable[[np.ndarray, int], None]):
        """:meth:`step`, with the engine advanced ``every`` tics at a time, and between them
        ``show(rgb, tics)`` called with the colour screen and the tics played of this step (a
        game a person watches at every tic or every second one while the action repeats for
        the frame skip). The game comes out as :meth:`step` leaves it: a recording made here
        replays through :meth:`step`."""
        if self.render_mode != "rgb_array":
            raise RuntimeError("step_showing() needs render_mode='rgb_array' when the env is made")
        self._check_action(action)
        if self._ended:
            raise RuntimeError("the episode has ended; call reset() before step()")
        game, reward, left = self.game, 0.0, self.frame_skip
        game.set_action(self._action_lists[int(action)])
        while left > 0:
            n = min(int(every), left)
            game.advance_action(n)
            reward += game.get_last_reward()
            left -= n
            if game.is_episode_finished():
                break
            if left > 0:
                show(game.get_state().screen_buffer, self.frame_skip - left)
        return self._outcome(reward)

    def _outcome(self, reward: float):
        terminated = truncated = False
        if self.game.is_episode_finished():
            state = None
            self._ended = True
            # A timeout is the only end that is not the agent's doing; death and goal terminate.
            truncated = self.game.is_episode_timeout_reached() and not self.game.is_player_dead()
            terminated = not truncated
        else:
            state = self.game.get_state()
            self._grab(state)
        return self._frames.copy(), float(reward), terminated, truncated, self._read_info(state)

    def _wait_for_game_clock(self) -> None:
        # Step k of an episode starts k * frame_skip / 35 s after its reset; a step that came
        # late (a slow policy) starts the clock again from now instead of rushing to catch up.
        now = time.perf_counter()
        if self._due > now:
            time.sleep(self._due - now)
            now = self._due
        self._due = now + self._step_seconds

    def render(self):
        if self.render_mode == "human":
            return None  # gymnasium's convention: the window is drawn by the engine itself
        if self.render_mode != "rgb_array":
            raise RuntimeError("render() needs render_mode='rgb_array' when the env is made")
        if self._rgb is None:
            raise RuntimeError("call reset() before render()")
        return self._rgb.copy()

    def close(self):
        self._finalizer()
