"""The conda environment and pyproject.toml list the same packages at the same minimums."""

from __future__ import annotations

import re

import pytest
import tomllib
import yaml

from rlkit.paths import ROOT

# conda names that differ from the PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip", "-e ."}


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", req.strip())
    assert m, f"cannot parse requirement {req!r}"
    return m.group(1).lower().replace("_", "-"), (m.group(2) or "") + m.group(3).replace(" ", "")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        reqs += extra
    return dict(_split(r) for r in reqs)


def _conda() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    reqs: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            reqs += [r for r in dep["pip"] if r not in NOT_PACKAGES]
        elif dep.split("=")[0] not in NOT_PACKAGES:
            reqs.append(dep)
    out = {}
    for r in reqs:
        name, spec = _split(r)
        out[CONDA_TO_PYPI.get(name, name)] = spec
    return out


def test_environment_yml_matches_pyproject():
    py, conda = _pyproject(), _conda()
    assert set(conda) == set(py), (
        f"only in environment.yml: {sorted(set(conda) - set(py))}; "
        f"only in pyproject.toml: {sorted(set(py) - set(conda))}"
    )
    for name in py:
        assert conda[name] == py[name], f"{name}: pyproject {py[name]!r} vs conda {conda[name]!r}"


def test_environment_installs_rlkit_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip


def test_makefile_installs_the_cpu_torch_before_the_package():
    text = (ROOT / "Makefile").read_text()
    assert text.index('"$(TORCH_SPEC)"') < text.index('-e ".[notebooks,dev]"')
    assert "TORCH_SPEC ?= torch==2.13.0" in text


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
def test_import_rlkit_is_light_and_the_flat_api_resolves():
    import subprocess
    import sys

    code = (
        "import sys, rlkit\n"
        "print(sorted(m for m in ('torch', 'gymnasium', 'vizdoom') if m in sys.modules))\n"
        "names = [n for n in rlkit.__all__ if n != '__version__']\n"
        "print(all(getattr(rlkit, n) is not None for n in names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split("\n")[:2] == ["[]", "True"], out.stderr
