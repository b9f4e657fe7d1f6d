"""The checked outputs of the notebooks (``NBVAL_CHECK_OUTPUT``), compared on their one execution
with ``notebooks/expected_outputs.json``: recording, matching, and each way a check fails."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from rlkit.notebook_outputs import (
    EXPECTED_OUTPUTS,
    MARK,
    cell_key,
    check_outputs,
    checked_cells,
    record_outputs,
)
from rlkit.notebooks import notebook_paths


def _executed(printed: str, result: str | None = None, source: str | None = None):
    cell = new_code_cell(source or f"print(x)  # {MARK}")
    cell.outputs = [new_output("stream", name="stdout", text=printed)]
    if result is not None:
        cell.outputs.append(
            new_output("execute_result", data={"text/plain": result}, execution_count=2)
        )
    # An unchecked cell's output never counts, nor does stderr.
    free = new_code_cell("print(time.time())")
    free.outputs = [new_output("stream", name="stdout", text="1765000000.1\n")]
    cell.outputs.append(new_output("stream", name="stderr", text="a warning\n"))
    return new_notebook(cells=[new_markdown_cell("# t"), free, cell])


def _write(tmp_path, nb, name="01_demo.ipynb"):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_recorded_outputs_match_the_same_execution(tmp_path):
    sidecar = tmp_path / "expected.json"
    copy = _write(tmp_path, _executed("Box(0, 255, (4, 30, 45), uint8)   \n", "3"))
    assert record_outputs([copy], sidecar) == {"01_demo": 1}
    data = json.loads(sidecar.read_text())
    (entry,) = data["01_demo"].values()
    assert entry["text"] == "Box(0, 255, (4, 30, 45), uint8)\n3"  # trailing spaces dropped
    assert check_outputs("01_demo", json.loads(copy.read_text()), sidecar) == []


def test_a_changed_output_fails_naming_the_cell_and_both_texts(tmp_path):
    sidecar = tmp_path / "expected.json"
    record_outputs([_write(tmp_path, _executed("actions ['LEFT', 'RIGHT']\n"))], sidecar)
    (problem,) = check_outputs("01_demo", _executed("actions ['LEFT', 'ATTACK']\n"), sidecar)
    assert "code cell 2" in problem and "'ATTACK']" in problem and "'RIGHT']" in problem


def test_a_marked_cell_without_a_recording_fails_and_says_how_to_record(tmp_path):
    sidecar = tmp_path / "expected.json"
    record_outputs([_write(tmp_path, _executed("a\n"))], sidecar)
    edited = _executed("a\n", source=f"print(x, y)  # {MARK}")  # the cell's code changed
    (problem,) = check_outputs("01_demo", edited, sidecar)
    assert "no output recorded" in problem and "make expected-outputs" in problem
    assert check_outputs("02_other", _executed("a\n"), sidecar)  # a notebook never recorded


def test_recording_one_notebook_keeps_the_others(tmp_path):
    sidecar = tmp_path / "expected.json"
    record_outputs([_write(tmp_path, _executed("one\n"), "01_a.ipynb")], sidecar)
    record_outputs([_write(tmp_path, _executed("two\n"), "02_b.ipynb")], sidecar)
    assert sorted(json.loads(sidecar.read_text())) == ["01_a", "02_b"]
    # a notebook that no longer marks any cell loses its entry
    record_outputs(
        [_write(tmp_path, new_notebook(cells=[new_code_cell("1")]), "01_a.ipynb")], sidecar
    )
    assert sorted(json.loads(sidecar.read_text())) == ["02_b"]


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_every_marked_cell_of_the_notebooks_has_a_recorded_output(path):
    """The committed sidecar covers each checked cell as the notebooks now read (and nothing
    the notebooks no longer have), so ``make test`` can compare on the one execution."""
    nb = json.loads(path.read_text())
    recorded = json.loads(EXPECTED_OUTPUTS.read_text()).get(path.stem, {})
    keys = {cell_key(c) for _, c in checked_cells(nb)}
    assert keys == set(recorded), "run `make expected-outputs` after changing a checked cell"
