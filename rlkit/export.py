"""Export a trained network to one self-describing ONNX file, for a player without PyTorch.

``export_onnx("runs/doom1/checkpoint.pt", "agent.onnx")`` writes the network with its weights
inside (no ``.onnx.data`` side file) and, in the model's metadata under the key ``"rlkit"``, what
a player needs to use it: the env id and its arguments, the observation shape and dtype, the
action names, how to read the output (argmax of the first output: a Q-network's Q-values or an
actor-critic's policy logits, its value coming second) and the preprocessing (none outside
the network: it takes the env's ``uint8`` frames as they are and scales them itself). Then it
checks the file: ONNX Runtime and PyTorch must pick the same greedy action on observations
recorded by playing the env, and the report says how often they did.

:mod:`rlkit.player` reads such a file with ``onnxruntime`` and ``numpy`` only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.errors import UserError

__all__ = ["FORMAT_NAME", "METADATA_KEY", "ExportError", "ExportReport", "export_onnx"]

FORMAT_NAME = "rlkit-onnx"
FORMAT_VERSION = 1
METADATA_KEY = "rlkit"
INPUT_NAME, OUTPUT_NAME = "obs", "q_values"
ACTOR_CRITIC_OUTPUTS = ("logits", "value")
"""Output names of an actor-critic (PPO): the player takes the argmax of the first."""


def output_names(model: Any) -> list[str]:
    """The ONNX output names of ``model``: ``q_values``, or ``logits`` and ``value``."""
    spec = getattr(model, "spec", None) or {}
    return list(ACTOR_CRITIC_OUTPUTS) if spec.get("class") == "ActorCritic" else [OUTPUT_NAME]


class ExportError(UserError, ValueError):
    """A model could not be exported, or the exported file disagrees with the model."""


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote and how well the file agrees with the PyTorch model.

    :param path: the ONNX file.
    :param size_bytes: its size (weights included).
    :param observations: how many recorded observations were compared.
    :param agreement: the fraction of them on which both chose the same greedy action.
    :param max_abs_diff: the largest difference between their Q-values.
    :param seconds: time spent exporting and checking.
    """

    path: str
    size_bytes: int
    observations: int
    agreement: float
    max_abs_diff: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def record_observations(env_spec: Any, n: int, policy: Any = None, seed: int = 0) -> np.ndarray:
    """``n`` observations met by playing the env (half the actions random, half the policy's,
    so that both typical and unusual frames are covered).

    :param env_spec: an :class:`rlkit.envs.EnvSpec` (which env, with which arguments).
    :param n: how many observations.
    :param policy: a function obs -> action; ``None`` plays randomly.
    :param seed: seeds the episodes and the random actions.
    """
    from rlkit.envs import make_env

    env = make_env(env_spec.env_id, **env_spec.env_kwargs)
    rng = np.random.default_rng(seed)
    out = np.empty((n, *env_spec.observation_shape), dtype=np.dtype(env_spec.observation_dtype))
    try:
        obs, _ = env.reset(seed=seed)
        for i in range(n):
            out[i] = obs
            if policy is None or rng.random() < 0.5:
                action = int(rng.integers(env.action_space.n))
            else:
                action = int(policy(obs))
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset(seed=seed + i + 1)
    finally:
        env.close()
    return out


def _metadata(ckpt: Any, model: Any) -> dict[str, Any]:
    from rlkit.devices import library_versions

    spec = ckpt.env_spec
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "algo": ckpt.metadata.get("algo"),
        "env_spec": spec.to_dict(),
        "model_spec": getattr(model, "spec", None),
        "input": {
            "name": INPUT_NAME,
            "dtype": spec.observation_dtype,
            "shape": ["batch", *spec.observation_shape],
        },
        "output": _output_metadata(model),
        "preprocessing": "none: feed the env's observations as they are; the network scales "
        "uint8 frames by 1/255 itself",
        "source_checkpoint": None if ckpt.path is None else str(ckpt.path),
        "progress": ckpt.progress,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "library_versions": library_versions(),
    }


def _output_metadata(model: Any) -> dict[str, Any]:
    names = output_names(model)
    if len(names) == 1:
        return {"name": OUTPUT_NAME, "meaning": "Q-values, one per action; act = argmax"}
    return {
        "name": names[0],
        "names": names,
        "meaning": "policy logits, one per action (then the state value); act = argmax of logits",
    }


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    # torch.onnx logs a warning per torchvision operator it cannot register and its pytree code
    # warns of its own deprecations: noise about torch's insides, not about the user's model.
    import torch  # noqa: F401  (it configures its loggers when imported, so first)

    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        log.setLevel(level)


def _to_onnx_bytes(model: Any, example: Any) -> bytes:
    import torch

    try:
        with quiet_exporter():
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=output_names(model),
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                verbose=False,
            )
    except ImportError as exc:
        raise ExportError(
            f"ONNX export needs the onnx and onnxscript packages ({exc}); install them with "
            "pip install onnx onnxscript"
        ) from None
    except Exception as exc:
        first = " ".join(str(exc).split())[:300]
        raise ExportError(
            f"{type(model).__name__} could not be exported to ONNX by torch "
            f"{torch.__version__}: {type(exc).__name__}: {first}"
        ) from exc
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        program.save(path, external_data=False)  # one file: weights inside
        return Path(path).read_bytes()


def export_onnx(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    check_observations: int = 300,
    seed: int = 0,
) -> ExportReport:
    """Export a checkpoint's network to one ONNX file and check it against PyTorch.

    :param checkpoint: a ``checkpoint.pt`` written by rlkit training.
    :param out: the ``.onnx`` file to write (atomically; its folder is created).
    :param check_observations: how many recorded observations to compare actions on (0: skip).
    :param seed: seeds the recorded episodes.
    :return: an :class:`ExportReport` with the action agreement.
    :raises ExportError: when the model cannot be exported or the file disagrees with it.
    """
    import onnx
    import torch

    from rlkit.atomic import write_bytes
    from rlkit.checkpoints import load_model

    t0 = time.perf_counter()
    model, ckpt = load_model(checkpoint, device="cpu")
    model.eval()
    spec = ckpt.env_spec
    if spec is None:
        raise ExportError(f"{checkpoint} records no env_spec, so a player could not use it")
    example = torch.zeros(
        (1, *spec.observation_shape), dtype=getattr(torch, spec.observation_dtype)
    )
    proto = onnx.load_from_string(_to_onnx_bytes(model, example))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(_metadata(ckpt, model))
    data = proto.SerializeToString()
    agreement, diff, n = 1.0, 0.0, 0
    if check_observations:
        from rlkit.evaluation import greedy_policy

        obs = record_observations(spec, check_observations, greedy_policy(model), seed=seed)
        agreement, diff = _agreement(data, model, obs)
        n = len(obs)
        if agreement < 0.99:
            raise ExportError(
                f"the exported model picks the same action as PyTorch on only {agreement:.1%} "
                f"of {n} recorded observations (largest output difference {diff:.3g}); the file "
                "was not written"
            )
    path = write_bytes(out, data)
    return ExportReport(
        path=str(path),
        size_bytes=path.stat().st_size,
        observations=n,
        agreement=agreement,
        max_abs_diff=diff,
        seconds=time.perf_counter() - t0,
    )


def _agreement(onnx_bytes: bytes, model: Any, obs: np.ndarray) -> tuple[float, float]:
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    q_onnx = session.run(None, {INPUT_NAME: obs})[0]
    with torch.no_grad():
        out = model(torch.from_numpy(obs))
        q_torch = (out[0] if isinstance(out, tuple) else out).numpy()
    same = float(np.mean(q_onnx.argmax(axis=1) == q_torch.argmax(axis=1)))
    return same, float(np.max(np.abs(q_onnx - q_torch)))
