"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny networks run fastest single-threaded, and the suite stays quick on busy machines."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def shipped_checkpoint():
    """The trained ViZDoom model committed with the repo (simpler_basic, 3 actions)."""
    from rlkit.paths import CHECKPOINTS_DIR

    return CHECKPOINTS_DIR / "vizdoom_simpler_basic" / "checkpoint.pt"


@pytest.fixture(scope="session")
def exported_onnx(shipped_checkpoint, tmp_path_factory):
    """The shipped model exported once per session (seconds): ``(path, ExportReport)``."""
    import warnings

    from rlkit.export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "agent.onnx"
    with warnings.catch_warnings():  # torch.onnx's deprecation notices about its own pytree code
        warnings.simplefilter("ignore", FutureWarning)
        return path, export_onnx(shipped_checkpoint, path, check_observations=100)
