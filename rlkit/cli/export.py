"""``rlkit export``: a checkpoint's network as one ONNX file, for a player without PyTorch."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

from rlkit.cli.registry import Handler, command, emit, make_folder, path_text, stdout_to_stderr
from rlkit.errors import shown
from rlkit.fields import MAX_INT

FORMATS = ("onnx",)


def non_negative_int(text: str) -> int:
    """``argparse`` type: an integer ≥ 0."""
    try:
        value = int(text)
    except ValueError:  # not an integer, or more digits than int() reads
        value = -1
    if not 0 <= value <= MAX_INT:
        raise argparse.ArgumentTypeError(
            f"must be an integer ≥ 0 (at most 2**63 - 1), got {shown(text)}"
        )
    return value


@command("export", help="export a checkpoint's network to one .onnx file (play it without torch)")
def _export(p: argparse.ArgumentParser) -> Handler:
    p.add_argument(
        "--checkpoint", required=True, metavar="FILE", type=path_text, help="a checkpoint.pt"
    )
    # Checked in the handler rather than by argparse's choices, so that another format is
    # answered like every other bad input: `rlkit: error: …`, naming the one there is.
    p.add_argument("--format", default="onnx", help="the file format; onnx is the only one")
    p.add_argument(
        "--out", required=True, metavar="FILE", type=path_text, help="the .onnx file to write"
    )
    p.add_argument(
        "--check",
        type=non_negative_int,
        default=300,
        metavar="N",
        help="compare greedy actions with PyTorch on N recorded observations (0: skip)",
    )
    p.add_argument("--json", action="store_true", help="print JSON only on stdout (no table)")

    def run(args: argparse.Namespace) -> int:
        fmt = args.format.lower()
        if fmt not in FORMATS:
            raise ValueError(
                f"--format {args.format!r} is not supported; valid: {', '.join(FORMATS)}"
            )
        checkpoint, out = Path(args.checkpoint), Path(args.out)
        # Before the export's seconds of work: a bad path fails at once.
        if not checkpoint.is_file():
            raise FileNotFoundError(f"no checkpoint at {checkpoint}")
        if out.is_dir():
            raise ValueError(f"--out {out} is a folder; name the file, e.g. {out / 'agent.onnx'}")
        make_folder(out.parent, "output folder")
        export_onnx = _exporter()
        with stdout_to_stderr():
            report = export_onnx(checkpoint, out, check_observations=args.check)
        record = {"checkpoint": str(checkpoint), "format": fmt, **report.to_dict()}
        record["matching"] = round(report.agreement * report.observations)
        # emit() also writes the record to args.out when set; here --out is the model itself.
        return emit(record, argparse.Namespace(out=None, json=args.json), _export_table)

    return run


def _exporter() -> Any:
    """:func:`rlkit.export.export_onnx`, or one sentence naming the package that is missing."""
    from rlkit.export import ExportError

    names = ("torch", "onnx", "onnxscript", "onnxruntime")
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(
            f"exporting needs {', '.join(missing)}, not installed here: "
            "pip install 'rlkit[export,player]' (torch comes with rlkit itself)"
        )
    from rlkit.export import export_onnx

    return export_onnx


def _export_table(r: dict[str, Any]) -> str:
    size = r["size_bytes"]
    shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
    lines = [f"wrote {r['path']} ({shown}, weights inside) from {r['checkpoint']}"]
    if r["observations"]:
        lines.append(
            f"same greedy action on {r['matching']} of {r['observations']} recorded "
            f"observations (largest Q-value difference {r['max_abs_diff']:.2g})"
        )
    else:
        lines.append("not compared with PyTorch (--check 0)")
    lines.append(f"{r['seconds']:.1f} s; play it: python -m rlkit play --checkpoint {r['path']}")
    return "\n".join(lines)
