"""Play Doom in JupyterLab: the agent's own env, your keys, your episodes recorded.

``GameWidget`` is an anywidget: the browser side (a few lines of JavaScript below) draws the
frames it is sent and reports the keys held; the kernel side steps the same rlkit env the agent
plays, on the seeds the agent's evaluation uses, and records each episode into a
:class:`rlkit.human.PlayLog`. anywidget rather than ipyevents + ``ipywidgets.Image``: one
package, and the key handling and the frame drawing live in one small module of our own.

Pace: each action repeats for the scenario's frame skip, as for the agent, and the screen is
sent every ``show_every`` tics (2: 17.5 frames/s at Doom's 35 tics/s); ``slowdown`` stretches
game time for beginners. While no key is held the game waits: the agent acts at every step with
the same actions, and so do you (no extra "do nothing" action that it never had).
"""

from __future__ import annotations

import io
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from rlkit.errors import UserError
from rlkit.human import PlayedEpisode, PlayLog, load_played

__all__ = ["KEYS", "GameWidget", "key_map"]

TICS_PER_SECOND = 35
#: Which key plays which ViZDoom button (the browser's ``KeyboardEvent.key`` names).
KEYS = {
    "MOVE_LEFT": "ArrowLeft",
    "TURN_LEFT": "ArrowLeft",
    "MOVE_RIGHT": "ArrowRight",
    "TURN_RIGHT": "ArrowRight",
    "MOVE_FORWARD": "ArrowUp",
    "MOVE_BACKWARD": "ArrowDown",
    "ATTACK": " ",
}


class GameError(UserError, ValueError):
    """A game the widget cannot show or a key map it cannot use."""


def key_map(action_names: list[str], keys: dict[str, str] | None = None) -> dict[str, int]:
    """``{key: action index}`` for an env's actions; one sentence for what cannot be mapped."""
    keys = KEYS if keys is None else keys
    out: dict[str, int] = {}
    for i, name in enumerate(action_names):
        if name not in keys:
            raise GameError(
                f"no key plays the action {name!r}; valid: a key map naming each of "
                f"{', '.join(action_names)} (e.g. keys={{{name!r}: 'a'}})"
            )
        if keys[name] in out:
            raise GameError(f"the key {keys[name]!r} is given to two actions of this scenario")
        out[keys[name]] = i
    return out


def _jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=80)
    return buf.getvalue()


_ESM = """
function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "rlkit-game"; box.tabIndex = 0;
  const img = document.createElement("img");
  const bar = document.createElement("div"); bar.className = "rlkit-game-bar";
  const legend = document.createElement("div"); legend.className = "rlkit-game-legend";
  const start = document.createElement("button"); start.textContent = "start";
  const stop = document.createElement("button"); stop.textContent = "stop";
  box.append(img, bar, legend, start, stop); el.append(box);
  let url = null;
  const held = [];
  function draw() {
    const f = model.get("frame");
    if (f && f.byteLength) {
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(new Blob([f], { type: "image/jpeg" }));
      img.src = url;
      img.dataset.tic = model.get("tic");
    }
    bar.textContent = model.get("status_line");
    legend.textContent = model.get("legend");
  }
  function sendKeys() { model.set("held", held.slice()); model.save_changes(); }
  // What a test (or a curious person) can read back: when keys went down, when frames drew.
  const seen = (window.rlkitGame = window.rlkitGame || { keys: [], frames: [] });
  box.addEventListener("keydown", (e) => {
    if (!model.get("key_names").includes(e.key)) return;
    e.preventDefault();
    if (!e.repeat) seen.keys.push([performance.now(), e.key]);
    if (!held.includes(e.key)) { held.push(e.key); sendKeys(); }
  });
  box.addEventListener("keyup", (e) => {
    const i = held.indexOf(e.key);
    if (i >= 0) { held.splice(i, 1); sendKeys(); }
  });
  box.addEventListener("blur", () => { held.length = 0; sendKeys(); });
  img.addEventListener("load", () => {
    seen.frames.push([performance.now(), Number(img.dataset.tic)]);
    model.set("shown", model.get("shown") + 1); model.save_changes();
  });
  start.addEventListener("click", () => { model.send({ cmd: "start" }); box.focus(); });
  stop.addEventListener("click", () => model.send({ cmd: "stop" }));
  model.on("change:frame", draw); model.on("change:status_line", draw);
  draw();
}
export default { render };
"""

_CSS = """
.rlkit-game { outline: none; font-family: monospace; }
.rlkit-game img { width: 320px; height: 240px; image-rendering: pixelated; display: block; }
.rlkit-game:focus img { box-shadow: 0 0 0 3px #4a90d9; }
.rlkit-game-bar, .rlkit-game-legend { margin: 4px 0; }
"""


class GameWidget(anywidget.AnyWidget):
    """A ViZDoom scenario you play with the keyboard, in a notebook cell.

    :param env_id: a ViZDoom env (``vizdoom:basic``); pass the agent's ``env_kwargs`` (its
        checkpoint's env spec) so that you play its game.
    :param out: the folder your episodes are recorded into (a :class:`PlayLog`).
    :param seed: the first episode's seed; each new episode takes the next one (the agent's
        evaluation with ``seed=`` plays the same ones).
    :param show_every: send the screen every this many tics (1 or 2).
    :param slowdown: game time runs this many times slower than Doom's (1 = real time).
    :param keys: ``{action name: key}`` instead of :data:`KEYS`.
    """

    _esm = _ESM
    _css = _CSS
    frame = traitlets.Bytes(b"").tag(sync=True)
    tic = traitlets.Int(0).tag(sync=True)
    status_line = traitlets.Unicode("").tag(sync=True)
    legend = traitlets.Unicode("").tag(sync=True)
    key_names = traitlets.List(traitlets.Unicode()).tag(sync=True)  # not "keys": a Widget's own
    held = traitlets.List(traitlets.Unicode()).tag(sync=True)
    shown = traitlets.Int(0).tag(sync=True)  # frames the browser decoded (its frame rate)

    _live: weakref.WeakSet = weakref.WeakSet()

    def __init__(
        self,
        env_id: str,
        out: str | Path,
        seed: int = 0,
        env_kwargs: dict[str, Any] | None = None,
        show_every: int = 2,
        slowdown: float = 1.0,
        keys: dict[str, str] | None = None,
        player: str = "you",
    ):
        from rlkit.envs import make_env

        if not env_id.startswith("vizdoom:"):
            raise GameError(f"the game widget plays ViZDoom scenarios, not {env_id!r}")
        if show_every not in (1, 2):
            raise GameError(f"show_every = {show_every!r}; valid: 1 or 2 (tics per frame)")
        if not slowdown >= 1:
            raise GameError(f"slowdown = {slowdown!r}; valid: a number ≥ 1 (1 = Doom's speed)")
        for old in list(GameWidget._live):  # a re-run cell: the previous game's engine goes
            old.close()
        self.env_id, self.seed, self.player = env_id, int(seed), player
        self.env_kwargs = {k: v for k, v in (env_kwargs or {}).items() if k != "render_mode"}
        self.show_every, self.slowdown = int(show_every), float(slowdown)
        env = make_env(
            env_id, render_mode="rgb_array", render_resolution=(240, 320), **self.env_kwargs
        )
        try:
            self._keymap = key_map(list(env.unwrapped.action_names), keys)
            self.play_log = PlayLog.open(out)
        except BaseException:
            env.close()
            raise
        self.env = env
        super().__init__()
        self.key_names = list(self._keymap)
        names = env.unwrapped.action_names
        shown = {" ": "space"}
        self.legend = "  ".join(f"{shown.get(k, k)}: {names[i]}" for k, i in self._keymap.items())
        self.frame_skip = int(env.unwrapped.frame_skip)
        self.pace = "Doom's speed" if self.slowdown == 1 else f"{self.slowdown:g}× slower than Doom"
        self.episodes: list[PlayedEpisode] = []
        self.frames_sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.on_msg(self._on_msg)
        GameWidget._live.add(self)
        self._status("press start, then click the game and play with the keys below")

    # -- what the browser sends --------------------------------------------------------------
    def _on_msg(self, _widget, content, _buffers) -> None:
        if content.get("cmd") == "start":
            self.start()
        elif content.get("cmd") == "stop":
            self.stop()

    def _keyboard(self, _obs) -> int | None:
        held = list(self.held)
        return self._keymap[held[-1]] if held else None  # the latest key pressed wins

    # -- the game loop -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the next episode in the background (the browser's start button)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._play_safely, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the episode being played; it is recorded as stopped half way."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _play_safely(self) -> None:
        try:
            self.play(self._keyboard)
        except Exception as exc:  # shown on screen: a thread's traceback would go nowhere
            self._status(f"the game stopped: {exc}")

    def play(self, act: Callable[[np.ndarray], int | None], realtime: bool = True):
        """Play one episode with ``act(obs) -> action`` (``None``: wait for a key) and record
        it. The keyboard plays through here, and so does a scripted stand-in in batch runs
        (``realtime=False``: as fast as the engine goes)."""
        seed = self.next_seed()
        env = self.env.unwrapped
        obs, _ = env.reset(seed=seed)
        ep = PlayedEpisode(self.env_id, dict(self.env_kwargs), seed, self.player)
        tic_s = self.slowdown / TICS_PER_SECOND
        due = time.perf_counter()

        def show(rgb: np.ndarray, into_step: int) -> None:
            nonlocal due
            if realtime:
                due += self.show_every * tic_s
                time.sleep(max(0.0, due - time.perf_counter()))
            self._show(rgb, len(ep.actions) * self.frame_skip + into_step, ep)

        self._show(env.render(), 0, ep)
        while not self._stop.is_set():
            a = act(obs)
            if a is None:
                time.sleep(0.01)
                due = time.perf_counter()
                continue
            obs, reward, terminated, truncated, _ = env.step_showing(a, self.show_every, show)
            ep.actions.append(int(a))
            ep.rewards.append(float(reward))
            if realtime:  # the last tics of the step, before the next frame
                due += self.show_every * tic_s
                time.sleep(max(0.0, due - time.perf_counter()))
            if terminated or truncated:
                ep.complete = True
                break
            self._show(env.render(), len(ep.actions) * self.frame_skip, ep)
        self.episodes.append(ep)
        if ep.actions:  # an episode stopped before its first action holds nothing to keep
            self.play_log.add(ep)
        end = "over" if ep.complete else "stopped half way (recorded as such)"
        self._status(
            f"seed {seed} {end}: score {ep.score:g}; press start for seed {self.next_seed()}"
        )
        return ep

    def next_seed(self) -> int:
        """The first seed from ``seed`` up that the play log holds no finished episode of: a
        re-run cell or a new session goes on where the last one stopped, and never replays a
        seed into a second record of it."""
        done = {e.seed for e in self.episodes if e.complete}
        if self.play_log.episodes():
            done |= {e.seed for e in load_played(self.play_log.path)}
        s = self.seed
        while s in done:
            s += 1
        return s

    def _show(self, rgb: np.ndarray, tic: int, ep: PlayedEpisode) -> None:
        self.frames_sent += 1
        with self.hold_sync():
            self.frame = _jpeg(np.ascontiguousarray(rgb))
            self.tic = int(tic)
            self._status(f"seed {ep.seed}  score {ep.score:g}  tic {tic}", ep)

    def _status(self, text: str, ep: PlayedEpisode | None = None) -> None:
        timeout = getattr(self.env.unwrapped.game, "get_episode_timeout", lambda: 0)()
        left = ""
        if ep is not None and timeout:
            tics_left = max(0, timeout - len(ep.actions) * self.frame_skip)
            left = f"  {tics_left / TICS_PER_SECOND:.1f} s of game left"
        self.status_line = f"{text}{left}  ({self.pace}, frame skip {self.frame_skip})"

    def close(self) -> None:
        """Stop the game, close its engine and release the play log (a re-run cell does it)."""
        if getattr(self, "_stop", None) is None:  # collected before __init__ ended
            return super().close()
        self.stop()
        GameWidget._live.discard(self)
        self.env.close()
        self.play_log.close()
        super().close()
