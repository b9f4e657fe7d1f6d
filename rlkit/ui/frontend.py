"""Where is this code running: a notebook open in a browser, or papermill, nbval, a script, CI?

The dashboard's ``mode="auto"`` asks :func:`auto_mode`: live widgets only make sense when an
interactive frontend sent the cell being executed; under papermill or in a terminal they would
be invisible, so text lines are used instead.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

MODES = ("auto", "widgets", "text", "bar", "off")
ENV_VAR = "RLKIT_DASHBOARD"
"""Environment variable that overrides ``mode="auto"`` (e.g. ``RLKIT_DASHBOARD=text``)."""


# -- --------------------------------------------------------------------


def truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


def kernel_shell() -> Any:
    """The IPython shell if this process is a Jupyter kernel, else ``None``."""
    # Only look at IPython if something already imported it: a plain script never pays for it.
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        shell = ipython.get_ipython()
    except Exception:
        return None
    # Terminal IPython has no kernel attribute and cannot render widgets.
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return shell


def execute_header(shell: Any) -> dict[str, Any]:
    """Header of the execute request that is running now (empty if unknown)."""
    parent: Any = None
    get_parent = getattr(shell.kernel, "get_parent", None)
    if callable(get_parent):
        try:
            parent = get_parent("shell")
        except TypeError:  # older ipykernel: no channel argument
            parent = get_parent()
    if not parent:
        parent = getattr(shell, "parent_header", None)
    header = parent.get("header", {}) if isinstance(parent, dict) else {}
    return header if isinstance(header, dict) else {}


def sent_by_jupyter_client(header: dict[str, Any]) -> bool:
    """Whether the running cell was sent by the Python ``jupyter_client`` library.

    papermill, nbclient, nbconvert, nbval, jupyter console and qtconsole all talk to the kernel
    through ``jupyter_client``, whose message ids read ``<session>_<pid>_<n>`` (``<session>_<n>``
    in older releases). Browser frontends (JupyterLab, Notebook, VS Code) use plain UUIDs. None
    of the former renders ipywidgets live, and papermill sets no environment variable in the
    kernel, so this is the signal that tells a headless run from an interactive one.
    """
    msg_id = str(header.get("msg_id") or "")
    session = str(header.get("session") or "")
    if not msg_id or not session:
        return False
    return re.fullmatch(re.escape(session) + r"_\d+(?:_\d+)?", msg_id) is not None


def frontend_check() -> tuple[bool, str]:
    """Whether a widget-rendering frontend is (very likely) attached, and why."""
    if truthy(os.environ.get("CI")):
        return False, "CI is set"
    shell = kernel_shell()
    if shell is None:
        return False, "not running in a Jupyter kernel"
    try:
        header = execute_header(shell)
    except Exception:
        header = {}
    if sent_by_jupyter_client(header):
        return False, (
            "the cell was sent by jupyter_client (papermill, nbclient, nbval or a console), "
            "which does not render widgets"
        )
    user_ns = getattr(shell, "user_ns", None) or {}
    if "PAPERMILL_INPUT_PATH" in user_ns or "PAPERMILL_OUTPUT_PATH" in user_ns:
        return False, "papermill injected its parameters"
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False, "ipywidgets is not installed"
    return True, "Jupyter kernel with an interactive frontend"


def auto_mode() -> tuple[str, str]:
    forced = os.environ.get(ENV_VAR, "").strip().lower()
    note = ""
    if forced:
        if forced in MODES and forced != "auto":
            return forced, f"{ENV_VAR}={forced}"
        note = f" ({ENV_VAR}={forced!r} ignored: not one of {', '.join(MODES)})"
    ok, reason = frontend_check()
    return ("widgets" if ok else "text"), reason + note


def check_mode(mode: Any) -> None:
    """Raise ``ValueError`` naming the valid modes unless ``mode`` is one of them."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")


def resolve_mode(mode: str = "auto") -> str:
    """The display mode a :class:`Dashboard` with this ``mode`` would use here and now.

    :param mode: one of :data:`MODES`.
    :return: ``"widgets"``, ``"text"``, ``"bar"`` or ``"off"``.
    """
    check_mode(mode)
    return auto_mode()[0] if mode == "auto" else mode
