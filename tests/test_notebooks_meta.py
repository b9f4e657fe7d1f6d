"""The notebooks as files: clean, parameterised, and in step with ci_params.yaml."""

from __future__ import annotations

import ast
import json

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
