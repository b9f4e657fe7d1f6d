"""Executing one notebook in a kernel of its own, for :mod:`rlkit.notebooks`: the kernel's
sockets and the figure check it starts with, progress, and one row saying how it went (the
claims it checked, or the cell and the one-line error that stopped it)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from rlkit.notebook_progress import NotebookProgress
from rlkit.paths import ROOT

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MAX_ERROR_CHARS = 300


def kernel_name() -> str:
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


def run_one(
    nb: Path,
    target: Path,
    params: dict[str, Any],
    kernel: str,
    stream: TextIO,
    check_figures: bool = False,
    live: bool | None = None,
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

    progress = NotebookProgress(nb.stem, stream, live=live)
    error: str | None = None
    where = ""
    failed_cell: int | str | None = None
    with (
        tempfile.TemporaryDirectory(prefix="rlkit-kernel-") as sockets,
        progress,
        _figure_check(Path(sockets), check_figures) as kernel_args,
    ):
        report = Path(sockets) / "figures.jsonl" if kernel_args else None
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
                extra_arguments=kernel_args,
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
def _figure_check(folder: Path, enabled: bool) -> Iterator[list[str]]:
    """A private IPython directory whose startup file installs the figure check in the kernel
    started with the yielded arguments (``--ipython-dir``: an argument of that one kernel, not
    the environment, so notebooks can run side by side); yields ``[]`` when not ``enabled``.
    The report is ``figures.jsonl`` in ``folder``."""
    from rlkit.ui.figure_check import startup_source

    if not enabled:
        yield []
        return
    startup = folder / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    source = startup_source(folder / "figures.jsonl")
    (startup / "00-rlkit-figure-check.py").write_text(source, encoding="utf-8")
    yield [f"--ipython-dir={folder / 'ipython'}"]
