"""You against the agent: a person's episodes, recorded, replayed and scored like an agent's.

Whoever plays — a person at the keyboard, or a scripted stand-in where there is no person (CI,
papermill) — is a function ``act(obs) -> action`` called once a step, so a person's episodes go
through the same env, seeds and frame skip as the agent's. Each episode is recorded per step as
plain JSON (the seed, and for each step the game tic it started on, the action and the reward):
never pickle, and enough to replay it to the same score, since a ViZDoom episode is determined
by its seed and its actions.

::

    log = PlayLog.open("runs/me")                 # locked, like a run folder
    log.add(play_episode(keyboard, "vizdoom:basic", seed=0, env_kwargs=spec.env_kwargs))
    you = as_result(load_played("runs/me"))       # an EvalResult, for compare_scores
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.errors import UserError, shown

__all__ = [
    "FORMAT",
    "PlayLog",
    "PlayedEpisode",
    "RecordingError",
    "as_result",
    "load_played",
    "play_episode",
    "replay",
    "versus",
]

FORMAT = "rlkit-played-episode"
VERSION = 1
PLAYED_GLOB = "played-*.json"
SUMMARY = "played.csv"  # not episodes.csv: a recording may share a folder with a training run


class RecordingError(UserError, ValueError):
    """A recorded episode that cannot be read, or that does not fit where it is used."""


@dataclass
class PlayedEpisode:
    """One recorded episode.

    :param env_id: the env it was played on (``vizdoom:basic``).
    :param env_kwargs: the env's arguments (frame skip, resolution): replaying needs the same.
    :param seed: the seed the episode was reset with.
    :param player: who played (``"you"``, ``"scripted"``...).
    :param actions: the action of each step (held for the frame skip's tics).
    :param rewards: the reward of each step.
    :param complete: the episode ended (death, goal or timeout); ``False`` for one the player
        stopped half way, which is kept as such and never counted as a score.
    """

    env_id: str
    env_kwargs: dict[str, Any]
    seed: int
    player: str
    actions: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    complete: bool = False

    def __post_init__(self) -> None:
        # As JSON will give them back (tuples become lists), so a record equals its reload.
        self.env_kwargs = json.loads(json.dumps(self.env_kwargs))

    @property
    def frame_skip(self) -> int:
        return int(self.env_kwargs.get("frame_skip", 1))

    @property
    def score(self) -> float:
        return float(math.fsum(self.rewards))

    @property
    def tics(self) -> list[int]:
        """The game tic each step started on (the action then repeats for the frame skip)."""
        return [i * self.frame_skip for i in range(len(self.actions))]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "seed": self.seed,
            "player": self.player,
            "complete": self.complete,
            "score": self.score,
            "steps": [
                {"tic": t, "action": a, "reward": r}
                for t, a, r in zip(self.tics, self.actions, self.rewards, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, d: Any, source: str = "a recorded episode") -> PlayedEpisode:
        """Read what :meth:`to_dict` wrote; anything else is one :class:`RecordingError`."""

        def bad(why: str) -> RecordingError:
            return RecordingError(f"{source} is not a recorded rlkit episode: {why}")

        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise bad(f"its 'format' is not {FORMAT!r}")
        if d.get("version") != VERSION:
            raise bad(f"version {shown(d.get('version'))}; valid: {VERSION}")
        try:
            steps = d["steps"]
            actions = [_is("an integer", s["action"]) for s in steps]
            rewards = [float(_is("a finite number", s["reward"])) for s in steps]
            ep = cls(
                env_id=_is("a non-empty string", d["env_id"]),
                env_kwargs=_is("an object", d["env_kwargs"]),
                seed=_is("an integer", d["seed"]),
                player=_is("a non-empty string", d["player"]),
                actions=actions,
                rewards=rewards,
                complete=_is("true or false", d["complete"]),
            )
        except KeyError as exc:
            raise bad(f"field {exc.args[0]!r} is missing") from None
        except (TypeError, ValueError) as exc:
            raise bad(str(exc)) from None
        if any(a < 0 for a in actions):
            raise bad("an action is negative")
        if ep.tics != [s.get("tic") for s in steps]:
            raise bad("its tics do not follow its frame skip")
        score = d.get("score")
        if not isinstance(score, (int, float)) or not math.isclose(score, ep.score, abs_tol=1e-6):
            raise bad(f"its score {shown(score)} is not the sum of its rewards ({ep.score:g})")
        return ep


_KINDS: dict[str, Callable[[Any], bool]] = {
    "an integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "a finite number": lambda v: (
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ),
    "a non-empty string": lambda v: isinstance(v, str) and bool(v),
    "an object": lambda v: isinstance(v, dict),
    "true or false": lambda v: isinstance(v, bool),
}


def _is(kind: str, v: Any) -> Any:
    if not _KINDS[kind](v):
        raise ValueError(f"{shown(v)} is not {kind}")
    return v


def play_episode(
    act: Callable[[np.ndarray], int],
    env_id: str,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
    player: str = "you",
    env: Any = None,
    max_steps: int = 100_000,
    on_step: Callable[[PlayedEpisode], None] | None = None,
) -> PlayedEpisode:
    """Play one seeded episode with ``act`` and record it.

    A ``KeyboardInterrupt`` (Ctrl-C, a kernel interrupt) ends the episode where it is: the
    exception carries the half-played record as ``exc.played`` (``complete=False``) so that the
    caller can keep it as such, and is raised again.

    :param act: ``act(obs) -> action``: a keyboard, or a scripted player posing as one.
    :param env_id: the env to play.
    :param seed: the episode's seed (the agent's episode ``i`` of an evaluation is ``seed + i``).
    :param env_kwargs: the env's arguments; pass the agent's (its checkpoint's env spec) so
        that both play the same game.
    :param player: the name the record and the comparison tables show.
    :param env: an env made with ``env_kwargs`` to reuse (not closed); ``None`` makes one.
    :param max_steps: safety cap on the episode's steps.
    :param on_step: called with the record after each step (a widget's score display).
    """
    kwargs = dict(env_kwargs or {})
    ep = PlayedEpisode(env_id, kwargs, int(seed), player)
    owned = env is None
    if owned:
        from rlkit.envs import make_env

        env = make_env(env_id, **kwargs)
    try:
        obs, _ = env.reset(seed=int(seed))
        try:
            while len(ep.actions) < max_steps:
                a = int(act(obs))
                obs, reward, terminated, truncated, _ = env.step(a)
                ep.actions.append(a)
                ep.rewards.append(float(reward))
                if on_step is not None:
                    on_step(ep)
                if terminated or truncated:
                    ep.complete = True
                    break
        except KeyboardInterrupt as exc:
            exc.played = ep  # type: ignore[attr-defined]
            raise
    finally:
        if owned:
            env.close()
    return ep


def replay(ep: PlayedEpisode, env: Any = None) -> PlayedEpisode:
    """Play a record's actions again on its env and seed; the new record (same score if the env
    is deterministic for a seed, as ViZDoom is)."""
    actions = iter(ep.actions)
    steps = len(ep.actions)
    out = play_episode(
        lambda _obs: next(actions),
        ep.env_id,
        ep.seed,
        ep.env_kwargs,
        player=ep.player,
        env=env,
        max_steps=steps,
    )
    if len(out.actions) != steps:
        raise RecordingError(
            f"the {ep.player!r} episode of seed {ep.seed} ended after {len(out.actions)} of its "
            f"{steps} recorded steps when replayed: it was recorded on another env"
        )
    return out


class PlayLog:
    """A folder of recorded episodes: each a ``played-NNNN.json`` written atomically, and a
    ``played.csv`` summary rewritten after each.

    A repeat into the same folder adds episodes and never overwrites one; a second process
    beside the first is refused with one sentence, by the same lock a run folder uses. Use
    :meth:`open` (and :meth:`close`, or ``with``).
    """

    def __init__(self, folder):
        self.path = folder.path
        self._folder = folder

    @classmethod
    def open(cls, path: str | os.PathLike) -> PlayLog:
        from rlkit.run_folder import RunFolder

        # Recording never writes a checkpoint, so a run folder's "already trained" refusal
        # does not apply: the agent's own run folder can hold the person's episodes beside it.
        return cls(RunFolder.open(path, resume=True))

    def episodes(self) -> list[Path]:
        return sorted(self.path.glob(PLAYED_GLOB))

    def add(self, ep: PlayedEpisode) -> Path:
        """Write ``ep`` as the next numbered episode, then the summary."""
        from rlkit.atomic import write_bytes, write_json

        existing = self.episodes()
        n = 1 + max((_number(p) for p in existing), default=0)
        path = write_json(self.path / f"played-{n:04d}.json", ep.to_dict())
        rows = [_summary_row(p) for p in [*existing, path]]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_bytes(self.path / SUMMARY, text.getvalue())
        return path

    def play(self, act: Callable[[np.ndarray], int], env_id: str, seed: int, **kw: Any):
        """:func:`play_episode` into this log. Stopped half way (``KeyboardInterrupt``), the
        episode is written as such (``complete: false``) before the interrupt goes on."""
        try:
            ep = play_episode(act, env_id, seed, **kw)
        except KeyboardInterrupt as exc:
            played = getattr(exc, "played", None)
            if played is not None and played.actions:
                self.add(played)
            raise
        self.add(ep)
        return ep

    def close(self) -> None:
        self._folder.close()

    def __enter__(self) -> PlayLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _number(path: Path) -> int:
    try:
        return int(path.stem.split("-", 1)[1])
    except (IndexError, ValueError):
        return 0


def _summary_row(path: Path) -> dict[str, Any]:
    ep = _read(path)
    return {
        "file": path.name,
        "player": ep.player,
        "env_id": ep.env_id,
        "seed": ep.seed,
        "steps": len(ep.actions),
        "score": ep.score,
        "complete": ep.complete,
    }


def _read(path: Path) -> PlayedEpisode:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not valid JSON"
        raise RecordingError(f"cannot read the recorded episode {path}: {why}") from None
    return PlayedEpisode.from_dict(d, source=str(path))


def load_played(path: str | os.PathLike, complete_only: bool = True) -> list[PlayedEpisode]:
    """The recorded episodes of a file or a folder (a :class:`PlayLog`'s), in recording order.

    :param complete_only: leave out the episodes stopped half way.
    :raises RecordingError: a file that is not a recorded episode, or a folder with none.
    """
    p = Path(path)
    files = sorted(p.glob(PLAYED_GLOB)) if p.is_dir() else [p]
    if not files:
        raise RecordingError(f"{p} holds no recorded episodes ({PLAYED_GLOB})")
    eps = [_read(f) for f in files]
    return [e for e in eps if e.complete or not complete_only]


def as_result(episodes: Iterable[PlayedEpisode]):
    """The complete episodes as an :class:`rlkit.evaluation.EvalResult`, in seed order, for
    :func:`rlkit.stats.compare_scores` beside the agents."""
    from rlkit.evaluation import EvalResult

    eps = sorted((e for e in episodes if e.complete), key=lambda e: e.seed)
    if not eps:
        raise RecordingError("no complete episode to score (every one was stopped half way)")
    return EvalResult(scores=[e.score for e in eps], lengths=[len(e.actions) for e in eps])


def versus(
    agent,
    played: Iterable[PlayedEpisode],
    seed: int = 0,
    name: str = "agent",
    min_episodes: int = 5,
) -> dict[str, Any]:
    """The agent against you on the same seeds: its lead, a paired bootstrap interval of it, and
    a sentence that says what the numbers allow one to conclude.

    :param agent: the agent's :class:`rlkit.evaluation.EvalResult` from ``evaluate(...,
        seed=seed)``: its episode ``i`` was reset with ``seed + i``.
    :param played: your recorded episodes; only the complete ones on the agent's seeds count.
    :param seed: the first seed of the agent's evaluation.
    :param min_episodes: below this many shared seeds the sentence says there are too few.
    """
    from rlkit.stats import bootstrap_diff, certified_score

    by_seed = {seed + i: s for i, s in enumerate(agent.scores)}
    pairs = sorted(
        (e.seed, by_seed[e.seed], e.score) for e in played if e.complete and e.seed in by_seed
    )
    if not pairs:
        raise RecordingError(
            f"none of your complete episodes was played on the {name}'s seeds "
            f"{seed}..{seed + len(agent.scores) - 1}"
        )
    seeds = [p[0] for p in pairs]
    theirs = [p[1] for p in pairs]
    yours = [p[2] for p in pairs]
    lead, low, high = bootstrap_diff(theirs, yours, paired=True)
    n = len(pairs)
    if n < min_episodes:
        verdict = (
            f"{n} shared episode(s) are too few to conclude (at least {min_episodes}); "
            "play more seeds"
        )
    elif low > 0:
        verdict = (
            f"the {name} beats you by {lead:.1f} points (95 % interval {low:.1f} to {high:.1f})"
        )
    elif high < 0:
        verdict = (
            f"you beat the {name} by {-lead:.1f} points (95 % interval {-high:.1f} to {-low:.1f})"
        )
    else:
        verdict = (
            f"no difference can be told apart over {n} episodes (the {name}'s lead "
            f"{lead:.1f}, 95 % interval {low:.1f} to {high:.1f})"
        )
    return {
        "episodes": n,
        "seeds": seeds,
        f"{name}_mean": float(np.mean(theirs)),
        "you_mean": float(np.mean(yours)),
        f"{name}_certified": certified_score(theirs),
        "you_certified": certified_score(yours),
        "lead": lead,
        "lead_low": low,
        "lead_high": high,
        "verdict": verdict,
    }
