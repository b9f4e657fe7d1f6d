"""``rlkit bench scaling`` (past one process: Ray rollout workers, moving data) and ``rlkit
bench soak`` (long runs: memory and throughput over minutes) and ``rlkit bench checkpoint``
(what a checkpoint costs)."""

from __future__ import annotations

import argparse

from rlkit.cli.registry import (
    Handler,
    add_output_arguments,
    command,
    emit,
    int_list,
    output_file,
    positive_float,
    positive_float_up_to,
    positive_int,
    stdout_to_stderr,
)
from rlkit.cli.train import parse_overrides


@command("bench scaling", help="local vector env vs Ray rollout workers; moving data; all-reduce")
def _bench_scaling(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--preset", default="vizdoom_basic_ppo", help="a PPO preset (env, network)")
    p.add_argument("--workers", type=int_list, default=[1, 2], help="worker counts (need 1, 2)")
    p.add_argument("--seconds", type=positive_float, default=6.0, help="timed seconds per variant")
    p.add_argument("--repeats", type=positive_int, default=3, help="interleaved rounds")
    p.add_argument(
        "--fragment-steps", type=positive_int, default=128, help="steps per env per Ray round"
    )
    p.add_argument(
        "--slow-factor",
        type=positive_float_up_to(100),  # a sleep of factor × round: no overflow inside Ray
        default=2.0,
        help="the slow worker sleeps this many normal rounds per fragment",
    )
    p.add_argument(
        "--transfer-seconds", type=positive_float, default=0.5, help="seconds per serialisation"
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    add_output_arguments(p)

    def run(args: argparse.Namespace) -> int:
        from rlkit.bench.harness import log_to_stderr
        from rlkit.bench.scaling import bench_scaling, format_scaling_table

        with stdout_to_stderr():
            result = bench_scaling(
                args.preset,
                args.workers,
                args.seconds,
                args.repeats,
                fragment_steps=args.fragment_steps,
                slow_factor=args.slow_factor,
                transfer_seconds=args.transfer_seconds,
                overrides=parse_overrides(args.set),
                log=None if args.quiet else log_to_stderr,
            )
        return emit(result, args, format_scaling_table)

    return run


@command("bench soak", help="train for minutes; memory and steps/s over time stay flat")
def _bench_soak(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--preset", default="vizdoom_simpler_basic")
    p.add_argument("--minutes", type=positive_float, default=10.0, help="wall-clock budget")
    p.add_argument("--sample", type=positive_float, default=10.0, help="seconds between samples")
    p.add_argument(
        "--plot", type=output_file, metavar="FILE", help="also draw memory and steps/s to this PNG"
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    add_output_arguments(p)

    def run(args: argparse.Namespace) -> int:
        from rlkit.bench.harness import log_to_stderr
        from rlkit.bench.soak import bench_soak, format_soak_table

        with stdout_to_stderr():
            result = bench_soak(
                args.preset,
                args.minutes,
                args.sample,
                overrides=parse_overrides(args.set),
                log=None if args.quiet else log_to_stderr,
            )
        if args.plot:
            _save_figure(result, args.plot)
        return emit(result, args, format_soak_table)

    return run


@command("bench checkpoint", help="what a checkpoint costs on the DQN and PPO presets")
def _bench_checkpoint(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--preset", action="append", help="a preset (repeat; default: DQN and PPO)")
    p.add_argument(
        "--train-seconds", type=positive_float, default=15.0, help="training before the saves"
    )
    p.add_argument("--saves", type=positive_int, default=7, help="timed saves per preset")
    add_output_arguments(p)

    def run(args: argparse.Namespace) -> int:
        from rlkit.bench.checkpoint_cost import (
            DEFAULT_PRESETS,
            bench_checkpoint,
            format_checkpoint_table,
        )
        from rlkit.bench.harness import log_to_stderr
        from rlkit.presets import preset

        for name in args.preset or ():
            preset(name)  # an unknown name is one sentence before anything trains
        with stdout_to_stderr():
            result = bench_checkpoint(
                args.preset or DEFAULT_PRESETS,
                args.train_seconds,
                args.saves,
                log=None if args.quiet else log_to_stderr,
            )
        return emit(result, args, format_checkpoint_table)

    return run


def _save_figure(record: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from rlkit.atomic import atomic_write
    from rlkit.ui.soak_chart import plot_soak

    fig = plot_soak(record)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
