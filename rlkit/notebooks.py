"""Execute the ordered notebooks with papermill: ``python -m rlkit notebooks --scale ci``.

``teach`` runs each notebook with its own parameter cell (teaching scale); ``ci`` injects the
smoke-scale values from ``notebooks/ci_params.yaml``. Outputs go to a separate folder, so the
committed notebooks stay clean.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rlkit.paths import NOTEBOOKS_DIR, ROOT

SCALES = ("ci", "teach")


def notebook_paths(only: list[str] | None = None) -> list[Path]:
    """The ordered notebooks ``NN_name.ipynb``; ``only`` filters by prefix or name."""
    paths = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
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


def run_notebooks(
    scale: str = "ci", out_dir: str | Path | None = None, only: list[str] | None = None
) -> list[dict[str, Any]]:
    """Execute notebooks in order; stops at the first failure (papermill raises).

    :param scale: ``ci`` (parameters from ``ci_params.yaml``) or ``teach`` (notebook defaults).
    :param out_dir: where executed copies go (default ``runs/<scale>``).
    :param only: run just these notebooks (name prefixes such as ``"03"``).
    :return: one row per notebook: name, seconds, output path.
    """
    import papermill as pm

    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    from rlkit.paths import runs_dir

    out = Path(out_dir) if out_dir is not None else runs_dir() / scale
    out.mkdir(parents=True, exist_ok=True)
    params_all = ci_parameters() if scale == "ci" else {}
    kernel = _kernel_name()
    rows = []
    for nb in notebook_paths(only):
        params = dict(params_all.get(nb.stem, {}))
        target = out / nb.name
        print(f"[rlkit] {nb.name} ({scale}) {json.dumps(params)}", flush=True)
        t0 = time.perf_counter()
        pm.execute_notebook(
            str(nb),
            str(target),
            parameters=params,
            kernel_name=kernel,
            cwd=str(ROOT),
            progress_bar=False,
        )
        seconds = time.perf_counter() - t0
        print(f"[rlkit] {nb.name} done in {seconds:.1f} s", flush=True)
        rows.append({"notebook": nb.name, "seconds": round(seconds, 1), "output": str(target)})
    (out / "timings.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows
