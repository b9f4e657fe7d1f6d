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
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rlkit.errors import UserError, os_error_message

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
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- argument types: a bad value becomes argparse's one-line error ------------------------------
def positive_float(text: str) -> float:
    """``argparse`` type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """``argparse`` type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 1, got {text!r}")
    return value


def int_list(text: str) -> list[int]:
    """``argparse`` type: comma-separated integers ≥ 1, e.g. ``1,2,4``."""
    try:
        return [positive_int(t) for t in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated integers ≥ 1 such as 1,2,4, got {text!r}"
        ) from None


def resolution(text: str) -> tuple[int, int]:
    """``argparse`` type: ``HEIGHTxWIDTH``, e.g. ``60x80``."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        if len(parts) != 2:
            raise ValueError
        return positive_int(parts[0]), positive_int(parts[1])
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"must be HEIGHTxWIDTH such as 60x80, got {text!r}"
        ) from None


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
    try:
        path.mkdir(parents=True, exist_ok=True)
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
    p.add_argument("--out", metavar="FILE", help="also write the JSON to FILE (atomically)")
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
