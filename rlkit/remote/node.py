"""What a Ray node offers, read on the node itself, and whether it can run a given training.

:func:`node_facts` runs inside the training worker (so it describes the very process that will
train: its node, the GPUs Ray gave it, its torch); :func:`check_node` runs on the client and
turns every mismatch into one sentence before any training starts.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
from dataclasses import asdict, dataclass, field
from typing import Any

from rlkit.remote.cluster import RemoteError


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def local_facts() -> dict[str, Any]:
    """The versions on this (the client's) side that a node must match."""
    return {
        "python": platform.python_version(),
        "ray": _version("ray"),
        "torch": _version("torch"),
        "rlkit": _version("rlkit"),
    }


def node_facts() -> dict[str, Any]:
    """Facts about the Ray worker process this is called in (plain data)."""
    import ray

    facts: dict[str, Any] = {
        "node_id": ray.get_runtime_context().get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "ray_gpu_ids": [str(g) for g in ray.get_gpu_ids()],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "ray": _version("ray"),
        "torch": _version("torch"),
        "vizdoom": _version("vizdoom"),
        "rlkit": _version("rlkit"),
        "torch_cuda": None,
        "cuda_available": False,
        "cuda_missing_reason": None,
        "gpus": [],
    }
    try:
        import torch
    except ImportError:
        return facts
    from rlkit.devices import machine_info

    info = machine_info()
    facts.update(
        torch_cuda=info["cuda_version"],
        cuda_available=bool(info["cuda_devices"]),
        gpus=info["cuda_devices"],
        cpu_model=info["cpu_model"],
    )
    if not facts["cuda_available"]:
        if torch.version.cuda is None:
            facts["cuda_missing_reason"] = "torch built without CUDA"
        else:
            facts["cuda_missing_reason"] = (
                f"torch built with CUDA {torch.version.cuda} but no GPU or driver visible "
                f"(CUDA_VISIBLE_DEVICES={facts['cuda_visible_devices']!r})"
            )
    return facts


def _base(version: str | None) -> str | None:
    """``"2.13.0+cu128"`` -> ``"2.13.0"``: CPU and CUDA builds of one release are compatible."""
    return None if version is None else version.split("+")[0]


def _minor(version: str | None) -> str | None:
    return None if version is None else ".".join(version.split(".")[:2])


def check_node(facts: dict[str, Any], local: dict[str, Any], env_id: str, require_gpu: bool) -> str:
    """Whether the node can run this training; returns the torch device to use there.

    :raises RemoteError: one sentence per mismatch, naming the node and both versions.
    """
    where = f"the Ray node {facts['node_ip']} ({facts['node_id'][:12]})"
    if _minor(facts["python"]) != _minor(local["python"]):
        raise RemoteError(
            f"{where} runs Python {facts['python']} but this machine runs {local['python']}; "
            "Ray needs the same Python minor version on both sides"
        )
    if facts["ray"] != local["ray"]:
        raise RemoteError(
            f"{where} runs Ray {facts['ray']} but this machine runs Ray {local['ray']}; install "
            f"the same version on both (pip install 'ray[client]=={local['ray']}')"
        )
    if facts["torch"] is None:
        raise RemoteError(f"{where} has no torch installed; install torch=={local['torch']} there")
    if _base(facts["torch"]) != _base(local["torch"]):
        raise RemoteError(
            f"{where} has torch {facts['torch']} but this machine has {local['torch']}; install "
            f"the same release on both (pip install torch=={_base(local['torch'])}, the CUDA "
            "build on the GPU machine)"
        )
    if env_id.startswith("vizdoom") and facts["vizdoom"] is None:
        raise RemoteError(
            f"{where} has no vizdoom installed, which {env_id} needs: pip install vizdoom"
        )
    if require_gpu:
        if not facts["cuda_available"]:
            raise RemoteError(
                f"{where} was given GPU {','.join(facts['ray_gpu_ids']) or '?'} by Ray, but torch "
                f"there finds no CUDA device ({facts['cuda_missing_reason']}); Ray's GPU count "
                "is what `ray start --num-gpus` claimed, not a check. Install a CUDA build of "
                "torch there, or pass require_gpu=False to train on the node's CPU"
            )
        return "cuda"
    return "cpu"


@dataclass
class RemoteDeviceReport:
    """Where a remote run trained: the cluster, the node, its GPU and versions, and why.

    ``print(report)`` gives a table like :class:`rlkit.devices.DeviceReport`'s.
    """

    requested: str
    address: str  # "embedded local cluster" or the address given
    auth: str
    selected: str
    reason: str
    node: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RemoteDeviceReport:
        """Rebuild from :meth:`to_dict` (extra keys such as ``timings`` are ignored)."""
        return cls(**{f: d[f] for f in cls.__dataclass_fields__ if f in d})

    def __str__(self) -> str:
        n = self.node
        gpus = [f"{g['name']}, {g['total_memory_gb']:g} GB" for g in n.get("gpus", [])] or ["none"]
        rows = [
            ("device", f"{self.selected} on a Ray node   (requested: {self.requested})"),
            ("reason", self.reason),
            ("cluster", f"{self.address} (auth: {self.auth})"),
            ("node", f"{n.get('node_ip')} {n.get('hostname')} id {str(n.get('node_id'))[:12]}"),
            ("gpu", gpus[0]),
            *(("", g) for g in gpus[1:]),
            ("torch", f"{n.get('torch')} (CUDA build: {n.get('torch_cuda') or 'none'})"),
            ("python / ray", f"{n.get('python')} / {n.get('ray')}"),
            ("vizdoom", str(n.get("vizdoom"))),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
