"""``python -m rlkit <command> …`` (also installed as the ``rlkit`` script).

Bad user input ends with one line on stderr, ``rlkit: error: …``, and exit status 2: argparse
errors, and every error rlkit raises on bad input (see :func:`main`). ``--debug`` shows the
traceback instead. A command that writes somewhere creates its output folder first (see
:func:`rlkit.cli.registry.make_folder`), so a bad path fails before the work starts.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from rlkit.cli.registry import COMMANDS, GROUPS, Parser
from rlkit.errors import UserError, os_error_message

# The modules whose @command functions make up the command line.
COMMAND_MODULES = (
    "rlkit.cli.train",
    "rlkit.cli.play",
    "rlkit.cli.export",
    "rlkit.cli.bench",
    "rlkit.cli.bench_runs",
    "rlkit.cli.notebooks",
    "rlkit.cli.quickstart",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser, built from the registry."""
    for name in COMMAND_MODULES:  # each registers its commands when imported
        importlib.import_module(name)
    from rlkit import __version__

    root = Parser(prog="rlkit", description="rlkit: deep RL from pixels, on a CPU or a GPU.")
    root.add_argument("--version", action="version", version=f"rlkit {__version__}")
    root.add_argument(
        "--debug", action="store_true", help="show the traceback of an error instead of one line"
    )
    subparsers: dict[tuple[str, ...], Any] = {
        (): root.add_subparsers(dest="command", metavar="COMMAND", required=True)
    }
    parsers: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for path, (help_text, setup) in COMMANDS.items():
        for depth in range(1, len(path)):  # create missing groups on the way down
            group = path[:depth]
            if group not in parsers:
                p = subparsers[group[:-1]].add_parser(
                    group[-1], help=GROUPS.get(group), description=GROUPS.get(group)
                )
                parsers[group] = p
                dest = "_".join(group) + "_command"
                subparsers[group] = p.add_subparsers(dest=dest, metavar="KIND", required=True)
        p = subparsers[path[:-1]].add_parser(path[-1], help=help_text, description=help_text)
        parsers[path] = p
        p.set_defaults(handler=setup(p))
    return root


def error_line(exc: BaseException) -> str:
    """The one line ``rlkit: error: …`` that stands for ``exc`` (without a newline)."""
    text = os_error_message(exc) if isinstance(exc, OSError) else str(exc)
    return "rlkit: error: " + (" ".join(text.split()) or type(exc).__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    These errors are the user's to fix, and their messages say how, so they become one line on
    stderr and status 2 (``--debug`` re-raises them):

    - :class:`rlkit.errors.UserError`: checkpoints (``CheckpointError``), devices
      (``DeviceNotAvailableError``), output folders (:func:`~rlkit.cli.registry.make_folder`);
    - ``ValueError``: what every other check on user input raises (``ConfigError``, unknown
      presets, env ids, device names, ``--set`` syntax …);
    - ``OSError``: a path the user gave that cannot be read or written, named with the OS's
      reason (``no checkpoint at x.pt``, ``out.json: Permission denied``).

    Anything else is a bug and keeps its traceback.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (UserError, ValueError, OSError) as e:
        if args.debug:
            raise
        print(error_line(e), file=sys.stderr)
        return 2
    except MemoryError as e:  # a size this machine cannot hold: the user's to change
        if args.debug:
            raise
        detail = " ".join(str(e).split()) or "an allocation failed"
        print(
            f"rlkit: error: out of memory: {detail}; ask for less (buffer_size, num_envs, "
            "resolution) or use a machine with more",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("rlkit: interrupted", file=sys.stderr)
        return 130
