"""A run folder: the files a training run writes, who may write them, and when it may start.

Every run folder holds the same files (:data:`CHECKPOINT`, :data:`HISTORY`, :data:`EPISODES`,
:data:`CONFIG`), each written atomically and stamped with the same env step. Two rules keep a
trained run whole whatever a person does:

- **One writer.** A live run holds an OS file lock on :data:`LOCK` in its folder (``flock``:
  the kernel drops it when the process ends, however it ends, so a killed run never leaves it
  held). A second run into the same folder — a cell run in two kernels, a notebook and a
  terminal — is refused with one sentence naming the process that holds it.
- **No accidental overwrite.** A fresh run into a folder that already holds a checkpoint is
  refused with one sentence offering the two intents: resume it, or replace it on purpose
  (``--resume`` / ``--overwrite`` on the command line, ``resume_from=`` / ``overwrite=True``
  in :func:`rlkit.train`).

::

    with RunFolder.open("runs/x", resume=False, overwrite=False) as folder:
        ...  # write folder.checkpoint, folder.history, ...
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rlkit.errors import UserError

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "EPISODES",
    "HISTORY",
    "LOCK",
    "RUN_FILES",
    "RunFolder",
    "RunFolderBusy",
    "RunFolderExists",
]

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"
EPISODES = "episodes.csv"
CONFIG = "config.json"
LOCK = ".rlkit-run.lock"
RUN_FILES = (CHECKPOINT, HISTORY, EPISODES, CONFIG)
"""What a run folder holds (and what a remote run sends back), in the order they are read."""


class RunFolderBusy(UserError):
    """Another live process is writing this run folder."""


class RunFolderExists(UserError):
    """A fresh run was pointed at a folder that already holds a trained run."""


def _holder(lock_path: Path) -> str:
    """Who holds the lock, as written in the lock file by its holder."""
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    pid = info.get("pid")
    what = info.get("command")
    if pid is None:
        return "another process"
    return f"process {pid}" + (f" ({what})" if what else "")


class RunFolder:
    """An open run folder, locked for this process until :meth:`close`.

    Use :meth:`open`; the paths of its files are attributes (``folder.checkpoint`` …).
    """

    def __init__(self, path: Path, fd: int | None):
        self.path = path
        self._fd = fd
        self.checkpoint = path / CHECKPOINT
        self.history = path / HISTORY
        self.episodes = path / EPISODES
        self.config = path / CONFIG

    @classmethod
    def open(
        cls, path: str | os.PathLike, *, resume: bool = False, overwrite: bool = False
    ) -> RunFolder:
        """Create (if needed) and lock ``path`` for a run.

        :param resume: the run continues the folder's checkpoint.
        :param overwrite: the run replaces what the folder holds, on purpose.
        :raises RunFolderBusy: another live process holds the folder.
        :raises RunFolderExists: the folder holds a checkpoint and neither ``resume`` nor
            ``overwrite`` was asked for.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        fd = cls._lock(path)
        folder = cls(path, fd)
        try:
            if folder.checkpoint.exists() and not (resume or overwrite):
                raise RunFolderExists(
                    f"{path} already holds a trained run ({CHECKPOINT}); continue it with "
                    "--resume (Python: resume_from=…) or replace it with --overwrite "
                    "(Python: overwrite=True)"
                )
        except BaseException:
            folder.close()
            raise
        return folder

    @staticmethod
    def _lock(path: Path) -> int | None:
        """Take the folder's lock, or say who has it. ``None`` where there is no ``flock``."""
        try:
            import fcntl
        except ImportError:  # Windows: one writer is then the user's to keep
            return None
        lock_path = path / LOCK
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunFolderBusy(
                f"{path} is being written by {_holder(lock_path)}; wait for it to end, stop "
                "it, or train into another folder"
            ) from None
        import sys

        note = json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv)[:200]})
        os.ftruncate(fd, 0)
        os.write(fd, note.encode())
        return fd

    def write_config(self, config: Any, **more: Any) -> Path:
        """Write :data:`CONFIG` (atomically): the run's config, so ``--resume`` needs no other
        argument."""
        from rlkit.atomic import write_json

        return write_json(self.config, {**more, "algo": config.algo, "config": config.to_dict()})

    def close(self) -> None:
        """Release the lock (the lock file stays: removing it would race a new holder)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
