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
about itself (:func:`rlkit.ui.report.claim`). The first failing notebook stops the run (a later
notebook may read what an earlier one wrote): :func:`run_notebooks` then raises
:class:`NotebookError`, which names the cell and the error in one line and still carries the
rows of the notebooks run so far.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from rlkit.notebook_progress import NotebookProgress
from rlkit.paths import NOTEBOOKS_DIR, ROOT

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

# The text dashboard's lines (rlkit.ui.dashboard): a tag, then the env step, e.g.
# "step   2000/10000 | 1432 steps/s | ETA 6s". Only these are forwarded to the console.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MAX_ERROR_CHARS = 300


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


def _kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return "rlkit" if "rlkit" in KernelSpecManager().find_kernel_specs() else "python3"


def _kernel_options(folder: str) -> dict[str, Any]:
    """papermill/nbclient options that connect to the kernel over Unix sockets in ``folder``.

    Over TCP (jupyter_client's default) every message crosses localhost in plain text, and
    ipykernel says so on stderr at each kernel start ("Kernel is running over TCP without
    encryption"). IPC sockets in a private temporary folder (``mkdtemp`` makes it 0700) can only
    be opened by this user, so there is nothing to warn about, and no TCP port is picked, closed
    and re-bound (a race on a shared machine). Windows has no IPC transport: TCP stays there.
    """
    import zmq
    from traitlets.config import Config

    # A Unix socket's path has at most ~104 bytes (macOS; 108 on Linux): a long TMPDIR keeps TCP.
    if os.name != "posix" or not zmq.has("ipc") or len(os.path.join(folder, "kernel-9")) > 100:
        return {}
    manager = {
        "transport": "ipc",
        # Both must be set: left alone, the socket files would land in the working directory.
        "ip": os.path.join(folder, "kernel"),
        "connection_file": os.path.join(folder, "kernel.json"),
    }
    return {"config": Config({"KernelManager": manager})}


def notebook_claims(nb: Any) -> list[dict[str, Any]]:
    """The claims a notebook checked about itself, from its executed outputs.

    :func:`rlkit.ui.report.claim` displays each with the output metadata
    ``{"rlkit": {"claim": text, "holds": bool, "numbers": str}}``.

    :param nb: an executed notebook (an ``nbformat`` node or the same structure as plain dicts).
    :return: ``[{"claim": text, "holds": bool, "numbers": str}, ...]`` in notebook order.
    """
    from rlkit.ui.report import METADATA_KEY

    claims = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") not in ("display_data", "execute_result"):
                continue
            meta = (output.get("metadata") or {}).get(METADATA_KEY)
            if isinstance(meta, dict) and "claim" in meta:
                claims.append(
                    {
                        "claim": str(meta["claim"]),
                        "holds": bool(meta.get("holds")),
                        "numbers": str(meta.get("numbers") or ""),
                    }
                )
    return claims


def _one_line(ename: str, evalue: str) -> str:
    """``"AssertionError: claim does not hold: …"``: whitespace collapsed, at most 300 chars."""
    text = " ".join(f"{ename}: {evalue}".split()) if evalue else ename
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


def _failing_line(traceback: list[str], source: str) -> str:
    """Where in the cell it failed: ``"In [7], line 2: claim(...)"``, from IPython's traceback.

    IPython marks a frame in the notebook's code ``Cell In[7], line 2`` and its line
    ``----> 2 …``; the last such frame is the line of the notebook's own code that failed, even
    when the error was raised deeper, in rlkit. Falls back to the cell's first line when the
    traceback has no such frame (a SyntaxError).
    """
    for entry in reversed(traceback or []):
        text = _ANSI.sub("", entry)
        head = re.search(r"Cell In\s*\[(\d+)\], line (\d+)", text)
        arrow = re.search(r"^-+> *\d+ (.*)$", text, re.MULTILINE)
        if head and arrow:
            return f"In [{head.group(1)}], line {head.group(2)}: {arrow.group(1).strip()}"
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return f"cell starts: {first}" if first else ""


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


def _run_one(
    nb: Path,
    target: Path,
    params: dict[str, Any],
    kernel: str,
    stream: TextIO,
    check_figures: bool = False,
) -> dict[str, Any]:
    """Execute one notebook with progress; the row says how it went (``error`` if it failed).

    With ``check_figures`` the kernel starts with :mod:`rlkit.ui.figure_check` installed (an
    IPython startup file in a private ``IPYTHONDIR``): every figure a cell leaves open is drawn
    and checked before it is shown, and the first problem fails the notebook.
    """
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from rlkit.ui.figure_check import read_report

    progress = NotebookProgress(nb.stem, stream)
    error: str | None = None
    where = ""
    failed_cell: int | str | None = None
    with (
        tempfile.TemporaryDirectory(prefix="rlkit-kernel-") as sockets,
        progress,
        _figure_check(Path(sockets), check_figures) as report,
    ):
        try:
            pm.execute_notebook(
                str(nb),
                str(target),
                parameters=params,
                kernel_name=kernel,
                cwd=str(ROOT),
                progress_bar=False,
                stdout_file=progress,
                on_notebook_start=progress.on_notebook_start,
                on_cell_execute=progress.on_cell_execute,
                **_kernel_options(sockets),
            )
        except PapermillExecutionError as e:
            error = _one_line(e.ename, e.evalue)
            where = _failing_line(e.traceback, e.source)
        except (DeadKernelError, CellTimeoutError) as e:  # no error output in the notebook
            error = _one_line(type(e).__name__, (str(e).strip().splitlines() or [""])[0])
        if error is not None:
            failed_cell = progress.cell
        elif report is not None and (figures := read_report(report)):
            first = figures[0]
            problems = sum(len(f["problems"]) for f in figures)
            more = f" ({problems - 1} more problems in all)" if problems > 1 else ""
            error = _one_line(
                "figure check",
                f"In [{first['cell']}], figure {first['figure']}: {first['problems'][0]}{more}",
            )
            failed_cell = f"the figure of In [{first['cell']}]"
            for f in figures:
                for problem in f["problems"]:
                    progress.line(f"    figure check, In [{f['cell']}]: {problem}")
        seconds = progress.elapsed()
        if error is None:
            progress.finish(f"done in {seconds:.1f} s")
        elif isinstance(failed_cell, int):
            progress.finish(f"failed in cell {progress.cell}/{progress.total}: {error}")
            if where:
                progress.line(f"    {where}")
        else:
            progress.finish(f"failed: {error}")
    row: dict[str, Any] = {
        "notebook": nb.name,
        "seconds": round(seconds, 1),
        "output": str(target),
        "claims": notebook_claims(progress.notebook) if progress.notebook is not None else [],
        "error": error,
    }
    if error is not None:
        row["cell"] = failed_cell
    return row


@contextlib.contextmanager
def _figure_check(folder: Path, enabled: bool) -> Iterator[Path | None]:
    """A private ``IPYTHONDIR`` whose startup file installs the figure check in the kernel
    started inside this block (the kernel inherits the environment); yields the report's path,
    or ``None`` when not ``enabled``."""
    from rlkit.ui.figure_check import startup_source

    if not enabled:
        yield None
        return
    report = folder / "figures.jsonl"
    startup = folder / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-rlkit-figure-check.py").write_text(startup_source(report), encoding="utf-8")
    before = os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = str(folder / "ipython")
    try:
        yield report
    finally:
        if before is None:
            os.environ.pop("IPYTHONDIR", None)
        else:
            os.environ["IPYTHONDIR"] = before


def run_notebooks(
    scale: str = "ci",
    out_dir: str | Path | None = None,
    only: list[str] | None = None,
    notebooks_dir: str | Path = NOTEBOOKS_DIR,
    stream: TextIO | None = None,
    expected_outputs: str | Path | None = None,
    record_outputs: bool = False,
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
    :return: one row per notebook: ``notebook``, ``seconds``, ``output`` (the executed copy),
        ``claims`` (see :func:`notebook_claims`) and ``error`` (``None``).
    :raises NotebookError: when a notebook fails; its ``rows`` end with the failed one (its
        ``error`` is the one-line exception, ``cell`` the number of the code cell).
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    from rlkit.paths import runs_dir

    stream = stream if stream is not None else sys.stdout
    notebooks_dir = Path(notebooks_dir)
    paths = notebook_paths(only, notebooks_dir)
    params_all = ci_parameters(notebooks_dir / "ci_params.yaml") if scale == "ci" else {}
    sidecar = Path(expected_outputs or notebooks_dir / "expected_outputs.json")
    out = Path(out_dir) if out_dir is not None else runs_dir() / scale
    out.mkdir(parents=True, exist_ok=True)
    kernel = _kernel_name()
    rows: list[dict[str, Any]] = []
    try:
        for nb in paths:
            params = dict(params_all.get(nb.stem, {}))
            stream.write(f"[rlkit] {nb.stem} ({scale}) {json.dumps(params)}\n")
            stream.flush()
            row = _run_one(nb, out / nb.name, params, kernel, stream, check_figures=scale == "ci")
            if row["error"] is None and scale == "ci" and not record_outputs:
                _check_promised_outputs(row, nb.stem, out / nb.name, sidecar, stream)
            rows.append(row)
            if row["error"] is not None:
                where = row["cell"] if isinstance(row["cell"], str) else f"cell {row['cell']}"
                raise NotebookError(
                    f"{nb.stem} failed in {where}: {row['error']} "
                    f"(traceback in {_shown_path(out / nb.name)})",
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
