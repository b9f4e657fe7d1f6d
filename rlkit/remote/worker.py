"""The process that trains on the cluster: a threaded Ray actor around the engine (a Trainer).

It lives in the package (not in a notebook) so Ray pickles it by reference and a worker imports
the same code. One thread runs :meth:`TrainingWorker.run`; the client's polls
(:meth:`TrainingWorker.drain`) and stop requests run on others, so training never waits for the
network: the relay callback only appends to a list under a lock.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rlkit.records import Progress
from rlkit.remote.node import node_facts
from rlkit.run_folder import RUN_FILES
from rlkit.training import Callback


class _Relay(Callback):
    """Queues every record (with the time it was made) and the files of every checkpoint."""

    def __init__(self, worker: TrainingWorker):
        self.worker = worker

    def _put(self, progress: Progress) -> None:
        with self.worker.lock:
            self.worker.records.append((time.time(), progress))

    on_start = on_log = on_end = _put

    def on_eval(self, progress: Progress) -> bool:
        self._put(progress)
        return self.worker.stop_requested

    def on_checkpoint(self, path: Path) -> None:
        files = {name: (path.parent / name).read_bytes() for name in RUN_FILES}  # written now
        with self.worker.lock:
            self.worker.files = files


class TrainingWorker:
    """Runs one training on a Ray node and hands its records back on request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[tuple[float, Progress]] = []
        self.files: dict[str, bytes] | None = None
        self.stop_requested = False
        self.interrupted: str | None = None
        self.trainer: Any = None
        self.run_dir = Path(tempfile.mkdtemp(prefix="rlkit-remote-"))

    def facts(self) -> dict[str, Any]:
        """:func:`rlkit.remote.node.node_facts` of this very process."""
        return node_facts()

    def run(
        self,
        config: Any,
        device: str,
        resume: dict[str, bytes] | None = None,
        save_buffer: bool = False,
        callbacks: tuple[Callback, ...] = (),
    ) -> Any:
        """Train and return the portable :class:`~rlkit.records.TrainResult` (CPU weights).

        :param resume: the files of a checkpoint to continue from (``checkpoint.pt``).
        """
        from rlkit.algorithms import agent_class
        from rlkit.run_folder import CHECKPOINT
        from rlkit.training import Trainer

        resume_from = None
        if resume:
            resume_from = self.run_dir / "resume.pt"
            resume_from.write_bytes(resume[CHECKPOINT])
        # The engine itself, not train(): a stop comes through interrupt(), not a signal.
        self.trainer = Trainer(
            config,
            agent_class(config),
            device,
            [*callbacks, _Relay(self)],
            self.run_dir,
            resume_from,
            save_buffer,
        )
        if self.interrupted is not None:  # asked before the trainer existed
            self.trainer.request_stop(self.interrupted)
        return self.trainer.run().portable()

    def drain(self) -> tuple[list[tuple[float, Progress]], dict[str, bytes] | None]:
        """The records made since the last call, and the newest checkpoint's files if new."""
        with self.lock:
            records, files = self.records, self.files
            self.records, self.files = [], None
        return records, files

    def stop(self) -> None:
        """Stop at the next evaluation (a client-side callback asked to)."""
        self.stop_requested = True

    def interrupt(self, reason: str) -> None:
        """Stop now: finish the current iteration, write the checkpoint, end (the client was
        interrupted)."""
        self.interrupted = reason
        if self.trainer is not None:
            self.trainer.request_stop(reason)

    def cleanup(self) -> None:
        shutil.rmtree(self.run_dir, ignore_errors=True)
