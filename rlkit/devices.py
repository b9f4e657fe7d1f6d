"""Choosing a torch device, loudly, and describing the machine a run happened on.

:func:`select_device` never falls back silently: ``"auto"`` tries CUDA, then Apple MPS, then the
CPU and says in its :class:`DeviceReport` what it skipped and why; asking for a specific device
that is not there raises :class:`DeviceNotAvailableError` naming what does exist.

>>> device, report = select_device("auto")  # doctest: +SKIP
>>> print(report)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import operator
import os
import platform
import re
from dataclasses import dataclass, field
from typing import Any

import torch

from rlkit.errors import UserError

__all__ = [
    "DeviceNotAvailableError",
    "DeviceReport",
    "library_versions",
    "machine_info",
    "select_device",
    "set_threads",
]

VALID_FORMS = (
    "'auto', 'cpu', 'cuda', 'cuda:N' (N = 0, 1, ...), 'mps'; for training also 'ray', "
    "'ray://HOST:PORT' or 'ray:HOST:PORT' (a GPU in a Ray cluster, see rlkit.remote)"
)
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


class DeviceNotAvailableError(UserError, RuntimeError):
    """A device was requested explicitly but this machine does not have it.

    A :class:`~rlkit.errors.UserError` (the command line prints its message as one line) and a
    ``RuntimeError``, which is what torch raises for a missing device too.
    """


# --------------------------------------------------------------------------------------------
# probing the machine (every torch call goes through the module attribute, so tests can
# monkeypatch torch.cuda.* and torch.backends.mps.*)


def _cpu_model(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    """The CPU's marketing name from /proc/cpuinfo, else :func:`platform.processor`."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _usable_cores() -> int | None:
    """Cores this process may run on (affinity / cgroup cpusets), where the OS can tell."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _cuda_devices() -> list[dict[str, Any]]:
    if not torch.cuda.is_available():
        return []
    devices = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        devices.append(
            {
                "index": i,
                "name": str(props.name),
                "total_memory_gb": round(props.total_memory / 1024**3, 2),
                "capability": f"{props.major}.{props.minor}",
            }
        )
    return devices


def _cuda_missing_reason() -> str:
    if torch.version.cuda is None:
        return "torch built without CUDA"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"torch built with CUDA {torch.version.cuda} but CUDA_VISIBLE_DEVICES={visible!r}"
    return f"torch built with CUDA {torch.version.cuda} but no GPU or driver found"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _mps_missing_reason() -> str:
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_built():
        return "torch built without MPS"
    return "MPS built but not available (needs Apple silicon and macOS 12.3+)"


def _cuda_current_index() -> int:
    try:
        return int(torch.cuda.current_device())
    except Exception:
        return 0


# --------------------------------------------------------------------------------------------
# report


@dataclass
class DeviceReport:
    """What :func:`select_device` chose, why, and what the machine offers.

    :param requested: the request as normalised text (``"auto"``, ``"cuda:1"``, ...)
    :param selected: the chosen device, e.g. ``"cpu"`` or ``"cuda:0"``
    :param reason: one sentence explaining the choice (and any fallback)
    :param fell_back: ``True`` when ``"auto"`` could not use its first choice (CUDA)
    :param cpu_model: the CPU's name
    :param cpu_cores: logical cores (``os.cpu_count()``)
    :param cpu_cores_usable: cores this process may use (``os.sched_getaffinity``), if known
    :param torch_version: ``torch.__version__``
    :param torch_threads: intra-op threads (``torch.get_num_threads()``)
    :param torch_interop_threads: inter-op threads (``torch.get_num_interop_threads()``)
    :param cuda_available: ``torch.cuda.is_available()``
    :param cuda_devices: one dict per GPU: index, name, total_memory_gb, capability
    :param cuda_version: CUDA version torch was built with (``torch.version.cuda``), or ``None``
    :param mps_available: ``torch.backends.mps.is_available()``
    """

    requested: str
    selected: str
    reason: str
    fell_back: bool
    cpu_model: str
    cpu_cores: int | None
    cpu_cores_usable: int | None
    torch_version: str
    torch_threads: int
    torch_interop_threads: int
    cuda_available: bool
    cuda_devices: list[dict[str, Any]] = field(default_factory=list)
    cuda_version: str | None = None
    mps_available: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy of every field."""
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        cores = f"{self.cpu_cores} logical cores"
        if self.cpu_cores_usable is not None and self.cpu_cores_usable != self.cpu_cores:
            cores += f", {self.cpu_cores_usable} usable by this process"
        if self.cuda_devices:
            gpus = [
                f"cuda:{d['index']}: {d['name']}, {d['total_memory_gb']:g} GB, "
                f"compute capability {d['capability']}"
                for d in self.cuda_devices
            ]
        else:
            gpus = ["none"]
        rows = [
            ("device", f"{self.selected}   (requested: {self.requested})"),
            ("reason", self.reason),
            ("fell back", "yes" if self.fell_back else "no"),
            ("cpu", f"{self.cpu_model} ({cores})"),
            (
                "torch",
                f"{self.torch_version}, {self.torch_threads} intra-op / "
                f"{self.torch_interop_threads} inter-op threads",
            ),
            ("cuda build", self.cuda_version or "none"),
            ("cuda devices", gpus[0]),
            *(("", g) for g in gpus[1:]),
            ("mps", "available" if self.mps_available else "not available"),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _make_report(requested: str, selected: str, reason: str, fell_back: bool) -> DeviceReport:
    return DeviceReport(
        requested=requested,
        selected=selected,
        reason=reason,
        fell_back=fell_back,
        cpu_model=_cpu_model(),
        cpu_cores=os.cpu_count(),
        cpu_cores_usable=_usable_cores(),
        torch_version=str(torch.__version__),
        torch_threads=torch.get_num_threads(),
        torch_interop_threads=torch.get_num_interop_threads(),
        cuda_available=bool(torch.cuda.is_available()),
        cuda_devices=_cuda_devices(),
        cuda_version=torch.version.cuda,
        mps_available=_mps_available(),
    )


# --------------------------------------------------------------------------------------------
# selection


def _normalise_request(requested: str | torch.device) -> tuple[str, int | None]:
    if isinstance(requested, torch.device):
        kind, index = requested.type, requested.index
        if kind not in ("cpu", "cuda", "mps"):
            raise ValueError(f"unsupported device type {kind!r}; valid forms: {VALID_FORMS}")
        return kind, index
    if not isinstance(requested, str):
        raise TypeError(
            f"device must be a string or torch.device, got {type(requested).__name__}; "
            f"valid forms: {VALID_FORMS}"
        )
    match = _DEVICE_RE.match(requested.strip().lower())
    if match is None and re.match(r"^ray($|:)", requested.strip().lower()):
        raise ValueError(
            f"{requested!r} is a GPU in a Ray cluster, which only training can use: "
            f"rlkit.train(config, device={requested!r}) or rlkit.remote.train(...)"
        )
    if match is None:
        raise ValueError(f"unrecognised device {requested!r}; valid forms: {VALID_FORMS}")
    kind, index = match.group(1), match.group(2)
    if index is not None and kind != "cuda":
        raise ValueError(
            f"unrecognised device {requested!r}: only CUDA takes an index; valid forms: "
            f"{VALID_FORMS}"
        )
    return kind, None if index is None else int(index)


def _valid_choices(cuda: list[dict[str, Any]], mps: bool) -> str:
    choices = ["cpu"]
    if cuda:
        choices += ["cuda", *(f"cuda:{d['index']}" for d in cuda)]
    if mps:
        choices.append("mps")
    return ", ".join(choices)


def _describe_cuda(cuda: list[dict[str, Any]]) -> str:
    if not cuda:
        return f"no CUDA device ({_cuda_missing_reason()})"
    plural = "" if len(cuda) == 1 else "s"
    names = ", ".join(f"cuda:{d['index']}: {d['name']}" for d in cuda)
    return f"{len(cuda)} CUDA device{plural} ({names})"


def select_device(requested: str | torch.device = "auto") -> tuple[torch.device, DeviceReport]:
    """Resolve a device request against this machine.

    ``"auto"`` picks the first of CUDA, MPS and CPU that is usable and reports anything it had to
    skip. An explicit request is honoured exactly or refused -- never swapped for another device.

    :param requested: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or a
        :class:`torch.device` of type cpu/cuda/mps
    :return: ``(device, report)``; print the report in a notebook to see what was chosen and why
    :raises ValueError: for a malformed request such as ``"gpu"`` or ``"cuda:x"``
    :raises DeviceNotAvailableError: when an explicitly requested device does not exist here
    """
    kind, index = _normalise_request(requested)
    label = kind if index is None else f"{kind}:{index}"
    cuda = _cuda_devices()
    mps = _mps_available()

    if kind == "auto":
        if cuda:
            i = _cuda_current_index()
            name = cuda[i]["name"] if i < len(cuda) else "?"
            reason = f"auto: using cuda:{i} ({name}), the first choice of cuda -> mps -> cpu"
            return torch.device("cuda", i), _make_report(label, f"cuda:{i}", reason, False)
        if mps:
            reason = f"auto: no CUDA device visible ({_cuda_missing_reason()}); using mps"
            return torch.device("mps"), _make_report(label, "mps", reason, True)
        reason = (
            f"auto: no CUDA device visible ({_cuda_missing_reason()}) and no MPS "
            f"({_mps_missing_reason()}); using cpu"
        )
        return torch.device("cpu"), _make_report(label, "cpu", reason, True)

    if kind == "cpu":
        return torch.device("cpu"), _make_report(label, "cpu", "cpu requested explicitly", False)

    valid = _valid_choices(cuda, mps)
    if kind == "mps":
        if not mps:
            raise DeviceNotAvailableError(
                f"requested mps but MPS is not available on this machine "
                f"({_mps_missing_reason()}); valid: {valid}"
            )
        return torch.device("mps"), _make_report(label, "mps", "mps requested explicitly", False)

    # kind == "cuda"
    if not cuda or (index is not None and index >= len(cuda)):
        raise DeviceNotAvailableError(
            f"requested {label} but this machine has {_describe_cuda(cuda)}; valid: {valid}"
        )
    i = _cuda_current_index() if index is None else index
    reason = f"{label} requested explicitly ({cuda[i]['name']})"
    return torch.device("cuda", i), _make_report(label, f"cuda:{i}", reason, False)


# --------------------------------------------------------------------------------------------
# machine description and threads


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries a result depends on, ``None`` where not installed.

    Read from package metadata, so nothing (ViZDoom in particular) is imported.

    :return: ``{"python", "rlkit", "torch", "numpy", "gymnasium", "vizdoom"}`` -> version
    """
    return {
        "python": platform.python_version(),
        "rlkit": _dist_version("rlkit"),
        "torch": str(torch.__version__),
        "numpy": _dist_version("numpy"),
        "gymnasium": _dist_version("gymnasium"),
        "vizdoom": _dist_version("vizdoom"),
    }


def machine_info() -> dict[str, Any]:
    """A JSON-able description of this machine for benchmark records.

    The host name is deliberately left out so that records can be shared.

    :return: dict with ``cpu_model``, ``cpu_cores``, ``cpu_cores_usable``, ``platform``,
        ``machine``, ``python``, library versions (``torch``, ``numpy``, ``gymnasium``,
        ``vizdoom``, ``rlkit``), ``torch_threads``, ``cuda_version``, ``cuda_devices`` and
        ``mps_available``
    """
    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": _usable_cores(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    info.update(library_versions())
    info.update(
        torch_threads=torch.get_num_threads(),
        cuda_version=torch.version.cuda,
        cuda_devices=_cuda_devices(),
        mps_available=_mps_available(),
    )
    return info


def set_threads(n: int) -> int:
    """Set torch's intra-op thread count (``torch.set_num_threads``).

    :param n: number of threads, at least 1
    :return: the previous thread count, so it can be restored
    :raises ValueError: if ``n`` is not an integer >= 1
    """
    try:
        count = operator.index(n)
    except TypeError:
        count = 0
    if isinstance(n, bool) or count < 1:
        raise ValueError(f"thread count must be an integer >= 1, got {n!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    return previous
