"""Atomic file writes: a crash leaves either the old file or the complete new one, never half.

Data goes to a temporary sibling ``.<name>.<pid>.<8 hex>.tmp`` (same folder, so the rename
stays on one file system), is flushed and fsync-ed, then renamed over the target with
:func:`os.replace`; the folder is fsync-ed so the rename itself survives a power cut.
Checkpoints, histories and benchmark JSON all go through here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_TEMP = ".{name}.{pid}.{tag}.tmp"  # the temporary sibling of a file being written
_TEMP_RE = r"\.{name}\.(\d+)\.[0-9a-f]{{8}}\.tmp"  # the names _TEMP makes, the pid captured


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable on POSIX file systems (a no-op where directories can't be opened)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Write ``path`` by calling ``write(file)`` on a temporary sibling, then renaming it.

    :param path: destination; its folder is created if missing.
    :param write: writes the content to the binary file object it is given.
    :return: the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(_TEMP.format(name=path.name, pid=os.getpid(), tag=secrets.token_hex(4)))
    # 0o666 filtered by the umask, like an ordinary open(); mkstemp would force 0o600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def write_bytes(path: str | os.PathLike, data: bytes | str) -> Path:
    """Atomically write bytes (or text, encoded as UTF-8)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return atomic_write(path, lambda f: f.write(raw))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (dataclasses, numpy values and tuples allowed).

    The text is built before the file is opened, so an unserialisable object leaves no file.
    """
    text = json.dumps(obj, indent=2, default=_json_default) + "\n"
    return write_bytes(path, text)


def _json_default(o: Any) -> Any:
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, tuple | set | frozenset):
        return list(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def remove_stale_temp_files(*paths: str | os.PathLike) -> list[Path]:
    """Delete the temporary siblings that a killed :func:`atomic_write` left for ``paths``.

    Only files named like this module's temporaries for those paths whose writer (the pid in
    the name) is no longer running are removed, so a write in progress elsewhere keeps its
    file; the paths themselves are never touched.

    :return: the files removed.
    """
    removed = []
    for path in map(Path, paths):
        pattern = re.compile(_TEMP_RE.format(name=re.escape(path.name)))
        if not path.parent.is_dir():
            continue
        for candidate in sorted(path.parent.iterdir()):
            found = pattern.fullmatch(candidate.name)
            if found and candidate.is_file() and not _alive(int(found.group(1))):
                with contextlib.suppress(FileNotFoundError):
                    candidate.unlink()
                    removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (ours counts: it may be writing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's, or a number no pid can be: leave the file alone
    return True
