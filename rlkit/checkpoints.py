"""Saving and loading training checkpoints safely.

A checkpoint is one file written with :func:`torch.save` that holds plain containers only::

    {
        "format": "rlkit-checkpoint",
        "format_version": 1,
        "metadata_json": "<JSON text of the metadata>",
        "state_dict": {parameter name: tensor, ...},      # the model's weights (on CPU)
        "extra_state": {name: state dict, ...},           # optimizer, target net, RNG states ...
    }

It is read back with ``torch.load(weights_only=True)``, which refuses to unpickle anything but
tensors and plain containers, so loading a file never runs code from it.

Metadata conventions (all JSON; the agent code decides what goes in, these keys are read here):

=====================  ============================================================================
Key                    Meaning
=====================  ============================================================================
``config``             the run's hyper-parameters
``env_spec``           the environment, as :meth:`rlkit.envs.EnvSpec.to_dict`: ``env_id``,
                       ``observation_shape``, ``observation_dtype``, ``action_names``,
                       ``env_kwargs`` (build one from a live env with :func:`rlkit.envs.env_spec`;
                       read it back as :attr:`Checkpoint.env_spec`)
``progress``           counters (``env_steps``, ``updates``, ``episodes``, ``train_seconds``) and
                       the latest keyed ``metrics``
``model_spec``         added automatically from ``model.spec`` (see :mod:`rlkit.models`)
``format_version``     added automatically
``created_at``         added automatically, UTC ISO 8601
``library_versions``   added automatically: python, rlkit, torch, numpy, gymnasium, vizdoom
=====================  ============================================================================

Writes are atomic: the data go to a temporary file in the target's directory, which is flushed,
``fsync``-ed and then renamed over the target with :func:`os.replace`. An exception during the
save removes the temporary file; a hard kill (SIGKILL, power loss) can leave one behind, named
``.<checkpoint name>.<pid>.<random>.tmp`` (git-ignored by ``*.tmp``; see
:func:`cleanup_temp_files`). In both cases the previous checkpoint at the path is untouched.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rlkit.atomic import atomic_write, remove_stale_temp_files
from rlkit.devices import library_versions, select_device
from rlkit.envs.factory import EnvSpec
from rlkit.errors import UserError
from rlkit.models import model_from_spec

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "check_compatible",
    "cleanup_temp_files",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
]

FORMAT_NAME = "rlkit-checkpoint"
FORMAT_VERSION = 1
_SHOW = 5  # how many offending keys an error message lists


class CheckpointError(UserError, ValueError):
    """A file is not a usable checkpoint, or a checkpoint does not fit a model/environment."""


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    :param state_dict: the model's weights, ready for ``model.load_state_dict``
    :param metadata: the JSON metadata (config, env_spec, progress, model_spec, versions, ...)
    :param extra_state: the named extra state dicts (optimizer, target network, RNG, ...)
    :param path: the file it was read from, if any
    """

    state_dict: dict[str, Any]
    metadata: dict[str, Any]
    extra_state: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def model_spec(self) -> dict[str, Any] | None:
        """``metadata["model_spec"]``, or ``None``."""
        return self.metadata.get("model_spec")

    @property
    def env_spec(self) -> EnvSpec | None:
        """The environment it was trained on, read from ``metadata["env_spec"]``, or ``None``.

        :raises CheckpointError: if ``metadata["env_spec"]`` is there but is not an
            :meth:`EnvSpec.to_dict` dict
        """
        data = self.metadata.get("env_spec")
        if data is None:
            return None
        try:
            if not isinstance(data, Mapping):
                raise TypeError(f"it is a {type(data).__name__}, not a dict")
            return EnvSpec.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            what = "missing key " + str(exc) if isinstance(exc, KeyError) else str(exc)
            where = f"checkpoint {self.path}" if self.path is not None else "the checkpoint"
            raise CheckpointError(
                f"{where} has a damaged env_spec in its metadata ({what}); expected "
                "EnvSpec.to_dict() with env_id, observation_shape, observation_dtype, "
                "action_names, env_kwargs"
            ) from exc

    @property
    def progress(self) -> dict[str, Any]:
        """``metadata["progress"]``, or an empty dict."""
        return self.metadata.get("progress") or {}


# --------------------------------------------------------------------------------------------
# validating what goes into the file


def _where(path: str, key: Any) -> str:
    return f"{path}[{key!r}]"


def _to_json(obj: Any, path: str) -> Any:
    """A JSON-compatible copy of ``obj``; numpy scalars/arrays, tensors and paths are converted."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, (np.generic, np.ndarray, torch.Tensor)):
        return _to_json(obj.tolist(), path)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                if isinstance(key, (int, float, bool)) or key is None:
                    key = json.dumps(key)  # what json.dumps would do anyway, made explicit
                else:
                    raise TypeError(
                        f"metadata key {key!r} at {path} is a {type(key).__name__}; JSON keys "
                        "must be strings"
                    )
            out[key] = _to_json(value, _where(path, key))
        return out
    if isinstance(obj, (list, tuple)):
        return [_to_json(v, f"{path}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(
        f"metadata value at {path} has type {type(obj).__name__}, which is not JSON-serialisable; "
        "store plain numbers, strings, lists and dicts"
    )


_LEAF_TYPES = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device)


def _plain(obj: Any, path: str) -> Any:
    """Copy a state tree with tensors moved to CPU and numeric numpy arrays turned into tensors,
    rejecting anything ``torch.load(weights_only=True)`` could not read back."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, _LEAF_TYPES):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            raise TypeError(
                f"{path} is a numpy array of dtype {obj.dtype}, which a checkpoint cannot store "
                "(only bool and numeric arrays are converted to tensors)"
            )
        array = np.ascontiguousarray(obj)
        if not array.flags.writeable:
            array = array.copy()
        return torch.from_numpy(array)
    if isinstance(obj, torch.Size):
        return obj
    if type(obj) in (dict, OrderedDict):
        out = type(obj)((k, _plain(v, _where(path, k))) for k, v in obj.items())
        for k in out:
            if not isinstance(k, (str, int, float, bool, type(None))):
                raise TypeError(f"key {k!r} at {path} must be a str or number")
        if hasattr(obj, "_metadata"):  # module state_dicts carry per-module version info
            out._metadata = obj._metadata  # type: ignore[attr-defined]
        return out
    if type(obj) in (list, tuple):
        return type(obj)(_plain(v, f"{path}[{i}]") for i, v in enumerate(obj))
    raise TypeError(
        f"{path} holds a {type(obj).__module__}.{type(obj).__qualname__}, which a checkpoint "
        "cannot store (allowed: tensors, numpy arrays, numbers, strings, lists, tuples, dicts)"
    )


# --------------------------------------------------------------------------------------------
# atomic writing


def cleanup_temp_files(path: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files that a killed :func:`save_checkpoint` left next to ``path`` (and
    its ``.json`` sidecar), those whose writer is no longer running
    (:func:`rlkit.atomic.remove_stale_temp_files`). The trainer calls it when a run starts.

    :return: the files removed
    """
    path = Path(path)
    return remove_stale_temp_files(path, path.with_name(path.name + ".json"))


# --------------------------------------------------------------------------------------------
# saving and loading


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: nn.Module | Mapping[str, Any],
    metadata: Mapping[str, Any],
    extra_state: Mapping[str, Any] | None = None,
    sidecar: bool = True,
) -> Path:
    """Write a checkpoint atomically (and a human-readable ``<path>.json`` next to it).

    :param path: target file, e.g. ``data/checkpoints/doom-basic.pt``; parent folders are made
    :param model: the network (its ``state_dict()`` and, if present, ``model.spec`` are saved) or
        a state dict
    :param metadata: JSON-able run description (``config``, ``env_spec``, ``progress``, ...); numpy
        numbers and paths are converted. ``format_version``, ``created_at`` and
        ``library_versions`` are (re)set here, and ``model_spec`` is taken from ``model.spec``
    :param extra_state: named state dicts such as ``{"optimizer": opt.state_dict(),
        "target": target.state_dict(), "rng": {"torch": torch.get_rng_state()}}``; only
        tensors, numbers, strings, lists, tuples and dicts are allowed. Tensors are stored on CPU;
        numeric numpy arrays (e.g. a replay buffer's contents) are stored as CPU tensors and come
        back as tensors (``t.numpy()`` or ``np.asarray(t)`` turns them back); numpy scalars
        become Python numbers
    :param sidecar: also write the metadata to ``<path>.json`` (atomically; the ``.pt`` file is
        written first and stays authoritative)
    :return: the checkpoint's path
    :raises TypeError: if metadata is not JSON-able or a state holds a disallowed object
    :raises ValueError: if ``metadata["model_spec"]`` contradicts ``model.spec``
    """
    path = Path(path)
    if isinstance(model, nn.Module):
        state_dict = model.state_dict()
        spec = getattr(model, "spec", None)
    elif isinstance(model, Mapping):
        state_dict, spec = model, None
    else:
        raise TypeError(f"model must be an nn.Module or a state dict, got {type(model).__name__}")
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")

    meta = _to_json(dict(metadata), "metadata")
    if spec is not None:
        spec = _to_json(spec, "model.spec")
        if meta.get("model_spec") not in (None, spec):
            raise ValueError(
                "metadata['model_spec'] differs from model.spec; drop it from the metadata and "
                "let save_checkpoint record the model's own spec"
            )
        meta["model_spec"] = spec
    meta["format_version"] = FORMAT_VERSION
    meta["created_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta["library_versions"] = library_versions()
    metadata_json = json.dumps(meta, indent=2, sort_keys=True)

    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "metadata_json": metadata_json,
        "state_dict": _plain(
            state_dict if type(state_dict) in (dict, OrderedDict) else dict(state_dict),
            "state_dict",
        ),
        "extra_state": _plain(dict(extra_state or {}), "extra_state"),
    }
    for key in payload["extra_state"]:
        if not isinstance(key, str):
            raise TypeError(f"extra_state keys must be strings, got {key!r}")

    atomic_write(path, lambda f: torch.save(payload, f))

    if sidecar:
        tensors = [v for v in payload["state_dict"].values() if isinstance(v, torch.Tensor)]
        summary = {
            "checkpoint": path.name,
            "size_bytes": path.stat().st_size,
            "state_dict": {
                "tensors": len(tensors),
                "elements": sum(t.numel() for t in tensors),
            },
            "extra_state_keys": sorted(payload["extra_state"]),
            "metadata": meta,
        }
        text = json.dumps(summary, indent=2, sort_keys=True) + "\n"
        sidecar_path = path.with_name(path.name + ".json")
        atomic_write(sidecar_path, lambda f: f.write(text.encode("utf-8")))
    return path


def _first_line(exc: BaseException, limit: int = 200) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = lines[0] if lines else ""
    line = f"{type(exc).__name__}: {line}" if line else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _error_detail(exc: BaseException) -> str:
    """The informative part of a torch.load error (never its advice to drop weights_only)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        rest = [line.strip() for line in text.split(marker, 1)[1].splitlines() if line.strip()]
        return f"unpickling failed: {rest[0] if rest else 'unknown error'}"
    if "weights_only" in text:  # torch's advice paragraph; keep only the lines after it
        rest = [line.strip() for line in text.splitlines()[1:] if line.strip()]
        rest = [line for line in rest if "weights_only" not in line]
        return f"unpickling failed: {rest[0] if rest else 'unknown error'}"
    return _first_line(exc)


# Opcodes that name a Python callable or call one while unpickling: a file using them (beyond
# what torch's own tensor format needs, which the weights-only loader already allows) carries
# code that a plain unpickler would run.
_CODE_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "REDUCE"}


def _pickled_code(path: Path) -> str | None:
    """The first callable a pickle in ``path`` names (``module.name``), found by reading its
    opcodes with :mod:`pickletools` — nothing is unpickled — or ``None`` if it names none or
    cannot be read. Only asked after ``torch.load(weights_only=True)`` refused the file, so
    torch's own rebuild functions are not what it finds in a real checkpoint."""
    import pickletools

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                if name is None:
                    return None
                data = archive.read(name)
        else:
            data = path.read_bytes()
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(str(arg))
            elif op.name in ("GLOBAL", "INST"):
                found = str(arg).replace(" ", ".")
                if not found.startswith(("torch.", "collections.OrderedDict")):
                    return found
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found = f"{strings[-2]}.{strings[-1]}"
                if not found.startswith(("torch.", "collections.OrderedDict")):
                    return found
    except Exception:  # truncated or not a pickle: the caller says so
        return None
    return None


def _looks_like_onnx(path: Path) -> bool:
    """An ONNX ModelProto starts with its ``ir_version`` field (tag 0x08, a small varint),
    then usually the producer's name (tag 0x12)."""
    try:
        with path.open("rb") as f:
            head = f.read(3)
    except OSError:
        return False
    return len(head) == 3 and head[0] == 0x08 and head[1] < 0x40 and head[2] == 0x12


def _zip_damage(path: Path) -> str | None:
    """Describe CRC or structure damage in a zip-format torch file, ``None`` if it looks intact.

    Files that are not zip archives at all (truncated before the central directory, legacy
    format, garbage) are left to ``torch.load`` to diagnose.
    """
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError) as exc:
        return f"its zip structure is damaged ({_first_line(exc)})"
    if bad is not None:
        return f"the file is corrupt: member {bad!r} fails its CRC-32 check"
    return None


def load_checkpoint(
    path: str | os.PathLike[str],
    map_location: str | torch.device | Callable | Mapping[str, str] | None = "cpu",
    verify: bool = True,
) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`, without executing pickled code.

    :param path: the checkpoint file
    :param map_location: where tensors go, as for :func:`torch.load` (a device, a string, a
        ``{"cuda:0": "cpu"}`` mapping or a callable); the default ``"cpu"`` also opens files
        holding CUDA tensors on a machine without a GPU
    :param verify: check the CRC-32 of every member of the (zip) file first; ``torch.load`` itself
        does not, so flipped bits in tensor data would otherwise load silently. Costs one extra
        read of the file
    :return: the :class:`Checkpoint`
    :raises FileNotFoundError: if ``path`` does not exist
    :raises CheckpointError: if the file is not a checkpoint, is truncated or corrupt, contains
        pickled Python objects, or comes from a newer format version
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file, so it cannot be a checkpoint")
    if verify:
        damage = _zip_damage(path)
        if damage is not None:
            raise CheckpointError(f"cannot load checkpoint {path}: {damage}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise
    except Exception as exc:
        message = str(exc)
        found = re.search(r"[Uu]nsupported (?:global: )?GLOBAL ([\w.<>]+)", message)
        code = found.group(1) if found else _pickled_code(path)
        if code:
            problem = (
                f"it contains executable pickled objects ({code}) and was not loaded, since "
                "unpickling them would run code from the file (rlkit checkpoints hold only "
                "tensors and plain containers; do not open it with a loader that runs pickled "
                "code)"
            )
        elif "CUDA" in message and "map_location" in message:
            problem = (
                "its tensors would go to a CUDA device (they were saved there, or map_location "
                "asks for one) but torch.cuda.is_available() is False; load it with "
                "map_location='cpu'"
            )
        elif _looks_like_onnx(path):
            problem = (
                "it is an ONNX model, not a checkpoint (ONNX files play with `python -m rlkit "
                "play --checkpoint FILE` or rlkit.player; training, resuming and exporting need "
                "the checkpoint.pt it was exported from)"
            )
        else:
            size = path.stat().st_size
            problem = (
                f"it could not be read as a PyTorch file ({size} bytes; truncated, corrupt or "
                f"another format?): {_error_detail(exc)}"
            )
        raise CheckpointError(f"cannot load checkpoint {path}: {problem}") from exc

    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        if isinstance(data, dict):
            keys = ", ".join(repr(k) for k in list(data)[:_SHOW])
            what = f"a dict with keys {keys}{', ...' if len(data) > _SHOW else ''}"
        else:
            what = f"a {type(data).__name__}"
        raise CheckpointError(
            f"{path} is a PyTorch file but not an rlkit checkpoint: it holds {what} without the "
            f"'format': {FORMAT_NAME!r} marker"
        )
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this rlkit reads versions 1 to "
            f"{FORMAT_VERSION} (was it written by a newer rlkit?)"
        )
    try:
        metadata = json.loads(data["metadata_json"])
        state_dict, extra_state = data["state_dict"], data["extra_state"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is an rlkit checkpoint with a damaged layout: {_first_line(exc)}"
        ) from exc
    if not (isinstance(metadata, dict) and isinstance(state_dict, dict)):
        raise CheckpointError(f"{path} is an rlkit checkpoint with a damaged layout")
    if not isinstance(extra_state, dict):
        raise CheckpointError(f"{path} is an rlkit checkpoint with a damaged layout")
    return Checkpoint(state_dict, metadata, extra_state, path)


# --------------------------------------------------------------------------------------------
# compatibility


def _fmt_keys(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > _SHOW else shown


def _state_dict_problems(saved: Mapping[str, Any], model: nn.Module) -> list[str]:
    expected = model.state_dict()
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    mismatched = [
        f"{k}: checkpoint {tuple(saved[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in saved and isinstance(saved[k], torch.Tensor) and saved[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"keys missing from the checkpoint: {_fmt_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys in the checkpoint: {_fmt_keys(unexpected)}")
    if mismatched:
        problems.append(f"parameter shapes differ: {_fmt_keys(mismatched)}")
    return problems


def _env_problems(saved: EnvSpec | None, env: EnvSpec, check_id: bool) -> list[str]:
    if saved is None:
        return [
            "it records no env_spec in its metadata, so the environment it was trained on is "
            f"unknown and cannot be compared with {env.env_id!r}"
        ]
    problems = []
    if saved.observation_shape != env.observation_shape:
        problems.append(
            f"checkpoint was trained on observation shape {saved.observation_shape} but the "
            f"environment gives {env.observation_shape}"
        )
    saved_names, env_names = list(saved.action_names), list(env.action_names)
    if len(saved_names) != len(env_names):  # the network's output layer cannot fit
        problems.append(
            f"checkpoint has {len(saved_names)} actions {saved_names} but the environment has "
            f"{len(env_names)} actions {env_names}"
        )
    elif saved_names != env_names:  # same count: the outputs would mean other actions
        problems.append(f"action names differ: checkpoint {saved_names} vs env {env_names}")
    if check_id and saved.env_id != env.env_id:
        problems.append(
            f"checkpoint was trained on {saved.env_id!r} but the environment is {env.env_id!r}"
        )
    return problems


def check_compatible(
    checkpoint: Checkpoint,
    *,
    model: nn.Module | None = None,
    env_spec: EnvSpec | None = None,
    check_id: bool = False,
) -> None:
    """Raise if a checkpoint does not fit a model or an environment; return ``None`` if it does.

    Every detected problem is listed in one :class:`CheckpointError`.

    :param checkpoint: a loaded :class:`Checkpoint`
    :param model: a network to compare parameter names and shapes (and model class) against
    :param env_spec: the environment's :class:`rlkit.envs.EnvSpec` (see
        :func:`rlkit.envs.env_spec`), compared with :attr:`Checkpoint.env_spec`: observation
        shape and action names (so also their number); a checkpoint without an env_spec fails
    :param check_id: also require equal environment ids (off by default: the same observations
        and actions may come from differently named environments)
    :raises CheckpointError: naming each mismatch, with the checkpoint's and the env's values
    :raises TypeError: if ``env_spec`` is not an :class:`~rlkit.envs.EnvSpec`
    """
    problems: list[str] = []
    if env_spec is not None:
        if not isinstance(env_spec, EnvSpec):
            raise TypeError(
                f"env_spec must be an rlkit.envs.EnvSpec, got {type(env_spec).__name__}; build "
                "one with rlkit.envs.env_spec(env, env_id) or EnvSpec.from_dict(d)"
            )
        problems += _env_problems(checkpoint.env_spec, env_spec, check_id)
    if model is not None:
        spec = checkpoint.model_spec
        model_spec = getattr(model, "spec", None)
        if spec and model_spec and spec.get("class") != model_spec.get("class"):
            problems.append(
                f"checkpoint holds a {spec.get('class')} but the model is a "
                f"{model_spec.get('class')}"
            )
        problems += _state_dict_problems(checkpoint.state_dict, model)
    if problems:
        where = f" {checkpoint.path}" if checkpoint.path is not None else ""
        raise CheckpointError(f"checkpoint{where} is not compatible: " + "; ".join(problems))


def load_model(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[nn.Module, Checkpoint]:
    """Rebuild the network stored in a checkpoint and load its weights (strictly).

    :param path: a checkpoint written from a model with a ``spec`` (all :mod:`rlkit.models`)
    :param device: where to put the model; anything :func:`rlkit.devices.select_device` accepts,
        including ``"auto"``; a device that is not there raises ``DeviceNotAvailableError``
    :return: ``(model, checkpoint)``; the model is in training mode as constructed
    :raises CheckpointError: if the file has no model spec or the weights do not fit it
    """
    target, _ = select_device(device)
    checkpoint = load_checkpoint(path, map_location="cpu")
    spec = checkpoint.model_spec
    if spec is None:
        raise CheckpointError(
            f"{checkpoint.path} has no model_spec in its metadata, so the network cannot be "
            "rebuilt; construct it yourself and call model.load_state_dict(ckpt.state_dict)"
        )
    try:
        model = model_from_spec(spec)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{checkpoint.path}: cannot rebuild the model from its spec: {exc}"
        ) from exc
    check_compatible(checkpoint, model=model)
    model.load_state_dict(checkpoint.state_dict, strict=True)
    return model.to(target), checkpoint
