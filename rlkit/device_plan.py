"""What to switch on for the device a run trains on, decided once and reported.

:func:`plan_for` turns a device and a config into a :class:`DevicePlan`; :func:`apply` sets the
process-wide torch flags the plan asks for and returns their previous values, which
:func:`restore` puts back (the :class:`rlkit.training.Trainer` does both, so the caller's process
keeps its own settings). On a CPU every switch is off and :func:`apply` changes nothing.

=================  ====================================================================
switch             on when
=================  ====================================================================
cudnn_benchmark    CUDA: inputs have fixed shapes, so cuDNN times its algorithms once
tf32               CUDA: matmuls and convolutions in TensorFloat-32 (Ampere and later)
pin_memory         CUDA: host buffers that cross to the GPU are page-locked (DMA)
non_blocking       CUDA: those copies are queued, not waited for
buffer_on_device   CUDA, uniform replay, and ``buffer_device`` "device" (or "auto" and it
                   fits in :data:`BUFFER_MEMORY_FRACTION` of the GPU's free memory)
compile_update     ``config.compile`` (any device; costs seconds of compiling)
=================  ====================================================================

>>> plan_for(torch.device("cpu"), DQNConfig()).describe()[0]  # doctest: +SKIP
'cudnn autotune: off (cpu: cuDNN is a CUDA library)'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["BUFFER_MEMORY_FRACTION", "DevicePlan", "apply", "plan_for", "replay_bytes", "restore"]

BUFFER_MEMORY_FRACTION = 0.5
"""``buffer_device="auto"`` puts uniform replay on the GPU when it needs at most this fraction of
the free GPU memory; the rest is for the networks, activations and cuDNN's workspaces."""

LABELS = {
    "cudnn_benchmark": "cudnn autotune",
    "tf32": "tf32 matmul/conv",
    "pin_memory": "pinned host memory",
    "non_blocking": "non-blocking copies",
    "buffer_on_device": "replay on device",
    "compile_update": "compiled update",
}


@dataclass(frozen=True)
class DevicePlan:
    """The per-device switches of a run, each with the reason it is on or off.

    :param device: the device the plan is for, e.g. ``"cpu"`` or ``"cuda:0"``.
    :param reasons: one short reason per switch, in field order (see :meth:`describe`).
    """

    device: str
    cudnn_benchmark: bool = False
    tf32: bool = False
    pin_memory: bool = False
    non_blocking: bool = False
    buffer_on_device: bool = False
    compile_update: bool = False
    reasons: tuple[str, ...] = ()

    def switches(self) -> dict[str, bool]:
        """Switch name -> on, in :data:`LABELS` order."""
        return {name: getattr(self, name) for name in LABELS}

    def describe(self) -> list[str]:
        """One line per switch, e.g. ``"cudnn autotune: on (cuda: fixed input shapes)"``."""
        reasons = dict(zip(LABELS, self.reasons, strict=False))
        return [
            f"{LABELS[name]}: {'on' if on else 'off'}"
            + (f" ({reasons[name]})" if reasons.get(name) else "")
            for name, on in self.switches().items()
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the device, the switches and the described lines."""
        out: dict[str, Any] = {"device": self.device, **self.switches()}
        out["describe"] = self.describe()
        return out


def replay_bytes(config: Any, env_spec: Any) -> int:
    """Bytes a uniform replay buffer of ``config`` needs for observations of ``env_spec``.

    The ring holds one spare slot per env; each transition adds an int64 action, two float32s
    (reward, terminated) and an episode-end flag. Final frames of episodes come on top (one per
    episode), which :data:`BUFFER_MEMORY_FRACTION` leaves room for.
    """
    n_envs = int(getattr(config, "num_envs", 1))
    slots = -(-int(config.buffer_size) // n_envs) + 1
    frame = math.prod(env_spec.observation_shape) * np.dtype(env_spec.observation_dtype).itemsize
    return int(slots * n_envs * (frame + 8 + 4 + 4 + 1))


def _gb(n: float) -> str:
    return f"{n / 1024**3:.2f} GB"


def _buffer_decision(device: torch.device, config: Any, env_spec: Any) -> tuple[bool, str]:
    choice = getattr(config, "buffer_device", None)
    if choice is None or not hasattr(config, "buffer_size"):
        return False, "this algorithm has no replay buffer"
    if device.type != "cuda":
        if device.type == "cpu":
            return False, "cpu: host memory is the device's memory"
        return False, f"{device.type}: replay on the device is implemented for cuda"
    if getattr(config, "prioritized", False):
        # Prioritized sampling walks a sum tree in host memory (rlkit.buffers.sumtree): its
        # batches are gathered on the host and copied, pinned and non-blocking.
        return False, "prioritized replay samples from a sum tree on the host"
    if choice == "cpu":
        return False, "buffer_device='cpu'"
    if choice == "device":
        return True, "buffer_device='device'"
    if env_spec is None:
        return False, "auto: buffer size unknown without the env's observation shape"
    need = replay_bytes(config, env_spec)
    free, _total = torch.cuda.mem_get_info(device)
    room = BUFFER_MEMORY_FRACTION * free
    if need <= room:
        return True, f"auto: {_gb(need)} fits in {BUFFER_MEMORY_FRACTION:g} of {_gb(free)} free"
    return False, f"auto: {_gb(need)} > {BUFFER_MEMORY_FRACTION:g} of {_gb(free)} free"


def plan_for(device: torch.device | str, config: Any, env_spec: Any = None) -> DevicePlan:
    """Decide the switches for training ``config`` on ``device``.

    :param device: a resolved device (from :func:`rlkit.devices.select_device`).
    :param config: the run's config; reads ``buffer_device``, ``buffer_size``, ``num_envs``,
        ``prioritized`` and ``compile`` where it has them.
    :param env_spec: the env's :class:`rlkit.envs.EnvSpec`, which sizes the replay buffer for
        ``buffer_device="auto"`` (without it, auto keeps replay on the host).
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    kind = device.type
    on_device, buffer_reason = _buffer_decision(device, config, env_spec)
    compiled = bool(getattr(config, "compile", False))
    reasons = (
        "cuda: fixed input shapes, so the fastest algorithm is picked once"
        if cuda
        else f"{kind}: cuDNN is a CUDA library",
        # TF32 keeps fp32's range with a 10-bit mantissa (Ampere and later; earlier GPUs ignore
        # the flag). DQN's regression targets are bootstrapped estimates whose noise is orders of
        # magnitude above 2**-10 relative error, so the value net learns the same.
        "cuda: 10-bit mantissa on Ampere+, its rounding far below TD-target noise"
        if cuda
        else f"{kind}: fp32",
        "cuda: batches reach the GPU by DMA" if cuda else f"{kind}: no host-to-device copy",
        "cuda: copies queue behind compute" if cuda else f"{kind}: no host-to-device copy",
        buffer_reason,
        "config compile=True; compiles at the first update"
        if compiled
        else "config compile=False"
        if hasattr(config, "compile")
        else "this algorithm has no compiled update",
    )
    return DevicePlan(
        device=str(device),
        cudnn_benchmark=cuda,
        tf32=cuda,
        pin_memory=cuda,
        non_blocking=cuda,
        buffer_on_device=on_device,
        compile_update=compiled,
        reasons=reasons,
    )


# -- process-wide flags ----------------------------------------------------------------------
def _flags(plan: DevicePlan) -> dict[str, tuple[Any, str, Any]]:
    """name -> (object, attribute, wanted value) for every flag the plan sets."""
    b = torch.backends
    wanted: dict[str, tuple[Any, str, Any]] = {}
    if plan.cudnn_benchmark:
        wanted["cudnn.benchmark"] = (b.cudnn, "benchmark", True)
    if plan.tf32:
        if hasattr(b.cuda.matmul, "fp32_precision"):  # torch ≥ 2.9; never mix with allow_tf32
            wanted["cuda.matmul.fp32_precision"] = (b.cuda.matmul, "fp32_precision", "tf32")
            wanted["cudnn.conv.fp32_precision"] = (b.cudnn.conv, "fp32_precision", "tf32")
        else:
            wanted["cuda.matmul.allow_tf32"] = (b.cuda.matmul, "allow_tf32", True)
            wanted["cudnn.allow_tf32"] = (b.cudnn, "allow_tf32", True)
    return wanted


def apply(plan: DevicePlan) -> dict[str, Any]:
    """Set the torch flags ``plan`` asks for.

    :return: name -> previous value of each flag it changed (``{}`` when nothing changed, as on
        a CPU); give it to :func:`restore` to undo.
    """
    changed: dict[str, Any] = {}
    for name, (obj, attr, value) in _flags(plan).items():
        before = getattr(obj, attr)
        if before != value:
            setattr(obj, attr, value)
            changed[name] = before
    return changed


def restore(changed: dict[str, Any]) -> None:
    """Put back the flags :func:`apply` changed (the process's settings before training)."""
    every = _flags(DevicePlan("cuda", cudnn_benchmark=True, tf32=True))
    for name, before in changed.items():
        obj, attr, _ = every[name]
        setattr(obj, attr, before)
