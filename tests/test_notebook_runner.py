"""The papermill runner behind ``python -m rlkit notebooks``: progress, claims, summary, failure.

The fast tests build executed-notebook JSON by hand; the ``slow`` ones run tiny notebooks in a
real kernel (three kernel starts in all, a few seconds each).
"""

from __future__ import annotations

import io
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from rlkit.cli import main
from rlkit.notebook_kernel import _failing_line, _kernel_options
from rlkit.notebooks import (
    NotebookError,
    NotebookProgress,
    format_table,
    notebook_claims,
    run_notebooks,
)


def _claim_output(text: str, holds: bool, numbers: str = "") -> dict:
    return new_output(
        "display_data",
        data={"text/markdown": f"**Claim:** {text}", "text/plain": "<Markdown>"},
        metadata={"rlkit": {"claim": text, "holds": holds, "numbers": numbers}},
    )


# -- claims, table, failure line: no kernel ----------------------------------------------------
def test_claims_are_read_from_display_metadata_in_order():
    code = new_code_cell("claim(...)")
    code.outputs = [
        new_output("stream", name="stdout", text="step 1/2 | 3 steps/s\n"),
        _claim_output("first", True, "n = 1"),
        new_output("display_data", data={"text/plain": "x"}, metadata={"other": 1}),
        new_output("execute_result", data={"text/plain": "2"}, execution_count=1),
    ]
    later = new_code_cell("claim(...)")
    later.outputs = [_claim_output("second", False)]
    nb = new_notebook(cells=[new_markdown_cell("# title"), code, new_code_cell("x = 1"), later])
    expected = [
        {"claim": "first", "holds": True, "numbers": "n = 1"},
        {"claim": "second", "holds": False, "numbers": ""},
    ]
    assert notebook_claims(nb) == expected
    # the same from the JSON on disk (plain dicts), and none from a notebook without claims
    assert notebook_claims(json.loads(nbformat.writes(nb))) == expected
    assert notebook_claims(new_notebook(cells=[new_code_cell("x = 1")])) == []


ROWS = [
    {"notebook": "00_setup.ipynb", "seconds": 5.24, "claims": [], "error": None},
    {
        "notebook": "01_long_notebook_name.ipynb",
        "seconds": 61.0,
        "claims": [
            {"claim": "fast enough", "holds": True, "numbers": "speed = 3"},
            {"claim": "also true", "holds": True, "numbers": ""},
        ],
        "error": None,
    },
    {
        "notebook": "02_bad_claim.ipynb",
        "seconds": 2.0,
        "claims": [{"claim": "beats random", "holds": False, "numbers": "gap = 1"}],
        "error": "AssertionError: claim does not hold: beats random (gap = 1)",
    },
    {"notebook": "03_crash.ipynb", "seconds": 1.0, "claims": [], "error": "ZeroDivisionError: x"},
]


def test_table_lists_time_and_each_claim_outcome():
    lines = format_table(ROWS).splitlines()
    assert lines[0].split() == ["notebook", "time", "claims"]
    assert lines[1].split() == ["00_setup", "5.2", "s", "no", "claim"]
    assert lines[2].endswith("61.0 s  ✔ fast enough (speed = 3)")
    assert lines[3].strip() == "✔ also true"  # a second claim of the same notebook, aligned
    assert lines[3].index("✔") == lines[2].index("✔")
    # a failed claim is its own explanation; another exception is shown as the failure
    assert lines[4].endswith("✘ beats random (gap = 1)") and "failed" not in lines[4]
    assert lines[5].endswith("1.0 s  failed: ZeroDivisionError: x")
    assert lines[6].split() == "total 69.2 s 2 of 3 claims held, 2 notebooks failed".split()
    assert len(lines) == 7
    assert format_table(ROWS[:1]).splitlines()[-1].endswith("no claims")


def test_failing_line_is_the_cells_own_line_from_the_traceback():
    red = "\x1b[0;31m"
    traceback = [
        f"{red}---------------------------------------------------------------------------\x1b[0m",
        f"{red}AssertionError\x1b[0m                            Traceback (most recent call last)",
        f"Cell {red}In[4], line 2\x1b[0m\n      1 x = 1\n{red}----> 2\x1b[0m claim('y', False)\n",
        "File rlkit/ui/report.py:89, in claim(text, holds)\n---> 89 raise AssertionError()\n",
        f"{red}AssertionError\x1b[0m: claim does not hold: y",
    ]
    assert _failing_line(traceback, "x = 1\nclaim('y', False)") == (
        "In [4], line 2: claim('y', False)"
    )
    assert _failing_line([], "\n  def f(:\n") == "cell starts: def f(:"


# -- progress: cells and dashboard lines, nothing else ----------------------------------------
def _running(progress: NotebookProgress, cells: int = 3) -> NotebookProgress:
    nb = new_notebook(cells=[new_code_cell(f"x = {i}") for i in range(cells)])
    nb.cells.append(new_markdown_cell("text"))
    nb.cells.append(new_code_cell("   "))  # empty: nbclient skips it, and so does the count
    progress.on_notebook_start(notebook=nb)
    return progress


def test_plain_progress_has_a_line_per_cell_and_the_dashboard_lines():
    out = io.StringIO()
    progress = _running(NotebookProgress("02_dqn", out, live=False))
    progress.on_cell_execute(cell=None, cell_index=0)
    # chunks need not end at line ends; only the dashboard's lines are forwarded
    progress.write("loading...\nstep   1000/2000 | 500 steps/s | ETA 2s")
    progress.write(" | eps 0.5\nstepping is not a dashboard line\nA.L.E: Arcade banner\n")
    progress.write("eval   2000/2000 | 9.5 ± 1 over 3 episodes\r\ndone   2000/2000 | 4s wall\n")
    progress.on_cell_execute(cell=None, cell_index=1)
    progress.finish("done in 9.0 s")
    lines = out.getvalue().splitlines()
    assert [line.split("  ")[1] for line in (lines[0], lines[4])] == ["cell 1/3", "cell 2/3"]
    assert lines[1] == "[rlkit] 02_dqn      step   1000/2000 | 500 steps/s | ETA 2s | eps 0.5"
    assert lines[2].endswith("    eval   2000/2000 | 9.5 ± 1 over 3 episodes")
    assert lines[3].endswith("    done   2000/2000 | 4s wall")
    assert lines[5] == "[rlkit] 02_dqn  done in 9.0 s"
    assert len(lines) == 6 and "\r" not in out.getvalue()


def test_live_progress_redraws_one_status_line_with_the_training():
    out = io.StringIO()
    progress = _running(NotebookProgress("02_dqn", out, live=True))
    progress.on_cell_execute(cell=None, cell_index=0)
    progress.write("step   1000/2000 | 500 steps/s\n")
    assert progress.status().endswith("cell 1/3  0.0 s  step   1000/2000 | 500 steps/s")
    progress.write("done   2000/2000 | 4s wall\n")
    progress.finish("done in 9.0 s")
    text = out.getvalue()
    assert "\r" in text and "\x1b[K" in text
    # what stays on screen once each redraw has overwritten the one before
    kept = [part.rsplit("\r", 1)[-1].replace("\x1b[K", "") for part in text.split("\n")]
    assert kept == [
        "[rlkit] 02_dqn      done   2000/2000 | 4s wall",
        "[rlkit] 02_dqn  done in 9.0 s",
        "",
    ]


def test_kernels_talk_over_private_unix_sockets():
    import os

    if os.name != "posix":
        pytest.skip("IPC transport is POSIX only")
    config = _kernel_options("/tmp/rlkit-kernel-x")["config"]["KernelManager"]
    assert config["transport"] == "ipc"
    assert config["ip"].startswith("/tmp/rlkit-kernel-x/")  # not in the working directory
    assert config["connection_file"].startswith("/tmp/rlkit-kernel-x/")
    assert _kernel_options("/tmp/" + "x" * 100) == {}  # too long for a socket path: TCP


def test_cli_prints_the_table_and_one_error_line_when_a_notebook_fails(monkeypatch, capsys):
    def failing(*args, **kwargs):
        raise NotebookError("02_bad_claim failed in cell 3: AssertionError: no", ROWS[2:3])

    monkeypatch.setattr("rlkit.notebooks.run_notebooks", failing)
    assert main(["notebooks", "--scale", "ci"]) == 1
    captured = capsys.readouterr()
    assert "✘ beats random (gap = 1)" in captured.out and "total" in captured.out
    assert captured.err == "rlkit: error: 02_bad_claim failed in cell 3: AssertionError: no\n"


# -- real kernels -----------------------------------------------------------------------------
def _write(folder, name: str, *sources: str) -> None:
    cells = [new_code_cell("n = 0", metadata={"tags": ["parameters"]})]
    cells += [new_markdown_cell("A cell that is not code.")]
    cells += [new_code_cell(source) for source in sources]
    # papermill needs the language to write the injected parameters cell
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(new_notebook(cells=cells, metadata=meta), folder / f"{name}.ipynb")


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _write(
        folder,
        "00_claims",
        'print("step   1/2 | 9 steps/s")\nprint("chatter")',
        'from rlkit.ui.report import claim\nclaim("x", True, n=n)',
        'import json, ipykernel\nprint(json.loads(ipykernel.get_connection_info())["transport"])',
    )
    _write(folder, "01_no_claim", "x = n + 1")
    _write(folder, "02_false_claim", "from rlkit.ui.report import claim", 'claim("y", False, n=n)')
    (folder / "ci_params.yaml").write_text("00_claims:\n  n: 1\n02_false_claim:\n  n: 2\n")
    return folder


@pytest.mark.slow
@pytest.mark.notebooks
def test_run_reports_progress_and_claims(notebooks, tmp_path):
    out, console = tmp_path / "out", io.StringIO()
    rows = run_notebooks("ci", out, ["00"], notebooks_dir=notebooks, stream=console)
    assert [r["notebook"] for r in rows] == ["00_claims.ipynb"]
    # ci_params.yaml's n = 1 reached the kernel and the claim's numbers
    assert rows[0]["claims"] == [{"claim": "x", "holds": True, "numbers": "n = 1"}]
    assert rows[0]["error"] is None and rows[0]["seconds"] > 0
    assert json.loads((out / "timings.json").read_text())[0]["claims"] == rows[0]["claims"]
    executed = nbformat.read(out / "00_claims.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"].strip() == "ipc"  # not TCP in plain text
    text = console.getvalue()
    # parameters, injected parameters, then the three cells (the markdown cell not counted)
    for k in range(1, 6):
        assert f"[rlkit] 00_claims  cell {k}/5  " in text
    assert "[rlkit] 00_claims      step   1/2 | 9 steps/s\n" in text
    assert "chatter" not in text and "ipc" not in text
    assert text.splitlines()[-1].startswith("[rlkit] 00_claims  done in ")


@pytest.mark.slow
@pytest.mark.notebooks
def test_a_failing_notebook_stops_the_run_with_its_cell_and_error(notebooks, tmp_path):
    out, console = tmp_path / "out", io.StringIO()
    with pytest.raises(NotebookError) as failed:
        run_notebooks("ci", out, ["01", "02"], notebooks_dir=notebooks, stream=console)
    rows = failed.value.rows
    assert [r["notebook"] for r in rows] == ["01_no_claim.ipynb", "02_false_claim.ipynb"]
    assert rows[0]["claims"] == [] and rows[0]["error"] is None
    assert rows[1]["claims"] == [{"claim": "y", "holds": False, "numbers": "n = 2"}]
    assert rows[1]["error"] == "AssertionError: claim does not hold: y (n = 2)"
    assert rows[1]["cell"] == 4  # parameters, injected parameters, import, claim
    message = str(failed.value)
    assert message.startswith("02_false_claim failed in cell 4: AssertionError: claim does not")
    assert "02_false_claim.ipynb" in message and "\n" not in message
    # the console names the cell and its line; the table and timings.json cover both notebooks
    lines = console.getvalue().splitlines()
    assert lines[-2] == (
        "[rlkit] 02_false_claim  failed in cell 4/4: AssertionError: claim does not hold: y (n = 2)"
    )
    assert lines[-1].startswith("[rlkit] 02_false_claim      In [") and lines[-1].endswith(
        'line 1: claim("y", False, n=n)'
    )
    table = format_table(rows)
    assert "01_no_claim" in table and "no claim" in table and "✘ y (n = 2)" in table
    assert len(json.loads((out / "timings.json").read_text())) == 2


@pytest.mark.slow
@pytest.mark.notebooks
def test_two_at_a_time_gives_the_same_rows_in_notebook_order_and_stops_after_a_failure(
    notebooks, tmp_path
):
    _write(notebooks, "03_after", "x = 1")
    out, console = tmp_path / "out", io.StringIO()
    rows = run_notebooks("ci", out, ["00", "01", "03"], notebooks, console, jobs=2)
    assert [r["notebook"] for r in rows] == [
        "00_claims.ipynb",
        "01_no_claim.ipynb",
        "03_after.ipynb",
    ]
    assert all(r["error"] is None for r in rows)
    # each kernel had its own parameters, sockets and figure check
    assert rows[0]["claims"] == [{"claim": "x", "holds": True, "numbers": "n = 1"}]
    assert nbformat.read(out / "00_claims.ipynb", as_version=4).cells[-1].outputs[0]["text"] == (
        "ipc\n"
    )
    text = console.getvalue()  # plain lines, each naming its notebook
    assert "\r" not in text and all(line.startswith("[rlkit] ") for line in text.splitlines())
    assert text.count(" done in ") == 3

    # A failure: the run raises, the failed row comes last, every other row ran clean. Which
    # other notebooks started before it failed depends on which kernel answered first.
    with pytest.raises(NotebookError, match=r"^02_false_claim failed in cell 4"):
        run_notebooks("ci", out, ["00", "01", "02", "03"], notebooks, console, jobs=2)
    rows = json.loads((out / "timings.json").read_text())
    names = [r["notebook"] for r in rows]
    assert names[-1] == "02_false_claim.ipynb" and rows[-1]["error"].startswith("AssertionError")
    assert names[:-1] == sorted(names[:-1]) and all(r["error"] is None for r in rows[:-1])
    with pytest.raises(ValueError, match="jobs must be a whole number of at least 1"):
        run_notebooks("ci", out, ["00"], notebooks, console, jobs=0)


@pytest.mark.slow
@pytest.mark.notebooks
def test_ci_scale_checks_figures_and_promised_outputs_on_the_one_execution(notebooks, tmp_path):
    bad_figure = (
        "import matplotlib.pyplot as plt\n"
        "fig, axes = plt.subplots(1, 2, figsize=(4, 2))\n"
        "for ax in axes:\n"
        "    ax.plot([0, 1])\n"
        "    ax.set_title('a title far too long for half of a four-inch figure')"
    )
    _write(notebooks, "03_bad_figure", bad_figure)
    _write(notebooks, "04_promise", "print('three', 1 + 2)  # NBVAL_CHECK_OUTPUT")
    sidecar = tmp_path / "expected.json"
    console = io.StringIO()
    with pytest.raises(NotebookError) as failed:
        run_notebooks("ci", tmp_path / "a", ["03"], notebooks, console, expected_outputs=sidecar)
    (row,) = failed.value.rows
    assert row["error"].startswith("figure check: In [2], figure 1: ") and "overlap" in row["error"]
    assert "failed in the figure of In [2]" in str(failed.value)
    # the same figure at teaching scale is not checked
    assert run_notebooks("teach", tmp_path / "b", ["03"], notebooks, console)[0]["error"] is None

    # a promised output: recorded once, then compared on each run's single execution
    run_notebooks("ci", tmp_path / "c", ["04"], notebooks, console, sidecar, record_outputs=True)
    assert (
        run_notebooks("ci", tmp_path / "d", ["04"], notebooks, console, sidecar)[0]["error"] is None
    )
    _write(notebooks, "04_promise", "print('three', 1 + 2)  # NBVAL_CHECK_OUTPUT\nprint('more')")
    with pytest.raises(NotebookError, match="no output recorded"):
        run_notebooks("ci", tmp_path / "e", ["04"], notebooks, console, sidecar)


def test_side_by_side_starts_the_longest_first_by_what_the_notebooks_state(tmp_path):
    from rlkit.notebooks import _longest_first, _stated_seconds, notebook_paths

    paths = notebook_paths()
    # every shipped notebook states its teaching-scale time, so none falls back to 0 s
    assert all(_stated_seconds(p) > 0 for p in paths)
    order = _longest_first(paths, tmp_path / "no-timings.json")
    assert sorted(order) == paths and order[-1].stem.startswith("00")
    (tmp_path / "timings.json").write_text(
        json.dumps([{"notebook": p.name, "seconds": float(i)} for i, p in enumerate(paths)])
    )
    assert _longest_first(paths, tmp_path / "timings.json") == paths[::-1]
