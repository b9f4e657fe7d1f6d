"""``rlkit notebooks``: run the ordered notebooks with papermill."""

from __future__ import annotations

import argparse
import sys

from rlkit.cli.registry import Handler, command, path_text
from rlkit.errors import UserError


@command("notebooks", help="execute the notebooks in order with papermill")
def _notebooks(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--scale", default="teach", choices=["teach", "ci"])
    p.add_argument(
        "--out", type=path_text, help="folder for executed notebooks (default runs/<scale>)"
    )
    p.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 00 03")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="notebooks executed at once, each in its own kernel (default 1; make test runs 2)",
    )
    p.add_argument(
        "--record-outputs",
        action="store_true",
        help="with --scale ci: rewrite notebooks/expected_outputs.json from this run's cells "
        "marked NBVAL_CHECK_OUTPUT instead of comparing them",
    )

    def run(args: argparse.Namespace) -> int:
        from rlkit.notebooks import NotebookError, format_table, run_notebooks

        try:
            if args.record_outputs and args.scale != "ci":
                raise UserError("--record-outputs records CI-scale outputs: add --scale ci")
            if args.jobs < 1:
                raise UserError(f"--jobs must be at least 1, got {args.jobs}")
            rows = run_notebooks(
                args.scale,
                args.out,
                args.only,
                record_outputs=args.record_outputs,
                jobs=args.jobs,
            )
        except NotebookError as e:
            # The table of what ran still comes first; the traceback is in the executed
            # notebook, so the error itself is one line, as for every other rlkit error.
            print("\n" + format_table(e.rows), flush=True)
            print(f"rlkit: error: {e}", file=sys.stderr)
            return 1
        print("\n" + format_table(rows))
        return 0

    return run
