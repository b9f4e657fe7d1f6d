"""Reaching a Ray cluster safely: addresses, tokens, the pre-flight checks, the connection.

A Ray cluster runs whatever code its clients send, so a head node that does not demand a token
is remote code execution for anyone who can reach its port (CVE-2025-62593). Before
``ray.init`` is called, :func:`preflight` asks the cluster itself, over gRPC, two questions:
does it answer a request that carries *no* token (then it is open, and rlkit refuses unless the
user opted out), and does it accept *our* token. Both answers take milliseconds; ``ray.init``
with a wrong token only fails after its own ~20-30 s of retries.

Addresses (the part after ``ray`` in a device string, see :func:`parse_device`):

- ``None``: ``$RAY_ADDRESS`` if set, else an embedded local cluster started in this process;
- ``"ray://HOST:PORT"``: Ray Client, for a laptop outside the cluster (port 10001 by default);
- ``"HOST:PORT"``: the head's GCS (port 6379 by default), for a driver on a cluster node.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlkit.errors import UserError

MIN_RAY = (2, 52)  # the first Ray with token authentication (the fix for CVE-2025-62593)
RAY_DEVICE_FORMS = (
    "'ray' (embedded or $RAY_ADDRESS), 'ray://HOST:PORT' (Ray Client), 'ray:HOST:PORT'"
)
_ADDR_RE = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


class RemoteError(UserError, RuntimeError):
    """Remote training could not start or did not finish; the message says why and what to do."""


# ------------------------------------------------------------------------------------------
# device strings and addresses


def is_ray_device(device: Any) -> bool:
    """Whether a ``device=`` value asks for a Ray cluster (``"ray"``, ``"ray://…"``, ``ray:…``)."""
    return isinstance(device, str) and re.match(r"^ray($|:)", device.strip().lower()) is not None


def parse_device(device: str) -> str | None:
    """The cluster address in a Ray device string: ``"ray"`` -> ``None`` (the default cluster),
    ``"ray://h:10001"`` -> ``"ray://h:10001"``, ``"ray:h:6379"`` -> ``"h:6379"``.

    :raises ValueError: for anything else, naming the valid forms.
    """
    text = device.strip()
    if text.lower() == "ray":
        return None
    if text.lower().startswith("ray://"):
        address = text
    elif text.lower().startswith("ray:"):
        address = text[4:]
    else:
        raise ValueError(f"unrecognised Ray device {device!r}; valid forms: {RAY_DEVICE_FORMS}")
    split_address(address)  # validates
    return address


def split_address(address: str) -> tuple[str, str, int]:
    """``"ray://h:1"`` -> ``("client", "h", 1)``; ``"h:6379"`` -> ``("gcs", "h", 6379)``.

    :raises ValueError: when the address is not ``[ray://]HOST:PORT`` with a port in 1-65535.
    """
    kind, rest = (
        ("client", address[6:]) if address.lower().startswith("ray://") else ("gcs", address)
    )
    match = _ADDR_RE.match(rest.strip())
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ValueError(
            f"unrecognised Ray cluster address {address!r}; valid: 'ray://HOST:PORT' (Ray Client, "
            "port 10001 by default) or 'HOST:PORT' (the head's GCS, port 6379 by default)"
        )
    return kind, match["host"].strip("[]"), int(match["port"])


def default_address() -> str | None:
    """``$RAY_ADDRESS`` (Ray's own convention), or ``None`` for an embedded local cluster."""
    value = os.environ.get("RAY_ADDRESS", "").strip()
    return None if value in ("", "local", "auto") else value


# ------------------------------------------------------------------------------------------
# Ray itself


def ray_version() -> tuple[int, ...] | None:
    try:
        text = importlib.metadata.version("ray")
    except importlib.metadata.PackageNotFoundError:
        return None
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def require_ray() -> Any:
    """Import Ray, or say in one sentence how to install a version with token authentication."""
    version = ray_version()
    if version is None:
        raise RemoteError(
            "remote training needs Ray, which is not installed; install it with "
            "pip install 'rlkit[remote]' (Ray >= 2.52, for token authentication)"
        )
    if version[:2] < MIN_RAY:
        have = ".".join(map(str, version))
        raise RemoteError(
            f"remote training needs Ray >= 2.52 (token authentication, the fix for "
            f"CVE-2025-62593); this machine has Ray {have}: pip install 'ray[client]>=2.52'"
        )
    import ray

    return ray


# ------------------------------------------------------------------------------------------
# tokens


@dataclass(frozen=True)
class Token:
    value: str
    source: str  # where it came from, for messages (never the token itself)


def find_token(token: str | None = None) -> Token | None:
    """The token to present: ``token=``, else ``$RAY_AUTH_TOKEN``, else the file named by
    ``$RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token`` (Ray's own search order)."""
    if token:
        return Token(token.strip(), "the token= argument")
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return Token(os.environ["RAY_AUTH_TOKEN"].strip(), "$RAY_AUTH_TOKEN")
    candidates = []
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        candidates.append((Path(os.environ["RAY_AUTH_TOKEN_PATH"]), "$RAY_AUTH_TOKEN_PATH"))
    candidates.append((Path.home() / ".ray" / "auth_token", "~/.ray/auth_token"))
    for path, source in candidates:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text:
            return Token(text, f"{source} ({path})")
    return None


def first_token() -> Token:
    """The token of this user's first Ray cluster: ``~/.ray/auth_token``, written now (0600,
    as Ray's own ``ray.init`` would) unless another process has just written it.

    Left to Ray, two clusters started at the same moment on a machine that never ran Ray (two
    notebooks side by side) would each write a token of their own to the same file, and one
    cluster's workers could read the other's."""
    import secrets

    path = Path.home() / ".ray" / "auth_token"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # written by another process since find_token() looked
        for _ in range(50):  # its writer may still be between open() and write()
            text = path.read_text().strip()
            if text:
                return Token(text, f"~/.ray/auth_token ({path})")
            time.sleep(0.01)
        raise RemoteError(f"{path} is empty: delete it, or put a token in it") from None
    value = secrets.token_hex(32)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return Token(value, f"~/.ray/auth_token ({path}, made by rlkit)")


def use_token(token: Token | None) -> None:
    """Make this process (and the Ray workers it starts) present ``token``."""
    os.environ["RAY_AUTH_MODE"] = "token"
    if token is not None:
        os.environ["RAY_AUTH_TOKEN"] = token.value
    # Ray reads both once, when it is imported, and caches them; ask it to read them again (as
    # Ray's own ray.init does when it turns token auth on by default).
    try:
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError):
        pass


# ------------------------------------------------------------------------------------------
# pre-flight: reachable? open to anyone? our token accepted?


def _call(kind: str, target: str, token: str | None, timeout: float) -> tuple[bool, str]:
    """One cheap authenticated-or-not gRPC call; ``(accepted, detail)``."""
    import grpc

    metadata = None if token is None else [("authorization", f"Bearer {token}")]
    with grpc.insecure_channel(target) as channel:
        try:
            if kind == "client":
                from ray.core.generated import ray_client_pb2 as pb
                from ray.core.generated import ray_client_pb2_grpc as rpc

                request = pb.ClusterInfoRequest(type=pb.ClusterInfoType.PING)
                rpc.RayletDriverStub(channel).ClusterInfo(
                    request, timeout=timeout, metadata=metadata
                )
            else:
                from ray.core.generated import gcs_service_pb2 as pb
                from ray.core.generated import gcs_service_pb2_grpc as rpc

                rpc.NodeInfoGcsServiceStub(channel).GetClusterId(
                    pb.GetClusterIdRequest(), timeout=timeout, metadata=metadata
                )
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAUTHENTICATED:
                return False, "unauthenticated"
            raise RemoteError(
                f"the Ray cluster at {target} did not answer rlkit's check "
                f"({e.code().name}: {e.details()}); is it a Ray head node of Ray >= 2.52?"
            ) from None
    return True, "ok"


def preflight(
    address: str,
    token: Token | None,
    allow_unauthenticated: bool = False,
    timeout_s: float = 10.0,
) -> str:
    """Check a cluster before connecting: reachable, demands a token, accepts ours.

    :return: ``"token"`` (it demands a token and accepted ours) or ``"none"`` (it demands none
        and the user allowed that).
    :raises RemoteError: unreachable; open to anyone (unless ``allow_unauthenticated``); no
        token here; token refused.
    """
    kind, host, port = split_address(address)
    wait = min(timeout_s, 10.0)
    try:
        socket.create_connection((host, port), timeout=wait).close()
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise RemoteError(
            f"cannot reach the Ray cluster at {address} ({why}); is `ray start --head` running "
            f"there, and can this machine reach port {port} (VPN, SSH tunnel, firewall)?"
        ) from None
    try:
        import grpc  # noqa: F401
    except ImportError:
        raise RemoteError(
            "checking a Ray cluster's authentication needs grpcio: pip install 'ray[client]'"
        ) from None
    target = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    open_to_all, _ = _call(kind, target, None, wait)
    if open_to_all:
        if allow_unauthenticated:
            return "none"
        raise RemoteError(
            f"the Ray cluster at {address} accepts clients without a token, so anyone who can "
            "reach it can run code there; restart it with RAY_AUTH_MODE=token (see the README's "
            "remote GPU set-up), or pass allow_unauthenticated=True on a network you trust"
        )
    if token is None:
        raise RemoteError(
            f"the Ray cluster at {address} demands a token and none was found here; copy the "
            "output of `ray get-auth-token` on the head node into $RAY_AUTH_TOKEN (or "
            "~/.ray/auth_token) or pass token=..."
        )
    accepted, _ = _call(kind, target, token.value, wait)
    if not accepted:
        raise RemoteError(
            f"the Ray cluster at {address} refused the token from {token.source}; use the one "
            "`ray get-auth-token` prints on the head node"
        )
    return "token"


# ------------------------------------------------------------------------------------------
# connecting


@dataclass(frozen=True)
class Connection:
    """What :func:`connect` joined: the address (``None`` = embedded), how, and its auth."""

    address: str | None
    kind: str  # "embedded", "client" or "gcs"
    auth: str  # "token" or "none"
    token_source: str | None
    startup_s: float


_current: Connection | None = None


# Ray's raylet aborts when its node's agent has not written its port file 15 s after start (a
# fixed wait in Ray 2.5x/2.60's C++ code, no setting changes it); the agent is a Python process
# whose imports took longer on a loaded 2-core machine. The node that aborted is gone, so a new
# one is started: a few tries, each a whole fresh start.
EMBEDDED_START_TRIES = 3


def _start_embedded(ray: Any, num_cpus: int, object_store_mb: int) -> None:
    for attempt in range(1, EMBEDDED_START_TRIES + 1):
        try:
            ray.init(
                address="local",  # a new cluster; None would join one `ray start` left running
                num_cpus=num_cpus,
                include_dashboard=False,
                object_store_memory=object_store_mb * 1024**2,
                log_to_driver=False,
                configure_logging=False,
            )
            return
        except Exception as e:
            if "timed out during startup" not in str(e) or attempt == EMBEDDED_START_TRIES:
                raise
            ray.shutdown()


def connect(
    address: str | None = None,
    token: str | None = None,
    allow_unauthenticated: bool = False,
    timeout_s: float = 60.0,
    num_cpus: int | None = None,
    object_store_mb: int = 200,
    ship_code: bool = True,
) -> Connection:
    """Connect this process to a Ray cluster, checked (see :func:`preflight`), or reuse the
    connection already made to the same address.

    :param address: see the module docstring; ``None`` -> ``$RAY_ADDRESS`` or embedded.
    :param num_cpus, object_store_mb: sizes of an embedded cluster (dashboard always off).
    :param ship_code: for a cluster given by address, send this process's rlkit package with
        the job (Ray's ``runtime_env`` ``py_modules``), so the nodes run the same rlkit code;
        they still need its dependencies (torch, vizdoom) installed.
    """
    import time

    global _current
    ray = require_ray()
    address = address if address is not None else default_address()
    if _current is not None and ray.is_initialized() and _current.address == address:
        return _current
    if ray.is_initialized():
        ray.shutdown()
    found = find_token(token)
    t0 = time.perf_counter()
    if address is None:
        mode = os.environ.get("RAY_AUTH_MODE", "").strip().lower()
        if mode == "disabled" and not allow_unauthenticated:
            raise RemoteError(
                "RAY_AUTH_MODE=disabled would start a Ray cluster that accepts anyone's code; "
                "unset it, or pass allow_unauthenticated=True"
            )
        auth = "none" if mode == "disabled" else "token"
        if auth == "token":
            found = found or first_token()
            use_token(found)
        _start_embedded(ray, num_cpus or os.cpu_count() or 1, object_store_mb)
        source = found.source if found else "none"
        _current = Connection(None, "embedded", auth, source, time.perf_counter() - t0)
        return _current
    kind, _, _ = split_address(address)
    auth = preflight(address, found, allow_unauthenticated, timeout_s)
    if auth == "token":
        use_token(found)
    runtime_env = None
    if ship_code:
        import rlkit

        package = str(Path(rlkit.__file__).parent)
        runtime_env = {"py_modules": [package], "excludes": ["__pycache__", "*.pyc"]}
    try:
        ray.init(
            address=address,
            log_to_driver=False,
            configure_logging=False,
            runtime_env=runtime_env,
        )
    except ConnectionError as e:
        raise RemoteError(f"could not join the Ray cluster at {address}: {e}") from None
    except RuntimeError as e:  # Ray Client's version checks raise RuntimeError
        raise RemoteError(f"the Ray cluster at {address} refused this client: {e}") from None
    source = found.source if found else None
    _current = Connection(address, kind, auth, source, time.perf_counter() - t0)
    return _current


def disconnect() -> None:
    """Leave the cluster (and stop an embedded one)."""
    global _current
    ray = require_ray()
    if ray.is_initialized():
        ray.shutdown()
    _current = None


def resources() -> dict[str, float]:
    """The cluster's total logical resources (``CPU``, ``GPU``, ``memory``…)."""
    import ray

    return {k: v for k, v in ray.cluster_resources().items() if not k.startswith("node:")}


def describe_resources(res: dict[str, float]) -> str:
    keep = [(k, v) for k, v in sorted(res.items()) if k in ("CPU", "GPU") or "gpu" in k.lower()]
    return ", ".join(f"{v:g} {k}" for k, v in keep) or "nothing"
