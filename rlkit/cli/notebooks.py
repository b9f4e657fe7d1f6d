"""``rlkit notebooks``: run the ordered notebooks with papermill."""

from __future__ import annotations

import argparse

from rlkit.cli.registry import Handler, command


@command("notebooks", help="execute the notebooks in order with papermill")
def _notebooks(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--scale", default="teach", choices=["teach", "ci"])
    p.add_argument("--out", help="folder for executed notebooks (default runs/<scale>)")
    p.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 00 03")

    def run(args: argparse.Namespace) -> int:
        from rlkit.notebooks import run_notebooks

        rows = run_notebooks(args.scale, args.out, args.only)
        for row in rows:
            print(f"{row['notebook']:40s} {row['seconds']:7.1f} s")
        return 0

    return run
