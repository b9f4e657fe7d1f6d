"""Training on a GPU elsewhere, through Ray: ``remote.train(config, address=...)``.

The training runs in a Ray actor (:class:`rlkit.remote.worker.TrainingWorker`) on a node with a
GPU; the notebook's callbacks (the dashboard) receive its :class:`~rlkit.records.Progress`
records as it goes; every checkpoint is copied back into the local run folder as it is written;
the result is the same :class:`~rlkit.records.TrainResult` local training returns, with CPU
weights and the local checkpoint path.

Nothing waits forever and nothing is sent to a cluster that lets anyone in: the address is
checked (reachable, demands a token, accepts ours) before connecting; a GPU is looked for in the
cluster's resources before submitting (Ray leaves a ``num_gpus=1`` task pending forever when
none exists); the worker's node is checked (Python, Ray, torch, vizdoom, CUDA) before training;
every wait is bounded by ``timeout_s``; a worker that dies is named, and its last checkpoint is
already on this machine to resume from. ``train(config, device="ray")`` comes here too.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rlkit.remote.cluster import (
    RAY_DEVICE_FORMS,
    Connection,
    RemoteError,
    connect,
    describe_resources,
    disconnect,
    is_ray_device,
    parse_device,
    resources,
)
from rlkit.remote.node import RemoteDeviceReport, check_node, local_facts
from rlkit.run_folder import CHECKPOINT, RunFolder
from rlkit.stopping import TrainingInterrupted, stop_on_signals

__all__ = [
    "RAY_DEVICE_FORMS",
    "Connection",
    "RemoteDeviceReport",
    "RemoteError",
    "connect",
    "disconnect",
    "is_ray_device",
    "parse_device",
    "train",
]


def _check_callbacks(callbacks: Sequence[Any]) -> None:
    from rlkit.training import Callback

    for cb in callbacks:
        if getattr(type(cb), "bind", Callback.bind) is not Callback.bind:
            raise TypeError(
                f"{type(cb).__name__} needs the live network (it defines bind), which stays on "
                "the cluster; pass it in remote_callbacks=[...] so it runs beside the trainer"
            )


def _default_run_dir() -> Path:
    return Path("runs") / "remote" / datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def _resume_files(path: str | Path | None) -> dict[str, bytes] | None:
    if path is None:
        return None
    from rlkit.checkpoints import load_checkpoint

    load_checkpoint(path, map_location="cpu")  # refuses a bad or unsafe file here, not there
    return {CHECKPOINT: Path(path).read_bytes()}


def _bounded_get(ray: Any, ref: Any, timeout_s: float, doing: str) -> Any:
    try:
        return ray.get(ref, timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        raise RemoteError(
            f"no answer within {timeout_s:g} s while {doing} (cluster: "
            f"{describe_resources(resources())}); its GPUs may all be busy, or the node is "
            "overloaded; raise timeout_s or free a GPU"
        ) from None


def train(
    config: Any,
    address: str | None = None,
    *,
    require_gpu: bool = True,
    timeout_s: float = 120.0,
    callbacks: Sequence[Any] = (),
    remote_callbacks: Sequence[Any] = (),
    run_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    save_buffer: bool = False,
    token: str | None = None,
    allow_unauthenticated: bool = False,
    ship_code: bool = True,
    poll_s: float = 0.5,
    overwrite: bool = False,
) -> Any:
    """Train ``config`` on a node of a Ray cluster and bring the result back.

    Stopped here (Ctrl-C, a kernel interrupt, SIGTERM, SIGHUP), the worker is told to stop:
    it finishes its iteration and writes its checkpoint, which is copied into ``run_dir``,
    the worker is killed (nothing is left training on the cluster), and
    :class:`rlkit.stopping.TrainingInterrupted` carries the partial result.

    :param address: ``None`` (``$RAY_ADDRESS``, else an embedded local cluster),
        ``"ray://HOST:10001"`` (Ray Client) or ``"HOST:6379"`` (from a cluster node).
    :param require_gpu: ask Ray for a GPU and train on CUDA there; ``False`` trains on the
        CPU of whichever node Ray picks.
    :param timeout_s: the bound on connecting, on placing the worker, and on each poll.
    :param callbacks: run here on the streamed records (dashboard, :class:`StopAtTarget`, whose
        ``True`` stops the remote run at its next evaluation).
    :param remote_callbacks: sent to the cluster and run beside the trainer (those that need
        the live network, such as :class:`rlkit.callbacks.KeepBest`).
    :param run_dir: the local folder for the checkpoints copied back (default
        ``runs/remote/<time>``; created now, so a bad path fails before anything starts).
    :param resume_from: a local checkpoint to continue from (checked here, then sent).
    :param token: the cluster's token; default ``$RAY_AUTH_TOKEN``, ``$RAY_AUTH_TOKEN_PATH``,
        ``~/.ray/auth_token``.
    :param allow_unauthenticated: connect even to a cluster that demands no token.
    :param ship_code: send this rlkit to a cluster given by address with the job (Ray's
        ``runtime_env`` py_modules), so its nodes run the same rlkit code as this notebook.
    :param overwrite: let this run replace a trained run in ``run_dir`` (see
        :mod:`rlkit.run_folder`; refused otherwise unless resuming).
    :return: the :class:`~rlkit.records.TrainResult` (CPU weights; ``device_report`` holds the
        :class:`RemoteDeviceReport` and the transfer timings).
    :raises RemoteError: every failure, as one sentence saying what to do.
    """
    from rlkit.algorithms import agent_class

    agent_class(config)  # a TypeError for a non-config, before any cluster starts
    _check_callbacks(callbacks)
    local_dir = Path(run_dir) if run_dir is not None else _default_run_dir()
    resume = _resume_files(resume_from)
    stop_request = _StopRequest()
    folder = RunFolder.open(local_dir, resume=resume is not None, overwrite=overwrite)
    try:
        with stop_on_signals(stop_request.request):
            result = _train_on_cluster(
                config,
                address,
                require_gpu,
                timeout_s,
                callbacks,
                remote_callbacks,
                local_dir,
                resume,
                save_buffer,
                token,
                allow_unauthenticated,
                ship_code,
                poll_s,
                stop_request,
            )
    finally:
        folder.close()
    if result.stopped_by is not None:
        raise TrainingInterrupted(result, result.stopped_by)
    return result


class _StopRequest:
    """A stop asked for here, until it is passed on to the worker."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        self.reason = self.reason or reason


def _train_on_cluster(
    config: Any,
    address: str | None,
    require_gpu: bool,
    timeout_s: float,
    callbacks: Sequence[Any],
    remote_callbacks: Sequence[Any],
    local_dir: Path,
    resume: dict[str, bytes] | None,
    save_buffer: bool,
    token: str | None,
    allow_unauthenticated: bool,
    ship_code: bool,
    poll_s: float,
    stop_request: _StopRequest,
) -> Any:
    from rlkit.atomic import write_bytes

    conn = connect(
        address,
        token=token,
        allow_unauthenticated=allow_unauthenticated,
        timeout_s=timeout_s,
        ship_code=ship_code,
    )
    import ray

    res = resources()
    where = conn.address or "the embedded local Ray cluster"
    if require_gpu and res.get("GPU", 0) < 1:
        raise RemoteError(
            f"no node of {where} offers a GPU (it has {describe_resources(res)}), so a task asking "
            "for one would wait forever; start the GPU machine's node with `ray start ... "
            "--num-gpus=1`, or pass require_gpu=False to train on a CPU node"
        )
    from rlkit.remote.worker import TrainingWorker

    options: dict[str, Any] = dict(
        num_cpus=1, num_gpus=1 if require_gpu else 0, max_concurrency=4, max_restarts=0
    )
    t_submit = time.perf_counter()
    actor = ray.remote(TrainingWorker).options(**options).remote()
    facts: dict[str, Any] = {"node_ip": "?", "node_id": "?"}
    timings: dict[str, Any] = {"connect_s": conn.startup_s, "latencies_s": []}
    steps_saved: int | None = None
    try:
        try:
            facts = _bounded_get(ray, actor.facts.remote(), timeout_s, "starting the worker")
        except (ray.exceptions.RayActorError, ray.exceptions.RuntimeEnvSetupError) as e:
            first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise RemoteError(f"the training worker could not start on {where}: {first}") from None
        timings["worker_start_s"] = time.perf_counter() - t_submit
        device = check_node(facts, local_facts(), config.env_id, require_gpu)
        gpu = facts["gpus"][0]["name"] if device == "cuda" and facts["gpus"] else None
        report = RemoteDeviceReport(
            requested="ray" if conn.address is None else f"ray:{conn.address}",
            address=where,
            auth=conn.auth,
            selected=device,
            reason=(
                f"require_gpu=True: Ray placed the worker on a GPU node and torch there sees {gpu}"
                if device == "cuda"
                else "require_gpu=False: training on the CPU of the node Ray picked"
            ),
            node=facts,
        )
        run_ref = actor.run.remote(config, device, resume, save_buffer, tuple(remote_callbacks))
        t_run = time.perf_counter()
        done, told = False, False
        while not done:
            if stop_request.reason is not None and not told:  # finish the step, checkpoint, end
                actor.interrupt.remote(stop_request.reason)
                told = True
            done = bool(ray.wait([run_ref], timeout=poll_s)[0])
            records, files = _bounded_get(ray, actor.drain.remote(), timeout_s, "polling")
            now = time.time()
            for made_at, progress in records:
                timings["latencies_s"].append(now - made_at)
                timings.setdefault("first_record_s", time.perf_counter() - t_run)
                stop = [getattr(cb, f"on_{progress.event}")(progress) for cb in callbacks]
                if progress.event == "eval" and any(stop):
                    actor.stop.remote()
            if files is not None:
                for name, data in files.items():
                    write_bytes(local_dir / name, data)
                steps_saved = records[-1][1].env_steps if records else steps_saved
        t_get = time.perf_counter()
        result = _bounded_get(ray, run_ref, timeout_s, "fetching the result")
        timings["result_transfer_s"] = time.perf_counter() - t_get
    except ray.exceptions.RayActorError as e:
        saved = local_dir / CHECKPOINT
        last = (
            f"its last checkpoint (env step {steps_saved}) is at {saved}; continue with "
            f"remote.train(config, resume_from={str(saved)!r})"
            if saved.exists()
            else "no checkpoint had been written yet"
        )
        cause = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RemoteError(
            f"the training worker on Ray node {facts['node_ip']} ({str(facts['node_id'])[:12]}, "
            f"pid {facts.get('pid', '?')}) died: {cause}; {last}"
        ) from None
    finally:
        try:
            ray.get(actor.cleanup.remote(), timeout=10)
        except Exception:  # the worker may be gone already; its temp folder goes with the node
            pass
        ray.kill(actor)
    lat = timings.pop("latencies_s")
    timings["progress_latency_median_s"] = statistics.median(lat) if lat else None
    timings["records"] = len(lat)
    result.device = f"{device} on Ray node {facts['node_ip']}"
    result.device_report = {**report.to_dict(), "timings": timings}
    if (local_dir / CHECKPOINT).exists():
        result.checkpoint_path = str(local_dir / CHECKPOINT)
    return result
