"""A stop is not a crash: signals become a stop request, and a stopped run says where it is.

The engine (:class:`rlkit.training.Trainer`) knows only ``request_stop(reason)``: it finishes
the current iteration (one DQN step batch, one PPO rollout with its epochs, one Ray round),
writes its checkpoint and records, and ends. Signals are turned into that call only at the
entry points, in the main thread — :func:`rlkit.train` and ``python -m rlkit train`` —
by :func:`stop_on_signals`: SIGINT (Ctrl-C, JupyterLab's ■ button), SIGTERM (``kill``, a
batch scheduler, ``docker stop``) and SIGHUP (a closed terminal). A second signal while the
checkpoint is being written changes nothing: the run ends once the checkpoint is whole.

A stopped :func:`rlkit.train` raises :class:`TrainingInterrupted`, a ``KeyboardInterrupt``
(a loop over seeds stops as a person expects) that carries the partial result, live model
included: ``err.result``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["EXIT_STATUS", "TrainingInterrupted", "stop_on_signals"]

_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
EXIT_STATUS = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}
"""The shell's convention, 128 + the signal's number, for a command line stopped by it."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was stopped by a person (or a scheduler); nothing trained is lost.

    :param result: the partial :class:`rlkit.records.TrainResult`, with the live model and
        the path of the checkpoint written at the stop.
    :param reason: what stopped it, e.g. ``"SIGINT"``.
    """

    def __init__(self, result: Any, reason: str):
        self.result = result
        self.reason = reason
        h = result.history
        where = f"; checkpoint: {result.checkpoint_path}" if result.checkpoint_path else ""
        super().__init__(f"training stopped by {reason} at env step {h.env_steps:,}{where}")


@contextlib.contextmanager
def stop_on_signals(request_stop: Callable[[str], None]) -> Iterator[None]:
    """While inside, SIGINT, SIGTERM and SIGHUP call ``request_stop(name)`` instead of ending
    the process; the previous handlers come back on exit. Outside the main thread (a Ray
    actor's thread, a thread of the caller's) signals cannot be caught, and nothing changes:
    such a run is stopped through ``request_stop`` itself."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        request_stop(signal.Signals(signum).name)

    try:
        for name in _SIGNALS:
            sig = getattr(signal, name, None)
            # A signal the caller ignores on purpose (a shell's background job ignores SIGINT)
            # stays ignored.
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, handler)
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
