"""``rlkit train`` (``rlkit play`` is in :mod:`rlkit.cli.play`)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from rlkit.cli.registry import Handler, command, make_folder, path_text, positive_float_up_to
from rlkit.errors import shown


def parse_overrides(pairs: list[str] | None) -> dict[str, str]:
    """``["lr=1e-3", "batch_size=64"]`` -> dict; values are parsed against each field's type."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()  # " =1" has no key either
        if not sep or not key:
            raise ValueError(f"--set expects key=value (e.g. --set lr=1e-3), got {shown(pair)}")
        out[key] = value
    return out


@command("train", help="train an agent from a named preset; writes checkpoint, history, curves")
def _train(p: argparse.ArgumentParser) -> Handler:
    p.add_argument(
        "--preset",
        help="preset name, e.g. vizdoom_simpler_basic (with --resume: default, the run's own)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda, cuda:N, mps, or a GPU in a Ray cluster: ray (embedded, or "
        "$RAY_ADDRESS), ray://HOST:PORT (Ray Client), ray:HOST:PORT",
    )
    p.add_argument(
        "--require-gpu",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with a ray device: ask Ray for a GPU and train on CUDA there (default), or not "
        "(--no-require-gpu: the node's CPU)",
    )
    p.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="with a ray device: connect even to a cluster that demands no token (unsafe "
        "anywhere others can reach it)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float_up_to(86_400),  # a day: longer waits overflow inside Ray
        default=120.0,
        help="with a ray device: seconds each wait may take (connect, place the worker, each poll)",
    )
    p.add_argument(
        "--out", required=True, type=path_text, help="run folder (created; checkpoint.pt etc.)"
    )
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue OUT's run from OUT/checkpoint.pt (its config unless --preset is given)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the trained run OUT holds (without it such a folder is refused)",
    )
    p.add_argument(
        "--save-buffer", action="store_true", help="keep the replay buffer in checkpoints"
    )
    p.add_argument(
        "--dashboard", default="text", choices=["text", "bar", "off"], help="progress output"
    )

    def run(args: argparse.Namespace) -> int:
        from rlkit.devices import select_device
        from rlkit.entry import train
        from rlkit.presets import preset
        from rlkit.remote.cluster import is_ray_device, parse_device
        from rlkit.run_folder import CHECKPOINT
        from rlkit.ui.dashboard import Dashboard

        out = Path(args.out)
        resume = out / CHECKPOINT if args.resume else None
        if args.resume and args.overwrite:
            raise ValueError("--resume continues OUT's run and --overwrite replaces it: give one")
        if resume is not None and not resume.exists():
            raise ValueError(f"--resume: no checkpoint at {resume}; train without --resume first")
        if args.preset is None and resume is None:
            raise ValueError("--preset is required for a new run (--resume continues OUT's run)")
        overrides = parse_overrides(args.set)
        cfg = (
            preset(args.preset, **overrides)
            if args.preset is not None
            else _config_of(resume, overrides)
        )
        # The device, too, before the run folder is made: a typo must not wait for the envs.
        if is_ray_device(args.device):
            parse_device(args.device)
        else:
            select_device(args.device)
        make_folder(out, "run folder")  # now: a bad --out must not wait for the end of training
        common = dict(
            callbacks=[Dashboard(mode=args.dashboard)],
            run_dir=out,
            resume_from=resume,
            save_buffer=args.save_buffer,
            overwrite=args.overwrite,
        )
        if is_ray_device(args.device):
            from rlkit import remote

            result = remote.train(
                cfg,
                parse_device(args.device),
                require_gpu=args.require_gpu,
                allow_unauthenticated=args.allow_unauthenticated,
                timeout_s=args.timeout,
                **common,
            )
            print(remote.RemoteDeviceReport.from_dict(result.device_report))
        else:
            result = train(cfg, device=args.device, **common)
        _save_curves(result, out / "returns.png")
        print(result.summary())
        from rlkit.run_folder import RUN_FILES

        print(f"wrote {out}/{', '.join(RUN_FILES)}, returns.png")
        return 0

    def run_stoppable(args: argparse.Namespace) -> int:
        from rlkit.stopping import EXIT_STATUS, TrainingInterrupted

        try:
            return run(args)
        except TrainingInterrupted as e:
            h, out = e.result.history, shlex.quote(str(args.out))
            saved = e.result.checkpoint_path or "no checkpoint"
            print(
                f"rlkit: stopped by {e.reason} at env step {h.env_steps:,} of "
                f"{e.result.config.total_steps:,}; checkpoint: {saved}; resume with: "
                f"python -m rlkit train --resume --out {out}",
                file=sys.stderr,
                flush=True,
            )
            return EXIT_STATUS.get(e.reason, 130)

    return run_stoppable


def _config_of(checkpoint: Path, overrides: dict[str, str]) -> Any:
    """The config a run folder's checkpoint was trained with, with ``--set`` overrides."""
    from rlkit.checkpoints import load_checkpoint
    from rlkit.config import config_class

    meta = load_checkpoint(checkpoint, map_location="cpu").metadata
    return config_class(meta["algo"]).from_dict(meta["config"]).replace(**overrides)


def _save_curves(result: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from rlkit.ui import plots

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    plots.plot_returns(result.history, label=result.env_spec.env_id, ax=axes[0])
    if result.history.eval_means:
        plots.plot_eval(result.history, label="greedy evaluation", ax=axes[1])
    else:
        axes[1].set_axis_off()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
