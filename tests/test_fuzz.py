"""Fuzzing (hypothesis): bad input is caught before work starts, in one line.

Random presets, field names, values and ``--set`` strings go to the config builder, and random
argument lists to every ``rlkit`` command, in-process (``rlkit.cli.main``), with each function
that would start the work (training, a benchmark, playing episodes, exporting, a notebook, the
quickstart)
replaced by a stub that records what reached it. Each case either works — the config is valid
by its own rules; the command exits 0 and its stub got validated input — or ends in one line:
a ``ConfigError``/``ValueError`` naming the field or the bad text, or ``rlkit: error: …`` (for a
usage error argparse's ``rlkit …: error: …``) and exit status 2, with no stub reached. Never
another exception, never a hang: each case has a deadline and an alarm.

The file feeds :data:`FED_PLANNED` cases (the sum of the ``max_examples`` below);
``test_every_case_was_fed`` counts those that ran.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import re
import signal
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rlkit.config import MAX_TORCH_THREADS, DQNConfig, PPOConfig
from rlkit.env_options import DOOM_OPTIONS
from rlkit.fields import MAX_INT, validate
from rlkit.presets import PRESETS, preset

EXAMPLES = {
    "test_preset_with_random_overrides": 300,
    "test_set_strings_through_the_cli_parsing": 300,
    "test_from_dict_with_random_dicts": 100,
    "test_train_command": 150,
    "test_bench_time_to_score_commands": 80,
    "test_other_bench_commands": 150,
    "test_play_command": 80,
    "test_export_command": 60,
    "test_notebooks_command": 40,
    "test_quickstart_command": 60,
    "test_any_tokens": 100,
}
FED_PLANNED = sum(EXAMPLES.values())  # 1,420
FED: Counter[str] = Counter()
CASE_SECONDS = 20  # the alarm: far above any case's time, so only a hang rings it


def fuzz(name: str):
    """``@settings`` of one fuzz test: its examples, a deadline per case."""
    return settings(
        max_examples=EXAMPLES[name],
        deadline=timedelta(seconds=2),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextlib.contextmanager
def bounded(seconds: float = CASE_SECONDS):
    """Fail a case that hangs, instead of hanging the test run."""

    def ring(signum, frame):
        raise TimeoutError(f"the case ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------------------------------
# values: real names and junk, numbers of every size and form

PRESET_NAMES = sorted(PRESETS)
FIELDS = {cls: {f.name: f for f in dataclasses.fields(cls)} for cls in (DQNConfig, PPOConfig)}
FIELD_NAMES = sorted(set(FIELDS[DQNConfig]) | set(FIELDS[PPOConfig]))
ANNOTATIONS = {n: str(f.type) for c in FIELDS.values() for n, f in c.items()}
ODD_TEXT = [
    *("1e400", "-1e400", "1e-400", "0x10", "0o7", "0b1", "nan", "NaN", "-nan", "inf", "-inf"),
    *("Infinity", "-0", "+0", "-0.0", "True", "true", "FALSE", "yes", "no", "None", "null"),
    *("[1,2]", "[30, 45]", "{}", "{", "}", '{"frame_skip": 4}', '{"resolution": [30, 45]}'),
    *('{"a": NaN}', '{"frame_skip": Infinity}', '{"resolution": [8000, 45]}', "[" * 5000),
    *("1_000", "１２", "٣", "1e5", "1.5", " 7 ", "", " ", "\n", "\t", "\x00", "9" * 5000),
    *("0.0", "1e-320", "2**63", str(2**63), str(2**63 - 1), str(2**64), str(-(2**63))),
    *("lr=1", "=", "==", "a=b=c", "é", "🙂", "\u2028", "x" * 300, "'1'", '"1"', "1,2"),
]
junk_text = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(ODD_TEXT),
)


class Huge(int):
    """An int of thousands of digits whose repr hypothesis can print (Python's refuses; that
    case is tests/test_config.py's)."""

    def __repr__(self) -> str:
        return f"<int of {self.bit_length()} bits>"


numbers = st.one_of(
    st.integers(-3, 3000),
    st.integers(),
    st.integers(-(2**80), 2**80),
    st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64, -(2**63), 10**400]),
    st.integers(4400, 5000).map(lambda n: Huge(10**n)),
    st.floats(),  # nan, ±inf, subnormals included
    st.floats(0, 1),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, junk_text)
# ints in nested values stay JSON-able (json.dumps refuses 5000-digit ones itself)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), junk_text
)


def nested(leaves):
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.lists(kids, max_size=3),
            st.tuples(kids, kids),
            st.dictionaries(st.sampled_from(DOOM_OPTIONS) | st.text(max_size=6), kids, max_size=3),
        ),
        max_leaves=8,
    )


values = nested(scalars)
doom_values = {  # near what ViZDoom takes, on both sides of its limits
    "resolution": st.one_of(
        st.tuples(st.integers(0, 1400), st.integers(0, 1400)),
        st.lists(st.integers(0, 1400), min_size=1, max_size=3),
    ),
    "render_resolution": st.none() | st.tuples(st.integers(0, 1400), st.integers(0, 1400)),
    "frame_skip": st.integers(-2, 80),
    "frame_stack": st.integers(-2, 20),
    "episode_timeout": st.none() | st.integers(-2, 10**10),
    "actions": st.sampled_from(["buttons", "combinations", "all", ""]),
    "render_mode": st.sampled_from([None, "rgb_array", "human", "ansi"]),
    "window": st.booleans() | st.integers(0, 1),
    "realtime": st.booleans() | st.integers(0, 1),
}
env_kwargs = st.dictionaries(
    st.sampled_from(DOOM_OPTIONS) | st.sampled_from(["max_episode_steps", "foo", "a b", ""]),
    st.one_of(*doom_values.values(), nested(json_scalars)),
    max_size=4,
)


def plausible(name: str) -> st.SearchStrategy:
    """Values near what the field takes, valid or just not."""
    kinds = ANNOTATIONS.get(name, "")
    if name == "env_kwargs":
        return env_kwargs
    if "bool" in kinds:
        return st.booleans() | st.integers(0, 2)
    if "int" in kinds:
        edges = st.sampled_from([-1, 0, 1, 1024, 1025, MAX_INT, MAX_INT + 1, 10**30])
        return st.integers(1, 5000) | st.integers(1, 5000) | edges
    if "float" in kinds:
        edges = st.sampled_from([-0.5, 1e-9, 0.0, 1.0, 1.5, 3600.0, 1e300, 10**400])
        return st.floats(0.001, 1) | st.floats(0.001, 1) | edges
    choices = ["adam", "sgd", "huber", "mse", "sync", "pool", "threads", "fast", "nature"]
    choices += ["auto", "cpu", "device", "CartPole-v1", "vizdoom:basic", "vizdoom:nope"]
    return st.sampled_from(choices) | junk_text


def text_for(name: str) -> st.SearchStrategy:
    """``--set`` value text for a field: its plausible values written out, or odd text."""
    kinds = ANNOTATIONS.get(name, "")
    if name == "env_kwargs":
        written = env_kwargs.map(_dumps)
    elif "bool" in kinds:
        written = st.sampled_from(["true", "false", "1", "0", "yes", "no", "maybe", "2"])
    else:
        written = plausible(name).map(_written)
    return st.one_of(written, written, junk_text)


def _written(value: Any) -> str:
    try:
        return str(value)
    except ValueError:  # an int of more digits than str() writes
        return "9" * 5000


def _dumps(value: Any) -> str:
    return json.dumps(value)  # NaN and Infinity included, as Python writes them


field_names = st.one_of(
    st.sampled_from(FIELD_NAMES),
    st.sampled_from(FIELD_NAMES),
    st.sampled_from(["learning_rate", "LR", "lr ", " lr", "__class__", "algo", "rollout_size"]),
    st.sampled_from(["name", "self", "overrides", "config"]),  # preset's and replace's own
    junk_text,
)
real_change = st.sampled_from(FIELD_NAMES).flatmap(lambda n: st.tuples(st.just(n), plausible(n)))
overrides = st.lists(
    st.one_of(
        real_change,
        st.sampled_from(FIELD_NAMES).flatmap(lambda n: st.tuples(st.just(n), values)),
        st.tuples(field_names, values),
    ),
    max_size=4,
).map(dict)
near_valid = st.lists(real_change, max_size=3).map(dict)  # so that many configs get built
real_set = st.sampled_from(FIELD_NAMES).flatmap(lambda n: text_for(n).map(lambda v: f"{n}={v}"))
near_valid_set = st.lists(real_set, max_size=3)
set_strings = st.one_of(
    real_set,
    st.sampled_from(FIELD_NAMES).flatmap(lambda n: text_for(n).map(lambda v: f" {n} = {v}")),
    st.tuples(field_names, junk_text).map("=".join),
    st.sampled_from(["lr", "=1", " =1", "lr==1", "=", "", "lr=1e-3=2", "a\nb=1", "seed"]),
    junk_text,
)
# Real names and a few wrong ones in one list (a one_of with junk text drew mostly junk), so
# that most cases get to the fields.
preset_names = st.sampled_from(
    [*PRESET_NAMES * 4, "doom", "CartPole", "cartpole ", "", "\n", "cartpole\x00", "é" * 200]
)


# ------------------------------------------------------------------------------------------
# what a built config and a refusal must look like


def _current_test() -> str:
    """The fuzz test a case belongs to (counted once its input is drawn, so that draws
    hypothesis abandons are not)."""
    frame = sys._getframe(1)  # inspect.stack() would read every frame's source: seconds
    while frame.f_code.co_name not in EXAMPLES:
        frame = frame.f_back
    return frame.f_code.co_name


def assert_valid_config(cfg: Any) -> None:
    """A config that was built is valid by its own rules, and survives its round trips."""
    assert isinstance(cfg, DQNConfig | PPOConfig)
    validate(cfg)  # every field's check and the relations, again
    assert cfg.replace() == cfg
    assert type(cfg).from_dict(cfg.to_dict()) == cfg
    json.dumps(cfg.to_dict())  # what checkpoints and config.json store
    for name, f in FIELDS[type(cfg)].items():  # each field has its annotated type
        value, kinds = getattr(cfg, name), str(f.type)
        if value is None:
            assert "None" in kinds, name
        elif "bool" in kinds:
            assert isinstance(value, bool), name
        elif "int" in kinds:
            assert type(value) is int and 0 <= value <= MAX_INT, name
        elif "float" in kinds:
            assert isinstance(value, float | int) and not isinstance(value, bool), name
            assert math.isfinite(value), name


def assert_one_line(message: str) -> None:
    assert message and len(message.splitlines()) == 1 and "\n" not in message, repr(message)
    assert "Traceback" not in message, message


# Messages that name nothing the user gave (from inside Python, torch or numpy).
UNCLEAR = ("Overflow", "embedded null", "Exceeds the limit", "too large to convert", "recursion")


def assert_names_the_problem(exc: BaseException) -> None:
    """A refusal of a config: one line that names a field, the preset or the --set text."""
    assert isinstance(exc, ValueError), type(exc)  # ConfigError is one
    message = str(exc)
    assert_one_line(message)
    assert not any(u in message for u in UNCLEAR), message
    named = any(f"'{n}'" in message for n in FIELD_NAMES) or message.startswith(
        ("unknown config field", "unknown preset", "--set expects")
    )
    assert named, message


def build_or_refuse(build) -> Any:
    FED[_current_test()] += 1
    with bounded():
        try:
            cfg = build()
        except ValueError as e:
            assert_names_the_problem(e)
            event("refused")  # --hypothesis-show-statistics shows how the cases went
            return None
    assert_valid_config(cfg)
    event("built")
    return cfg


# ------------------------------------------------------------------------------------------
# 1. the config builder


@fuzz("test_preset_with_random_overrides")
@given(name=preset_names, changes=st.one_of(overrides, near_valid))
@pytest.mark.slow
def test_preset_with_random_overrides(name, changes):
    cfg = build_or_refuse(lambda: preset(name, **changes))
    if cfg is not None:  # each change is in the config as given (an int as a float)
        for key, value in changes.items():
            assert getattr(cfg, key) == value, key


@fuzz("test_set_strings_through_the_cli_parsing")
@given(name=preset_names, pairs=st.one_of(st.lists(set_strings, max_size=4), near_valid_set))
@pytest.mark.slow
def test_set_strings_through_the_cli_parsing(name, pairs):
    from rlkit.cli.train import parse_overrides

    build_or_refuse(lambda: preset(name, **parse_overrides(pairs)))


@fuzz("test_from_dict_with_random_dicts")
@given(
    cls=st.sampled_from([DQNConfig, PPOConfig]),
    base=st.sampled_from(PRESET_NAMES),
    changes=st.one_of(overrides, near_valid),
)
def test_from_dict_with_random_dicts(cls, base, changes):
    d = PRESETS[base].to_dict() if isinstance(PRESETS[base], cls) else {}
    build_or_refuse(lambda: cls.from_dict({**d, **changes}))


# ------------------------------------------------------------------------------------------
# 2. the command line, in-process, with stubs where the work would start

REACHED: list[tuple[str, dict[str, Any]]] = []


class Reached(Exception):
    """A stub raises this where returning a plausible result would take too much pretending
    (``bench dqn|ppo``: training, then an evaluation of the model); it counts as exit 0."""


def usable(value: Any, name: str = "") -> bool:
    """Whether a value a command hands to its work was validated: finite numbers, ints that fit
    in an int64 and are not negative (counts, seeds, sizes), thread counts torch takes."""
    if value is None or isinstance(value, bool) or callable(value):
        return True
    if isinstance(value, int):
        top = MAX_TORCH_THREADS if "thread" in name else MAX_INT
        return 0 <= value <= top
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str | Path):  # which strings are valid is the work's to say
        return "\0" not in str(value)
    if isinstance(value, list | tuple):
        return all(usable(v, name) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and usable(v, k) for k, v in value.items())
    return True


def stub(name: str, result: Any = None):
    """A stand-in for the function ``name`` that starts work: it checks what reached it,
    records the call and returns ``result`` (called with the arguments when callable)."""

    def work(*args, **kwargs):
        for i, v in enumerate(args):
            assert usable(v, f"{name}[{i}]"), (name, i, v)
        for k, v in kwargs.items():
            assert usable(v, k), (name, k, v)
        REACHED.append((name, {"args": args, **kwargs}))
        return result(*args, **kwargs) if callable(result) else result

    return work


class FakeHistory:
    eval_means: list[float] = []


class FakeTrainResult:
    def __init__(self, cfg: Any):
        from rlkit.envs.factory import EnvSpec

        self.history = FakeHistory()
        self.env_spec = EnvSpec(cfg.env_id, (4,), "float32", ("a", "b"), dict(cfg.env_kwargs))
        self.device_report: dict[str, Any] = {}

    def summary(self) -> str:
        return "trained (stub)"


def _fake_train(config, device="auto", **kwargs):
    assert_valid_config(config)
    from rlkit.remote.cluster import is_ray_device

    if not is_ray_device(device):
        from rlkit.devices import select_device

        select_device(device)  # the command let through only a device that is here
    if kwargs.get("run_dir") is None:  # bench dqn|ppo: the rest of its run is no stub's
        raise Reached("train")
    return FakeTrainResult(config)


def _fake_evaluate(policy, env_id, episodes, **kwargs):
    from rlkit.evaluation import EvalResult

    n = min(episodes, 3)
    return EvalResult(scores=[1.0] * n, lengths=[5] * n)


def _fake_remote_train(config, address, **kwargs):
    assert_valid_config(config)
    return FakeTrainResult(config)


def _fake_exporter(checkpoint, out, check_observations):
    from rlkit.export import ExportReport

    n = min(check_observations, 3)
    return ExportReport(str(out), 1234, n, 1.0, 0.0, 0.01)


def _fake_quickstart(out, *, episodes, target, max_steps, seed):
    # The command made the folder before the work: a bad --out never gets this far.
    assert Path(out).is_dir(), out
    assert episodes >= 1 and max_steps >= 1 and seed >= 0 and math.isfinite(target)
    return {"reached": False, "out": str(out)}


def _fake_notebook(nb, target, params, kernel, stream, check_figures=False, live=None):
    Path(target).write_text('{"cells": []}')  # an executed copy with no checked cell
    return {"notebook": nb.name, "seconds": 0.0, "output": str(target), "claims": [], "error": None}


class _FakeRemoteReport:
    @staticmethod
    def from_dict(d: dict[str, Any]) -> str:
        return "remote device (stub)"


BENCHES = ("env", "learner", "infer", "remote", "grid", "straggler", "scaling", "soak")


@contextlib.contextmanager
def stubbed(root: Path):
    """Every entry point of real work replaced; ``REACHED`` lists the calls. The working folder
    and default output folders (``notebooks`` without ``--out``) are under ``root``."""
    import rlkit.cli.bench_runs
    import rlkit.cli.export
    import rlkit.cli.play
    import rlkit.cli.train
    import rlkit.entry
    import rlkit.evaluation
    import rlkit.notebooks
    import rlkit.paths
    import rlkit.quickstart
    import rlkit.remote

    REACHED.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rlkit.entry, "train", stub("train", _fake_train))
        mp.setattr(rlkit.remote, "train", stub("remote.train", _fake_remote_train))
        mp.setattr(rlkit.remote, "RemoteDeviceReport", _FakeRemoteReport)
        mp.setattr(rlkit.cli.train, "_save_curves", lambda result, path: None)
        mp.setattr(rlkit.cli.bench_runs, "_save_figure", lambda record, path: None)
        mp.setattr(rlkit.evaluation, "evaluate", stub("evaluate", _fake_evaluate))
        mp.setattr(rlkit.cli.play, "_write_gif", lambda args, record, result: {"gif": "stub"})
        mp.setattr(rlkit.cli.export, "_exporter", lambda: stub("export", _fake_exporter))
        mp.setattr(rlkit.notebooks, "run_one", stub("notebook", _fake_notebook))
        mp.setattr(rlkit.notebooks, "kernel_name", lambda: "python3")
        mp.setattr(rlkit.quickstart, "quickstart", stub("quickstart", _fake_quickstart))
        mp.setattr(rlkit.paths, "runs_dir", lambda: root / "runs")
        for kind in BENCHES:
            module = __import__(f"rlkit.bench.{kind}", fromlist=["x"])
            mp.setattr(module, f"bench_{kind}", stub(f"bench {kind}", {"stub": kind}))
            mp.setattr(module, f"format_{kind}_table", lambda result: "table (stub)")
        # A junk token that lands after --out is a relative path: it must land in here.
        (root / "cwd").mkdir(exist_ok=True)
        mp.chdir(root / "cwd")
        mp.delenv("DISPLAY", raising=False)  # --window: the same answer on every machine
        mp.delenv("WAYLAND_DISPLAY", raising=False)
        mp.delenv("RAY_ADDRESS", raising=False)
        yield


USAGE_LINE = re.compile(r"^rlkit( [\w-]+)*: error: (.+) \(see rlkit( [\w-]+)* --help\)$")


def run_cli(argv: list[str], root: Path) -> None:
    """Run ``rlkit argv`` in-process and check the outcome."""
    import torch

    FED[_current_test()] += 1
    from rlkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()  # `play --threads` sets torch's
    usage = reached = False
    with stubbed(root), bounded(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse: usage errors, --help, --version
            rc, usage = e.code, True
        except Reached:
            rc, reached = 0, True
        finally:
            torch.set_num_threads(threads)
    calls, text = list(REACHED), err.getvalue()
    if usage and rc == 0:
        assert {"-h", "--help", "--version"} & set(argv), argv
        event("help")
        return
    assert rc in (0, 2), (argv, rc, text)
    if rc == 0:
        assert calls or reached, f"exit 0 without reaching any work: {argv}"
        event(f"exit 0: {calls[0][0] if calls else 'train'} reached")
        return
    event("usage error" if usage else "rlkit: error")
    assert not calls, f"work started before the error: {calls[0][0]}, {argv}"
    assert len(text.splitlines()) == 1 and text.endswith("\n"), (argv, text)
    line = text.rstrip("\n")
    assert "Traceback" not in line and not any(u in line for u in UNCLEAR), (argv, line)
    if usage:
        match = USAGE_LINE.match(line)
        assert match, (argv, line)
        assert re.search(r"argument|option|invalid choice", match[2]), (argv, line)
    else:
        assert line.startswith("rlkit: error: ") and len(line) > len("rlkit: error: ") + 8, line


# -- argument lists --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def places(tmp_path_factory, shipped_checkpoint):
    """Paths for arguments: folders to create, files in the way, checkpoints good and bad."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "file.txt").write_text("not a folder")
    (root / "junk.pt").write_bytes(b"not a checkpoint")
    (root / "junk.onnx").write_bytes(b"not a model")
    (root / "empty.pt").write_bytes(b"")
    (root / "folder").mkdir()
    (root / "run").mkdir()
    (root / "run" / "checkpoint.pt").write_bytes(b"")
    # Warm up what the first case would otherwise pay for within its deadline.
    import onnxruntime  # noqa: F401
    import torch

    import rlkit.bench.score
    import rlkit.cli
    import rlkit.entry
    import rlkit.export
    import rlkit.ui.dashboard
    from rlkit.devices import select_device
    from rlkit.player import load_policy

    with stubbed(root):  # imports every benchmark module
        pass
    rlkit.cli.build_parser()
    select_device("auto")
    threads = torch.get_num_threads()
    load_policy(shipped_checkpoint)  # sets torch's threads
    torch.set_num_threads(threads)
    return root


SAFE_NAME = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=20)
DEVICES = ["cpu", "auto", "CPU", " cpu ", "cuda", "cuda:0", "cuda:-1", "cuda:99999999999999999999"]
DEVICES += ["mps", "gpu", "cpu:0", "", "ray", "ray:", "ray://", "ray://h:0", "ray:h:99999"]
DEVICES += ["ray://h:1", "ray:nohost", "Ray"]


def opt(good: st.SearchStrategy, *bad: st.SearchStrategy) -> tuple[st.SearchStrategy, ...]:
    """An option's values: ``good`` ones (7 in 10 cases, so that many commands get through
    argparse to their own checks) and ``bad`` ones."""
    return (good, st.one_of(*bad, junk_text))


def sample(*items: str) -> st.SearchStrategy:
    return st.sampled_from(items)


def int_text(good_hi: int = 5) -> tuple[st.SearchStrategy, ...]:
    odd = ["0", "-1", "1.5", "1e3", "x", "", " ", str(MAX_INT), str(MAX_INT + 1), "9" * 5000]
    odd += ["0x10", "nan", "inf", "１２", "1_0", "+2", " 3 ", "2,3"]
    return opt(st.integers(1, good_hi).map(str), st.integers(-3, 0).map(str), sample(*odd))


def float_text() -> tuple[st.SearchStrategy, ...]:
    odd = ["0", "-1", "1e400", "-1e400", "nan", "inf", "-0", "1e-300", "86400", "86401", "x"]
    odd += ["100", "101", "0.05", "", "1,5"]
    return opt(st.floats(0.01, 50).map(repr), st.floats(-10, 10).map(repr), sample(*odd))


SEEDS = opt(
    st.integers(0, MAX_INT).map(str),
    st.integers(-(2**64), 2**65).map(str),
    sample("-1", "1.5", "", "x", str(MAX_INT + 1), "9" * 5000),
)
TARGETS = opt(st.floats(-1e3, 1e3).map(repr), sample("nan", "inf", "-inf", "1e400", "", "x"))
THREADS = opt(sample("1", "2"), sample("0", "-1", "1025", "4096", "x", "", "1.5", str(2**31)))
THREAD_LISTS = opt(sample("1", "1,2", "2,1"), sample("0", "1,0", "1,1025", "x", "", "1,,2"))
INT_LISTS = opt(
    st.lists(st.integers(1, 6), min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))),
    st.lists(st.integers(-1, 6), min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))),
    sample("", ",", "1,", "x", "1;2", str(MAX_INT + 1), "1, 2"),
)
RESOLUTIONS = opt(
    sample("30x45", "60x80", "60X80", "60,80", "960x1280"),
    st.tuples(st.integers(0, 1400), st.integers(0, 1400)).map(lambda s: f"{s[0]}x{s[1]}"),
    sample("60", "60x80x3", "x", "", "axb", "-8x8", "7x8", "961x80"),
)
DEVICE_TEXT = opt(sample("cpu", "auto", " CPU "), sample(*DEVICES))
SET_TEXT = opt(real_set, set_strings)
PRESETS_TEXT = opt(st.sampled_from(PRESET_NAMES), preset_names)
JUNK_TOKENS = st.one_of(
    sample("--nope", "-x", "extra", "--", "-", "--set", "--debugg", "--json=1"), junk_text
)


def _debug(token: str) -> bool:
    """Whether argparse reads ``token`` as --debug (any prefix of an option is it), which
    shows tracebacks on purpose."""
    return len(token) > 2 and "--debug".startswith(token.split("=")[0])


@st.composite
def command_line(draw, words, options: dict[str, Any], required=()):
    """``rlkit WORDS`` and options in any order: each flag with a value from its good or bad
    ones (``None``: a switch); required ones mostly there, some flags twice, a value missing
    now and then, a junk token sometimes."""
    argv = list(words)
    flags = [f for f in required if draw(st.integers(0, 9))]
    flags += draw(st.lists(st.sampled_from(sorted(options)), max_size=6))
    for flag in draw(st.permutations(flags)):
        argv.append(flag)
        if options[flag] is not None and draw(st.integers(0, 30)):
            good, bad = options[flag]
            argv.append(draw(good if draw(st.integers(0, 9)) < 7 else bad))
    junk = draw(JUNK_TOKENS)
    if not draw(st.integers(0, 8)) and not _debug(junk):
        argv.insert(draw(st.integers(0, len(argv))), junk)
    if not draw(st.integers(0, 150)):
        argv.append(draw(sample("--help", "-h")))
    return argv


def paths(root: Path, suffix: str = "") -> tuple[st.SearchStrategy, ...]:
    """Path arguments: new ones under ``root``; ones in the way, ones no OS takes."""
    return opt(
        SAFE_NAME.map(lambda name: str(root / "new" / name) + suffix),
        SAFE_NAME.map(lambda name: str(root / "new" / name / "deeper") + suffix),
        sample(
            str(root / "file.txt"),
            str(root / "file.txt" / "x") + suffix,
            str(root / "folder"),
            str(root / "run"),
            "/dev/null/x" + suffix,
            "/proc/x/y" + suffix,
            "",
            " ",
            "a\0b",
            "x" * 5000,
            str(root / ("y" * 300)) + suffix,
        ),
    )


def checkpoints(root: Path, shipped: Path) -> tuple[st.SearchStrategy, ...]:
    return opt(
        st.just(str(shipped)),
        sample(
            str(root / "missing.pt"),
            str(root / "junk.pt"),
            str(root / "junk.onnx"),
            str(root / "empty.pt"),
            str(root / "folder"),
            str(root / "run"),
            str(root / "run" / "checkpoint.pt"),
            "",
            "a\0b",
            "x" * 5000,
        ),
    )


def _output_options(root: Path) -> dict[str, Any]:
    return {"--json": None, "--quiet": None, "--out": paths(root, ".json")}


def train_options(root: Path) -> dict[str, Any]:
    return {
        "--preset": PRESETS_TEXT,
        "--out": paths(root),
        "--device": DEVICE_TEXT,
        "--set": SET_TEXT,
        "--dashboard": opt(sample("text", "bar", "off"), sample("none", "")),
        "--timeout": float_text(),
        "--resume": None,
        "--save-buffer": None,
        "--require-gpu": None,
        "--no-require-gpu": None,
        "--allow-unauthenticated": None,
    }


def score_options(root: Path) -> dict[str, Any]:
    return {
        "--preset": PRESETS_TEXT,
        "--target": TARGETS,
        "--seeds": int_text(),
        "--first-seed": SEEDS,
        "--device": DEVICE_TEXT,
        "--eval-episodes": int_text(),
        "--confirm-episodes": int_text(),
        "--eval-interval": int_text(3000),
        "--set": SET_TEXT,
        **_output_options(root),
    }


def bench_options(root: Path) -> dict[str, tuple[tuple[str, ...], dict[str, Any]]]:
    """Per benchmark other than dqn/ppo: required flags and every option."""
    seconds, counts, out = float_text(), int_text(), _output_options(root)
    envs = opt(sample("vizdoom:basic", "CartPole-v1"), sample("vizdoom:nope", "Nope-v0", ""))
    return {
        "env": (
            (),
            {
                "--env": envs,
                "--seconds": seconds,
                "--repeats": counts,
                "--seed": SEEDS,
                "--resolution": RESOLUTIONS,
                "--frame-skip": counts,
                "--workers": INT_LISTS,
                "--async-workers": INT_LISTS,
                **out,
            },
        ),
        "learner": (
            (),
            {
                "--device": DEVICE_TEXT,
                "--batch": INT_LISTS,
                "--preset": PRESETS_TEXT,
                "--seconds": seconds,
                "--repeats": counts,
                "--threads": THREADS,
                "--seed": SEEDS,
                "--set": SET_TEXT,
                **out,
            },
        ),
        "infer": (
            (),
            {
                "--checkpoint": paths(root, ".pt"),
                "--threads": THREADS,
                "--paths": opt(sample("eager", "eager,onnxruntime"), sample("", ",", "x")),
                "--iterations": counts,
                "--round-seconds": seconds,
                "--repeats": counts,
                "--observations": counts,
                "--play-steps": counts,
                "--seed": SEEDS,
                **out,
            },
        ),
        "remote": (
            (),
            {
                "--preset": PRESETS_TEXT,
                "--steps": counts,
                "--repeats": counts,
                "--address": opt(sample("h:6379", "ray://h:10001"), sample("h", "h:0", "")),
                "--require-gpu": None,
                **out,
            },
        ),
        "grid": (
            ("--target",),
            {
                "--threads": THREAD_LISTS,
                "--envs": INT_LISTS,
                "--modes": opt(sample("lockstep", "async", "lockstep,async"), sample("x", "")),
                "--preset": PRESETS_TEXT,
                "--target": TARGETS,
                "--steps": counts,
                "--seeds": counts,
                "--device": DEVICE_TEXT,
                "--env-seconds": seconds,
                "--repeats": counts,
                "--lockstep-backend": opt(sample("sync", "threads", "shm"), sample("pool", "")),
                "--eval-episodes": counts,
                "--confirm-episodes": counts,
                "--eval-interval": counts,
                "--set": SET_TEXT,
                **out,
            },
        ),
        "straggler": (
            (),
            {
                "--env": envs,
                "--envs": counts,
                "--batch": counts,
                "--seconds": seconds,
                "--repeats": counts,
                "--resolution": RESOLUTIONS,
                "--frame-skip": counts,
                "--seed": SEEDS,
                **out,
            },
        ),
        "scaling": (
            (),
            {
                "--preset": PRESETS_TEXT,
                "--workers": INT_LISTS,
                "--seconds": seconds,
                "--repeats": counts,
                "--fragment-steps": counts,
                "--slow-factor": seconds,
                "--transfer-seconds": seconds,
                "--set": SET_TEXT,
                **out,
            },
        ),
        "soak": (
            (),
            {
                "--preset": PRESETS_TEXT,
                "--minutes": seconds,
                "--sample": seconds,
                "--plot": paths(root, ".png"),
                "--set": SET_TEXT,
                **out,
            },
        ),
    }


def play_options(root: Path, shipped: Path) -> dict[str, Any]:
    return {
        "--checkpoint": checkpoints(root, shipped),
        "--episodes": int_text(),
        "--seed": SEEDS,
        "--random": None,
        "--window": None,
        "--realtime": None,
        "--threads": THREADS,
        "--gif": paths(root, ".gif"),
        **_output_options(root),
    }


def export_options(root: Path, shipped: Path) -> dict[str, Any]:
    return {
        "--checkpoint": checkpoints(root, shipped),
        "--format": opt(sample("onnx", "ONNX"), sample("tflite", "")),
        "--out": paths(root, ".onnx"),
        "--check": int_text(400),
        "--json": None,
    }


def quickstart_options(root: Path) -> dict[str, Any]:
    return {
        "--out": paths(root),
        "--episodes": int_text(),
        "--target": TARGETS,
        "--max-steps": int_text(3000),
        "--seed": SEEDS,
    }


def notebook_options(root: Path) -> dict[str, Any]:
    return {
        "--scale": opt(sample("ci", "teach"), sample("CI", "")),
        "--out": paths(root),
        "--only": opt(sample("00", "07", "00_setup_and_devices.ipynb"), sample("99", "0", "")),
        "--jobs": opt(sample("1", "2"), sample("0", "-1", "x", "")),
    }


# -- the command-line tests --------------------------------------------------------------------


@fuzz("test_train_command")
@given(data=st.data())
@pytest.mark.slow
def test_train_command(places, data):
    argv = data.draw(command_line(["train"], train_options(places), ("--preset", "--out")))
    run_cli(argv, places)


@fuzz("test_bench_time_to_score_commands")
@given(data=st.data())
def test_bench_time_to_score_commands(places, data):
    words = ["bench", data.draw(st.sampled_from(["dqn", "ppo"]))]
    run_cli(data.draw(command_line(words, score_options(places), ("--target",))), places)


@fuzz("test_other_bench_commands")
@given(data=st.data())
@pytest.mark.slow
def test_other_bench_commands(places, data):
    kinds = bench_options(places)
    kind = data.draw(st.sampled_from(sorted(kinds)))
    required, options = kinds[kind]
    run_cli(data.draw(command_line(["bench", kind], options, required)), places)


@fuzz("test_play_command")
@given(data=st.data())
@pytest.mark.slow
def test_play_command(places, shipped_checkpoint, data):
    options = play_options(places, shipped_checkpoint)
    run_cli(data.draw(command_line(["play"], options, ("--checkpoint",))), places)


@fuzz("test_export_command")
@given(data=st.data())
def test_export_command(places, shipped_checkpoint, data):
    options = export_options(places, shipped_checkpoint)
    run_cli(data.draw(command_line(["export"], options, ("--checkpoint", "--out"))), places)


@fuzz("test_notebooks_command")
@given(data=st.data())
def test_notebooks_command(places, data):
    run_cli(data.draw(command_line(["notebooks"], notebook_options(places), ("--out",))), places)


@fuzz("test_quickstart_command")
@given(data=st.data())
def test_quickstart_command(places, data):
    run_cli(data.draw(command_line(["quickstart"], quickstart_options(places))), places)


@fuzz("test_any_tokens")
@given(data=st.data())
def test_any_tokens(places, data):
    """Words and flags of every command in any order, with junk between."""
    words = ["train", "play", "export", "bench", "notebooks", "quickstart"]
    words += [*BENCHES, "dqn", "ppo"]
    flags = {"--set", "--preset", "--target", "--seed", "--threads", "--json", "--debugg"}
    flags |= {"--seconds", "--checkpoint", "--resolution", "--version", "--only", "--max-steps"}
    token = st.one_of(st.sampled_from(words), st.sampled_from(sorted(flags)), junk_text)
    tokens = data.draw(st.lists(token, max_size=8))
    run_cli([t for t in tokens if not _debug(t)], places)


def test_every_case_was_fed():
    """The count quoted in the module docstring; the sum over every fuzz test that ran."""
    ran = {name for name in EXAMPLES if FED[name]}
    if ran != set(EXAMPLES):
        pytest.skip(f"only some fuzz tests ran: {sorted(ran)}")
    assert FED_PLANNED == 1420
    assert sum(FED.values()) >= FED_PLANNED >= 1000, dict(FED)
    print(f"fed {sum(FED.values())} cases ({FED_PLANNED} planned): {dict(FED)}")  # with -s
