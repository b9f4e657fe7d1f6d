"""``python -m rlkit <command> …`` (also installed as the ``rlkit`` script).

Subcommands live in a registry. Adding one is a decorated function that declares its arguments
and returns the handler; the handler imports the module doing the work only when it runs, so
``python -m rlkit --help`` stays fast::

    @command("bench dqn", help="DQN updates per second on this machine")
    def _bench_dqn(p: argparse.ArgumentParser) -> Handler:
        p.add_argument("--seconds", type=positive_float, default=10.0)

        def run(args: argparse.Namespace) -> int:
            from rlkit import bench

            return emit(bench.bench_dqn(seconds=args.seconds), args)

        return run

A space in the name nests it under a group (``bench`` → ``bench env``, ``bench dqn``).
Bad user input ends with one line on stderr and exit status 2: argparse errors, and any
``ValueError`` a handler raises (rlkit raises ``ValueError`` with the valid choices for bad ids
and settings). ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

Handler = Callable[[argparse.Namespace], "int | None"]
Setup = Callable[[argparse.ArgumentParser], Handler]

# name path -> (help, setup); filled by @command at import, read by build_parser.
_COMMANDS: dict[tuple[str, ...], tuple[str, Setup]] = {}
_GROUPS: dict[tuple[str, ...], str] = {
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
        if path in _COMMANDS:
            raise ValueError(f"command {name!r} is registered twice")
        _COMMANDS[path] = (help, setup)
        return setup

    return register


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line on stderr, status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, built from the registry."""
    import rlkit.commands  # noqa: F401  (registers train, play, notebooks, bench dqn)
    from rlkit import __version__

    root = _Parser(prog="rlkit", description="rlkit: deep RL from pixels, on a CPU or a GPU.")
    root.add_argument("--version", action="version", version=f"rlkit {__version__}")
    root.add_argument(
        "--debug", action="store_true", help="show the traceback of an error instead of one line"
    )
    subparsers: dict[tuple[str, ...], Any] = {
        (): root.add_subparsers(dest="command", metavar="COMMAND", required=True)
    }
    parsers: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for path, (help_text, setup) in _COMMANDS.items():
        for depth in range(1, len(path)):  # create missing groups on the way down
            group = path[:depth]
            if group not in parsers:
                p = subparsers[group[:-1]].add_parser(
                    group[-1], help=_GROUPS.get(group), description=_GROUPS.get(group)
                )
                parsers[group] = p
                dest = "_".join(group) + "_command"
                subparsers[group] = p.add_subparsers(dest=dest, metavar="KIND", required=True)
        p = subparsers[path[:-1]].add_parser(path[-1], help=help_text, description=help_text)
        parsers[path] = p
        p.set_defaults(handler=setup(p))
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ValueError as e:
        if args.debug:
            raise
        print(f"rlkit: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlkit: interrupted", file=sys.stderr)
        return 130


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
        from rlkit.bench import write_json_atomic

        write_json_atomic(args.out, result)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


# -- commands ---------------------------------------------------------------------------------
@command("bench env", help="env steps/s: raw ViZDoom vs rlkit vs vizdoom's gym env vs vector envs")
def _bench_env(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--env", default="vizdoom:basic", help="env id (default: vizdoom:basic)")
    p.add_argument("--seconds", type=positive_float, default=10.0, help="timed seconds per variant")
    p.add_argument(
        "--repeats", type=positive_int, default=3, help="interleaved rounds (median reported)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resolution", type=resolution, help="ViZDoom observation HxW (default 60x80)")
    p.add_argument("--frame-skip", type=positive_int, help="tics per step (default 4)")
    p.add_argument(
        "--workers", type=int_list, default=[1, 2, 4], help="rlkit vector env worker counts"
    )
    p.add_argument(
        "--async-workers", type=int_list, default=[2], help="AsyncVectorEnv worker counts"
    )
    add_output_arguments(p)

    def run(args: argparse.Namespace) -> int:
        from rlkit import bench

        with stdout_to_stderr():
            result = bench.bench_env(
                args.env,
                args.seconds,
                args.repeats,
                resolution=args.resolution,
                frame_skip=args.frame_skip,
                seed=args.seed,
                vector_workers=args.workers,
                async_workers=args.async_workers,
                log=None if args.quiet else bench.log_to_stderr,
            )
        return emit(result, args, bench.format_env_table)

    return run
