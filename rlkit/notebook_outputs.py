"""The outputs a notebook promises, checked on its one execution.

A code cell whose source says ``# NBVAL_CHECK_OUTPUT`` promises its text output (what it prints
and the plain text of what it displays). The committed notebooks carry no outputs, so what each
such cell printed at CI scale is kept in a small sidecar, ``notebooks/expected_outputs.json``,
keyed by notebook and by the cell's source (papermill's injected parameter cell shifts cell
numbers; the source does not move). ``python -m rlkit notebooks --scale ci`` compares every
marked cell of the copy it has just executed with the sidecar, so each notebook runs once,
where nbval used to execute it a second time only to compare these few cells.

``make expected-outputs`` rewrites the sidecar from the executed copies of a CI run, after a
person changed what a checked cell prints on purpose. The marker is nbval's own, so
``pytest --nbval-lax`` on an executed copy still checks the same cells.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rlkit.paths import NOTEBOOKS_DIR

__all__ = [
    "EXPECTED_OUTPUTS",
    "MARK",
    "cell_key",
    "check_outputs",
    "checked_cells",
    "record_outputs",
]

MARK = "NBVAL_CHECK_OUTPUT"
EXPECTED_OUTPUTS = NOTEBOOKS_DIR / "expected_outputs.json"
_SHOWN = 120  # characters of a differing output quoted in the one-line error


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _key(source: str) -> str:
    return hashlib.sha256(source.strip().encode()).hexdigest()[:16]


def cell_key(cell: Any) -> str:
    """A checked cell's key in the sidecar: a digest of its source."""
    return _key(_source(cell))


def _text(cell: Any) -> str:
    """What a cell showed as text: its stdout and the plain text of its results, lines with
    trailing spaces stripped (a terminal width or a kernel's flush must not count)."""
    parts = []
    for out in cell.get("outputs", []) or []:
        kind = out.get("output_type")
        if kind == "stream" and out.get("name") == "stdout":
            text = out.get("text", "")
        elif kind in ("execute_result", "display_data"):
            text = (out.get("data") or {}).get("text/plain", "")
        else:
            continue
        parts.append("".join(text) if isinstance(text, list) else str(text))
    return "\n".join(line.rstrip() for line in "".join(parts).rstrip("\n").splitlines())


def checked_cells(nb: Any) -> list[tuple[int, Any]]:
    """``(code cell number, cell)`` of every code cell marked with :data:`MARK`, in order."""
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    return [(i, c) for i, c in enumerate(code, 1) if MARK in _source(c)]


def _load(path: Path) -> dict[str, dict[str, dict[str, str]]]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} must map notebook names to their checked cells")
    return data


def check_outputs(stem: str, nb: Any, path: str | Path = EXPECTED_OUTPUTS) -> list[str]:
    """Compare the marked cells of an executed notebook with the recorded outputs.

    :param stem: the notebook's name without ``.ipynb`` (its key in the sidecar).
    :param nb: the executed notebook (nbformat node or plain dicts).
    :param path: the sidecar.
    :return: one sentence per cell that differs or has no recorded output; empty if all match.
    """
    recorded = _load(Path(path)).get(stem, {})
    problems = []
    for number, cell in checked_cells(nb):
        want = recorded.get(_key(_source(cell)))
        got = _text(cell)
        first = _source(cell).strip().splitlines()[0][:60]
        if want is None:
            problems.append(
                f"code cell {number} ({first!r}) is marked {MARK} but has no output recorded "
                f"in {Path(path).name} (make expected-outputs)"
            )
        elif got != want["text"]:
            # The first line that differs, whole: enough to see what changed.
            have, expect = got.splitlines(), want["text"].splitlines()
            at = next(
                (i for i, (a, b) in enumerate(zip(have, expect, strict=False)) if a != b),
                min(len(have), len(expect)),
            )
            line_got = have[at][:_SHOWN] if at < len(have) else "(nothing)"
            line_want = expect[at][:_SHOWN] if at < len(expect) else "(nothing)"
            problems.append(
                f"code cell {number} ({first!r}) printed {line_got!r} on output line {at + 1} "
                f"where {Path(path).name} expects {line_want!r}"
            )
    return problems


def record_outputs(copies: list[str | Path], path: str | Path = EXPECTED_OUTPUTS) -> dict[str, int]:
    """Rewrite the sidecar's entries for these executed copies (of a CI-scale run); the entries
    of other notebooks stay.

    :return: notebook stem -> number of checked cells recorded.
    """
    from rlkit.atomic import write_json

    data = _load(Path(path))
    counts = {}
    for copy in map(Path, copies):
        nb = json.loads(copy.read_text(encoding="utf-8"))
        cells = {
            _key(_source(c)): {"source": _source(c).strip().splitlines()[0], "text": _text(c)}
            for _, c in checked_cells(nb)
        }
        if cells:
            data[copy.stem] = cells
        else:
            data.pop(copy.stem, None)
        counts[copy.stem] = len(cells)
    write_json(path, dict(sorted(data.items())))
    return counts
