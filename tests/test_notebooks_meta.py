"""The notebooks as files: clean, parameterised, and in step with ci_params.yaml."""

from __future__ import annotations

import ast
import json
import re

import pytest

from rlkit.notebooks import ci_parameters, notebook_paths

NOTEBOOKS = notebook_paths()


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _parameter_names(path) -> set[str]:
    cells = [c for c in _cells(path) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    tree = ast.parse("".join(cells[0]["source"]))
    return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets}


def test_the_ordered_notebooks_exist():
    names = [p.stem for p in NOTEBOOKS]
    assert names[:4] == [
        "00_setup_and_devices",
        "01_environments_and_throughput",
        "02_dqn_classic_control",
        "03_vizdoom_dqn_on_cpu",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_ci_parameters_name_real_parameters(path):
    params = ci_parameters()
    assert path.stem in params, f"{path.stem} has no entry in notebooks/ci_params.yaml"
    unknown = set(params[path.stem] or {}) - _parameter_names(path)
    assert not unknown, f"ci_params.yaml sets {unknown} that {path.name} does not define"


def test_ci_params_has_no_entries_for_missing_notebooks():
    assert set(ci_parameters()) <= {p.stem for p in NOTEBOOKS}


# -- the notebook standard: what every notebook must have --------------------------------------


def _source(cell) -> str:
    return "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_first_cell_says_the_goal_the_prerequisites_and_the_time(path):
    first = _cells(path)[0]
    text = _source(first)
    assert first["cell_type"] == "markdown" and text.startswith("# "), path.name
    for label in ("**You will be able to:**", "**You need:**", "**Time on a laptop CPU:**"):
        assert label in text, f"{path.name}'s first cell lacks {label}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_asserts_its_central_claim(path):
    code = [_source(c) for c in _cells(path) if c["cell_type"] == "code"]
    assert any("assert claim(" in src for src in code), f"{path.name} never asserts claim(...)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_ends_with_a_summary_and_exercises(path):
    last = _cells(path)[-1]
    text = _source(last)
    assert last["cell_type"] == "markdown" and "## Summary" in text, path.name
    exercises = re.findall(r"^\d+\. ", text.split("**Try this", 1)[-1], flags=re.M)
    assert "**Try this" in text and len(exercises) >= 2, f"{path.name}: give 2-3 exercises"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_links_and_notebook_references_resolve(path):
    existing = {p.stem[:2] for p in NOTEBOOKS}
    for cell in _cells(path):
        if cell["cell_type"] != "markdown":
            continue
        text = _source(cell)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if "://" in target or target.startswith("#"):
                continue
            assert (path.parent / target.split("#")[0]).exists(), f"{path.name} links {target}"
        for number in re.findall(r"\b[Nn]otebooks? (\d\d)\b", text):
            assert number in existing, f"{path.name} mentions notebook {number}, which is missing"
        for number in re.findall(r"\*\*(\d\d) ·", text):
            assert number in existing, f"{path.name} points to notebook {number}, which is missing"


def test_ci_and_teaching_runs_write_to_different_folders():
    params = ci_parameters()
    for path in NOTEBOOKS:
        names = _parameter_names(path)
        outs = {k: v for k, v in (params.get(path.stem) or {}).items() if k.endswith("out_dir")}
        for name in names:
            if name.endswith("out_dir"):
                assert name in outs, f"{path.name}: ci_params.yaml must set {name} for CI runs"
                assert str(outs[name]).startswith("runs/ci/"), f"{path.name}: {name} under runs/ci"
