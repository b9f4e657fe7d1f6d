"""What the console shows while ``python -m rlkit notebooks`` runs a notebook: the code cell
running, and that cell's training progress (the text dashboard's lines, nothing else it prints);
one line updated in place on a terminal, plain lines otherwise (CI logs)."""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time
from typing import Any, TextIO

DASHBOARD_LINE = re.compile(r"(start|step|eval|done|stop) +\d+(/\d+)?( \||$)")
"""A text-mode dashboard line (see :class:`rlkit.ui.dashboard.Dashboard`)."""


def runs_code(cell: Any) -> bool:
    """Whether nbclient executes this cell (the cells :class:`Progress` counts)."""
    return (
        cell.get("cell_type") == "code"
        and bool(str(cell.get("source", "")).strip())
        and "skip-execution" not in cell.get("metadata", {}).get("tags", [])
    )


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class NotebookProgress:
    """The console view of one running notebook: nbclient hooks plus papermill's stdout copy.

    :meth:`on_notebook_start` and :meth:`on_cell_execute` are nbclient hooks; papermill writes
    the cells' stdout to :meth:`write` (its ``stdout_file``), from which only the dashboard's
    lines are kept. On a terminal one status line is redrawn in place (and every second, so the
    clock moves during a silent cell); elsewhere each event is a line of its own.

    :param name: the notebook's stem, the prefix of every line.
    :param stream: where to write (default ``sys.stdout``).
    :param live: redraw one line in place; default: whether ``stream`` is a terminal.
    """

    def __init__(self, name: str, stream: TextIO | None = None, live: bool | None = None):
        self.name = name
        self.stream = stream if stream is not None else sys.stdout
        self.live = is_terminal(self.stream) if live is None else live
        self.notebook: Any = None
        self.total = 0
        self.cell = 0
        self.training = ""
        self.t0 = time.perf_counter()
        self._partial = ""
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._shown = False  # whether a status line is on screen (live mode)

    # -- as a context: the ticker that keeps the clock moving on a terminal ------------------
    def __enter__(self) -> NotebookProgress:
        self.t0 = time.perf_counter()
        if self.live:
            self._ticker = threading.Thread(target=self._tick, name="rlkit-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            self._clear()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                if self.cell and not self._stop.is_set():
                    self._redraw()

    # -- nbclient hooks -------------------------------------------------------------------
    def on_notebook_start(self, notebook: Any = None, **_: Any) -> None:
        """Called with the parameterised notebook that is about to run (kept, with outputs)."""
        self.notebook = notebook
        self.total = sum(1 for c in notebook.cells if runs_code(c)) if notebook is not None else 0

    def on_cell_execute(self, **_: Any) -> None:
        """Called as each code cell starts."""
        with self._lock:
            self.cell += 1
            self.training = ""
            self._partial = ""
            if self.live:
                self._redraw()
            else:
                self.line(self.status(with_training=False))

    # -- papermill's stdout_file ----------------------------------------------------------
    def write(self, text: str) -> int:
        """Take a chunk of a cell's stdout; forward the complete dashboard lines in it."""
        with self._lock:
            chunk = self._partial + text.replace("\r\n", "\n").replace("\r", "\n")
            *lines, self._partial = chunk.split("\n")
            for line in lines:
                self._dashboard(line.strip())
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered but a partial line, which waits for its end."""

    def _dashboard(self, line: str) -> None:
        if not DASHBOARD_LINE.match(line):
            return
        if not self.live:
            self.line(f"    {line}")
        elif line.startswith(("done", "stop")):
            # A finished training run stays on screen; the status line moves below it.
            self.training = ""
            self.line(f"    {line}")
        else:
            self.training = line
            self._redraw()

    # -- output ---------------------------------------------------------------------------
    def status(self, with_training: bool = True) -> str:
        """``[rlkit] <name>  cell 7/10  12.3 s`` and, if shown, the running cell's training."""
        text = f"[rlkit] {self.name}  cell {self.cell}/{self.total}  {self.elapsed():.1f} s"
        return f"{text}  {self.training}" if with_training and self.training else text

    def elapsed(self) -> float:
        """Seconds since the notebook started (its kernel's start included)."""
        return time.perf_counter() - self.t0

    def line(self, text: str) -> None:
        """Print ``[rlkit] <name>  text`` (or ``text`` as is if it already starts so)."""
        prefix = f"[rlkit] {self.name}"
        out = text if text.startswith(prefix) else f"{prefix}  {text}"
        with self._lock:
            self._clear()
            self.stream.write(out + "\n")
            if self.live and self.cell and not self._stop.is_set():
                self._redraw()
            self.stream.flush()

    def _redraw(self) -> None:
        width = max(shutil.get_terminal_size().columns - 1, 20)
        self.stream.write("\r" + self.status()[:width] + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def finish(self, text: str) -> None:
        """Stop redrawing and print the notebook's last line."""
        self._stop.set()  # no status line after this one
        self.line(text)
