"""The command registry of ``python -m rlkit``, and what every command shares.

Adding a command is a decorated function that declares its arguments and returns the handler;
the handler imports the module doing the work only when it runs, so ``python -m rlkit --help``
stays fast::

    @command("bench learner", help="DQN learner updates/s alone, per batch size")
    def _bench_learner(p: argparse.ArgumentParser) -> Handler:
        p.add_argument("--seconds", type=positive_float, default=6.0)

        def run(args: argparse.Namespace) -> int:
            from rlkit.bench.learner import bench_learner, format_learner_table

            return emit(bench_learner(seconds=args.seconds), args, format_learner_table)

        return run

A space in the name nests it under a group (``bench`` → ``bench env``, ``bench dqn``). The
module holding the command is listed in :data:`rlkit.cli.COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rlkit.errors import UserError, os_error_message, shown
from rlkit.fields import MAX_INT

Handler = Callable[[argparse.Namespace], "int | None"]
Setup = Callable[[argparse.ArgumentParser], Handler]

# name path -> (help, setup); filled by @command at import, read by build_parser.
COMMANDS: dict[tuple[str, ...], tuple[str, Setup]] = {}
GROUPS: dict[tuple[str, ...], str] = {
    ("bench",): "measure speed; prints results with the machine they ran on",
}


def command(name: str, help: str) -> Callable[[Setup], Setup]:
    """Register a subcommand.

    :param name: words of the command line, e.g. ``"train"`` or ``"bench env"``.
    :param help: one line for ``--help``.
    :return: decorator for a function that adds the arguments to the given parser and returns
        the handler ``run(args) -> exit status or None``.
    """
    path = tuple(name.split())

    def register(setup: Setup) -> Setup:
        if path in COMMANDS:
            raise ValueError(f"command {name!r} is registered twice")
        COMMANDS[path] = (help, setup)
        return setup

    return register


class Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line on stderr, status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse echoes unrecognised arguments as typed: a newline in one must not split it.
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- argument types: a bad value becomes argparse's one-line error ------------------------------
def positive_float(text: str) -> float:
    """``argparse`` type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {shown(text)}")
    return value


def finite_float(text: str) -> float:
    """``argparse`` type: a finite number (``nan`` or ``inf`` as a target is never reached)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {shown(text)}")
    return value


def positive_float_up_to(limit: float) -> Callable[[str], float]:
    """``argparse`` type: a number in (0, ``limit``], for one that becomes a wait or a sleep
    (Python's waits overflow past about 2**33 s, deep inside Ray or threading)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value <= limit:
            raise argparse.ArgumentTypeError(
                f"must be a positive number, at most {limit:g}, got {shown(text)}"
            )
        return value

    return parse


def _int_in(text: str, lo: int, hi: int) -> int | None:
    """``int(text)`` if it is an integer in ``[lo, hi]``, else ``None``."""
    try:
        value = int(text)
    except ValueError:  # not an integer, or more digits than int() reads
        return None
    return value if lo <= value <= hi else None


def positive_int(text: str) -> int:
    """``argparse`` type: an integer ≥ 1 (that fits in an int64, as counts end up)."""
    value = _int_in(text, 1, MAX_INT)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"must be an integer ≥ 1 (at most 2**63 - 1), got {shown(text)}"
        )
    return value


def seed_int(text: str) -> int:
    """``argparse`` type: a seed, an integer in [0, 2**63 - 1] (numpy refuses negative seeds and
    torch those beyond 2**64)."""
    value = _int_in(text, 0, MAX_INT)
    if value is None:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**63 - 1], got {shown(text)}")
    return value


def thread_count(text: str) -> int:
    """``argparse`` type: a number of CPU threads, 1 to :data:`rlkit.config.MAX_TORCH_THREADS`."""
    from rlkit.config import MAX_TORCH_THREADS

    value = _int_in(text, 1, MAX_TORCH_THREADS)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"must be an integer in [1, {MAX_TORCH_THREADS}], got {shown(text)}"
        )
    return value


def int_list(text: str) -> list[int]:
    """``argparse`` type: comma-separated integers ≥ 1, e.g. ``1,2,4``."""
    try:
        return [positive_int(t) for t in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated integers ≥ 1 such as 1,2,4, got {shown(text)}"
        ) from None


def thread_list(text: str) -> list[int]:
    """``argparse`` type: comma-separated thread counts, e.g. ``1,2``."""
    try:
        return [thread_count(t) for t in text.split(",")]
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated thread counts such as 1,2; each {e}"
        ) from None


def resolution(text: str) -> tuple[int, int]:
    """``argparse`` type: ``HEIGHTxWIDTH``, e.g. ``60x80``, within ViZDoom's largest screen."""
    from rlkit.env_options import SCREENS

    parts = text.lower().replace(",", "x").split("x")
    height, width = SCREENS[-1]
    size = (_int_in(parts[0], 8, height), _int_in(parts[1], 8, width)) if len(parts) == 2 else None
    if size is None or None in size:
        raise argparse.ArgumentTypeError(
            f"must be HEIGHTxWIDTH such as 60x80, each at least 8 and at most {height}x{width}, "
            f"got {shown(text)}"
        )
    return size


def path_text(text: str) -> str:
    """``argparse`` type: a path, not empty (``--out ""`` from an unset variable would mean the
    working folder) and without a NUL character (which the OS refuses with a ValueError that
    names no path)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a path, got {shown(text)}")
    if "\0" in text:
        raise argparse.ArgumentTypeError(
            f"must be a path without NUL characters, got {shown(text)}"
        )
    return text


def output_file(text: str) -> str:
    """``argparse`` type: a file to write at the end (``--out``, ``--gif``), checked now, so
    that a bad path fails before minutes of work instead of after them: not a folder, and in a
    folder that exists and takes files or that can be created (it is, when the file is written;
    nothing is created here, as a later argument may still be wrong)."""
    path = Path(path_text(text))
    try:
        folder, is_folder = path.parent, path.is_dir()
        there = next(p for p in (folder, *folder.parents) if p.exists())  # "." always is
        in_a_file = not there.is_dir()
    except OSError as e:  # a name too long, say
        raise argparse.ArgumentTypeError(f"cannot use {shown(text)}: {e.strerror}") from None
    if is_folder:
        raise argparse.ArgumentTypeError(f"{shown(text)} is a folder; name a file in it")
    if in_a_file:
        raise argparse.ArgumentTypeError(f"cannot write {shown(text)}: {there} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=there):  # the one sure test (see make_folder)
            pass
    except OSError as e:  # a read-only disk, no permission
        raise argparse.ArgumentTypeError(f"cannot write files in {there}: {e.strerror}") from None
    return text


# -- output paths: checked before the work, not after it ---------------------------------------
def make_folder(path: str | os.PathLike[str], what: str = "folder") -> Path:
    """Create ``path`` (with its parents) and make sure files can be written in it.

    Commands that run for minutes call this first, so that an ``--out`` that cannot be used
    fails at once in one sentence instead of after the work (or with a traceback).

    :param path: the folder
    :param what: what it is, for the message, e.g. ``"run folder"``
    :return: the folder as a :class:`~pathlib.Path`
    :raises UserError: e.g. ``cannot create run folder /dev/null/x: Not a directory``
    """
    path = Path(path)
    if "\0" in str(path):  # os.mkdir raises a ValueError that names no path
        raise UserError(f"cannot create {what} {shown(str(path))}: a path holds no NUL character")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # mkdir's "File exists" would not say what is in the way
        raise UserError(f"cannot create {what} {path}: a file of that name is in the way") from exc
    except OSError as exc:
        raise UserError(os_error_message(exc, f"create {what}", path)) from exc
    try:
        # An existing folder may still be read-only; a throwaway file is the only sure test
        # (os.access ignores read-only mounts and says yes to root).
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UserError(os_error_message(exc, f"write to {what}", path)) from exc
    return path


# -- shared by benchmark commands ---------------------------------------------------------------
def add_output_arguments(p: argparse.ArgumentParser) -> None:
    """``--json``, ``--out`` and ``--quiet``, the same for every benchmark."""
    p.add_argument("--json", action="store_true", help="print JSON only on stdout (no table)")
    p.add_argument(
        "--out", metavar="FILE", type=output_file, help="also write the JSON to FILE (atomically)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (by Python or by child processes such as game engines)
    to stderr, so that stdout carries only the result."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1: nothing at OS level to protect
        saved = None
    try:
        if saved is not None:
            os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def emit(result: dict[str, Any], args: argparse.Namespace, table: Callable[[dict], str]) -> int:
    """Write ``result`` to ``--out`` and print it as JSON (``--json``) or as ``table(result)``."""
    if args.out:
        from rlkit.atomic import write_json

        write_json(args.out, result)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0
