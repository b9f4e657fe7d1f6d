"""``rlkit play``: score or watch an agent, from a ``checkpoint.pt`` or an exported ``.onnx``.

With an ONNX file nothing on this path imports PyTorch, so a laptop with only ``onnxruntime``,
``numpy`` and ``vizdoom`` installed plays it (see :mod:`rlkit.player`); keep it that way: the
imports below are torch-free, and tests/test_export.py checks ``sys.modules`` after a play.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from rlkit.cli.registry import (
    Handler,
    add_output_arguments,
    command,
    emit,
    output_file,
    path_text,
    positive_int,
    seed_int,
    stdout_to_stderr,
    thread_count,
)
from rlkit.errors import UserError


@command("play", help="play episodes with a checkpoint.pt or an exported .onnx; print the scores")
def _play(p: argparse.ArgumentParser) -> Handler:
    p.add_argument(
        "--checkpoint",
        required=True,
        metavar="FILE",
        type=path_text,
        help="a checkpoint.pt from training, or an .onnx from `rlkit export` (needs no torch)",
    )
    p.add_argument("--episodes", type=positive_int, default=10)
    p.add_argument("--seed", type=seed_int, default=0, help="episode i starts from seed + i")
    p.add_argument("--random", action="store_true", help="play uniformly random actions instead")
    p.add_argument(
        "--window",
        action="store_true",
        help="show the game in a window (needs a display); add --realtime to watch at game speed",
    )
    p.add_argument(
        "--realtime",
        action="store_true",
        help="hold Doom's 35 tics per second instead of playing as fast as possible (ViZDoom)",
    )
    p.add_argument(
        "--threads", type=thread_count, default=1, help="CPU threads for the network (default 1)"
    )
    p.add_argument(
        "--gif",
        metavar="FILE",
        type=output_file,
        help="also write the first episode as a labelled colour clip (needs Pillow)",
    )
    add_output_arguments(p)

    def run(args: argparse.Namespace) -> int:
        record, result = play(args, record_frames=1 if args.gif else 0)
        if args.gif:
            record["gif"] = _write_gif(args, record, result)
        return emit(record, args, _play_table)

    return run


def play(args: argparse.Namespace, record_frames: int = 0) -> tuple[dict[str, Any], Any]:
    """Play the episodes ``args`` asks for.

    :param args: the parsed ``rlkit play`` arguments.
    :param record_frames: keep the colour frames of this many first episodes in the result's
        ``frames`` (for an option that saves a clip; a window can stay open meanwhile).
    :return: ``(record, result)``: the JSON-able record that is printed, and the
        :class:`rlkit.evaluation.EvalResult`.
    """
    from rlkit.envs.doom import check_display
    from rlkit.envs.factory import is_vizdoom
    from rlkit.evaluation import evaluate, random_policy
    from rlkit.player import file_kind, load_policy
    from rlkit.run_folder import CHECKPOINT

    path = Path(args.checkpoint)
    if path.is_dir() and (path / CHECKPOINT).is_file():
        raise ValueError(f"{path} is a run folder; play {path / CHECKPOINT}")
    if not path.is_file():  # the wording load_checkpoint uses, whichever kind was meant
        raise FileNotFoundError(f"no checkpoint at {path}")
    kind = file_kind(path)
    policy, spec = load_policy(path, threads=args.threads)
    env_kwargs = dict(spec.env_kwargs)
    if args.window:
        check_display("--window")  # before the engine starts: without a display it crashes
        # ViZDoom's own option keeps render_mode free for recorded frames; gymnasium envs open
        # their window with render_mode="human".
        env_kwargs.update({"window": True} if is_vizdoom(spec.env_id) else {"render_mode": "human"})
    if args.realtime:
        if not is_vizdoom(spec.env_id):
            raise ValueError(
                f"--realtime holds ViZDoom's 35 tics per second, and {spec.env_id} is not a "
                "ViZDoom env (gymnasium envs shown with --window already run at their own speed)"
            )
        env_kwargs["realtime"] = True
    act = random_policy(len(spec.action_names), seed=args.seed) if args.random else policy
    t0 = time.perf_counter()
    try:
        with stdout_to_stderr():  # the engine prints to stdout; --json must stay parseable
            result = evaluate(
                act,
                spec.env_id,
                args.episodes,
                seed=args.seed,
                env_kwargs=env_kwargs,
                record_frames=record_frames,
            )
    except Exception as exc:
        vizdoom = sys.modules.get("vizdoom")
        closed = getattr(vizdoom, "ViZDoomUnexpectedExitException", None)
        if closed is not None and isinstance(exc, closed):
            raise UserError(
                "the game stopped before the episodes ended (was its window closed?)"
            ) from exc
        raise
    record = {
        "checkpoint": str(path),
        "kind": kind,
        "env_id": spec.env_id,
        "policy": "random" if args.random else "greedy",
        "frame_skip": env_kwargs.get("frame_skip"),
        "window": bool(args.window),
        "realtime": bool(args.realtime),
        "seconds": round(time.perf_counter() - t0, 3),
        **result.to_dict(),
    }
    return record, result


def _play_table(r: dict[str, Any]) -> str:
    s = r["stats"]
    extra = "  ".join(f"{k} {v:.1f}" for k, v in s.items() if k.startswith("mean_"))
    return (
        f"{r['policy']} play on {r['env_id']}: {s['mean']:.1f} ± {s['std']:.1f} "
        f"(min {s['min']:.1f}, max {s['max']:.1f}) over {s['episodes']} episodes  {extra}\n"
        f"({r['kind']} {r['checkpoint']}, {r['seconds']:.1f} s)"
    )


def _write_gif(args: argparse.Namespace, record: dict[str, Any], result: Any) -> dict[str, Any]:
    """Write the recorded episode to ``--gif`` at the game's decision rate; what was written."""
    from rlkit.envs.doom import DEFAULT_FRAME_SKIP, TICS_PER_SECOND
    from rlkit.ui import media

    frames = media.label(result.frames[0], record["policy"], score=result.scores[0])
    skip = record["frame_skip"] or DEFAULT_FRAME_SKIP
    fps = TICS_PER_SECOND / skip if record["env_id"].startswith("vizdoom:") else 30.0
    clip = media.write_gif(frames, args.gif, fps=fps)
    return {"path": str(clip.path), "frames": len(frames), "size_bytes": clip.size_bytes}
