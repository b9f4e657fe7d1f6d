"""Execute the ordered notebooks with papermill: ``python -m rlkit notebooks --scale ci``.

``teach`` runs each notebook with its own parameter cell (teaching scale); ``ci`` injects the
smoke-scale values from ``notebooks/ci_params.yaml``. Outputs go to a separate folder, so the
committed notebooks stay clean.

While a notebook runs, the console shows which code cell is running and the training progress
of that cell (the text dashboard's ``start``/``step``/``eval``/``done`` lines; nothing else a
cell prints): one line that updates in place on a terminal, plain lines otherwise (CI logs)::

    [rlkit] 02_dqn_classic_control (ci) {"cartpole_steps": 3000, ...}
    [rlkit] 02_dqn_classic_control  cell 4/10  6.1 s
    [rlkit] 02_dqn_classic_control      step 2000/3000 | 1432 steps/s | ETA 1s | eps 0.05
    [rlkit] 02_dqn_classic_control  done in 41.0 s

Afterwards :func:`format_table` lists each notebook with its time and the claims it checked
about itself (:func:`rlkit.ui.report.claim`). The first failing notebook stops the run:
:func:`run_notebooks` then raises :class:`NotebookError`, which names the cell and the error in
one line and still carries the rows of the notebooks run so far. No notebook reads what another
one wrote, so ``--jobs 2`` may run two at once (``make test`` does: each kernel keeps about one
core busy, and the lines of both show as they come, each with its notebook's name).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, TextIO

from rlkit.notebook_kernel import kernel_name, notebook_claims, run_one
from rlkit.notebook_progress import NotebookProgress
from rlkit.paths import NOTEBOOKS_DIR

__all__ = [
    "SCALES",
    "NotebookError",
    "NotebookProgress",
    "ci_parameters",
    "format_table",
    "notebook_claims",
    "notebook_paths",
    "run_notebooks",
]

SCALES = ("ci", "teach")


def notebook_paths(
    only: list[str] | None = None, notebooks_dir: str | Path = NOTEBOOKS_DIR
) -> list[Path]:
    """The ordered notebooks ``NN_name.ipynb``.

    :param only: keep just these, by name prefix (``"03"``) or file name.
    :param notebooks_dir: the folder holding them (default: the repo's ``notebooks/``).
    :return: the paths, in order.
    :raises ValueError: when ``only`` matches none (naming the valid ones).
    """
    paths = sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if only:
        chosen = [p for p in paths if any(p.stem.startswith(o) or p.name == o for o in only)]
        if not chosen:
            names = ", ".join(p.stem for p in paths)
            raise ValueError(f"no notebook matches {only}; valid: {names}")
        return chosen
    return paths


def ci_parameters(path: Path = NOTEBOOKS_DIR / "ci_params.yaml") -> dict[str, dict[str, Any]]:
    """Smoke-scale parameters per notebook stem, from ``ci_params.yaml``."""
    import yaml

    with open(path) as f:
        params = yaml.safe_load(f) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path} must map notebook names to parameter dicts")
    return params


class NotebookError(RuntimeError):
    """A notebook failed; the run stopped there.

    :param message: one line: the notebook, the cell, the error, where the traceback is.
    :param rows: the rows of the notebooks run so far, the failed one last.
    """

    def __init__(self, message: str, rows: list[dict[str, Any]]):
        super().__init__(message)
        self.rows = rows


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_notebooks(
    scale: str = "ci",
    out_dir: str | Path | None = None,
    only: list[str] | None = None,
    notebooks_dir: str | Path = NOTEBOOKS_DIR,
    stream: TextIO | None = None,
    expected_outputs: str | Path | None = None,
    record_outputs: bool = False,
    jobs: int = 1,
) -> list[dict[str, Any]]:
    """Execute notebooks in order, showing progress; stops at the first failure.

    Each notebook executes once. At CI scale the cells marked ``NBVAL_CHECK_OUTPUT`` are then
    compared with ``notebooks/expected_outputs.json`` (:mod:`rlkit.notebook_outputs`): a cell
    that printed something else fails its notebook like a failing claim.
    ``timings.json`` in ``out_dir`` gets the rows, also when a notebook failed.

    :param scale: ``ci`` (parameters from ``ci_params.yaml``) or ``teach`` (notebook defaults).
    :param out_dir: where executed copies go (default ``runs/<scale>``).
    :param only: run just these notebooks (name prefixes such as ``"03"``).
    :param notebooks_dir: the notebooks, with their ``ci_params.yaml`` (default ``notebooks/``).
    :param stream: where progress goes (default ``sys.stdout``).
    :param expected_outputs: the sidecar of checked outputs (default: the one beside the
        notebooks, ``expected_outputs.json``); compared at CI scale only.
    :param record_outputs: instead of comparing, rewrite the sidecar's entries of the
        notebooks run (``make expected-outputs``; at CI scale only).
    :param jobs: notebooks executed at once, each in its own kernel (``make test`` runs two:
        a kernel keeps about one core busy). Above 1 the longest start first (by this folder's
        last ``timings.json``, else by the times the notebooks state), progress is plain lines,
        and after a failure no new notebook starts while the running ones finish.
    :return: one row per notebook: ``notebook``, ``seconds``, ``output`` (the executed copy),
        ``claims`` (see :func:`notebook_claims`) and ``error`` (``None``).
    :raises NotebookError: when a notebook fails; its ``rows`` end with the failed one (its
        ``error`` is the one-line exception, ``cell`` the number of the code cell).
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number of at least 1, got {jobs!r}")
    from rlkit.paths import runs_dir

    stream = stream if stream is not None else sys.stdout
    notebooks_dir = Path(notebooks_dir)
    paths = notebook_paths(only, notebooks_dir)
    params_all = ci_parameters(notebooks_dir / "ci_params.yaml") if scale == "ci" else {}
    sidecar = Path(expected_outputs or notebooks_dir / "expected_outputs.json")
    out = Path(out_dir) if out_dir is not None else runs_dir() / scale
    out.mkdir(parents=True, exist_ok=True)
    kernel = kernel_name()
    rows: list[dict[str, Any]] = []

    def run(nb: Path) -> dict[str, Any]:
        params = dict(params_all.get(nb.stem, {}))
        stream.write(f"[rlkit] {nb.stem} ({scale}) {json.dumps(params)}\n")
        stream.flush()
        check = scale == "ci"
        live = False if jobs > 1 else None  # one line redrawn in place fits one notebook
        row = run_one(nb, out / nb.name, params, kernel, stream, check, live)
        if row["error"] is None and scale == "ci" and not record_outputs:
            _check_promised_outputs(row, nb.stem, out / nb.name, sidecar, stream)
        return row

    try:
        if jobs == 1:  # in this thread, so that Ctrl-C interrupts papermill where it waits
            for nb in paths:
                rows.append(run(nb))
                if rows[-1]["error"] is not None:
                    break
        else:
            rows = _side_by_side(run, _longest_first(paths, out / "timings.json"), jobs)
        failed = [r for r in rows if r["error"] is not None]
        if failed:
            row = failed[0]
            where = row["cell"] if isinstance(row["cell"], str) else f"cell {row['cell']}"
            raise NotebookError(
                f"{Path(row['notebook']).stem} failed in {where}: {row['error']} "
                f"(traceback in {_shown_path(out / row['notebook'])})",
                rows,
            )
        if record_outputs and scale == "ci":
            from rlkit.notebook_outputs import record_outputs as record

            counts = record([out / p.name for p in paths], sidecar)
            stream.write(f"[rlkit] recorded the checked outputs in {sidecar}: {counts}\n")
    finally:
        text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
        (out / "timings.json").write_text(text, encoding="utf-8")
    return rows


def _longest_first(paths: list[Path], timings: Path) -> list[Path]:
    """``paths``, the longest first: by an earlier run's ``timings.json`` in the same folder,
    else by the time each notebook states for its teaching scale ("Time on a laptop CPU")."""
    try:
        seconds = {r["notebook"]: float(r["seconds"]) for r in json.loads(timings.read_text())}
    except (OSError, ValueError, TypeError, KeyError):
        seconds = {p.name: _stated_seconds(p) for p in paths}
    return sorted(paths, key=lambda p: -seconds.get(p.name, 0.0))


def _stated_seconds(nb: Path) -> float:
    """The teaching-scale time a notebook states (``**Time on a laptop CPU:** 3 min 8 s``), or 0."""
    found = re.search(r"Time on a laptop CPU:\*\* (?:(\d+) min )?(\d+) s", nb.read_text("utf-8"))
    return 60.0 * int(found.group(1) or 0) + int(found.group(2)) if found else 0.0


def _side_by_side(run: Any, paths: list[Path], jobs: int) -> list[dict[str, Any]]:
    """``run`` each notebook, ``jobs`` at a time (each in its own kernel, so threads here only
    wait), in the order given; after a failure no new notebook starts and the ones running
    finish. Returns the rows in notebook order, a failed one last."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    here = os.getcwd()  # papermill changes the process's directory while a notebook runs
    todo, running, rows = list(paths), {}, []
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            while todo or running:
                failed = any(r["error"] is not None for r in rows)
                while todo and not failed and len(running) < jobs:
                    nb = todo.pop(0)
                    running[pool.submit(run, nb)] = nb
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    del running[future]
                    rows.append(future.result())
    finally:
        os.chdir(here)
    return sorted(rows, key=lambda r: (r["error"] is not None, r["notebook"]))


def _check_promised_outputs(
    row: dict[str, Any], stem: str, executed: Path, sidecar: Path, stream: TextIO
) -> None:
    """Fail ``row`` (in place) when a marked cell printed something other than recorded."""
    from rlkit.notebook_outputs import check_outputs

    problems = check_outputs(stem, json.loads(executed.read_text(encoding="utf-8")), sidecar)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        row["error"], row["cell"] = problems[0] + more, "its output check"
        for problem in problems:
            stream.write(f"[rlkit] {stem}  output check: {problem}\n")
        stream.flush()


def _outcomes(row: dict[str, Any]) -> list[str]:
    """The last column of a row: one entry per claim, or why there is none."""
    lines = []
    for c in row.get("claims", []):
        numbers = f" ({c['numbers']})" if c.get("numbers") else ""
        lines.append(f"{'✔' if c['holds'] else '✘'} {c['claim']}{numbers}")
    # A claim that does not hold is what raised: its ✘ line already says why it failed.
    if row.get("error") and not any(not c["holds"] for c in row.get("claims", [])):
        lines.append(f"failed: {row['error']}")
    return lines or ["no claim"]


def format_table(rows: list[dict[str, Any]]) -> str:
    """The summary: notebook, seconds, and each claim held (✔) or not (✘), then a total.

    :param rows: as :func:`run_notebooks` returns them.
    :return: the table, lines joined by newlines (no trailing newline).
    """
    names = [Path(r["notebook"]).stem for r in rows]
    width = max([len("notebook"), len("total"), *map(len, names)])
    lines = [f"{'notebook':<{width}}  {'time':>8}  claims"]
    for name, row in zip(names, rows, strict=True):
        outcomes = _outcomes(row)
        lines.append(f"{name:<{width}}  {row['seconds']:>6.1f} s  {outcomes[0]}")
        lines.extend(f"{'':<{width}}  {'':>8}  {more}" for more in outcomes[1:])
    claims = [c for r in rows for c in r.get("claims", [])]
    held = sum(c["holds"] for c in claims)
    failed = sum(1 for r in rows if r.get("error"))
    n = len(claims)
    total = f"{held} of {n} claim{'s' * (n > 1)} held" if n else "no claims"
    if failed:
        total += f", {failed} notebook{'s' * (failed > 1)} failed"
    seconds = sum(r["seconds"] for r in rows)
    lines.append(f"{'total':<{width}}  {seconds:>6.1f} s  {total}")
    return "\n".join(lines)
