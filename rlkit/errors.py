"""The base class of the errors rlkit raises when what it was asked to do cannot be done.

A :class:`UserError` means the input was wrong (a checkpoint that is not one, a device this
machine lacks, a path that cannot be written), not that rlkit is broken: its message alone tells
the user what to fix, so the command line prints it as one line, ``rlkit: error: …``, instead of
a traceback (see :func:`rlkit.cli.main`).

Each concrete error also subclasses the built-in exception its callers already expect, so that
``except ValueError`` or ``except RuntimeError`` keep catching it::

    class CheckpointError(UserError, ValueError): ...
    class DeviceNotAvailableError(UserError, RuntimeError): ...

This module imports nothing, so any rlkit module can use it without import cycles or cost.
"""

from __future__ import annotations

__all__ = ["UserError", "os_error_message", "shown"]


class UserError(Exception):
    """Bad user input that rlkit detected; the message says what is wrong and what is valid."""


def os_error_message(exc: OSError, doing: str | None = None, path: object = None) -> str:
    """One sentence for an :class:`OSError`: what was attempted, on which path, and why not.

    ``str(exc)`` reads ``[Errno 20] Not a directory: '/dev/null/x'``; this gives
    ``cannot create run folder /dev/null/x: Not a directory`` (with ``doing="create run
    folder"``) or ``/dev/null/x: Not a directory`` (without).

    :param exc: the error; an OSError raised with a message only (``FileNotFoundError("no
        checkpoint at x")``) is already a sentence and is returned as it is
    :param doing: what was attempted, e.g. ``"create run folder"``
    :param path: the path the user gave, named instead of ``exc.filename``; where the OS failed
        on another one (a parent folder, say) that one is added in brackets
    :return: the sentence, without a trailing newline
    """
    if exc.strerror is None:  # raised with a message of its own, not by the OS
        return str(exc) or type(exc).__name__
    failed = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    if path is None:
        named = "" if exc.filename is None else str(failed)
    else:
        named = str(path)
        if exc.filename is not None and str(failed) != named:
            named = f"{named} (at {failed})"
    what = f"cannot {doing} {named}".rstrip() if doing else named
    return f"{what}: {exc.strerror}" if what else exc.strerror


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` for an error message: on one line and at most ``limit`` characters.

    A bad value is often junk (a pasted paragraph, a 5000-digit number whose repr Python
    refuses, a list nested too deep to repr); the message must still be one short line.
    """
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
