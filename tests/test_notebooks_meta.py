"""The notebooks as files: clean, parameterised, in step with ci_params.yaml and the README."""

from __future__ import annotations

import ast
import json
import re

import pytest

from rlkit.notebooks import ci_parameters, notebook_paths
from rlkit.paths import ROOT

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


# -- the README: a newcomer's first screen, in step with the notebooks -------------------------

README = ROOT / "README.md"
FIRST_SCREEN = 80  # lines: what a newcomer sees before scrolling
TIME_LABEL = "**Time on a laptop CPU:**"


def _stated_time(path) -> str:
    """The value of the first cell's time line: its first sentence (up to a period that ends
    it, so "1.5 min" stays whole) within its paragraph, whitespace normalised."""
    text = _source(_cells(path)[0]).split(TIME_LABEL, 1)[1].split("\n\n", 1)[0]
    return " ".join(re.split(r"\.(?=\s|$)", text, maxsplit=1)[0].split())


def _table_row(line: str) -> list[str]:
    line = line.strip()
    return [c.strip() for c in line.strip("|").split("|")] if line.startswith("|") else []


def _notebook_table() -> dict[str, str]:
    """The README's notebook table (the first whose header names "notebook"): name -> time."""
    rows = [_table_row(line) for line in README.read_text().splitlines()]
    start = next((i for i, row in enumerate(rows) if "notebook" in map(str.lower, row)), None)
    assert start is not None, "README.md has no table whose header names 'notebook'"
    time_col = next(j for j, name in enumerate(rows[start]) if name.lower().startswith("time"))
    table = {}
    for row in rows[start + 2 :]:
        if not row:
            break
        table[row[0].strip("`")] = " ".join(row[time_col].split())
    return table


def test_the_readme_notebook_table_lists_every_notebook():
    assert list(_notebook_table()) == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_readme_states_each_notebooks_own_time(path):
    stated = _stated_time(path)
    assert stated, f"{path.name}'s {TIME_LABEL} line is empty"
    readme = _notebook_table().get(path.stem)
    assert readme == stated, (
        f"README's time for {path.stem} is {readme!r}; the notebook says {stated!r}"
    )


def test_the_quickstart_is_on_the_readmes_first_screen():
    first_screen = "\n".join(README.read_text().splitlines()[:FIRST_SCREEN])
    assert ".venv/bin/python -m rlkit quickstart" in first_screen


def test_the_readme_links_the_results_and_the_reliability_pages():
    text = README.read_text()
    for page in ("RESULTS.md", "RELIABILITY.md"):
        assert (ROOT / page).exists(), f"{page} is missing"
        assert f"]({page})" in text, f"README.md does not link {page}"


@pytest.mark.parametrize("page", ["README.md", "RESULTS.md"])
def test_the_readme_and_results_links_resolve(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", (ROOT / page).read_text()):
        if "://" in target or target.startswith("#"):
            continue
        assert (ROOT / target.split("#")[0]).exists(), f"{page} links {target}, which is missing"


def _code(path) -> str:
    return "\n".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "code")


def _rlkit_modules() -> set[str]:
    names = set()
    for p in (ROOT / "rlkit").rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _modules_referenced(src: str, modules: set[str]) -> set[str]:
    """Each dotted reference to rlkit in code, as the module it names (``rlkit.bench.grid.x``
    counts as ``rlkit.bench.grid``, ``rlkit.train`` as ``rlkit``)."""
    found = set()
    for m in re.finditer(r"\brlkit(?:\.\w+)*", src):
        parts = m.group(0).split(".")
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in modules:
                found.add(".".join(parts[:k]))
                break
    return found


NOTEBOOK_MODULES_BEFORE = 33  # distinct rlkit modules the notebooks reached into (2026-12-07)


def test_notebooks_hold_to_a_small_api_in_one_import_style():
    import importlib

    import rlkit

    modules = _rlkit_modules()
    used = set().union(*(_modules_referenced(_code(p), modules) for p in NOTEBOOKS))
    assert len(used) <= NOTEBOOK_MODULES_BEFORE // 2, sorted(used)
    # One style: a name the flat API offers is imported from rlkit, not from its module.
    deep = []
    for path in NOTEBOOKS:
        for node in ast.walk(ast.parse(_code(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rlkit."):
                module = importlib.import_module(node.module)
                for a in node.names:
                    if a.name in rlkit.__all__ and getattr(rlkit, a.name) is getattr(
                        module, a.name
                    ):
                        deep.append(f"{path.stem}: from {node.module} import {a.name}")
    assert not deep, deep
