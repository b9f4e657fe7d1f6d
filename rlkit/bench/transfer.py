"""The cost of moving observations between processes: text, pickle, raw bytes, zlib, Ray.

An actor that ships what it sees to a learner pays three times for every observation: it
encodes it, the link carries the bytes, and the learner decodes them back into an array. The
learner/actor split this toolkit grows from found its throughput set by the first and the last,
not by the game or the link: sending ``str(obs)`` was the slowest way, sending the array's bytes
and serialising once the fastest. :func:`transfer_costs` measures that lesson on this machine,
across a real process boundary: a child process encodes one observation again and again and
streams it through a ``multiprocessing`` pipe while this process decodes every message; the rate
is megabytes of observation per second that arrive as arrays. With Ray initialised it also
times the shared-memory way: a Ray actor puts the array in the object store (``ray.put``) and
this process gets a zero-copy view of it (``ray.get``).

:func:`encode` and :func:`decode` are the wire formats, pure functions tested on their own; the
names and what each one does are :data:`METHODS` and :data:`DESCRIPTIONS`. :func:`ipc_cost`
(notebook 01) asks the other half of the question, by observation size: a round trip per
message through a pipe, against shared memory with a one-byte signal, against a plain copy.
"""

from __future__ import annotations

import bisect
import json
import math
import multiprocessing as mp
import pickle
import statistics
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rlkit.bench.allreduce_cost import MB
from rlkit.bench.harness import check_duration

__all__ = ["DESCRIPTIONS", "METHODS", "decode", "encode", "ipc_cost", "transfer_costs"]

METHODS = ("text", "pickle", "raw", "zlib", "ray")
"""Every way :func:`transfer_costs` can move an observation, slowest first by design."""

BYTE_METHODS = METHODS[:4]
"""The methods that turn the array into bytes (:func:`encode`); ``"ray"`` moves a reference."""

DESCRIPTIONS = {
    "text": "every element written as decimal text, comma-separated, and parsed back "
    "(sending str(obs), as the source first did)",
    "pickle": "pickle.dumps of the array (highest protocol), pickle.loads at the receiver",
    "raw": "the array's bytes behind a one-line header (dtype, shape); the receiver wraps "
    "them as an array without copying (np.frombuffer)",
    "zlib": "the raw payload compressed with zlib level 1: fewer bytes to move, for CPU "
    "time spent on both sides",
    "ray": "a Ray actor ray.put()s the array into the node's shared-memory object store and "
    "returns the reference; the receiver ray.get()s a zero-copy view (needs Ray initialised)",
}

# Each timed stream carries at least this many messages, so a payload slower to encode than
# the whole round still yields one measured interval after the warm-up message.
_MIN_MESSAGES = 3
# The header is a short JSON line; a longer first line means the payload is not ours.
_MAX_HEADER = 1024
# Ray calls kept in flight, so the actor's next put overlaps this process's get, as the pipe
# overlaps the child's next encode with this process's decode.
_RAY_IN_FLIGHT = 2


def _describe(obs: Any) -> str:
    if isinstance(obs, np.ndarray):
        return f"an array of shape {obs.shape} and dtype {obs.dtype}"
    return f"a {type(obs).__name__}"


def _check_obs(obs: Any) -> None:
    if not (isinstance(obs, np.ndarray) and obs.size > 0 and obs.dtype.kind in "iuf"):
        raise ValueError(
            f"obs must be a non-empty numpy array of integers or floats, got {_describe(obs)}"
        )


def _check_method(method: Any) -> str:
    if method not in BYTE_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(BYTE_METHODS)} ('ray' moves an object "
            f"reference, not bytes), got {method!r}"
        )
    return method


def _header(obs: np.ndarray) -> bytes:
    meta = {"dtype": obs.dtype.str, "shape": list(obs.shape)}
    return json.dumps(meta, separators=(",", ":")).encode() + b"\n"


def _split(payload: bytes | bytearray | memoryview) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, offset of the body) of a payload that starts with :func:`_header`."""
    head = bytes(memoryview(payload)[:_MAX_HEADER])
    end = head.find(b"\n")
    try:
        meta = json.loads(head[:end]) if end > 0 else None
        dtype, shape = np.dtype(meta["dtype"]), tuple(int(n) for n in meta["shape"])
    except (TypeError, KeyError, ValueError) as e:
        raise ValueError(
            "payload does not start with a header line giving dtype and shape; "
            "decode only what encode made with the same method"
        ) from e
    return dtype, shape, end + 1


def encode(method: str, obs: np.ndarray) -> bytes:
    """Turn an observation into the bytes one message carries.

    :param method: ``"text"``, ``"pickle"``, ``"raw"`` or ``"zlib"`` (see :data:`DESCRIPTIONS`).
    :param obs: a non-empty numpy array of integers or floats, any shape.
    :return: the payload; :func:`decode` with the same method gives the array back, with its
        dtype and shape.
    """
    _check_method(method)
    _check_obs(obs)
    if method == "pickle":
        return pickle.dumps(obs, protocol=pickle.HIGHEST_PROTOCOL)
    if method == "text":
        # tolist() gives Python numbers, whose str() is exact (floats print their shortest
        # round-tripping form), so parsing the text gives back the same values.
        return _header(obs) + ",".join(map(str, obs.ravel().tolist())).encode()
    raw = _header(obs) + obs.tobytes()
    return zlib.compress(raw, 1) if method == "zlib" else raw


def decode(method: str, payload: bytes | bytearray | memoryview) -> np.ndarray:
    """The array :func:`encode` turned into ``payload`` with the same method.

    ``"raw"`` returns a read-only view of ``payload`` (no copy: that is the point of sending
    raw bytes); copy it to write into it. ``"pickle"`` runs :func:`pickle.loads`, so decode
    only payloads from a process you trust, such as :func:`transfer_costs`' own child.

    :raises ValueError: if ``payload`` is not a payload of ``method``.
    """
    _check_method(method)
    if method == "pickle":
        try:
            obs = pickle.loads(payload)
        except Exception as e:  # a bad pickle can fail in many ways; all mean "not ours"
            raise ValueError(f"payload is not a pickled array: {type(e).__name__}: {e}") from None
        if not isinstance(obs, np.ndarray):
            raise ValueError(f"pickle payload holds a {type(obs).__name__}, not a numpy array")
        return obs
    if method == "zlib":
        try:
            payload = zlib.decompress(payload)
        except zlib.error as e:
            raise ValueError(f"payload is not zlib-compressed: {e}") from None
    dtype, shape, offset = _split(payload)
    count = math.prod(shape)
    try:
        if method == "text":
            body = bytes(memoryview(payload)[offset:]).decode()
            flat = np.array(body.split(","), dtype=dtype)
            if flat.size != count:
                raise ValueError(f"{flat.size} values for shape {shape}")
        else:
            flat = np.frombuffer(payload, dtype=dtype, count=count, offset=offset)
    except ValueError as e:
        raise ValueError(f"payload is not a {method} observation: {e}") from None
    return flat.reshape(shape)


# -- the two ends of a timed stream -------------------------------------------------------------
def _produce(conn: Any, obs: np.ndarray) -> None:
    """Child side of :func:`transfer_costs`: on each ("run", method, seconds) command, encode
    ``obs`` afresh for every message, as an actor must for every new observation, and send
    messages until the time is up; an empty message ends the stream."""
    conn.send_bytes(b"ready")
    while True:
        command = conn.recv()
        if command[0] == "stop":
            return
        _, method, seconds = command
        deadline = time.perf_counter() + seconds
        sent = 0
        while sent < _MIN_MESSAGES or time.perf_counter() < deadline:
            conn.send_bytes(encode(method, obs))
            sent += 1
        conn.send_bytes(b"")


def _rate(arrivals: list[float], warmup_s: float, nbytes: int) -> float:
    """MB/s of the messages that arrived after the warm-up, from their arrival times."""
    start = bisect.bisect_left(arrivals, arrivals[0] + warmup_s)
    start = min(start, len(arrivals) - 2)
    elapsed = max(arrivals[-1] - arrivals[start], 1e-9)
    return (len(arrivals) - 1 - start) * nbytes / MB / elapsed


def _same(got: np.ndarray, obs: np.ndarray, method: str) -> None:
    if got.dtype != obs.dtype or got.shape != obs.shape or not np.array_equal(got, obs):
        raise RuntimeError(f"{method}: the array received differs from the one sent")


def _pipe_round(conn: Any, method: str, warmup_s: float, seconds: float, obs, timeout) -> float:
    conn.send(("run", method, warmup_s + seconds))
    arrivals: list[float] = []
    first = None
    while True:
        if not conn.poll(timeout):
            raise RuntimeError(f"transfer_costs' child sent nothing for {timeout} s ({method})")
        payload = conn.recv_bytes()
        if not payload:
            break
        got = decode(method, payload)
        arrivals.append(time.perf_counter())
        if first is None:
            first = got
    _same(first, obs, method)
    return _rate(arrivals, warmup_s, obs.nbytes)


class _RayProducer:
    """The Ray actor of :func:`transfer_costs`: puts its observation into the object store."""

    def __init__(self, obs: np.ndarray):
        self._obs = np.array(obs)  # its own copy: the argument is a read-only view of the store

    def ready(self) -> bool:
        return True

    def put(self) -> Any:
        import ray

        return ray.put(self._obs)


def _ray_round(ray: Any, actor: Any, warmup_s: float, seconds: float, obs, timeout) -> float:
    deadline = time.perf_counter() + warmup_s + seconds
    pending = deque(actor.put.remote() for _ in range(_RAY_IN_FLIGHT))
    arrivals: list[float] = []
    first = None
    while pending:
        ref = ray.get(pending.popleft(), timeout=timeout)  # the reference the actor returned
        got = ray.get(ref, timeout=timeout)
        arrivals.append(time.perf_counter())
        if first is None:
            first = got
        if time.perf_counter() < deadline or len(arrivals) + len(pending) < _MIN_MESSAGES:
            pending.append(actor.put.remote())
        del ref, got
    _same(first, obs, "ray")
    return _rate(arrivals, warmup_s, obs.nbytes)


def _ray_unavailable() -> str | None:
    # Ray cannot be initialised unless it was imported, so a process without it pays no import.
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return (
            "Ray is not initialised in this process; call rlkit.remote.connect() "
            "(or ray.init()) first to time the shared-memory object store"
        )
    return None


def _check_args(methods: Any, seconds: Any, repeats: Any) -> list[str]:
    names = list(methods) if isinstance(methods, Sequence) and not isinstance(methods, str) else 0
    if not names or any(m not in METHODS for m in names):
        raise ValueError(
            f"methods must be a non-empty sequence of names from {', '.join(METHODS)}, "
            f"got {methods!r}"
        )
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f"seconds must be a number above 0, got {seconds!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"seconds must be a finite number above 0, got {seconds!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer of at least 1, got {repeats!r}")
    return list(dict.fromkeys(names))  # each method once, in the order given


def _stop(proc: Any, conn: Any) -> None:
    """Ask the child to stop, then make sure it has: terminate, then kill, each joined briefly."""
    try:
        conn.send(("stop",))
    except (OSError, ValueError):  # the child is gone or the pipe already closed
        pass
    proc.join(timeout=2)
    for end in (proc.terminate, proc.kill):
        if proc.is_alive():
            end()
            proc.join(timeout=2)


def _start_child(target: Any, args: tuple, caller: str, timeout: float) -> tuple[Any, Any]:
    """A spawned child running ``target(conn, *args)`` that has said it is ready, and our end
    of its pipe. ``spawn``, not fork: forking a process that holds torch threads is unsafe."""
    ctx = mp.get_context("spawn")
    conn, child_end = ctx.Pipe()
    try:
        proc = ctx.Process(target=target, args=(child_end, *args), daemon=True)
        proc.start()
    finally:
        child_end.close()  # only the child holds it now, so its death reads as EOF
    # A child that cannot start (a script without an ``if __name__ == "__main__":`` guard
    # re-runs itself under spawn) would otherwise leave this process waiting forever.
    if not conn.poll(timeout) or conn.recv_bytes() != b"ready":
        _stop(proc, conn)
        conn.close()
        raise RuntimeError(
            f"{caller}'s child process did not start within {timeout} s; a script calling it "
            "needs an `if __name__ == '__main__':` guard"
        )
    return proc, conn


def transfer_costs(
    obs: np.ndarray,
    methods: Sequence[str] = METHODS,
    seconds: float = 1.0,
    repeats: int = 3,
    *,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Megabytes of observation per second that cross a process boundary and arrive as arrays.

    A child process (``spawn``: safe from a notebook and from a process running torch threads)
    receives ``obs`` once, then for each method streams it through a ``multiprocessing`` pipe,
    encoding it for every message (the producer's cost) while this process decodes every
    message back into an array (the consumer's cost); the two overlap as an actor and a learner
    would. ``"ray"`` instead has a Ray actor put the array in the object store for every
    message, and this process gets it; it is timed only when Ray is already initialised here,
    and otherwise reported in ``skipped``. Methods take turns within each round, in an order
    that rotates between rounds, so a burst of load on this machine lands on all of them; the
    median round is reported. The first array received in each round is checked against
    ``obs``. The child and the actor are stopped however the call ends.

    :param obs: the observation moved in each message: a non-empty numpy array of integers or
        floats (a batch of frames, as an actor ships a fragment).
    :param methods: names from :data:`METHODS`.
    :param seconds: timed seconds of each method in each round (after a short warm-up).
    :param repeats: rounds.
    :param timeout: seconds allowed for the child or the actor to start and for each message.
    :return: ``payload_mb`` (``obs`` in MB, 10^6 bytes), ``payload_shape``, ``payload_dtype``,
        ``seconds``, ``repeats``, ``methods``: name -> ``mb_per_s`` (the median round),
        ``seconds_per_mb``, ``wire_bytes_per_payload_byte`` (bytes sent per byte of
        observation; ``None`` for ``"ray"``, whose array is copied once into shared memory and
        mapped by the reader), ``runs`` (MB/s of each round) and ``description``; and
        ``skipped``: name -> why it was not timed. A script (not a notebook) calling this
        needs an ``if __name__ == "__main__":`` guard, as with any spawned process.
    """
    _check_obs(obs)
    names = _check_args(methods, seconds, repeats)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds above 0, got {timeout!r}")
    skipped: dict[str, str] = {}
    if "ray" in names and (reason := _ray_unavailable()) is not None:
        skipped["ray"] = reason
        names.remove("ray")
    wire = {}
    for m in names:
        if m != "ray":
            payload = encode(m, obs)
            _same(decode(m, payload), obs, m)
            wire[m] = len(payload) / obs.nbytes
    warmup_s = min(0.5, 0.1 * seconds)
    runs: dict[str, list[float]] = {m: [] for m in names}
    proc = conn = actor = ray = None
    try:
        if any(m != "ray" for m in names):
            proc, conn = _start_child(_produce, (obs,), "transfer_costs", timeout)
        if "ray" in names:
            import ray

            actor = ray.remote(num_cpus=0)(_RayProducer).remote(obs)
            ray.get(actor.ready.remote(), timeout=timeout)
        for r in range(repeats):
            k = r % len(names)
            for m in names[k:] + names[:k]:
                if m == "ray":
                    rate = _ray_round(ray, actor, warmup_s, seconds, obs, timeout)
                else:
                    rate = _pipe_round(conn, m, warmup_s, seconds, obs, timeout)
                runs[m].append(rate)
    finally:
        if proc is not None:
            _stop(proc, conn)
        if conn is not None:
            conn.close()
        if actor is not None:
            ray.kill(actor)
    results = {}
    for m in METHODS:
        if m in runs:
            median = statistics.median(runs[m])
            results[m] = {
                "mb_per_s": median,
                "seconds_per_mb": 1.0 / median,
                "wire_bytes_per_payload_byte": wire.get(m),
                "runs": runs[m],
                "description": DESCRIPTIONS[m],
            }
    return {
        "payload_mb": obs.nbytes / MB,
        "payload_shape": list(obs.shape),
        "payload_dtype": str(obs.dtype),
        "seconds": float(seconds),
        "repeats": repeats,
        "methods": results,
        "skipped": skipped,
    }


# -- by observation size: one round trip per message (notebook 01) ---------------------------
def _ipc_peer(conn: Any, shared: Any) -> None:
    """Child side of :func:`ipc_cost`: receive observations and acknowledge each one."""
    view = np.frombuffer(shared, dtype=np.uint8)
    local = np.empty_like(view)
    conn.send_bytes(b"ready")
    while True:
        command = conn.recv()
        if command[0] == "stop":
            return
        if command[0] == "pipe":
            while conn.recv() is not None:  # unpickling makes the child's own copy
                conn.send_bytes(b"k")
        else:  # "shm": the data is already in shared memory; copy it out, as a learner would
            size = command[1]
            while conn.recv_bytes() == b"g":
                local[:size] = view[:size]
                conn.send_bytes(b"k")


def _timed(one: Callable[[], None], seconds: float) -> float:
    """Calls of ``one`` per second over ``seconds`` (after a short untimed warm-up)."""
    for _ in range(20):
        one()
    n, t0 = 0, time.perf_counter()
    deadline = t0 + seconds
    while True:
        one()
        n += 1
        if (now := time.perf_counter()) >= deadline:
            return n / (now - t0)


def ipc_cost(obs_bytes_list: Sequence[int], seconds: float = 1.0) -> list[dict[str, float]]:
    """Bytes per second of handing observations of each size to another process.

    Three ways, each one observation per message with an acknowledgement back (as an actor
    waiting for its learner would): pickled through a ``multiprocessing`` pipe; written into
    shared memory with only a one-byte signal through the pipe; and, as the ceiling, a plain
    copy inside one process.

    :param obs_bytes_list: observation sizes in bytes, e.g. ``[4 * 84 * 84, 240 * 320 * 3]``.
    :param seconds: timed seconds per size and method.
    :return: one dict per size: ``obs_bytes``, ``pipe_msgs_per_s``, ``pipe_bytes_per_s``,
        ``shm_msgs_per_s``, ``shm_bytes_per_s``, ``local_copy_bytes_per_s``.
    """
    sizes = list(obs_bytes_list)
    if not sizes or not all(isinstance(s, int | np.integer) and s >= 1 for s in sizes):
        raise ValueError(f"obs_bytes_list must be positive integers, got {obs_bytes_list!r}")
    check_duration(seconds, 1)
    shared = mp.get_context("spawn").RawArray("B", int(max(sizes)))
    view = np.frombuffer(shared, dtype=np.uint8)
    peer, parent = _start_child(_ipc_peer, (shared,), "ipc_cost", 60.0)
    results = []
    try:
        for size in sizes:
            size = int(size)
            obs = np.random.default_rng(0).integers(0, 256, size=size, dtype=np.uint8)

            def by_pipe(obs: np.ndarray = obs) -> None:
                parent.send(obs)
                parent.recv_bytes()

            def by_shm(obs: np.ndarray = obs, size: int = size) -> None:
                view[:size] = obs
                parent.send_bytes(b"g")
                parent.recv_bytes()

            parent.send(("pipe",))
            pipe_rate = _timed(by_pipe, seconds)
            parent.send(None)
            parent.send(("shm", size))
            shm_rate = _timed(by_shm, seconds)
            parent.send_bytes(b"s")
            dst = np.empty_like(obs)
            copy_rate = _timed(lambda obs=obs, dst=dst: np.copyto(dst, obs), seconds)
            results.append(
                {
                    "obs_bytes": size,
                    "pipe_msgs_per_s": pipe_rate,
                    "pipe_bytes_per_s": pipe_rate * size,
                    "shm_msgs_per_s": shm_rate,
                    "shm_bytes_per_s": shm_rate * size,
                    "local_copy_bytes_per_s": copy_rate * size,
                }
            )
    finally:
        _stop(peer, parent)
        parent.close()
    return results
