"""Play a trained agent from an ONNX file with ``onnxruntime`` and ``numpy`` — no PyTorch.

A CPU-only laptop needs neither torch nor a GPU to watch the agent: ``load_policy("agent.onnx")``
reads the file :func:`rlkit.export.export_onnx` wrote, with the env it was trained on in its
metadata, and returns a greedy policy. A ``checkpoint.pt`` works too, through torch, when torch
is installed. Nothing here imports torch unless it is given a checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.errors import UserError

__all__ = ["OnnxPolicy", "PlayerError", "file_kind", "load_policy"]

METADATA_KEY = "rlkit"  # the same key rlkit.export writes (kept here so torch is not imported)


class PlayerError(UserError, ValueError):
    """A file cannot be played: not an rlkit model, or its runtime is missing."""


def file_kind(path: str | os.PathLike) -> str:
    """``"onnx"`` or ``"checkpoint"``, from the file's first bytes (not its name).

    :raises FileNotFoundError: if there is no such file.
    :raises PlayerError: for any other kind of file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    with path.open("rb") as f:  # the first bytes only: a checkpoint can be large
        head = f.read(4)
    if head.startswith(b"PK"):  # torch.save writes a zip archive
        return "checkpoint"
    if head[:1] == b"\x08":  # an ONNX ModelProto starts with its ir_version field
        return "onnx"
    raise PlayerError(
        f"{path} is neither an rlkit checkpoint (.pt, a zip archive) nor an ONNX model; valid: "
        "a checkpoint.pt from rlkit training or an .onnx file from `python -m rlkit export`"
    )


class OnnxPolicy:
    """A greedy policy read from an rlkit ONNX file.

    :param path: the ``.onnx`` file.
    :param threads: ONNX Runtime's intra-op threads (one is fastest for a small net on a laptop).
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1):
        try:
            import onnxruntime as ort
        except ImportError:
            raise PlayerError(
                "playing an ONNX file needs onnxruntime: pip install onnxruntime"
            ) from None
        self.path = Path(path)
        if self.path.is_file() and file_kind(self.path) == "checkpoint":
            raise PlayerError(
                f"{self.path} is a PyTorch checkpoint, not an ONNX model; export it first "
                f"(python -m rlkit export --checkpoint {self.path} --out agent.onnx), or play "
                "it as it is with python -m rlkit play --checkpoint"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise PlayerError(f"{self.path} could not be loaded by onnxruntime: {exc}") from None
        raw = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if raw is None:
            raise PlayerError(
                f"{self.path} is an ONNX model but not one rlkit exported: it has no "
                f"'{METADATA_KEY}' metadata naming its env and actions"
            )
        self.metadata: dict[str, Any] = json.loads(raw)
        from rlkit.envs.factory import EnvSpec

        self.env_spec = EnvSpec.from_dict(self.metadata["env_spec"])
        self.input_name = self.session.get_inputs()[0].name
        self._dtype = np.dtype(self.env_spec.observation_dtype)
        self._batch = np.empty((1, *self.env_spec.observation_shape), dtype=self._dtype)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values for a batch of observations, shape ``(B, n_actions)``."""
        return self.session.run(None, {self.input_name: np.asarray(obs, dtype=self._dtype)})[0]

    def __call__(self, obs: np.ndarray) -> int:
        self._batch[0] = obs  # one preallocated batch: no allocation per decision
        return int(self.session.run(None, {self.input_name: self._batch})[0][0].argmax())


def load_policy(path: str | os.PathLike, threads: int = 1) -> tuple[Any, Any]:
    """A greedy policy and the :class:`rlkit.envs.EnvSpec` it plays, from either file kind.

    :param path: an ``.onnx`` file (needs onnxruntime) or a ``checkpoint.pt`` (needs torch).
    :param threads: CPU threads for the network.
    :return: ``(policy, env_spec)``; ``policy(obs) -> action``.
    """
    if file_kind(path) == "onnx":
        policy = OnnxPolicy(path, threads=threads)
        return policy, policy.env_spec
    try:
        import torch
    except ImportError:
        raise PlayerError(
            f"{path} is a PyTorch checkpoint, and torch is not installed here; export it on a "
            "machine with torch (python -m rlkit export --checkpoint ... --out agent.onnx) and "
            "play the .onnx file"
        ) from None
    from rlkit.checkpoints import CheckpointError, load_model
    from rlkit.evaluation import greedy_policy

    torch.set_num_threads(threads)
    model, ckpt = load_model(path, device="cpu")
    model.eval()
    if ckpt.env_spec is None:
        raise CheckpointError(f"{path} records no env_spec, so it cannot be played")
    return greedy_policy(model, "cpu"), ckpt.env_spec
