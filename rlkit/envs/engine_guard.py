"""ViZDoom engines that die with their Python process.

``DoomGame.init()`` starts the engine as a child process. When that Python process is killed
outright (SIGKILL, the OOM killer, a crashed Jupyter kernel) the engine is not told, ignores
SIGTERM, and lingers, holding its memory. Linux can deliver a signal to a process when its
parent dies (``prctl(PR_SET_PDEATHSIG)``), but the setting must be made by the child itself,
and a fork clears it. So the engine is started through a small launcher script that sets it
(SIGKILL) and then ``exec``s the real engine, which keeps the setting: ViZDoom's
``set_vizdoom_path`` points at the launcher (:func:`engine_path`).

Only on Linux; elsewhere, or if the launcher cannot be written, the engine starts as before.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile

_LAUNCHER = """#!{python} -S
# Written by rlkit: start the ViZDoom engine so that it dies with the process that started it.
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() == 1:  # the starting process died before the line above took effect
    sys.exit(1)
os.execv({engine!r}, [{engine!r}] + sys.argv[1:])
"""

_cached: dict[str, str | None] = {}


def engine_path(engine: str) -> str | None:
    """A launcher for the engine binary ``engine`` that ties it to its parent's life, written
    once per Python and engine in the temp folder; ``None`` where that cannot be done (not
    Linux, a Python path too long for a ``#!`` line, an unwritable temp folder)."""
    if engine in _cached:
        return _cached[engine]
    path = None
    text = _LAUNCHER.format(python=sys.executable, engine=engine)
    # Linux reads at most 127 bytes of a #! line (the rest would be cut silently).
    if sys.platform.startswith("linux") and len(sys.executable) < 110 and os.path.isfile(engine):
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        target = os.path.join(tempfile.gettempdir(), f"rlkit-vizdoom-{os.getuid()}-{digest}")
        try:
            if not _is_launcher(target, text):
                tmp = f"{target}.{os.getpid()}.tmp"
                with open(tmp, "w") as f:
                    f.write(text)
                os.chmod(tmp, 0o755)
                os.replace(tmp, target)  # atomic: a concurrent process never runs half a file
            path = target
        except OSError:
            path = None
    _cached[engine] = path
    return path


def _is_launcher(path: str, text: str) -> bool:
    try:
        st = os.stat(path)
        with open(path) as f:
            same = f.read() == text
    except OSError:
        return False
    # Ours, unchanged, and not writable by others: it runs with our rights.
    return same and st.st_uid == os.getuid() and not st.st_mode & 0o022 and st.st_mode & 0o100
