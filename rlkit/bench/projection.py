"""Time to score against machine count, projected from what was measured on one machine.

Past the machine at hand, no run can show how training scales; a model built from measured
costs can, and it can say which cost stops the scaling. :func:`project` takes the numbers of
:class:`Measured` (one worker's env steps/s, the cost of moving observations and of the
all-reduce, the learner's time per step, how much a worker's round time varies) and, for each
machine count, the time of one synchronous round split into its parts, the time to score, the
speedup over one machine, the ideal line and the part that dominates (``bottleneck``).

The model and its limits are stated in :data:`ASSUMPTIONS`, so a notebook can print them beside
the figure; :data:`SOURCE_RESULT` holds the published result it is drawn against (synchronous
BA3C on Atari across 64 CPU machines). Pure functions of plain numbers: no torch, no Ray.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlkit.bench.allreduce_cost import MB

__all__ = [
    "ASSUMPTIONS",
    "BOTTLENECKS",
    "LEARNERS",
    "SOURCE_RESULT",
    "Measured",
    "project",
    "straggler_factor",
    "where_it_breaks",
]

LEARNERS = ("central", "allreduce")
"""``central``: one learner receives every fragment; ``allreduce``: one learner per machine,
gradients averaged across machines."""

BOTTLENECKS = ("collect", "stragglers", "network", "learner")
"""What a round's time can be dominated by: stepping envs, waiting for the slowest worker,
moving data (fragments, weights, the all-reduce), or learning."""

SOURCE_RESULT: dict[str, Any] = {
    "citation": (
        "I. Adamski, R. Adamski, T. Grel, A. Jędrych, K. Kaczmarek, H. Michalewski, "
        "'Distributed Deep Reinforcement Learning: Learn how to play Atari games in 21 "
        "minutes', ISC High Performance 2018, LNCS 10876; arXiv:1801.02852"
    ),
    "algorithm": "BA3C, synchronous across machines (asynchronous within one)",
    "game": "Atari Breakout",
    "machines": [1, 64],
    "cores": [24, 768],
    "minutes": [600.0, 21.0],
    "note": (
        "as the abstract states them: 10 hours for a baseline single-node implementation on "
        "one 24-core node, 21 minutes on 64 nodes of 12 cores; the two points are not the same "
        "code on one and on 64 machines, so their ratio is not a measured speedup"
    ),
}

ASSUMPTIONS = (
    "The env steps needed to reach the score do not change with the number of workers: a "
    "larger synchronous batch is taken to be as sample-efficient as the one-machine run (the "
    "source had to retune its optimiser to get there).",
    "Rounds are synchronous and their phases do not overlap: collect fragments, ship them, "
    "learn, send the weights back.",
    "Every worker steps at the measured single-worker rate; all machines are alike.",
    "A round waits for its slowest worker. Worker round times are lognormal with the measured "
    "mean and coefficient of variation, independent across workers and rounds; the expected "
    "wait is computed from that distribution's order statistics.",
    "Backup workers run on cores of their own, so they slow no one: a round takes the first "
    "N of N + b fragments and drops the rest.",
    "Central learner: every fragment and every machine's copy of the weights cross the "
    "learner's one link at the measured seconds per MB, so its share of a round grows with "
    "the machine count; on one machine that cost is moving data between processes.",
    "Central learner: learning costs the measured seconds per env step, so it grows with the "
    "number of workers feeding it.",
    "All-reduce: each machine learns from its own workers and the machines all-reduce a "
    "gradient the size of the weights, a ring moving 2(M-1)/M of it per machine; "
    "allreduce_s_per_mb is the collective's time per MB between two machines.",
    "Start-up, evaluation, checkpoints and failures are left out.",
    "A run takes at least one whole round: past the machine count where one round holds the "
    "steps to score, more machines only make the round slower.",
)


def _number(name: str, value: Any, low: float, strict: bool) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= low if strict else value < low):
        bound = f"above {low:g}" if strict else f"of at least {low:g}"
        raise ValueError(f"Measured.{name} must be a finite number {bound}, got {value!r}")


def _integer(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"Measured.{name} must be an integer of at least {low}, got {value!r}")


@dataclass(frozen=True)
class Measured:
    """The measured numbers a projection is computed from (all per one machine's run).

    Times are seconds, sizes MB (10^6 bytes) unless the name says bytes.
    """

    steps_to_score: float
    """Env steps needed to reach the score, from a single-machine run."""
    steps_per_s_per_worker: float
    """One worker's env steps per second."""
    workers_per_machine: int
    """Workers stepping envs on each machine."""
    fragment_steps: int
    """Env steps each worker collects and ships per round."""
    bytes_per_step: float
    """Observation bytes shipped per env step."""
    transfer_s_per_mb: float
    """Seconds to move one MB to or from the learner (e.g. ``transfer_costs``' seconds_per_mb)."""
    weights_mb: float
    """Size of the model sent back each round (and of its gradient)."""
    learner_s_per_step: float
    """Learner seconds per env step of data, on one learner."""
    allreduce_s_per_mb: float
    """Seconds per MB of gradient all-reduced between two machines (0 for a single learner)."""
    straggler_cv: float
    """Coefficient of variation (std / mean) of one worker's round time."""
    backup_workers: int = 0
    """Extra workers in the whole cluster whose fragments a round need not wait for."""

    def __post_init__(self) -> None:
        _number("steps_to_score", self.steps_to_score, 0, strict=True)
        _number("steps_per_s_per_worker", self.steps_per_s_per_worker, 0, strict=True)
        _integer("workers_per_machine", self.workers_per_machine, 1)
        _integer("fragment_steps", self.fragment_steps, 1)
        for name in (
            "bytes_per_step",
            "transfer_s_per_mb",
            "weights_mb",
            "learner_s_per_step",
            "allreduce_s_per_mb",
            "straggler_cv",
        ):
            _number(name, getattr(self, name), 0, strict=False)
        _integer("backup_workers", self.backup_workers, 0)


# -- waiting for the slowest worker -----------------------------------------------------------
_Z = np.linspace(-12.0, 12.0, 4801)  # standard-normal grid: far enough out for a million workers


@functools.cache
def _log_tails() -> tuple[np.ndarray, np.ndarray]:
    """log Φ(z) and log(1 - Φ(z)) on the grid, each from erfc so neither tail rounds to 0."""
    erfc = np.vectorize(math.erfc)
    return np.log(0.5 * erfc(-_Z / math.sqrt(2))), np.log(0.5 * erfc(_Z / math.sqrt(2)))


@functools.lru_cache(maxsize=1024)
def straggler_factor(workers: int, backups: int, cv: float) -> float:
    """Expected time of a round over one worker's mean round time: the expected ``workers``-th
    fastest of ``workers + backups`` lognormal round times with mean 1 and this CV.

    1 for one worker and no backup, above 1 when the round waits for the slowest of several,
    lower again with backups. Computed by integrating the order statistic's density over a
    fine grid (exact to the grid, unlike the ``1 + cv·sqrt(2 ln N)`` rule of thumb, which
    overstates the wait for a few workers).
    """
    if workers < 1 or backups < 0 or not cv >= 0:
        raise ValueError(
            f"straggler_factor needs workers >= 1, backups >= 0 and cv >= 0, got "
            f"{workers!r}, {backups!r}, {cv!r}"
        )
    if cv == 0:
        return 1.0
    n, k = workers + backups, workers
    log_cdf, log_sf = _log_tails()
    # Density of the k-th smallest of n standard normals, up to a constant (normalised below).
    log_w = (k - 1) * log_cdf + (n - k) * log_sf - 0.5 * _Z**2
    w = np.exp(log_w - log_w.max())
    s2 = math.log1p(cv * cv)  # the lognormal's log-variance for this CV
    x = np.exp(math.sqrt(s2) * _Z - 0.5 * s2)  # round time at each z, mean 1
    return float((w * x).sum() / w.sum())


# -- the projection ----------------------------------------------------------------------------
def _round(m: Measured, machines: int, learner: str) -> dict[str, float]:
    """Seconds of each part of one round on ``machines`` machines."""
    workers = machines * m.workers_per_machine
    collect = m.fragment_steps / m.steps_per_s_per_worker
    waited = collect * straggler_factor(workers, m.backup_workers, m.straggler_cv)
    per_machine_mb = m.workers_per_machine * m.fragment_steps * m.bytes_per_step / MB
    if learner == "central":
        moved_mb = machines * (per_machine_mb + m.weights_mb)  # all through one link
        learn = m.learner_s_per_step * workers * m.fragment_steps
        allreduce = 0.0
    else:
        moved_mb = per_machine_mb + m.weights_mb  # each machine to its own learner, in parallel
        learn = m.learner_s_per_step * m.workers_per_machine * m.fragment_steps
        allreduce = m.allreduce_s_per_mb * m.weights_mb * 2 * (machines - 1) / machines
    return {
        "collect_s": waited,
        "straggler_s": waited - collect,
        "transfer_s": moved_mb * m.transfer_s_per_mb,
        "learner_s": learn,
        "allreduce_s": allreduce,
    }


def _seconds(parts: dict[str, float]) -> float:
    """A round's time: its phases one after the other (the straggler wait is in collect_s)."""
    return parts["collect_s"] + parts["transfer_s"] + parts["learner_s"] + parts["allreduce_s"]


def _bottleneck(parts: dict[str, float]) -> str:
    shares = {
        "collect": parts["collect_s"] - parts["straggler_s"],
        "stragglers": parts["straggler_s"],
        "network": parts["transfer_s"] + parts["allreduce_s"],
        "learner": parts["learner_s"],
    }
    return max(BOTTLENECKS, key=lambda name: shares[name])  # ties go to the earlier name


def project(
    measured: Measured, machines: Sequence[int], learner: str = "central"
) -> list[dict[str, Any]]:
    """Project the time to score on each machine count in ``machines``.

    :param measured: the measured costs (:class:`Measured`).
    :param machines: machine counts, each an integer of at least 1.
    :param learner: ``"central"`` (one learner fed by every worker) or ``"allreduce"`` (a
        learner per machine, gradients all-reduced).
    :return: one dict per machine count, in the order given: ``machines``, ``workers``,
        ``steps_per_round``, ``rounds``; the round's parts in seconds, ``collect_s`` (stepping
        plus waiting for the slowest worker), ``straggler_s`` (that wait, included in
        ``collect_s``), ``transfer_s``, ``learner_s``, ``allreduce_s``, and ``round_s``
        (collect + transfer + learner + all-reduce); ``total_s`` (to the score),
        ``ideal_seconds`` (one machine's time over the count), ``speedup`` (over one
        machine), ``efficiency`` (speedup over the count) and ``bottleneck`` (one of
        :data:`BOTTLENECKS`: the largest part of a round).
    """
    if not isinstance(measured, Measured):
        raise ValueError(f"measured must be a Measured, got a {type(measured).__name__}")
    if learner not in LEARNERS:
        raise ValueError(f"learner must be one of {', '.join(LEARNERS)}, got {learner!r}")
    counts = list(machines) if isinstance(machines, Sequence) else []
    if not counts or any(
        isinstance(c, bool) or not isinstance(c, int | np.integer) or c < 1 for c in counts
    ):
        raise ValueError(
            f"machines must be a non-empty sequence of integers of at least 1, got {machines!r}"
        )

    def total(count: int) -> tuple[float, float, dict[str, float]]:
        parts = _round(measured, count, learner)
        steps = count * measured.workers_per_machine * measured.fragment_steps
        rounds = max(1.0, measured.steps_to_score / steps)  # a round cannot be split
        return rounds, rounds * _seconds(parts), parts

    _, one, _ = total(1)
    rows = []
    for count in counts:
        count = int(count)
        rounds, seconds, parts = total(count)
        speedup = one / seconds
        rows.append(
            {
                "machines": count,
                "workers": count * measured.workers_per_machine,
                "steps_per_round": count * measured.workers_per_machine * measured.fragment_steps,
                "rounds": rounds,
                **parts,
                "round_s": _seconds(parts),
                "total_s": seconds,
                "ideal_seconds": one / count,
                "speedup": speedup,
                "efficiency": speedup / count,
                "bottleneck": _bottleneck(parts),
            }
        )
    return rows


def where_it_breaks(rows: Sequence[dict[str, Any]], efficiency: float = 0.5) -> dict | None:
    """The first row of :func:`project` (fewest machines) whose efficiency falls below
    ``efficiency``, or ``None`` if none does; its ``bottleneck`` says what broke."""
    if not (isinstance(efficiency, int | float) and 0 < efficiency <= 1):
        raise ValueError(f"efficiency must be a number in (0, 1], got {efficiency!r}")
    for row in sorted(rows, key=lambda r: r["machines"]):
        if row["efficiency"] < efficiency:
            return row
    return None
