"""Benchmarks at tiny durations (schema, field names, positive rates) and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from rlkit import cli
from rlkit.atomic import write_json
from rlkit.bench import env as bench
from rlkit.bench import harness, transfer

RATIO_NAMES = [
    "rlkit/raw",
    "rlkit/vizdoom_gym",
    "vector2/rlkit",
    "vector2/gym_async2",
    "threads2/rlkit",
    "raw_pair2/raw",
    "pool2/rlkit",
    "pool2/independent2",
    "independent2/rlkit",
]
MACHINE_KEYS = {"cpu_model", "cpu_cores", "torch", "numpy", "gymnasium", "vizdoom", "cuda_devices"}


def _positive(x) -> bool:
    return isinstance(x, float) and x > 0


# -- measure_interleaved with dummy workloads --------------------------------------------------
class _Sleeper:
    """Does ``rate`` units per second by sleeping; records the order it was timed in."""

    def __init__(self, name: str, rate: float, order: list[str], fail: bool = False):
        if fail:
            raise RuntimeError("cannot start")
        self.name, self.rate, self.order = name, rate, order
        self.meta = {"name": name}
        self.closed = False

    def run(self, seconds: float) -> tuple[int, float]:
        self.order.append(self.name)
        time.sleep(seconds)
        return round(seconds * self.rate), seconds

    def close(self) -> None:
        self.closed = True


def test_measure_interleaved_rotates_and_takes_median():
    order: list[str] = []
    factories = {n: (lambda n=n: _Sleeper(n, 100.0, order)) for n in ("a", "b", "c")}
    out = harness.measure_interleaved(factories, seconds=0.06, repeats=3)
    timed = order[1::2]  # every workload runs a warm-up, then the timed slice
    assert timed == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    for name, rec in out.items():
        assert rec["rate"] == pytest.approx(100.0, rel=0.2)
        assert len(rec["rounds"]) == 3 and rec["startup_s"] >= 0
        assert rec["meta"] == {"name": name} and rec["error"] is None


def test_measure_interleaved_failure():
    order: list[str] = []
    factories = {
        "ok": lambda: _Sleeper("ok", 1000.0, order),
        "bad": lambda: _Sleeper("bad", 1.0, order, fail=True),
    }
    out = harness.measure_interleaved(factories, seconds=0.02, repeats=2, catch=True)
    assert out["ok"]["rate"] > 0
    assert out["bad"]["rate"] is None and out["bad"]["error"] == "RuntimeError: cannot start"
    with pytest.raises(RuntimeError, match="cannot start"):
        harness.measure_interleaved(factories, seconds=0.02, repeats=1)


# -- bench env --------------------------------------------------------------------------------
# The tests that take this fixture are marked slow: it runs the real benchmark (ViZDoom engines
# and vector workers, several seconds), and a module fixture runs whenever one of them is kept.
@pytest.fixture(scope="module")
def doom_result():
    return bench.bench_env(
        "vizdoom:basic", seconds=0.2, repeats=1, vector_workers=(1, 2), async_workers=(2,)
    )


@pytest.mark.slow
def test_bench_env_vizdoom_schema(doom_result):
    r = doom_result
    assert r["benchmark"] == "env" and r["env"] == "vizdoom:basic"
    assert MACHINE_KEYS <= set(r["machine"])
    s = r["settings"]
    assert s["resolution"] == [60, 80] and s["frame_skip"] == 4
    assert s["engine_screen"] == [120, 160] and s["screen_format"] == "GRAY8"
    assert s["seconds_per_measurement"] == 0.2 and s["repeats"] == 1
    assert s["pool_envs_per_worker"] == 2  # the pool's 2 workers step 4 envs
    assert r["vizdoom_gym_id"] == "VizdoomBasic-v1"
    # vizdoom's env at its defaults: every tic, basic.cfg's 320×240, colour.
    assert s["vizdoom_gym"] == {
        "id": "VizdoomBasic-v1",
        "kwargs": {},
        "frames_per_step": 1,
        "engine_screen": [240, 320],
        "screen_format": "RGB24",
    }
    for key in ("raw_steps_per_s", "rlkit_steps_per_s", "vizdoom_gym_steps_per_s"):
        assert _positive(r[key]), key
    assert r["rlkit_frames_per_s"] == pytest.approx(4 * r["rlkit_steps_per_s"])
    assert set(r["vector_steps_per_s"]) == {"1", "2"}
    assert all(_positive(v) for v in r["vector_steps_per_s"].values())
    assert set(r["gym_async_steps_per_s"]) == {"2"} and _positive(r["gym_async_steps_per_s"]["2"])
    assert r["null_reasons"] == {}
    # Ratios follow from the rates; targets carry the minimum, the value and the verdict.
    assert list(r["ratios"]) == RATIO_NAMES
    v2 = r["vector_steps_per_s"]["2"]
    assert r["ratios"]["rlkit/raw"] == pytest.approx(r["rlkit_steps_per_s"] / r["raw_steps_per_s"])
    assert r["ratios"]["vector2/gym_async2"] == pytest.approx(v2 / r["gym_async_steps_per_s"]["2"])
    assert set(r["vector_threads_steps_per_s"]) == {"2"}
    assert _positive(r["vector_threads_steps_per_s"]["2"])
    assert set(r["raw_pair_steps_per_s"]) == {"2"} and _positive(r["raw_pair_steps_per_s"]["2"])
    pair = r["raw_pair_steps_per_s"]["2"] / r["raw_steps_per_s"]
    assert r["ratios"]["raw_pair2/raw"] == pytest.approx(pair)
    assert set(r["vector_in_workers_steps_per_s"]) == {"2"}
    assert _positive(r["vector_in_workers_steps_per_s"]["2"])
    assert set(r["async_steps_per_s"]) == {"2"} and _positive(r["async_steps_per_s"]["2"])
    assert set(r["independent_steps_per_s"]) == {"2"}
    assert _positive(r["independent_steps_per_s"]["2"])
    pool = r["async_steps_per_s"]["2"] / r["independent_steps_per_s"]["2"]
    assert r["ratios"]["pool2/independent2"] == pytest.approx(pool)
    assert {k: t["min"] for k, t in r["targets"].items()} == bench.ENV_TARGETS
    for name, t in r["targets"].items():
        assert t["value"] == r["ratios"][name] and t["pass"] == (t["value"] >= t["min"])
    assert set(r["startup_s"]) == {
        "raw",
        "raw_pair2",
        "rlkit",
        "vizdoom_gym",
        "vector1",
        "vector2",
        "gym_async2",
        "threads2",
        "in_workers2",
        "pool2",
        "independent2",
    }
    assert all(v > 0 for v in r["startup_s"].values())
    json.dumps(r)  # JSON-able as is


@pytest.mark.slow
def test_format_env_table(doom_result):
    text = bench.format_env_table(doom_result)
    assert "raw DoomGame loop" in text and "VizdoomBasic-v1" in text
    assert all(name in text for name in RATIO_NAMES)
    assert "≥0.9" in text and "all in workers" in text
    assert "EnvPool, 2 workers × 2 envs, free-running" in text
    assert "independent processes ×2" in text


@pytest.mark.slow
def test_bench_env_cartpole_has_no_doom_variants():
    r = bench.bench_env("CartPole-v1", seconds=0.1, repeats=1, vector_workers=(2,))
    assert r["raw_steps_per_s"] is None and r["vizdoom_gym_steps_per_s"] is None
    assert r["vizdoom_gym_id"] is None
    assert {"raw_steps_per_s", "vizdoom_gym_steps_per_s"} <= set(r["null_reasons"])
    assert r["raw_pair_steps_per_s"] == {"2": None} and "raw_pair_steps_per_s" in r["null_reasons"]
    assert _positive(r["rlkit_steps_per_s"]) and _positive(r["vector_steps_per_s"]["2"])
    assert r["ratios"]["rlkit/raw"] is None and r["targets"]["rlkit/raw"]["pass"] is None
    assert r["settings"]["frame_skip"] == 1 and "engine_screen" not in r["settings"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"env_id": "vizdoom:nope"}, "valid: .*basic"),
        ({"env_id": "Nope-v0"}, "valid: .*CartPole-v1"),
        ({"seconds": 0}, "positive"),
        ({"repeats": 0}, "repeats"),
        ({"vector_workers": (0,)}, "vector_workers"),
        ({"env_id": "CartPole-v1", "resolution": (60, 80)}, "vizdoom"),
        ({"resolution": (4, 4)}, "resolution"),
    ],
)
def test_bench_env_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench.bench_env(**kwargs)


def test_vizdoom_gym_id():
    assert bench.vizdoom_gym_id("basic") == ("VizdoomBasic-v1", None)
    assert bench.vizdoom_gym_id("defend_the_center")[0] == "VizdoomDefendCenter-v1"
    gym_id, reason = bench.vizdoom_gym_id("simpler_basic")
    assert gym_id is None and "simpler_basic" in reason


# -- notebook helpers -------------------------------------------------------------------------
@pytest.mark.slow
def test_env_throughput():
    out = bench.env_throughput(["CartPole-v1", "vizdoom:basic"], seconds=0.2)
    assert list(out) == ["CartPole-v1", "vizdoom:basic"]
    assert out["CartPole-v1"]["frames_per_step"] == 1
    assert out["vizdoom:basic"]["frames_per_step"] == 4
    for rec in out.values():
        assert _positive(rec["steps_per_s"])
        assert rec["frames_per_s"] == pytest.approx(rec["steps_per_s"] * rec["frames_per_step"])
    # Per-id keyword arguments reach make_env.
    skip2 = bench.env_throughput(
        ["vizdoom:basic"], seconds=0.1, env_kwargs={"vizdoom:basic": {"frame_skip": 2}}
    )
    assert skip2["vizdoom:basic"]["frames_per_step"] == 2


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("CartPole-v1", 0.1), {}, "list"),
        (([], 0.1), {}, "list"),
        ((["CartPole-v1"], -1.0), {}, "positive"),
        ((["CartPole-v1"], 0.1), {"env_kwargs": {"Acrobot-v1": {}}}, "not in env_ids"),
    ],
)
def test_env_throughput_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench.env_throughput(*args, **kwargs)


def test_frames_per_step_atari():
    from rlkit.envs import make_env

    env = make_env("ALE/Pong-v5")
    try:
        assert bench.frames_per_step(env, "ALE/Pong-v5") == 4
    finally:
        env.close()


@pytest.mark.slow
def test_ipc_cost():
    sizes = [1_000, 100_000]
    out = transfer.ipc_cost(sizes, seconds=0.1)
    assert [r["obs_bytes"] for r in out] == sizes
    for r in out:
        assert set(r) == {
            "obs_bytes",
            "pipe_msgs_per_s",
            "pipe_bytes_per_s",
            "shm_msgs_per_s",
            "shm_bytes_per_s",
            "local_copy_bytes_per_s",
        }
        assert all(_positive(float(v)) for v in r.values())
        assert r["pipe_bytes_per_s"] == pytest.approx(r["pipe_msgs_per_s"] * r["obs_bytes"])
        assert r["shm_bytes_per_s"] == pytest.approx(r["shm_msgs_per_s"] * r["obs_bytes"])


@pytest.mark.parametrize("sizes", [[], [0], [1.5], ["10"]])
def test_ipc_cost_bad_sizes(sizes):
    with pytest.raises(ValueError, match="positive integers"):
        transfer.ipc_cost(sizes, seconds=0.1)


def test_write_json_atomic(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    with pytest.raises(TypeError):
        write_json(path, {"a": object()})
    # A failed write leaves the previous file whole and no temp file behind.
    assert json.loads(path.read_text()) == {"a": 2}
    assert os.listdir(path.parent) == ["r.json"]


# -- command line -----------------------------------------------------------------------------
def _run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    # A bound on a hang, not on speed: beside other work a real bench run took over 120 s.
    return subprocess.run(
        [sys.executable, "-m", "rlkit", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_help():
    top = _run_cli("--help")
    assert top.returncode == 0 and "bench" in top.stdout
    sub = _run_cli("bench", "env", "--help")
    assert sub.returncode == 0 and "--seconds" in sub.stdout and "--json" in sub.stdout


@pytest.mark.slow
def test_help_does_not_import_heavy_modules():
    code = (
        "import sys, contextlib, io\n"
        "from rlkit import cli\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli.main(['bench', 'env', '--help'])\n"
        "print(sorted(m for m in ('torch', 'vizdoom', 'rlkit.bench', 'rlkit.envs.vector')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "argv, match",
    [
        (["bench", "env", "--seconds", "0"], "--seconds: must be a positive number"),
        (["bench", "env", "--seconds", "ten"], "--seconds: must be a positive number"),
        (["bench", "env", "--repeats", "0"], "--repeats: must be an integer ≥ 1"),
        (["bench", "env", "--resolution", "60"], "HEIGHTxWIDTH"),
        (["bench", "env", "--workers", "1,x"], "comma-separated"),
        (["bench"], "required"),
        (["nope"], "invalid choice"),
        (["bench", "grid"], "--target"),
        (["bench", "grid", "--target", "x"], "--target"),
        (["bench", "grid", "--target", "1", "--modes", "sideways"], "comma-separated modes"),
        (["bench", "grid", "--target", "1", "--envs", "0"], "comma-separated integers"),
        (["bench", "straggler", "--envs", "0"], "--envs: must be an integer ≥ 1"),
        (["bench", "scaling", "--workers", "1,two"], "comma-separated integers"),
        (["bench", "scaling", "--fragment-steps", "0"], "--fragment-steps: must be an integer"),
        (["bench", "scaling", "--slow-factor", "-1"], "--slow-factor: must be a positive"),
        # found by tests/test_fuzz.py: each was taken, and failed (or not) only after the work
        (["bench", "scaling", "--slow-factor", "1e300"], "--slow-factor: must be a positive"),
        (["bench", "dqn", "--target", "nan"], "--target: must be a finite number, got 'nan'"),
        (["bench", "ppo", "--target", "1", "--first-seed", "-1"], "--first-seed: must be an"),
        (["bench", "env", "--seed", str(2**64)], "--seed: must be an integer in [0, 2**63 - 1]"),
        (["bench", "env", "--resolution", "4x4"], "at least 8 and at most 960x1280"),
        (["bench", "env", "--resolution", "2000x80"], "at least 8 and at most 960x1280"),
        (["bench", "env", "--out", "/dev/null/x.json"], "--out: cannot write '/dev/null/x.json'"),
        (["bench", "env", "--repeats", "9" * 5000], "--repeats: must be an integer ≥ 1"),
        (["bench", "grid", "--target", "1", "--threads", "1,2000"], "thread counts such as 1,2"),
        (["bench", "learner", "--threads", "0"], "--threads: must be an integer in [1, 1024]"),
        (["bench", "infer", "--checkpoint", ""], "--checkpoint: must be a path"),
        (["bench", "env", "a\u2028b"], "unrecognized arguments: a b"),
        (["bench", "checkpoint", "--saves", "0"], "--saves: must be an integer ≥ 1"),
        (["bench", "checkpoint", "--train-seconds", "-2"], "--train-seconds: must be a positive"),
    ],
)
def test_cli_usage_errors_exit_2(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and match in err


def test_bench_time_to_score_checks_its_last_seed_before_training(monkeypatch):
    import rlkit.entry
    from rlkit.bench.score import bench_time_to_score
    from rlkit.config import ConfigError

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained although the last seed is out of range")

    monkeypatch.setattr(rlkit.entry, "train", must_not_train)
    with pytest.raises(ConfigError, match="'seed' = 9223372036854775808 is out of range"):
        bench_time_to_score("cartpole", 1.0, seeds=2, first_seed=2**63 - 1, algo="dqn")


@pytest.mark.parametrize(
    "env_id, match", [("vizdoom:nope", "valid: basic"), ("Nope-v0", "CartPole-v1")]
)
def test_cli_bad_env_exits_2_without_traceback(env_id, match, capsys):
    assert cli.main(["bench", "env", "--env", env_id, "--seconds", "0.1", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlkit: error:") and match in lines[0]
    assert "Traceback" not in captured.err


@pytest.mark.slow
def test_cli_table_and_out(doom_result, monkeypatch, tmp_path, capsys):
    # The handler's wiring, with the measurement replaced by the module fixture's record.
    seen = {}

    def fake(env_id, seconds, repeats, **kwargs):
        seen.update(env_id=env_id, seconds=seconds, repeats=repeats, **kwargs)
        return doom_result

    monkeypatch.setattr(bench, "bench_env", fake)
    out = tmp_path / "b.json"
    argv = ["bench", "env", "--seconds", "2", "--resolution", "30x40", "--workers", "2,4"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "rlkit/vizdoom_gym" in printed and not printed.lstrip().startswith("{")
    assert json.loads(out.read_text()) == doom_result
    assert seen["seconds"] == 2.0 and seen["repeats"] == 3 and seen["env_id"] == "vizdoom:basic"
    assert seen["resolution"] == (30, 40) and seen["vector_workers"] == [2, 4]
    assert cli.main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == doom_result


@pytest.mark.slow
def test_cli_json_stdout_is_only_json(tmp_path):
    # A real run in a fresh process: engine and library chatter must not reach stdout.
    out = tmp_path / "bench.json"
    proc = _run_cli(
        "bench",
        "env",
        "--env",
        "vizdoom:basic",
        "--seconds",
        "0.1",
        "--repeats",
        "1",
        "--workers",
        "2",
        "--async-workers",
        "2",
        "--json",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result == json.loads(out.read_text())
    assert _positive(result["rlkit_steps_per_s"]) and _positive(result["vector_steps_per_s"]["2"])
    assert "round 1/1" in proc.stderr  # progress goes to stderr


def test_bench_checkpoint_refuses_an_unknown_preset_before_training(capsys):
    assert cli.main(["bench", "checkpoint", "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unknown preset 'nope'" in err


@pytest.mark.slow
def test_bench_checkpoint_times_saves_of_a_trained_run():
    import json

    from rlkit.bench.checkpoint_cost import bench_checkpoint, format_checkpoint_table

    r = bench_checkpoint(("cartpole", "cartpole_ppo"), train_seconds=0.2, saves=2)
    json.dumps(r)  # a plain record
    assert r["benchmark"] == "checkpoint" and r["saves"] == 2
    assert [(row["preset"], row["algo"]) for row in r["rows"]] == [
        ("cartpole", "dqn"),
        ("cartpole_ppo", "ppo"),
    ]
    for row in r["rows"]:
        assert row["env_steps"] > 0 and len(row["save_ms"]) == 2 and row["save_ms_median"] > 0
        assert {"checkpoint.pt", "history.json", "episodes.csv"} <= set(row["bytes"])
        assert row["share_of_interval"] == pytest.approx(
            row["save_ms_median"] / 1000 / row["checkpoint_seconds"], rel=1e-3
        )
    assert "cartpole_ppo" in format_checkpoint_table(r)
