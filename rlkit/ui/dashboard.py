"""A live view of training for notebooks, with plain-text and progress-bar fallbacks.

.. code-block:: python

    dash = Dashboard()                       # widgets in JupyterLab, text lines elsewhere
    result = train(config, callbacks=[dash])
    dash.figure()                            # a static summary figure afterwards

Modes:

- ``"widgets"``: progress bar with steps/s and ETA, return and evaluation curves redrawn in
  place (a PNG in an ``ipywidgets.Image``, at most every ``refresh_seconds``), the current game
  frame for image observations, and a status line (epsilon, updates, time split).
- ``"text"``: one compact line per log event (see ``print_every``) and per evaluation.
- ``"bar"``: a single tqdm bar with a postfix (tqdm.auto's widget bar in a live notebook,
  the terminal bar elsewhere).
- ``"off"``: nothing is shown; :meth:`Dashboard.figure` still works after training.
- ``"auto"`` (default): ``widgets`` when running in a Jupyter kernel whose cells come from an
  interactive frontend, ``text`` otherwise (terminal, script, CI, papermill, nbclient, nbval).
  The environment variable ``RLKIT_DASHBOARD`` (one of the modes above) overrides it.

A display problem never reaches the training loop: a failing widget or bar display falls back
to text lines (once, with a note on stderr), and failing text output turns the dashboard off.
"""

from __future__ import annotations

import html
import io
import re
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from rlkit.records import History, Progress
from rlkit.training import Callback
from rlkit.ui.frontend import ENV_VAR, MODES, auto_mode, check_mode, frontend_check, resolve_mode

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ENV_VAR", "MODES", "Dashboard", "resolve_mode"]

_LAST_N = 10  # episodes averaged in the "last10 return" field


def _parse_print_every(value: Any) -> tuple[int | None, float | None]:
    """``print_every`` as (every N log events, every S seconds); exactly one is set."""
    if isinstance(value, bool):
        raise ValueError(f"print_every must be an int or a string like '10s', got {value!r}")
    if isinstance(value, int | np.integer):
        if value < 1:
            raise ValueError(f"print_every must be ≥ 1 log event, got {value}")
        return int(value), None
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*s\s*", value)
        if m and float(m.group(1)) >= 0:
            return None, float(m.group(1))
    raise ValueError(
        "print_every must be a number of log events (an int ≥ 1) or seconds as a string like "
        f"'10s', got {value!r}"
    )


# -- formatting -------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _num(x: float) -> str:
    return f"{x:.1f}" if abs(x) < 1e4 else f"{x:.0f}"


# -- the dashboard ----------------------------------------------------------------------------


class Dashboard(Callback):
    """Live training view: widgets in a notebook, text lines or a tqdm bar elsewhere.

    Pass it in ``callbacks=[...]`` of :func:`rlkit.entry.train` (or any trainer calling the
    :class:`~rlkit.training.Callback` hooks). It reads only the :class:`~rlkit.records.Progress`
    records it is given, so it can show a run that happens in another process. The same object
    can be reused for several runs; each ``on_start`` starts a fresh display.

    :param mode: ``"auto"``, ``"widgets"``, ``"text"``, ``"bar"`` or ``"off"`` (see the module
        docstring for what ``auto`` picks).
    :param print_every: text mode only: print a log line every N log events (an int, default
        every one), or at most once per S seconds of wall time (a string such as ``"10s"``).
        Evaluations, start and end are always printed.
    :param refresh_seconds: widgets mode: the figure and frame are redrawn at most this often
        (and never so often that drawing takes more than a tenth of the wall time), so a long
        history does not slow training.
    :param window: episodes in the moving average of the return curve.
    :param show_frame: widgets mode: show the first env's current frame for image observations.
    :param frame_height: approximate height in pixels of the upscaled frame.
    :param title: shown above the widgets, in the bar's description, and in :meth:`figure`.
    :param file: where text lines go (default: ``sys.stdout`` at the time of printing).
    """

    def __init__(
        self,
        mode: str = "auto",
        *,
        print_every: int | str = 1,
        refresh_seconds: float = 1.5,
        window: int = 20,
        show_frame: bool = True,
        frame_height: int = 168,
        title: str | None = None,
        file: TextIO | None = None,
    ) -> None:
        check_mode(mode)
        self._print_events, self._print_seconds = _parse_print_every(print_every)
        if not refresh_seconds > 0:
            raise ValueError(f"refresh_seconds must be > 0, got {refresh_seconds!r}")
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be an integer ≥ 1, got {window!r}")
        self.mode = mode
        self.print_every = print_every
        self.refresh_seconds = float(refresh_seconds)
        self.window = window
        self.show_frame = show_frame
        self.frame_height = int(frame_height)
        self.title = title
        self.file = file
        self.active_mode: str | None = None
        """The mode in use for the current run (``mode`` resolved at ``on_start``)."""
        self.mode_reason = ""
        """Why ``active_mode`` was chosen."""
        self.notes: list[str] = []
        """Notes printed when the display degraded."""
        self.history: History | None = None
        """The last run seen, rebuilt from its Progress records (kept for :meth:`figure`)."""
        self.root: Any = None
        """The ipywidgets tree in widgets mode (``None`` otherwise)."""
        self._reset_run()

    # -- Callback hooks -------------------------------------------------------------------

    def on_start(self, progress: Progress) -> None:
        self._reset_run()
        try:
            if self.mode == "auto":
                self.active_mode, self.mode_reason = auto_mode()
            else:
                self.active_mode, self.mode_reason = self.mode, "chosen"
        except Exception as exc:  # detection must never stop training
            self.active_mode, self.mode_reason = "text", f"detection failed: {exc!r}"
        self._hook("start", progress)

    def on_log(self, progress: Progress) -> None:
        self._hook("log", progress)

    def on_eval(self, progress: Progress) -> bool | None:
        self._hook("eval", progress)
        return None  # a display never asks to stop training

    def on_end(self, progress: Progress) -> None:
        self._hook("end", progress)

    # -- plumbing ---------------------------------------------------------------------------

    def _reset_run(self) -> None:
        self._p: Progress | None = None
        self._frame: Any = None
        self._wall0 = time.perf_counter()
        self._steps0: int | None = None
        self._prev_steps = 0
        self._prev_train_s = 0.0
        self._rate: float | None = None
        self._log_count = 0
        self._last_print: float | None = None
        self._last_eval: tuple[float, float, int, float, float] | None = None
        self._best_eval: float | None = None
        self._last_draw: float | None = None
        self._last_labels: float | None = None
        self._draw_cost = 0.0
        self._bar: Any = None
        self._bar_n = 0
        self._fig: Any = None
        self._bad_info_noted = False

    def _hook(self, event: str, progress: Progress) -> None:
        try:
            if self.active_mode is None:  # hooks called without on_start: resolve now
                self.active_mode, self.mode_reason = (
                    auto_mode() if self.mode == "auto" else (self.mode, "chosen")
                )
            self._remember(event, progress)
        except Exception as exc:
            if not self._bad_info_noted:  # once per run: a broken trainer would say it each step
                self._bad_info_noted = True
                self._note(
                    f"Dashboard: could not read the progress record ({exc!r}); skipping such "
                    "updates."
                )
            return
        if self.active_mode == "off":
            return
        try:
            getattr(self, f"_{self.active_mode}_{event}")()
        except Exception as exc:
            self._degrade(event, exc)

    def _remember(self, event: str, progress: Progress) -> None:
        if self.history is None or event == "start":
            self.history = History()
        self.history.absorb(progress)
        self._p = progress
        if progress.frame is not None:
            self._frame = progress.frame
        steps = int(progress.env_steps)
        train_s = float(progress.train_seconds or 0.0)
        if self._steps0 is None:
            self._steps0, self._wall0 = steps, time.perf_counter()
            self._prev_steps, self._prev_train_s = steps, train_s
        if event == "log":
            self._log_count += 1
            # Recent speed (since the previous log), on the training clock like History's.
            if train_s > self._prev_train_s and steps > self._prev_steps:
                self._rate = (steps - self._prev_steps) / (train_s - self._prev_train_s)
            self._prev_steps, self._prev_train_s = steps, train_s
        if event == "eval" and progress.evaluation is not None:
            s = np.asarray(progress.evaluation.scores, dtype=np.float64)
            if s.size:
                self._last_eval = (
                    float(s.mean()),
                    float(s.std()),
                    int(s.size),
                    float(s.min()),
                    float(s.max()),
                )
                if self._best_eval is None or s.mean() > self._best_eval:
                    self._best_eval = float(s.mean())

    def _degrade(self, event: str, exc: Exception) -> None:
        failed = self.active_mode
        if failed in ("widgets", "bar"):
            self._close_bar()
            self.active_mode = "text"
            self._note(
                f"Dashboard: the {failed} display failed ({type(exc).__name__}: {exc}); "
                "showing plain text lines instead."
            )
            try:
                getattr(self, f"_text_{event}")()
                return
            except Exception as text_exc:
                exc = text_exc
        self.active_mode = "off"
        self._note(
            f"Dashboard: text output failed ({type(exc).__name__}: {exc}); "
            "the dashboard is off for the rest of this run."
        )

    def _note(self, message: str) -> None:
        self.notes.append(message)
        try:
            print(message, file=sys.stderr, flush=True)
        except Exception:
            pass

    def _print(self, line: str) -> None:
        print(line, file=self.file if self.file is not None else sys.stdout, flush=True)

    # -- numbers shared by every mode --------------------------------------------------------

    @property
    def _steps(self) -> int:
        return int(self._p.env_steps) if self._p is not None else 0

    @property
    def _total(self) -> int:
        return int(self._p.total_steps or 0) if self._p is not None else 0

    def _metric(self, key: str) -> float | None:
        return None if self._p is None else self._p.metrics.get(key)

    def _steps_per_s(self) -> float | None:
        if self._rate is not None:
            return self._rate
        h = self.history
        return h.env_steps_per_s if h is not None and h.train_seconds else None

    def _eta(self) -> float | None:
        """Seconds left, from the wall-clock pace since start (so evaluations are counted)."""
        done = self._steps - (self._steps0 or 0)
        elapsed = time.perf_counter() - self._wall0
        if done <= 0 or elapsed <= 0 or not self._total:
            return None
        return max(self._total - self._steps, 0) * elapsed / done

    def _recent_return(self) -> tuple[int, float] | None:
        h = self.history
        if h is None or not h.episode_returns:
            return None
        last = h.episode_returns[-_LAST_N:]
        return len(last), float(np.mean(last))

    def _position(self, tag: str) -> str:
        total = self._total
        width = len(str(total)) if total else 1
        of = f"/{total}" if total else ""
        return f"{tag:<5} {self._steps:>{width}}{of}"

    def _time_split(self) -> str:
        h = self.history
        if h is None:
            return ""
        return ", ".join(f"{k} {v:.1f}s" for k, v in h.time_split().items())

    # -- text mode ------------------------------------------------------------------------

    def _text_start(self) -> None:
        what = f" | {self.title}" if self.title else ""
        self._print(f"{self._position('start')}{what}")

    def _text_log(self) -> None:
        now = time.perf_counter()
        if self._print_events is not None:
            if (self._log_count - 1) % self._print_events:
                return
        elif self._last_print is not None and now - self._last_print < self._print_seconds:
            return
        self._last_print = now
        parts = [self._position("step")]
        rate = self._steps_per_s()
        if rate is not None:
            parts.append(f"{rate:.0f} steps/s")
        eta = self._eta()
        if eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        eps = self._metric("epsilon")
        if eps is not None:
            parts.append(f"eps {float(eps):.2f}")
        recent = self._recent_return()
        if recent is not None:
            parts.append(f"last{recent[0]} return {_num(recent[1])}")
        if self._last_eval is not None:
            parts.append(f"eval {_num(self._last_eval[0])} ± {_num(self._last_eval[1])}")
        self._print(" | ".join(parts))

    def _text_eval(self) -> None:
        if self._last_eval is None:
            return
        mean, std, n, lo, hi = self._last_eval
        best = f" | best {_num(self._best_eval)}" if self._best_eval is not None else ""
        self._print(
            f"{self._position('eval')} | {_num(mean)} ± {_num(std)} over {n} episodes "
            f"(min {_num(lo)}, max {_num(hi)}){best}"
        )

    def _text_end(self) -> None:
        h = self.history
        tag = "done" if not self._total or self._steps >= self._total else "stop"
        parts = [self._position(tag), f"{_duration(time.perf_counter() - self._wall0)} wall"]
        if h is not None:
            parts.append(f"{h.env_steps_per_s:.0f} steps/s")
            parts.append(f"{h.episodes} episodes")
        if self._best_eval is not None:
            parts.append(f"best eval {_num(self._best_eval)}")
        if h is not None:
            parts.append(self._time_split())
        self._print(" | ".join(parts))

    # -- bar mode -------------------------------------------------------------------------

    def _bar_start(self) -> None:
        live, _ = frontend_check()
        if live:
            from tqdm.auto import tqdm
        else:  # the widget bar would be invisible under papermill or in a terminal
            from tqdm import tqdm
        kwargs: dict[str, Any] = {"file": self.file} if self.file is not None else {}
        self._bar = tqdm(
            total=self._total or None,
            initial=self._steps,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            desc=self.title or "train",
            **kwargs,
        )
        self._bar_n = self._steps

    def _bar_update(self) -> None:
        bar = self._bar
        if bar is None:
            return
        if self._steps > self._bar_n:
            bar.update(self._steps - self._bar_n)
            self._bar_n = self._steps
        fields = []
        eps = self._metric("epsilon")
        if eps is not None:
            fields.append(f"eps={float(eps):.2f}")
        recent = self._recent_return()
        if recent is not None:
            fields.append(f"ret={_num(recent[1])}")
        if self._last_eval is not None:
            fields.append(f"eval={_num(self._last_eval[0])}±{_num(self._last_eval[1])}")
        bar.set_postfix_str(" ".join(fields), refresh=False)

    def _bar_log(self) -> None:
        self._bar_update()

    def _bar_eval(self) -> None:
        self._bar_update()

    def _bar_end(self) -> None:
        self._bar_update()
        self._close_bar()

    def _close_bar(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            try:
                bar.close()
            except Exception:
                pass

    # -- widgets mode ---------------------------------------------------------------------

    def _widgets_start(self) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        self._build_widgets(widgets)
        display(self.root)
        self._widgets_refresh(force=True)

    def _widgets_log(self) -> None:
        self._widgets_refresh(force=False)

    def _widgets_eval(self) -> None:
        self._widgets_refresh(force=False)

    def _widgets_end(self) -> None:
        self._widgets_refresh(force=True)
        stopped = bool(self._total) and self._steps < self._total
        self._w_bar.bar_style = "warning" if stopped else "success"
        wall = _duration(time.perf_counter() - self._wall0)
        self._w_speed.value += f" · {'stopped' if stopped else 'done'} after {wall}"

    def _build_widgets(self, widgets: Any) -> None:
        # The live figure is a bare Figure, not a pyplot one, so the inline backend never
        # shows a stray copy at the end of the cell and no pyplot state leaks.
        from matplotlib.figure import Figure

        self._w_bar = widgets.FloatProgress(
            value=self._steps,
            min=0,
            max=max(self._total, 1),
            bar_style="info",
            layout=widgets.Layout(width="45%"),
        )
        self._w_speed = widgets.HTML()
        self._w_plot = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self._w_frame = widgets.Image(format="png")
        self._w_frame.layout.display = "none"  # shown once an image observation arrives
        self._w_status = widgets.HTML()
        rows = [
            widgets.HBox([self._w_bar, self._w_speed], layout=widgets.Layout(align_items="center")),
            widgets.HBox(
                [self._w_plot, self._w_frame], layout=widgets.Layout(align_items="center")
            ),
            self._w_status,
        ]
        if self.title:
            rows.insert(0, widgets.HTML(f"<b>{html.escape(self.title)}</b>"))
        self.root = widgets.VBox(rows)
        self._fig = Figure(figsize=(9.5, 3.2), dpi=80, layout="constrained")
        self._axes = self._fig.subplots(1, 2)

    def _widgets_refresh(self, force: bool) -> None:
        # Each widget change is a message to the browser: labels follow at most ~4 times a
        # second, the figure and frame at most every refresh_seconds.
        now = time.perf_counter()
        if force or self._last_labels is None or now - self._last_labels >= 0.25:
            self._update_labels()
            self._last_labels = now
        gap = max(self.refresh_seconds, 10 * self._draw_cost)
        if force or self._last_draw is None or now - self._last_draw >= gap:
            self._redraw()
            self._last_draw = time.perf_counter()
            self._draw_cost = self._last_draw - now

    def _update_labels(self) -> None:
        steps, total = self._steps, self._total
        self._w_bar.max = max(total, steps, 1)
        self._w_bar.value = steps
        speed = [f"{steps:,} / {total:,} steps ({steps / total:.0%})" if total else f"{steps:,}"]
        rate = self._steps_per_s()
        if rate is not None:
            speed.append(f"{rate:,.0f} steps/s")
        eta = self._eta()
        if eta is not None and steps < total:
            speed.append(f"ETA {_duration(eta)}")
        self._w_speed.value = " · ".join(speed)

        status = []
        eps = self._metric("epsilon")
        if eps is not None:
            status.append(f"ε {float(eps):.3f}")
        status.append(f"{self._p.updates:,} updates")
        status.append(f"{self._p.episodes:,} episodes")
        recent = self._recent_return()
        if recent is not None:
            status.append(f"last{recent[0]} return {_num(recent[1])}")
        if self._last_eval is not None:
            best = f" (best {_num(self._best_eval)})" if self._best_eval is not None else ""
            status.append(f"eval {_num(self._last_eval[0])} ± {_num(self._last_eval[1])}{best}")
        split = self._time_split()
        if split:
            status.append(f"time: {split}")
        self._w_status.value = f"<code>{html.escape(' · '.join(status))}</code>"

    def _redraw(self) -> None:
        from rlkit.ui import plots

        h = self.history if self.history is not None else History()
        ax_ret, ax_eval = self._axes
        ax_ret.clear()
        ax_eval.clear()
        plots.plot_returns(h, ax=ax_ret, window=self.window)
        plots.plot_eval(h, ax=ax_eval)
        buf = io.BytesIO()
        self._fig.savefig(buf, format="png")
        self._w_plot.value = buf.getvalue()
        frame = self._frame_png() if self.show_frame else None
        if frame is not None:
            self._w_frame.value = frame
            self._w_frame.layout.display = None

    def _frame_png(self) -> bytes | None:
        """PNG of env 0's newest frame, upscaled; ``None`` for vector observations."""
        if self._frame is None:
            return None
        obs = np.asarray(self._frame)
        if obs.ndim == 3 and obs.shape[-1] in (3, 4):
            img = obs  # (H, W, 3) colour
        elif obs.ndim == 3:
            img = obs[-1]  # (C, H, W) frame stack: the newest frame is last
        elif obs.ndim == 2:
            img = obs  # (H, W) single grayscale frame
        else:
            return None
        if img.shape[0] < 2 or img.shape[1] < 2:
            return None
        # Nearest-neighbour upscale in numpy: browsers blur small images they enlarge.
        k = max(1, round(self.frame_height / img.shape[0]))
        img = np.repeat(np.repeat(img, k, axis=0), k, axis=1)
        import matplotlib.image as mpimg

        buf = io.BytesIO()
        if img.ndim == 2:
            lim = {"vmin": 0, "vmax": 255} if img.dtype == np.uint8 else {}
            mpimg.imsave(buf, img, cmap="gray", format="png", **lim)
        else:
            mpimg.imsave(buf, img, format="png")
        return buf.getvalue()

    # -- after training -------------------------------------------------------------------

    def figure(self, history: Any = None) -> Figure:
        """A static figure of the run: episode returns (left) and greedy evaluations (right).

        :param history: the run to draw (a History, a TrainResult or a ``History.to_dict``
            dict); by default the last run this dashboard watched.
        :return: a new matplotlib figure.
        """
        import matplotlib.pyplot as plt

        from rlkit.ui import plots

        run = history if history is not None else self.history
        if run is None:
            raise ValueError(
                "this dashboard has not watched a run yet: pass it in callbacks=[...] of a "
                "trainer first, or give figure(history=...)"
            )
        h = plots.as_history(run)
        fig, (ax_ret, ax_eval) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
        plots.plot_returns(h, ax=ax_ret, window=self.window)
        plots.plot_eval(h, ax=ax_eval)
        summary = (
            f"{h.env_steps:,} env steps · {h.episodes:,} episodes · {h.updates:,} updates · "
            f"{_duration(h.train_seconds)} training"
        )
        fig.suptitle(f"{self.title} — {summary}" if self.title else summary, fontsize="medium")
        return fig
