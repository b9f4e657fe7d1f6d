"""The package's boundaries: no import cycles, no reaching into another module's private names,
no module that grew past one idea."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from rlkit.paths import ROOT

PACKAGE = ROOT / "rlkit"
# Modules allowed past ~400 lines because they hold one idea, and what that idea is.
ONE_IDEA = {
    "rlkit/ui/dashboard.py": "the Dashboard class: one display in four modes",
    "rlkit/envs/vector/shm.py": "the SharedMemoryVectorEnv class",
    "rlkit/checkpoints.py": "safe checkpoint files: write, read, check, rebuild",
    "rlkit/ui/plots.py": "figures of training runs",
    "rlkit/bench/transfer.py": "moving observations between processes, by wire format and size",
}
MAX_LINES = 420


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, name: str) -> list[tuple[str, list[str], bool]]:
    """(module imported, names taken from it, at module level?) for each rlkit import."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if base.startswith("rlkit"):
                found.append((base, [a.name for a in node.names], id(node) in top))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("rlkit"):
                    found.append((a.name, [], id(node) in top))
    return found


def test_no_module_imports_another_modules_private_names():
    modules = _modules()
    offenders = []
    for name, path in modules.items():
        for target, names, _ in _imports(path, name):
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    offenders.append(f"{name} imports {n} from {target}")
    assert not offenders, offenders


def test_imports_have_no_cycle_counting_those_inside_functions():
    # An import deferred into a function (to keep torch off the import path) is still a
    # dependency: a circle through one is a circle.
    modules = _modules()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for target, names, _ in _imports(path, name):
            # "from rlkit.x import y" may name a submodule y or an attribute of rlkit.x
            for cand in [f"{target}.{n}" for n in names] + [target]:
                if cand in modules and cand != name:
                    graph[name].add(cand)
                    break
    # A package's __init__ importing its own submodules is how packages work: not a cycle.
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError(
                    "import cycle: " + " -> ".join([*path[path.index(nxt) :], nxt])
                )
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_modules_stay_small_unless_they_hold_one_idea():
    long = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        n = len(path.read_text().splitlines())
        if n > MAX_LINES and rel not in ONE_IDEA:
            long[rel] = n
    assert not long, f"split these or list them in ONE_IDEA with the idea they hold: {long}"


@pytest.mark.slow
def test_a_new_algorithm_and_a_new_collector_train_through_train_with_nothing_changed():
    # Both live in tests/toy_algorithm.py; nothing under rlkit/ names them.
    import toy_algorithm as toy

    from rlkit import train

    collector = toy.BanditCollector(num_envs=4)
    cfg = toy.ToyConfig(env_id="toy:bandit", num_envs=4, total_steps=400, eval_interval=0)
    result = train(cfg, device="cpu", collector=collector)
    h = result.history
    assert h.env_steps == 400 and h.updates == 400 // (4 * toy.EPISODE) and collector.closed
    assert h.episodes == 400 // toy.EPISODE and result.algo == "toy_reinforce"
    # Episode bookkeeping came from the collector layer: every episode has EPISODE steps, and
    # REINFORCE learned to pull the arm that pays.
    assert set(h.episode_lengths) == {toy.EPISODE}
    assert np.mean(h.episode_returns[-20:]) > np.mean(h.episode_returns[:20])
    assert result.model.logits[1] > result.model.logits[0]
    assert {"env", "act", "learner"} <= set(h.phase_seconds)
    names = ("ToyAgent", "BanditCollector", "toy_reinforce")
    assert not any(n in p.read_text() for p in PACKAGE.rglob("*.py") for n in names)


def _readme_modules() -> list[str]:
    """The modules the README's layout lists: a line at two spaces that starts with a folder
    names that folder's files (on it and on the indented lines under it); one that starts with
    a file names files at the top of the package."""
    text = (ROOT / "README.md").read_text()
    block = text.split("Every module, by folder", 1)[1].split("```", 2)[1]
    listed, folder = [], ""
    for line in block.splitlines()[2:]:  # after "rlkit/"
        if line.startswith("  ") and not line.startswith("   "):
            first = line.split()[0]
            folder = first if first.endswith("/") else ""
        listed += [f"rlkit/{folder}{name}" for name in re.findall(r"\b\w+\.py\b", line)]
    return listed


def test_the_readme_lists_every_module_once_and_no_other():
    listed = _readme_modules()
    actual = {
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" or p.parent == PACKAGE  # a subpackage's marker is its folder
    }
    assert len(listed) == len(set(listed)), "listed twice: " + str(
        sorted({m for m in listed if listed.count(m) > 1})
    )
    assert set(listed) == actual, {
        "missing": sorted(actual - set(listed)),
        "not in the package": sorted(set(listed) - actual),
    }
