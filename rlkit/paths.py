"""Where things live: the repo's data/, notebooks/ and runs/ folders.

Notebooks use these instead of relative paths, so they run the same from JupyterLab, from
papermill (any working directory) and from nbval (which runs a copy in another folder).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (the folder holding ``rlkit/``)."""
DATA_DIR = ROOT / "data"
"""Small committed artefacts: trained checkpoints, recorded benchmark JSON."""
CHECKPOINTS_DIR = DATA_DIR / "checkpoints"
BENCHMARKS_DIR = DATA_DIR / "benchmarks"
NOTEBOOKS_DIR = ROOT / "notebooks"


def runs_dir() -> Path:
    """Where generated outputs go: ``$RLKIT_RUNS`` or ``<repo>/runs`` (git-ignored)."""
    return Path(os.environ.get("RLKIT_RUNS", ROOT / "runs"))
