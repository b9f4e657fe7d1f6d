"""``rlkit bench env``, ``dqn``, ``ppo``, ``learner``, ``infer``, ``remote``, ``grid`` and
``straggler`` (``scaling`` and ``soak`` are in :mod:`rlkit.cli.bench_runs`)."""

from __future__ import annotations

import argparse

from rlkit.cli.registry import (
    Handler,
    add_output_arguments,
    command,
    emit,
    finite_float,
    int_list,
    path_text,
    positive_float,
    positive_int,
    resolution,
    seed_int,
    stdout_to_stderr,
    thread_count,
    thread_list,
)
from rlkit.cli.train import parse_overrides


@command("bench env", help="env steps/s: raw ViZDoom vs rlkit vs vizdoom's gym env vs vector envs")
def _bench_env(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--env", default="vizdoom:basic", help="env id (default: vizdoom:basic)")
    p.add_argument("--seconds", type=positive_float, default=10.0, help="timed seconds per variant")
    p.add_argument(
        "--repeats", type=positive_int, default=3, help="interleaved rounds (median reported)"
    )
    p.add_argument("--seed", type=seed_int, default=0)
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
        from rlkit.bench import env as bench
        from rlkit.bench.harness import log_to_stderr

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
                log=None if args.quiet else log_to_stderr,
            )
        return emit(result, args, bench.format_env_table)

    return run


def _add_score_rule(p: argparse.ArgumentParser, eval_episodes: int, confirm_episodes: int) -> None:
    """The arguments of the confirmed stopping rule (``rlkit.bench.score``), and ``--set``."""
    p.add_argument(
        "--eval-episodes", type=positive_int, default=eval_episodes, help="episodes per evaluation"
    )
    p.add_argument(
        "--confirm-episodes",
        type=positive_int,
        default=confirm_episodes,
        help="fresh episodes that must confirm an evaluation at the target",
    )
    p.add_argument("--eval-interval", type=positive_int, help="env steps between evaluations")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")


def _time_to_score(algo: str, default_preset: str):
    """``bench dqn`` / ``bench ppo``: one protocol and one stopping rule for either algorithm."""

    def build(p: argparse.ArgumentParser) -> Handler:
        p.add_argument("--preset", default=default_preset)
        p.add_argument(
            "--target", type=finite_float, required=True, help="greedy mean score to reach"
        )
        p.add_argument("--seeds", type=positive_int, default=3)
        p.add_argument("--first-seed", type=seed_int, default=0, help="seeds run from this one up")
        p.add_argument(
            "--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default: cpu)"
        )
        _add_score_rule(p, eval_episodes=100, confirm_episodes=100)
        add_output_arguments(p)

        def run(args: argparse.Namespace) -> int:
            from rlkit.bench.score import bench_time_to_score, format_score_table

            with stdout_to_stderr():
                result = bench_time_to_score(
                    args.preset,
                    args.target,
                    seeds=args.seeds,
                    device=args.device,
                    eval_episodes=args.eval_episodes,
                    confirm_episodes=args.confirm_episodes,
                    eval_interval=args.eval_interval,
                    overrides=parse_overrides(args.set),
                    algo=algo,
                    first_seed=args.first_seed,
                )
            return emit(result, args, format_score_table)

        return run

    return build


command("bench dqn", help="seconds of DQN training until greedy play reaches a target, confirmed")(
    _time_to_score("dqn", "vizdoom_simpler_basic")
)
command("bench ppo", help="seconds of PPO training until greedy play reaches a target, confirmed")(
    _time_to_score("ppo", "cartpole_ppo")
)


@command("bench learner", help="DQN learner updates/s alone (no env), per batch size, on a device")
def _bench_learner(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default: cpu)")
    p.add_argument(
        "--batch", type=int_list, default=[64, 256, 1024], help="batch sizes (default 64,256,1024)"
    )
    p.add_argument("--preset", default="vizdoom_basic", help="DQN preset: net, optimizer, shape")
    p.add_argument(
        "--seconds", type=positive_float, default=6.0, help="timed seconds per batch size"
    )
    p.add_argument(
        "--repeats", type=positive_int, default=3, help="interleaved rounds (median reported)"
    )
    p.add_argument(
        "--threads", type=thread_count, help="torch intra-op threads (default: the preset's)"
    )
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    add_output_arguments(p)

    def run(args: argparse.Namespace) -> int:
        from rlkit.bench.harness import log_to_stderr
        from rlkit.bench.learner import bench_learner, format_learner_table

        with stdout_to_stderr():
            result = bench_learner(
                args.device,
                args.batch,
                args.preset,
                args.seconds,
                args.repeats,
                threads=args.threads,
                overrides=parse_overrides(args.set),
                seed=args.seed,
                log=None if args.quiet else log_to_stderr,
            )
        return emit(result, args, format_learner_table)

    return run


@command("bench infer", help="per-decision latency and memory: PyTorch eager vs ONNX Runtime & co.")
def _bench_infer(p: argparse.ArgumentParser) -> Handler:
    from rlkit.paths import CHECKPOINTS_DIR
    from rlkit.run_folder import CHECKPOINT

    default = CHECKPOINTS_DIR / "vizdoom_simpler_basic" / CHECKPOINT
    p.add_argument(
        "--checkpoint",
        default=str(default),
        type=path_text,
        help="checkpoint.pt (default: shipped)",
    )
    p.add_argument("--threads", type=thread_count, default=1, help="CPU threads of every path")
    p.add_argument(
        "--paths",
        type=lambda text: [t.strip() for t in text.split(",") if t.strip()],
        default=["eager", "onnxruntime", "torchscript", "compile"],
        help="comma-separated inference paths (eager is always measured; compile takes seconds)",
    )
    p.add_argument("--iterations", type=positive_int, default=1000, help="fewest decisions/round")
    p.add_argument(
        "--round-seconds", type=positive_float, default=0.5, help="shortest timing per round"
    )
    p.add_argument(
        "--repeats", type=positive_int, default=5, help="interleaved rounds (median reported)"
    )
    p.add_argument(
        "--observations", type=positive_int, default=200, help="recorded observations compared"
    )
    p.add_argument(
        "--play-steps", type=positive_int, default=300, help="env steps for the time split"
    )
    p.add_argument("--seed", type=seed_int, default=0)
    add_output_arguments(p)

    def run(args: argparse.Namespace) -> int:
        from rlkit.bench.harness import log_to_stderr
        from rlkit.bench.infer import bench_infer, format_infer_table

        with stdout_to_stderr():
            result = bench_infer(
                args.checkpoint,
                args.threads,
                paths=args.paths,
                iterations=args.iterations,
                round_seconds=args.round_seconds,
                repeats=args.repeats,
                observations=args.observations,
                play_steps=args.play_steps,
                seed=args.seed,
                log=None if args.quiet else log_to_stderr,
            )
        return emit(result, args, format_infer_table)

    return run


@command("bench remote", help="the cost of training through Ray: start-up, latency, transfer")
def _bench_remote(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--preset", default="cartpole", help="preset trained both ways")
    p.add_argument("--steps", type=positive_int, default=4000, help="env steps per training")
    p.add_argument("--repeats", type=positive_int, default=3, help="rounds (median reported)")
    p.add_argument(
        "--address", help="a Ray cluster (ray://HOST:PORT or HOST:PORT); default: embedded"
    )
    p.add_argument(
        "--require-gpu", action="store_true", help="train on a GPU node (default: a CPU node)"
    )
    add_output_arguments(p)

    def run(args: argparse.Namespace) -> int:
        from rlkit.bench.harness import log_to_stderr
        from rlkit.bench.remote import bench_remote, format_remote_table
        from rlkit.remote.cluster import split_address

        if args.address is not None:
            split_address(args.address)  # a malformed address fails before anything starts
        with stdout_to_stderr():
            result = bench_remote(
                args.preset,
                args.steps,
                args.repeats,
                address=args.address,
                require_gpu=args.require_gpu,
                log=None if args.quiet else log_to_stderr,
            )
        return emit(result, args, format_remote_table)

    return run


def _modes(text: str) -> list[str]:
    """``argparse`` type: comma-separated stepping modes of ``bench grid``."""
    from rlkit.bench.grid import MODES

    modes = [t.strip() for t in text.split(",") if t.strip()]
    if not modes or any(m not in MODES for m in modes):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated modes from {', '.join(MODES)}, got {text!r}"
        )
    return modes


@command("bench grid", help="torch threads × envs, lock-step and async: env steps/s, time to score")
def _bench_grid(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--threads", type=thread_list, default=[1, 2], help="torch threads (rows)")
    p.add_argument("--envs", type=int_list, default=[1, 2, 4], help="numbers of envs (columns)")
    p.add_argument(
        "--modes", type=_modes, default=["lockstep", "async"], help="lockstep,async (default)"
    )
    p.add_argument("--preset", default="vizdoom_basic_ppo", help="training preset (default PPO)")
    p.add_argument("--target", type=finite_float, required=True, help="greedy mean score to reach")
    p.add_argument(
        "--steps", type=positive_int, default=30_000, help="env steps per training at most"
    )
    p.add_argument("--seeds", type=positive_int, default=1, help="trainings per cell")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default: cpu)")
    p.add_argument(
        "--env-seconds", type=positive_float, default=2.0, help="timed seconds, envs alone"
    )
    p.add_argument("--repeats", type=positive_int, default=2, help="interleaved rounds, envs alone")
    p.add_argument(
        "--lockstep-backend",
        choices=["sync", "threads", "shm"],
        help="vector backend of lockstep cells (default: the preset's)",
    )
    _add_score_rule(p, eval_episodes=10, confirm_episodes=20)
    add_output_arguments(p)

    def run(args: argparse.Namespace) -> int:
        from rlkit.bench.grid import bench_grid, format_grid_table
        from rlkit.bench.harness import log_to_stderr

        with stdout_to_stderr():
            result = bench_grid(
                args.threads,
                args.envs,
                args.modes,
                args.preset,
                target=args.target,
                total_steps=args.steps,
                seeds=args.seeds,
                device=args.device,
                env_seconds=args.env_seconds,
                repeats=args.repeats,
                eval_episodes=args.eval_episodes,
                confirm_episodes=args.confirm_episodes,
                eval_interval=args.eval_interval,
                lockstep_backend=args.lockstep_backend,
                overrides=parse_overrides(args.set),
                log=None if args.quiet else log_to_stderr,
            )
        return emit(result, args, format_grid_table)

    return run


@command("bench straggler", help="lock-step waits for resetting envs; EnvPool and double buffers")
def _bench_straggler(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("--env", default="vizdoom:basic", help="env id (default: vizdoom:basic)")
    p.add_argument("--envs", type=positive_int, default=4, help="envs of lock-step and pool (≥ 2)")
    p.add_argument("--batch", type=positive_int, help="pool envs per recv (default: envs - 1)")
    p.add_argument("--seconds", type=positive_float, default=3.0, help="timed seconds per variant")
    p.add_argument("--repeats", type=positive_int, default=3, help="interleaved rounds")
    p.add_argument("--resolution", type=resolution, help="ViZDoom observation HxW (default 60x80)")
    p.add_argument("--frame-skip", type=positive_int, help="tics per step (default 4)")
    p.add_argument("--seed", type=seed_int, default=0)
    add_output_arguments(p)

    def run(args: argparse.Namespace) -> int:
        from rlkit.bench.harness import log_to_stderr
        from rlkit.bench.straggler import bench_straggler, format_straggler_table

        kwargs = {}
        if args.resolution:
            kwargs["resolution"] = args.resolution
        if args.frame_skip:
            kwargs["frame_skip"] = args.frame_skip
        with stdout_to_stderr():
            result = bench_straggler(
                args.env,
                args.envs,
                args.seconds,
                args.repeats,
                batch_size=args.batch,
                env_kwargs=kwargs,
                seed=args.seed,
                log=None if args.quiet else log_to_stderr,
            )
        return emit(result, args, format_straggler_table)

    return run
