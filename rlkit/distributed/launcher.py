"""Run one function in N processes joined in a ``torch.distributed`` group, and always clean up.

``launch(fn, world_size=2, args=(...))`` starts ``world_size`` processes, joins them in a
process group (gloo on CPU, NCCL when ``device="cuda"``) over loopback, runs
``fn(RankContext, *args, **kwargs)`` in each and returns their results in rank order.

It is meant to be called from a notebook, which is where multiprocessing usually bites:

- ``fn`` must live in an importable module (this package), not in the notebook: each process
  imports it by name, and a function defined in ``__main__`` (a notebook cell) or a lambda
  cannot be found there. That is checked before anything starts, with a sentence saying so.
- Processes start with ``forkserver`` (``spawn`` where there is none), never ``fork``: forking
  a process whose torch already runs threads can deadlock the child. The first launch in a
  process starts the server, which imports torch (:data:`PRELOAD`: seconds); later launches
  start their ranks in a fraction of a second.
- In a script (not a notebook), keep the call under ``if __name__ == "__main__":``: each
  process imports the main script, as with any multiprocessing that does not fork.
- The rendezvous is on 127.0.0.1 at a port the OS just handed out (binding port 0), so two
  launches, or a notebook and the test suite, do not collide on a fixed port. If joining the
  group fails (the port was taken in between, or gloo's mesh lost a connection while another
  program loaded the machine: seen once in 1,031 tests), every rank is stopped and the group
  is formed again at a new port, up to :data:`RENDEZVOUS_TRIES` times within ``timeout``;
  ``fn`` has not run yet, so nothing runs twice.
- Nothing is left behind. If a rank raises, or dies without a word (a segfault, ``os._exit``,
  SIGKILL), the others are stopped at once (SIGTERM, then SIGKILL two seconds later) and one
  :class:`RankFailedError` names the rank, its exit code or exception, and its traceback. The
  whole run is bounded by ``timeout``, which is also the group's collective timeout (gloo's
  default would let a hung all-reduce wait 30 minutes).
"""

from __future__ import annotations

import datetime
import importlib
import math
import multiprocessing as mp
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

__all__ = ["LaunchTimeoutError", "RankContext", "RankFailedError", "free_port", "launch"]

KILL_GRACE_S = 2.0
"""How long a stopped rank gets to exit after SIGTERM before SIGKILL."""

PRELOAD = (
    "torch",
    "torch.distributed",
    "torch._dynamo",  # torch.optim's constructors import it on first use: seconds per process
    "rlkit.agents.dqn",
    "rlkit.agents.ppo_learner",
)
"""What the forkserver imports once, the first time it starts, so that each rank forks from it
in milliseconds instead of importing torch for seconds. The server runs no torch operation, so
no intra-op thread pool exists to be forked (numpy's BLAS starts an idle pool at import, which
handles fork itself)."""

RENDEZVOUS_TRIES = 3
"""How many times a launch forms its group before a failure to join is the launch's error."""

_FAILURE_GRACE_S = 0.3
# After the first failure, how long to keep listening before stopping the others: a rank that
# raised because its peer vanished reports moments after the peer, and the peer is the cause.


@dataclass(frozen=True)
class RankContext:
    """What the launched function learns about its process.

    :param rank: this process's rank, 0 to ``world_size - 1``.
    :param world_size: number of processes in the group.
    :param backend: ``"gloo"`` or ``"nccl"``.
    :param device: where this rank computes: ``"cpu"`` or ``"cuda:<i>"``.
    """

    rank: int
    world_size: int
    backend: str
    device: str


class RankFailedError(RuntimeError):
    """A rank raised or died; the others were stopped.

    :param rank: the failed rank (the first to fail, when several did).
    :param exitcode: its exit code (negative: killed by that signal), or ``None`` if unknown.
    :param remote_traceback: the traceback printed in that process, when it raised.
    """

    def __init__(self, message, rank, exitcode, remote_traceback="", joining=False):
        super().__init__(message)
        self.rank = rank
        self.exitcode = exitcode
        self.remote_traceback = remote_traceback
        self.joining = joining  # it failed while joining the group, before fn ran


class LaunchTimeoutError(RankFailedError, TimeoutError):
    """The ranks did not all finish within ``timeout``; all were stopped."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the OS picks it when binding port 0).

    Another program could take it before the group binds it; :func:`launch` then forms the
    group again at another port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _loopback_interface() -> str | None:
    names = {name for _, name in socket.if_nameindex()} if hasattr(socket, "if_nameindex") else ()
    return next((n for n in ("lo", "lo0") if n in names), None)


def _check_importable(fn: Callable) -> None:
    """Each process finds ``fn`` by module and name, so it must be reachable that way."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", "")
    why = None
    if not callable(fn):
        why = "it is not callable"
    elif module in (None, "__main__", "__mp_main__"):
        why = (
            "it is defined in __main__ (a notebook or script), which other processes cannot import"
        )
    elif "<locals>" in qualname or "<lambda>" in qualname:
        why = "it is a lambda or a function nested in another"
    else:
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            obj = None
        if obj is not fn:
            why = f"{module}.{qualname} does not lead back to it"
    if why:
        raise ValueError(
            f"launch needs a function defined at the top level of an importable module "
            f"(e.g. in rlkit.distributed); {fn!r} will not do: {why}"
        )


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
    return value


def _positive_number(value: Any, name: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _backend_for(device: str, backend: str | None, world_size: int) -> str:
    import torch
    import torch.distributed as dist

    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if backend is None:
        backend = "nccl" if device == "cuda" else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    if not dist.is_available():
        raise RuntimeError("this torch build has no torch.distributed")
    if backend == "nccl":
        if device != "cuda":
            raise ValueError("the nccl backend needs device='cuda' (gloo runs on the CPU)")
        if not dist.is_nccl_available():
            raise RuntimeError("this torch build has no NCCL; use backend='gloo'")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device='cuda' was asked for but torch finds no CUDA GPU here")
        if world_size > torch.cuda.device_count():
            raise ValueError(
                f"world_size {world_size} needs one GPU per rank; "
                f"this machine has {torch.cuda.device_count()}"
            )
    return backend


def _run_rank(rank, world_size, port, backend, device, threads, timeout, fn, args, kwargs, conn):
    """The body of each process: join the group, run ``fn``, send back its result or error."""
    joining = True
    try:
        import torch
        import torch.distributed as dist

        env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        env |= {"RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank)}
        os.environ.update(env)
        lo = _loopback_interface()
        if backend == "gloo" and lo and "GLOO_SOCKET_IFNAME" not in os.environ:
            # Talk over loopback even where the host name resolves to another interface.
            os.environ["GLOO_SOCKET_IFNAME"] = lo
        torch.set_num_threads(threads)
        where = "cpu"
        if device == "cuda":
            torch.cuda.set_device(rank)
            where = f"cuda:{rank}"
        dist.init_process_group(
            backend,
            init_method="env://",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout),
        )
        joining = False
        result = fn(RankContext(rank, world_size, backend, where), *args, **kwargs)
        dist.destroy_process_group()
        conn.send(("ok", result))
    except BaseException as exc:  # every failure must reach the launcher
        try:
            kind = "joining" if joining else "error"
            conn.send((kind, f"{type(exc).__name__}: {exc}", traceback.format_exc(), time.time()))
        except Exception:  # the pipe is gone; the exit code still tells
            pass
        sys.exit(1)
    finally:
        conn.close()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _stop(procs: Sequence[mp.process.BaseProcess]) -> None:
    """Stop every process still alive: SIGTERM, then SIGKILL after :data:`KILL_GRACE_S`."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + KILL_GRACE_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(KILL_GRACE_S)


def launch(
    fn: Callable[..., Any],
    world_size: int = 2,
    *,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    device: str = "cpu",
    backend: str | None = None,
    timeout: float = 60.0,
    threads: int = 1,
    start_method: str | None = None,
) -> list[Any]:
    """Run ``fn(ctx, *args, **kwargs)`` in ``world_size`` processes of one process group.

    :param fn: a function at the top level of an importable module; its first argument is a
        :class:`RankContext`, its result must be picklable.
    :param world_size: number of processes, at least 1.
    :param args: positional arguments after the context (picklable), the same for every rank.
    :param kwargs: keyword arguments (picklable), the same for every rank.
    :param device: ``"cpu"`` (gloo) or ``"cuda"`` (NCCL, one GPU per rank).
    :param backend: ``"gloo"`` or ``"nccl"``; ``None`` picks by device.
    :param timeout: seconds for the whole run, start-up included; also each collective's
        timeout inside the group.
    :param threads: torch intra-op threads per process (1: the ranks share the cores).
    :param start_method: ``"forkserver"`` (default where available) or ``"spawn"``.
    :return: each rank's result, in rank order.
    :raises RankFailedError: a rank raised or died (naming it); the others were stopped.
    :raises LaunchTimeoutError: not all ranks finished within ``timeout``; all were stopped.
    """
    world_size = _positive_int(world_size, "world_size")
    threads = _positive_int(threads, "threads")
    timeout = _positive_number(timeout, "timeout")
    _check_importable(fn)
    backend = _backend_for(device, backend, world_size)
    methods = mp.get_all_start_methods()
    if start_method is None:
        start_method = "forkserver" if "forkserver" in methods else "spawn"
    if start_method not in ("forkserver", "spawn") or start_method not in methods:
        valid = [m for m in ("forkserver", "spawn") if m in methods]
        raise ValueError(f"start_method must be one of {valid}, got {start_method!r}")
    ctx = mp.get_context(start_method)
    if start_method == "forkserver":
        ctx.set_forkserver_preload([*PRELOAD, __name__])
    deadline, tries = time.monotonic() + timeout, 1
    while True:
        left = max(0.0, deadline - time.monotonic())
        try:
            return _launch_once(
                ctx, fn, world_size, args, kwargs, backend, device, threads, timeout, left
            )
        except RankFailedError as err:
            if not err.joining or tries == RENDEZVOUS_TRIES:
                if err.joining:
                    err.args = (f"{err.args[0]}\n(the group failed to form {tries} times)",)
                raise
        tries += 1


def _launch_once(ctx, fn, world_size, args, kwargs, backend, device, threads, timeout, left):
    """One try: start the ranks at a fresh port and collect their results within ``left``."""
    port = free_port()
    procs: list[mp.process.BaseProcess] = []
    conns = []
    try:
        for rank in range(world_size):
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=_run_rank,
                args=(rank, world_size, port, backend, device, threads, timeout, fn, args),
                kwargs={"kwargs": dict(kwargs or {}), "conn": send},
                name=f"rlkit-rank-{rank}",
                daemon=True,
            )
            p.start()
            send.close()  # the child holds the only writing end now
            procs.append(p)
            conns.append(recv)
        results = _collect(procs, conns, left, timeout)
        for p in procs:  # they sent their results and are exiting: let them, before _stop
            p.join(KILL_GRACE_S)
        return results
    finally:
        _stop(procs)
        for c in conns:
            c.close()


def _collect(procs, conns, left: float, timeout: float) -> list[Any]:
    """Wait ``left`` seconds for every rank's message; on the first failure or then, raise."""
    world_size = len(procs)
    results: list[Any] = [None] * world_size
    pending = set(range(world_size))
    failures: dict[int, tuple] = {}  # rank -> (order key, message, exitcode, traceback)
    start = time.monotonic()
    deadline = start + left
    stop_listening = None
    while pending:
        now = time.monotonic()
        if stop_listening is not None and now >= stop_listening:
            break
        if now >= deadline:
            break
        until = deadline if stop_listening is None else stop_listening
        waiting = [conns[r] for r in pending] + [procs[r].sentinel for r in pending]
        wait(waiting, timeout=min(until - now, 1.0))
        for r in sorted(pending):
            code = procs[r].exitcode  # read before polling: an exited rank's data is all there
            msg = None
            if conns[r].poll():
                try:
                    msg = conns[r].recv()
                except (EOFError, OSError):
                    msg = None
            if msg is not None and msg[0] == "ok":
                results[r] = msg[1]
                pending.discard(r)
            elif msg is not None:
                kind, text, tb, when = msg
                what = f"raised {text}" + (" while joining the group" if kind == "joining" else "")
                failures[r] = ((1, when), what, procs[r].exitcode, tb, kind == "joining")
                pending.discard(r)
            elif code is not None:
                # Died without a word (a signal, os._exit, a crash): most likely the cause.
                failures[r] = ((0, time.time()), _describe_exit(code), code, "", False)
                pending.discard(r)
        if failures and stop_listening is None:
            stop_listening = time.monotonic() + _FAILURE_GRACE_S
    if failures:
        first = min(failures, key=lambda r: failures[r][0])
        _, what, code, tb, joining = failures[first]
        if code is None:  # it sent its error and is exiting: wait for its exit code
            procs[first].join(1.0)
            code = procs[first].exitcode
        others = [f"rank {r} {failures[r][1]}" for r in sorted(failures) if r != first]
        message = f"rank {first} of {world_size} failed: {what}"
        if code is not None and what.startswith("raised"):
            message += f" ({_describe_exit(code)})"
        if others:
            message += "; then " + "; ".join(others)
        if pending:
            message += f"; stopped ranks {sorted(pending)}"
        if tb:
            message += f"\n\nrank {first}'s traceback:\n{tb}"
        raise RankFailedError(message, first, code, tb, joining)
    if pending:
        raise LaunchTimeoutError(
            f"ranks {sorted(pending)} of {world_size} had not finished after {timeout:g} s "
            "(a rank stuck before a collective leaves the others waiting); all were stopped",
            min(pending),
            None,
        )
    return results
