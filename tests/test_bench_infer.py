"""`rlkit bench infer` on a tiny run: the JSON schema, the agreement, a torch-free ONNX process."""

from __future__ import annotations

import json

import pytest

from rlkit import cli
from rlkit.bench import infer
from rlkit.paths import CHECKPOINTS_DIR

SHIPPED = CHECKPOINTS_DIR / "vizdoom_simpler_basic" / "checkpoint.pt"
STATS = {"p50_ms", "p99_ms", "decisions_per_s", "peak_rss_mb"}
SPLIT = {"engine_ms", "env_ms", "network_ms", "reset_ms", "other_ms", "decisions_per_s"}

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


# The tests that take this fixture are marked slow: it starts three measuring processes (two of
# them load torch) and plays ViZDoom in each, about ten seconds on two cores.
@pytest.fixture(scope="module")
def record():
    """One tiny run of eager, ONNX Runtime and TorchScript (torch.compile takes seconds)."""
    return infer.bench_infer(
        SHIPPED,
        threads=1,
        paths=["eager", "onnxruntime", "torchscript"],
        iterations=60,
        round_seconds=0,
        repeats=2,
        observations=24,
        play_steps=20,
        warmup=5,
    )


def _positive(x) -> bool:
    return isinstance(x, float) and x > 0


@pytest.mark.slow
def test_record_has_the_fields_checks_read(record):
    assert record["benchmark"] == "infer" and "cpu_model" in record["machine"]
    assert record["threads"] == 1 and record["batch"] == 1
    assert record["cuda_visible_devices"] == "" and record["cuda_available"] is False
    for key in STATS:
        assert _positive(record[key]), key
    assert record["p99_ms"] >= record["p50_ms"]
    assert set(record["optimized"]) <= {"onnxruntime", "torchscript"}
    assert "onnxruntime" in record["optimized"]
    for name, entry in record["optimized"].items():
        assert STATS <= set(entry), name
        assert all(_positive(entry[k]) for k in STATS), name
    assert record["best_optimized"] in record["optimized"]
    assert set(record["targets"]) == set(infer.INFER_TARGETS)
    for t in record["targets"].values():
        assert t["pass"] in (True, False) and ("min" in t or "max" in t)
    rt = record["realtime"]
    assert rt["decisions_per_s_needed"] == pytest.approx(35 / record["frame_skip"])
    assert rt["margin"] == pytest.approx(rt["decisions_per_s"] / rt["decisions_per_s_needed"])
    json.dumps(record)  # JSON-able as it is


@pytest.mark.slow
def test_per_path_detail_and_time_split(record):
    assert list(record["paths"]) == ["eager", "onnxruntime", "torchscript"]
    for name, p in record["paths"].items():
        q = p["quantiles_ms"]
        assert len(q) == 101 and q == sorted(q), name
        assert len(p["rounds"]["p50_ms"]) == 2
        split = record["time_split"][name]
        assert SPLIT <= set(split) and split["steps"] == 20
        assert split["engine_ms"] > 0 and split["network_ms"] > 0
    assert record["model"]["parameters"] > 0 and record["model"]["observation_dtype"] == "uint8"


@pytest.mark.slow
def test_every_path_agrees_with_eager(record):
    assert record["agreement_observations"] == 24
    assert set(record["agreement"]) == {"onnxruntime", "torchscript"}
    for name, frac in record["agreement"].items():
        assert frac == 1.0, name
        assert record["paths"][name]["max_abs_q_diff"] < 1e-3
        assert record["optimized"][name]["agreement"] == frac


@pytest.mark.slow
def test_the_onnx_process_never_imports_torch(record):
    assert record["onnx_player"]["imported_torch"] is False
    assert record["paths"]["onnxruntime"]["imported_torch"] is False
    assert record["paths"]["eager"]["imported_torch"] is True
    # Without torch the player process is much smaller than the torch one.
    assert record["onnx_player"]["peak_rss_mb"] < record["peak_rss_mb"]


@pytest.mark.slow
def test_table_names_every_path_and_target(record):
    text = infer.format_infer_table(record)
    for label in ("PyTorch eager", "ONNX Runtime", "TorchScript", "eager_p50_ms", "real time"):
        assert label in text


def test_bad_arguments_fail_before_measuring():
    with pytest.raises(ValueError, match="unknown inference paths"):
        infer.bench_infer(SHIPPED, paths=["eager", "tensorrt"])
    with pytest.raises(ValueError, match="iterations must be"):
        infer.bench_infer(SHIPPED, iterations=0)


@pytest.mark.slow
def test_command_line_prints_json(capsys):
    status = cli.main(
        [
            "bench",
            "infer",
            "--checkpoint",
            str(SHIPPED),
            "--paths",
            "eager",
            "--iterations",
            "20",
            "--repeats",
            "1",
            "--round-seconds",
            "0.01",
            "--observations",
            "4",
            "--play-steps",
            "5",
            "--json",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    record = json.loads(out)
    assert record["optimized"] == {} and record["best_optimized"] is None
    assert record["targets"]["best_speedup_p50"]["pass"] is None
    assert record["onnx_player"] is None


def test_command_line_rejects_an_unknown_path(capsys):
    assert cli.main(["bench", "infer", "--paths", "eager,tpu"]) == 2
    assert "unknown inference paths" in capsys.readouterr().err


@pytest.mark.slow
def test_a_path_that_fails_is_skipped_with_its_reason(tmp_path):
    bad = tmp_path / "not_a_model.onnx"
    bad.write_bytes(b"\x08 this is not an ONNX model")
    record = infer.bench_infer(
        SHIPPED,
        paths=["eager", "onnxruntime"],
        onnx_path=bad,
        iterations=10,
        round_seconds=0,
        repeats=1,
        observations=4,
        play_steps=3,
        warmup=0,
    )
    assert "could not be loaded" in record["skipped"]["onnxruntime"]
    assert record["optimized"] == {} and record["onnx_player"] is None
    assert list(record["paths"]) == ["eager"] and record["p50_ms"] > 0


@pytest.mark.slow
def test_latency_figure_draws_every_path(record):
    import matplotlib

    matplotlib.use("Agg")
    from rlkit.ui import plots

    fig = plots.plot_latency({n: p["quantiles_ms"] for n, p in record["paths"].items()})
    curves = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata()) == 101]
    assert len(curves) == len(record["paths"])
    with pytest.raises(ValueError, match="101 increasing"):
        plots.plot_latency({"bad": [1.0, 0.5]})
