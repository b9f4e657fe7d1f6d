"""The engine: :class:`Trainer` runs one agent on one collector, with its clocks, schedules,
checkpoints and callbacks (``rlkit.train``, in :mod:`rlkit.entry`, builds and runs it).

The Trainer owns everything that is not acting or learning: the device and thread settings,
the collector (:mod:`rlkit.collectors`: lock-step envs, the free-running pool or Ray rollout
workers, as the config asks), the training clock (stopped during evaluations and checkpoints),
the log / eval / checkpoint schedules, the episode records, resuming, and the callbacks. An
algorithm is an :class:`rlkit.algorithms.Agent`: each ``iterate`` collects through
:meth:`Trainer.collect` with its actor and learns; it never asks which backend stepped the envs.

Callbacks receive :class:`rlkit.records.Progress` records (plain data, so a remote run can
stream them). A callback that needs the live network (:class:`rlkit.callbacks.KeepBest`) gets
the agent once through :meth:`Callback.bind`, which only ever runs in the process that trains.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.errors import UserError, os_error_message
from rlkit.evaluation import evaluate, greedy_policy
from rlkit.records import (
    TIME_PREFIX,
    EpisodeRow,
    EvalRow,
    History,
    PhaseTimer,
    Progress,
    TrainResult,
    next_multiple,
)


class RunFolderError(UserError, OSError):
    """A checkpoint could not be written to the run folder (full disk, lost permissions…);
    training stopped there and the folder's previous checkpoint is untouched."""


BUFFER_CHECKPOINT_S = 60.0
"""Fewest training seconds between timed checkpoints that hold the replay buffer."""


class Callback:
    """Hooks the trainer calls. Return ``True`` from :meth:`on_log` or :meth:`on_eval` to stop
    training."""

    def bind(self, agent: Any) -> None:
        """Called once before training, in the training process, with the live agent
        (``agent.model`` is the policy network). Remote trainers call it on their side only, so
        a callback that needs it works locally and is not sent to a remote run."""

    def on_start(self, progress: Progress) -> None:
        """Training is about to start (after resume, if any)."""

    def on_log(self, progress: Progress) -> bool | None:
        """Every ``log_interval`` env steps; return True to stop."""

    def on_eval(self, progress: Progress) -> bool | None:
        """After each greedy evaluation (``progress.evaluation``); return True to stop."""

    def on_end(self, progress: Progress) -> None:
        """Training has finished (or was stopped)."""

    def on_checkpoint(self, path: Path) -> None:
        """A checkpoint was just written to ``path`` (with ``history.json`` and
        ``episodes.csv`` beside it); a remote run copies them back to the client here."""


class Trainer:
    """Runs an :class:`Agent` on a config: envs, clocks, schedules, checkpoints, callbacks.

    Use :func:`train`; the attributes below are what an agent's :meth:`Agent.iterate` reads.
    """

    def __init__(
        self,
        config: Any,
        agent_cls: type,
        device: str | torch.device = "auto",
        callbacks: Sequence[Callback] = (),
        run_dir: str | Path | None = None,
        resume_from: str | Path | None = None,
        save_buffer: bool = False,
        ray_address: str | None = None,
        overwrite: bool = False,
        collector: Any = None,
    ):
        self.config = config
        self.overwrite = overwrite
        self.stop_reason: str | None = None
        self.ray_address = ray_address
        self.agent_cls = agent_cls
        self.requested_device = device
        self.callbacks = list(callbacks)
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.resume_from = resume_from
        self.save_buffer = save_buffer
        self.history = History()
        self.env_steps = 0
        self.obs: Any = None
        """The envs' latest observations (for the dashboard's frame)."""
        self.collector: Any = collector
        """What steps the envs (:mod:`rlkit.collectors`); made from the config in :meth:`run`
        unless one was given."""
        self.timer = PhaseTimer(self.history.phase_seconds)
        self.stopped = False
        self._pending: list[EpisodeRow] = []  # finished since the last Progress
        self._metrics: dict[str, float] = {}  # latest metrics from the agent
        self._fresh: dict[str, float] = {}  # metrics of the latest log event

    # -- what agents call -------------------------------------------------------------------
    def collect(self, actor: Any, steps: int | None = None) -> Any:
        """Experience from the collector, acted by ``actor`` (:class:`rlkit.collectors.Actor`):
        ``steps`` steps of every env, or without ``steps`` the collector's own unit (one step of
        every env in lock-step, the envs that answered on the pool, a round of rollout workers).
        Counts the env steps, records the episodes that ended and adds the collector's time
        split (``env``, ``act``; ``transfer`` with rollout workers) to the run's.

        :return: the :class:`rlkit.collectors.Columns`.
        """
        cols = self.collector.collect(actor, steps)
        seconds = self.timer.seconds
        for phase, spent in cols.seconds.items():
            seconds[phase] = seconds.get(phase, 0.0) + spent
        before = self.env_steps
        self.env_steps += cols.steps
        now = self.train_seconds()
        for at, ret, length in cols.episodes:
            row = EpisodeRow(before + at, now, ret, length)
            self.history.add_episode(row)
            self._pending.append(row)
        self.obs = cols.obs[-1]
        return cols

    def request_stop(self, reason: str = "request_stop") -> None:
        """End the run after the current iteration, with its checkpoint and records written:
        how a person's stop reaches the engine (signals become this call at the entry points,
        a Ray actor calls it directly). Safe from a signal handler or another thread."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def train_seconds(self) -> float:
        """Training seconds so far (evaluations and checkpoints excluded)."""
        return time.perf_counter() - self._clock0

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        from rlkit.collectors import make_collector
        from rlkit.device_plan import apply, plan_for, restore
        from rlkit.devices import select_device

        c = self.config
        self.folder = None
        if self.run_dir is not None:  # a bad path, a busy or a finished folder fail now
            from rlkit.checkpoints import cleanup_temp_files
            from rlkit.run_folder import RunFolder

            resume = self.resume_from is not None
            self.folder = RunFolder.open(self.run_dir, resume=resume, overwrite=self.overwrite)
            try:
                cleanup_temp_files(self.folder.checkpoint)  # left by a killed run
                self.folder.write_config(c)
            except BaseException:
                self.folder.close()
                raise
        self.device, self.device_report = select_device(self.requested_device)
        threads_before = torch.get_num_threads()
        flags_before: dict[str, Any] = {}  # torch flags the device plan changed
        torch.manual_seed(c.seed)
        rng = np.random.default_rng(c.seed)
        if self.collector is None:
            self.collector = make_collector(c, self.ray_address)
        self._eval_env = None
        try:
            if c.torch_threads is not None:
                torch.set_num_threads(c.torch_threads)
            self.spec = self.collector.spec
            # Decided once the env spec sizes the replay buffer; the agent follows it.
            self.device_plan = plan_for(self.device, c, self.spec)
            flags_before = apply(self.device_plan)
            plan = self.device_plan
            self.agent = agent = self.agent_cls(c, self.spec, self.device, rng, plan=plan)
            for phase in (*agent.phases, *self.collector.phases):
                self.history.phase_seconds.setdefault(phase, 0.0)
            if self.resume_from is not None:
                self._resume(self.resume_from)
            return self._loop(agent)
        finally:
            torch.set_num_threads(threads_before)  # the caller's process keeps its own setting
            restore(flags_before)
            self.collector.close()
            if self._eval_env is not None:
                self._eval_env.close()
            if self.folder is not None:
                self.folder.close()

    def _loop(self, agent: Any) -> TrainResult:
        c, h = self.config, self.history
        # Env i is seeded seed + env steps + i: a resumed run starts fresh episodes.
        self.collector.reset(c.seed + self.env_steps)
        self.obs = self.collector.obs
        agent.start()
        self._policy = greedy_policy(agent.model)
        step = self.env_steps
        next_log = next_multiple(step, c.log_interval)
        next_eval = next_multiple(step, c.eval_interval)
        next_ckpt = next_multiple(step, c.checkpoint_interval)
        self._clock0 = time.perf_counter() - h.train_seconds
        every = c.checkpoint_seconds or math.inf
        if self.save_buffer:  # the buffer is far larger than the weights: fewer of those
            every = max(every, BUFFER_CHECKPOINT_S)
        next_ckpt_s = h.train_seconds + every
        learned = agent.updates > 0
        for cb in self.callbacks:
            cb.bind(agent)
        self._emit("start")
        while self.env_steps < c.total_steps and not self.stopped and self.stop_reason is None:
            agent.iterate(self)
            step = self.env_steps
            h.env_steps, h.updates = step, agent.updates
            h.train_seconds = self.train_seconds()
            if step >= next_log:
                next_log = next_multiple(step, c.log_interval)
                self._log(agent.log_metrics())
                if self._emit("log"):
                    self.stopped = True
            if step >= next_eval:
                next_eval = next_multiple(step, c.eval_interval)
                progress = self._progress("eval", self._evaluate())  # one record for all
                if any([bool(cb.on_eval(progress)) for cb in self.callbacks]):
                    self.stopped = True
            due = step >= next_ckpt or h.train_seconds >= next_ckpt_s
            if not learned and agent.updates > 0:  # the first thing worth keeping
                learned, due = True, due or every < math.inf
            # The run's last step is checkpointed once, after the loop, with its last log row.
            done = step >= c.total_steps or self.stopped or self.stop_reason is not None
            if self.run_dir is not None and due and not done:
                next_ckpt = next_multiple(step, c.checkpoint_interval)
                next_ckpt_s = h.train_seconds + every
                self._paused(self._checkpoint)
        h.train_seconds = self.train_seconds()
        self._log(agent.log_metrics())
        ckpt = self._checkpoint() if self.run_dir is not None else None
        self._emit("end")
        return TrainResult(
            config=c,
            env_spec=self.spec,
            history=h,
            device=str(self.device),
            algo=c.algo,
            model=agent.model,
            model_spec=getattr(agent.model, "spec", None),
            checkpoint_path=None if ckpt is None else str(ckpt),
            stopped_early=self.stopped,
            stopped_by=self.stop_reason,
            device_report={**self.device_report.to_dict(), "plan": self.device_plan.describe()},
        )

    def _log(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.history.record(key, self.env_steps, value)
        self._fresh = metrics
        self._metrics.update(metrics)

    def _progress(self, event: str, evaluation: EvalRow | None = None) -> Progress:
        h = self.history
        logged = event in ("log", "end")
        metrics = dict(self._fresh if logged else self._metrics)
        metrics.update({TIME_PREFIX + k: v for k, v in h.phase_seconds.items()})
        frame = None
        if event != "eval" and isinstance(self.obs, np.ndarray):
            frame = np.array(self.obs[0])
        rows, self._pending = tuple(self._pending), []
        return Progress(
            event=event,
            algo=self.config.algo,
            env_id=self.config.env_id,
            env_steps=self.env_steps,
            total_steps=self.config.total_steps,
            updates=self.agent.updates,
            episodes=h.episodes,
            train_seconds=h.train_seconds,
            eval_seconds=h.eval_seconds,
            metrics=metrics,
            new_episodes=rows,
            evaluation=evaluation,
            frame=frame,
        )

    def _emit(self, event: str) -> bool:
        """Call every callback's ``on_<event>``; whether any returned True (stop)."""
        progress = self._progress(event)
        return any([bool(getattr(cb, f"on_{event}")(progress)) for cb in self.callbacks])

    def _paused(self, fn: Callable[[], Any]) -> tuple[Any, float]:
        """Run ``fn`` with the training clock stopped; returns its result and its seconds."""
        t0 = time.perf_counter()
        out = fn()
        spent = time.perf_counter() - t0
        self._clock0 += spent
        return out, spent

    def _evaluate(self) -> EvalRow:
        from rlkit.envs import make_env

        c, h = self.config, self.history

        def run_episodes():
            if self._eval_env is None:
                self._eval_env = make_env(c.env_id, **c.env_kwargs)
            # Fresh seeds every evaluation, disjoint from training seeds.
            return evaluate(
                self._policy, self._eval_env, c.eval_episodes, seed=10**6 + self.env_steps
            )

        res, spent = self._paused(run_episodes)
        row = EvalRow(self.env_steps, h.train_seconds, res.mean, res.std, tuple(res.scores))
        h.add_eval(row)
        h.eval_seconds += spent
        return row

    # -- checkpoints ----------------------------------------------------------------------------
    def _checkpoint(self) -> Path:
        try:
            path = self.save()
        except OSError as e:
            last = getattr(self, "_saved_at", None)
            kept = (
                "no checkpoint had been written there yet"
                if last is None
                else f"the checkpoint of env step {last} there is intact"
            )
            raise RunFolderError(
                f"training stopped at env step {self.env_steps}: "
                f"{os_error_message(e, 'write a checkpoint to run folder', self.run_dir)}; "
                f"{kept}"
            ) from e
        self._saved_at = self.env_steps
        for cb in self.callbacks:
            cb.on_checkpoint(path)
        return path

    def save(self) -> Path:
        """Write ``checkpoint.pt``, ``history.json`` and ``episodes.csv`` to the run folder."""
        from rlkit.atomic import write_bytes, write_json
        from rlkit.checkpoints import save_checkpoint
        from rlkit.run_folder import CHECKPOINT, EPISODES, HISTORY

        h, agent = self.history, self.agent
        extra = agent.state_dict(self.save_buffer)
        extra.setdefault("rng", {})["torch"] = torch.get_rng_state()
        extra["history"] = h.to_dict()
        path = save_checkpoint(
            self.run_dir / CHECKPOINT,
            model=agent.model,
            metadata={
                "algo": self.config.algo,
                "config": self.config.to_dict(),
                "env_spec": self.spec.to_dict(),
                "progress": {
                    "env_steps": self.env_steps,
                    "updates": agent.updates,
                    "episodes": h.episodes,
                    "train_seconds": h.train_seconds,
                    "metrics": dict(self._metrics),
                },
            },
            extra_state=extra,
        )
        write_json(self.run_dir / HISTORY, h.to_dict())
        write_bytes(self.run_dir / EPISODES, h.episodes_csv())
        return Path(path)

    def _resume(self, path: str | Path) -> None:
        from rlkit.checkpoints import CheckpointError, check_compatible, load_checkpoint

        ckpt = load_checkpoint(path, map_location="cpu")
        check_compatible(ckpt, model=self.agent.model, env_spec=self.spec, check_id=True)
        algo = ckpt.metadata.get("algo")
        if algo != self.config.algo:
            raise CheckpointError(
                f"checkpoint {path} was written by {algo!r} training, not {self.config.algo!r}"
            )
        self.agent.model.load_state_dict(ckpt.state_dict)
        extra = ckpt.extra_state
        self.agent.load_state_dict(extra)
        torch.set_rng_state(extra["rng"]["torch"].cpu())
        restored = History.from_dict(extra["history"])
        for name, value in vars(restored).items():
            setattr(self.history, name, value)
        self.timer.seconds = self.history.phase_seconds
        self.env_steps = int(ckpt.metadata["progress"]["env_steps"])
