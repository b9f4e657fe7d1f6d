"""``rlkit quickstart``: a Doom agent learning from scratch, then its before/after clip (the
work is :mod:`rlkit.quickstart`)."""

from __future__ import annotations

import argparse

from rlkit.cli.registry import (
    Handler,
    command,
    finite_float,
    make_folder,
    path_text,
    positive_int,
    seed_int,
)


@command(
    "quickstart",
    help="a first result in two minutes: train DQN on Doom from scratch, compare it with random "
    "play, write the clip",
)
def _quickstart(p: argparse.ArgumentParser) -> Handler:
    # The defaults live in rlkit.quickstart, which imports torch: --help must not wait for it.
    p.add_argument(
        "--out",
        type=path_text,
        help="folder for the run, the clip and quickstart.json (default runs/quickstart)",
    )
    p.add_argument(
        "--episodes",
        type=positive_int,
        default=20,
        help="seeded episodes each player plays in the comparison (default 20)",
    )
    p.add_argument(
        "--target",
        type=finite_float,
        default=70.0,
        help="greedy mean score to stop training at, once fresh episodes confirm it (default 70)",
    )
    p.add_argument(
        "--max-steps",
        type=positive_int,
        default=8_000,
        help="env steps of training at most, target reached or not (default 8000)",
    )
    p.add_argument("--seed", type=seed_int, default=0, help="seeds training and the random player")

    def run(args: argparse.Namespace) -> int:
        from rlkit.paths import runs_dir
        from rlkit.quickstart import quickstart, quickstart_config

        quickstart_config(args.max_steps, args.seed)  # a value the config refuses: fail now
        out = make_folder(args.out or runs_dir() / "quickstart", "quickstart folder")
        quickstart(
            out,
            episodes=args.episodes,
            target=args.target,
            max_steps=args.max_steps,
            seed=args.seed,
        )
        return 0

    return run
