"""Tests for rlkit.ui.figure_check: each kind of problem found, clean figures left alone, the
IPython hook, and every rlkit chart drawn with inputs shaped like the notebooks' own."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: tests never open windows

import json
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from test_distributed_charts import example_measured
from test_plots import make_history

from rlkit.records import History
from rlkit.ui import charts, distributed_charts, plots
from rlkit.ui.figure_check import figure_problems, install, read_report, startup_source

LONG = [
    "lockstep (threads): env steps/s while training",
    "async (pool): env steps/s while training",
]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# -- each problem, and its absence --------------------------------------------------------------


def _titled(titles, **kwargs):
    fig, axes = plt.subplots(1, len(titles), figsize=(6, 3), **kwargs)
    for ax, title in zip(axes, titles, strict=True):
        ax.plot([0, 1], [0, 1])
        ax.set_title(title)
    return fig


def _crowded_ticks():
    fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
    ax.plot(range(30), range(30))
    ax.set_xticks(range(30), [f"step {i}" for i in range(30)])
    return fig


def _empty_panel():
    fig, axes = plt.subplots(1, 2, layout="constrained")
    axes[0].plot([1, 2])
    axes[1].plot([], [])  # a series with no points: looks exactly like no series
    return fig


def _frames_axis_off():
    fig, axes = plt.subplots(1, 3, layout="constrained")
    for ax in axes[:2]:
        ax.imshow(np.zeros((4, 4)))
        ax.axis("off")
    axes[2].set_visible(False)  # a hidden spare panel is no problem
    return fig


def _tight_cannot_fit():
    fig, ax = plt.subplots(figsize=(1, 1), layout="tight")
    ax.plot([1, 2])
    ax.set_xlabel("seconds", fontsize=40)
    ax.set_ylabel("returns", fontsize=40)
    return fig


def _rotated_ticks():
    fig, ax = plt.subplots(layout="constrained")
    ax.bar(["first setup", "second setup", "third setup"], [1, 2, 3])
    ax.tick_params(axis="x", labelrotation=30)
    return fig


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: _titled(LONG), [f"title '{LONG[0]}' and title '{LONG[1]}' overlap"]),
        (lambda: _titled(["lockstep", "async"], layout="constrained"), []),
        (_crowded_ticks, ["x tick label 'step 0' of axes 1 and x tick label 'step 1'"]),
        (_empty_panel, ["axes 2 is empty"]),
        (_frames_axis_off, []),
        (_rotated_ticks, []),  # rotated labels are compared as rotated boxes, not upright ones
        (_tight_cannot_fit, ["drawing warned: Tight layout not applied"]),
    ],
    ids=[
        "long-titles",
        "short-constrained",
        "crowded-ticks",
        "empty",
        "imshow-off",
        "rotated",
        "tight",
    ],
)
def test_figure_problems(make, expected):
    problems = figure_problems(make())
    assert bool(problems) == bool(expected), problems
    for start in expected:
        assert any(p.startswith(start) for p in problems), problems


def test_the_suptitle_running_into_a_title_and_a_bare_figure():
    from matplotlib.figure import Figure

    fig = Figure()  # no pyplot, no canvas that draws: checked as savefig would draw it
    ax = fig.subplots()
    ax.plot([1, 2])
    ax.set_title("returns")
    fig.suptitle("the run", y=0.9)
    problems = figure_problems(fig)
    assert "figure text 'the run' and title 'returns' overlap" in problems


# -- the IPython hook ----------------------------------------------------------------------------


_BAD_CELL = "fig, axes = plt.subplots(1, 2, figsize=(6, 3), num='grid')\n" + "".join(
    f"axes[{i}].plot([1, 2]); axes[{i}].set_title({t!r})\n" for i, t in enumerate(LONG)
)


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """A real IPython shell, and everything it changes in this process put back after."""
    import builtins
    import sys

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    if InteractiveShell.initialized():
        pytest.skip("an IPython shell already runs in this process")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    main, names = sys.modules["__main__"], set(vars(builtins))
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    yield InteractiveShell.instance(config=config)
    InteractiveShell.clear_instance()
    sys.modules["__main__"] = main  # the shell puts its user namespace there
    for name in set(vars(builtins)) - names:  # __IPYTHON__, display
        delattr(builtins, name)


def test_install_reports_the_cell_before_inline_closes_its_figures(shell, tmp_path):
    report = tmp_path / "figures.jsonl"
    seen_at_flush = []

    def flush_figures():  # what matplotlib-inline does after each cell: show, then close all
        seen_at_flush.append(len(read_report(report)))
        plt.close("all")

    shell.events.register("post_execute", flush_figures)  # before install: the worst order
    install(shell, report)
    shell.run_cell("import matplotlib.pyplot as plt; x = 1", store_history=True)
    assert read_report(report) == []  # nothing drawn, nothing reported
    n = shell.execution_count
    shell.run_cell(_BAD_CELL, store_history=True)
    (line,) = read_report(report)
    assert line["cell"] == n and line["figure"] == "grid"
    assert line["problems"][0].startswith(f"title '{LONG[0]}' and title '{LONG[1]}' overlap")
    assert seen_at_flush[-1] == 1  # the check had run, and reported, before inline closed it


def test_install_runs_before_the_real_matplotlib_inline(shell, tmp_path):
    inline = pytest.importorskip("matplotlib_inline.backend_inline")
    report, backend = tmp_path / "figures.jsonl", "module://matplotlib_inline.backend_inline"
    install(shell, report)  # at kernel start, as the startup file does
    with matplotlib.rc_context():
        try:  # what `%matplotlib inline` does, less the GUI a plain shell lacks
            matplotlib.interactive(True)
            plt.switch_backend(backend)
            inline.configure_inline_support(shell, backend)
            shell.run_cell(f"import matplotlib.pyplot as plt\n{_BAD_CELL}", store_history=True)
            assert plt.get_fignums() == []  # inline showed the figure and closed it
        finally:
            matplotlib.interactive(False)
            plt.switch_backend("Agg")
    (line,) = read_report(report)
    assert line["figure"] == "grid" and "overlap" in line["problems"][0]


def test_a_check_that_raises_is_recorded_not_raised(shell, tmp_path, monkeypatch):
    import rlkit.ui.figure_check as fc

    def broken(fig):
        raise RuntimeError("boom")

    report = tmp_path / "figures.jsonl"
    install(shell, report)
    monkeypatch.setattr(fc, "figure_problems", broken)
    result = shell.run_cell("import matplotlib.pyplot as plt; plt.plot([1, 2])", store_history=True)
    assert result.success
    (line,) = read_report(report)
    assert line["problems"] == ["the figure check failed: RuntimeError: boom"]
    install(shell, tmp_path / "no such folder" / "figures.jsonl")  # nowhere to write it, even
    assert shell.run_cell("plt.plot([1, 2])", store_history=True).success


def test_startup_source_installs_the_check(shell, tmp_path):
    before = len(shell.events.callbacks["post_execute"])
    exec(startup_source(tmp_path / "r.jsonl"), {"get_ipython": lambda: shell})
    hooks = shell.events.callbacks["post_execute"]
    assert len(hooks) == before + 1 and hooks[0].__module__ == "rlkit.ui.figure_check"
    (tmp_path / "r.jsonl").write_text(json.dumps({"cell": 3}) + "\n\n")
    assert read_report(tmp_path / "r.jsonl") == [{"cell": 3}]
    assert read_report(tmp_path / "missing.jsonl") == []


# -- every rlkit chart, with what the notebooks pass ---------------------------------------------


def _grid(threads, envs, modes=("lockstep", "async")):
    rng = np.random.default_rng(0)
    cells = [
        {
            "mode": m,
            "threads": t,
            "num_envs": n,
            "env_steps_per_s": float(rng.uniform(300, 3000)),
            "train_steps_per_s": float(rng.uniform(50, 900)),
            "seconds_to_target": None if (t + n) % 3 == 0 else float(rng.uniform(5, 90)),
        }
        for m in modes
        for t in threads
        for n in envs
    ]
    backends = {"lockstep": "threads", "async": "pool"}
    return {
        "threads": list(threads),
        "envs": list(envs),
        "modes": list(modes),
        "backends": {m: backends[m] for m in modes},
        "cells": cells,
    }


def _panels(draw, ncols=2, figsize=(11, 3.6), **kwargs):
    """Notebook cells that draw two bar panels side by side (04, 05, 07, 08)."""
    fig, axes = plt.subplots(1, ncols, figsize=figsize, layout="constrained", **kwargs)
    for ax, args in zip(axes, draw, strict=True):
        plots.plot_bars(**args, ax=ax)
    return fig


def _projection():
    from rlkit.bench.projection import SOURCE_RESULT, project

    m = example_measured()
    machines = [1, 2, 4, 8, 16, 32, 64, 128]
    proj = {
        "central learner": project(m, machines, "central"),
        "learner per machine + all-reduce": project(m, machines, "allreduce"),
    }
    return distributed_charts.plot_projection(proj, source=SOURCE_RESULT)


def _soak():
    from rlkit.ui.soak_chart import plot_soak

    samples = [
        {
            "t": 10.0 * i,
            "env_steps": 1500 * i,
            "steps_per_s": 150.0 + 5 * (i % 3),
            "rss_mb": 316 + min(i, 18) * 3.1,
            "tree_rss_mb": 340 + min(i, 18) * 3.3,
        }
        for i in range(61)
    ]
    summary = {"buffer_full_at_s": 187.6, "rss_drift_mb_per_min": 0.29}
    return plot_soak(
        {"preset": "vizdoom_simpler_basic", "minutes": 10.0, "samples": samples, "summary": summary}
    )


def _latency():
    from rlkit.bench.infer import LABELS

    q = np.geomspace(0.28, 0.62, 101)
    return plots.plot_latency(
        {LABELS[n]: q * f for n, f in (("eager", 1.0), ("onnxruntime", 0.1), ("torchscript", 0.7))}
    )


RGB = np.random.default_rng(0).integers(0, 255, size=(9, 240, 320, 3), dtype=np.uint8)
PARTS = ("engine", "env", "network", "new episodes", "loop")
TRANSFER = ("text", "pickle", "raw", "zlib", "ray")
ENV_VARIANTS = [
    "raw DoomGame loop",
    "raw DoomGame loops ×2, lock-step",
    "rlkit env",
    "vizdoom gym (VizdoomBasic-v0)",
    "rlkit vector shm ×1",
    "rlkit vector shm ×2",
    "gymnasium AsyncVectorEnv ×1",
    "gymnasium AsyncVectorEnv ×2",
    "rlkit vector shm ×2, all in workers",
    "rlkit EnvPool, 2 workers × 2 envs, free-running",
    "independent processes ×2 (ceiling)",
]
CHARTS = {
    # 01 · environments and throughput
    "01 frames": lambda: plots.show_frames(list(RGB[:8]), ncols=4),
    "01 env speed": lambda: plots.plot_bars(
        {
            "CartPole": 9.1e4,
            "Acrobot": 2.2e4,
            "Atari Pong": 6.3e3,
            "ViZDoom 60×80": 2.4e3,
            "ViZDoom 240×320": 1.1e3,
        },
        ylabel="emulator frames per second",
        title="environment speed, one process",
        log=True,
    ),
    "01 variants": lambda: plots.plot_bars(
        {n: 300.0 + 97 * i for i, n in enumerate(ENV_VARIANTS)},
        ylabel="env steps per second",
        title="vizdoom:basic, 60×80 gray, frame skip 4",
    ),
    "01 scaling": lambda: plots.plot_scaling(
        [1, 2],
        [480.0, 1355.0],
        xlabel="envs (this process steps one, workers the rest)",
        ylabel="env steps/s (all envs)",
    ),
    "01 ipc": lambda: plots.plot_ipc_cost(
        [
            {
                "obs_bytes": kb * 1024,
                "pipe_bytes_per_s": 3e8 * kb**0.3,
                "shm_bytes_per_s": 1e9 * kb**0.4,
                "local_copy_bytes_per_s": 5e9 * kb**0.2,
            }
            for kb in (1, 64)
        ]
    ),
    # 02 · DQN on classic control
    "02 eval time": lambda: plots.plot_eval(make_history(), label="CartPole-v1", x="time"),
    "02 eval": lambda: plots.plot_eval(make_history(1), label="CartPole-v1, no early stop"),
    "02 replay": lambda: plots.plot_mean_spread(
        {
            "uniform": [make_history(1), make_history(2)],
            "prioritized": [make_history(3), make_history(4)],
        },
        metric="eval",
        band="minmax",
    ),
    # 03 · ViZDoom DQN on a CPU
    "03 frames": lambda: plots.show_frames(list(RGB[:, :60, :80]), ncols=6, max_frames=12),
    "03 time split": lambda: plots.plot_time_split({"DQN on simpler_basic": make_history()}),
    "03 setups": lambda: plots.plot_mean_spread(
        {"1 env": [make_history(1)], "2 envs (shm)": [make_history(2)]},
        x="time",
        metric="eval",
        band="minmax",
    ),
    "03 scores": lambda: plots.plot_scores(
        {
            "random": np.random.default_rng(1).normal(-300, 80, 20),
            "trained here": np.random.default_rng(2).normal(20, 30, 20),
            "shipped": np.random.default_rng(3).normal(70, 10, 20),
        }
    ),
    # 04 · CPU against GPU
    "04 bars": lambda: _panels(
        [
            {
                "values": {"CPU (live)": 41.3, "GPU (live: NVIDIA H100 80GB HBM3)": 12.0},
                "ylabel": "training seconds",
                "title": "1,500 env steps of vizdoom_simpler_basic",
            },
            {
                "values": make_history().time_split(),
                "ylabel": "seconds",
                "title": "CPU run: where the time went",
            },
        ]
    ),
    # 05 · inference on a CPU laptop
    "05 latency": _latency,
    "05 split": lambda: _panels(
        [
            {
                "values": dict(zip(PARTS, (1.4, 0.05, f, 1.2, 0.002), strict=True)),
                "ylabel": "ms per decision",
                "title": f"{name}: {2.7 + f:.2f} ms",
            }
            for name, f in (("PyTorch eager", 0.58), ("ONNX Runtime", 0.10))
        ],
        figsize=(11, 3.8),
        sharey=True,
    ),
    "05 memory": lambda: plots.plot_bars(
        {"torch player": 247.3, "ONNX-only player": 75.5},
        ylabel="peak RSS (MB)",
        title="Memory of one player",
    ),
    # 06 · before and after
    "06 scores": lambda: plots.plot_scores(
        {
            p: np.random.default_rng(i).normal(m, 20, 100)
            for i, (p, m) in enumerate(
                (
                    ("random", -250),
                    ("untrained network", -300),
                    ("scripted", 40),
                    ("trained DQN", 75),
                )
            )
        }
    ),
    "06 progression": lambda: plots.plot_bars(
        {
            f"{f:.0%} ({int(f * 10_000):,} steps)": m
            for f, m in ((0.0, -310.0), (0.1, -120.0), (0.3, 20.0), (1.0, 72.0))
        },
        ylabel="mean score",
        title="one run's snapshots, the same episodes",
    ),
    # 07 · scaling on one machine
    "07 grid ci": lambda: plots.plot_grid(_grid([1, 2], [2])),
    "07 grid": lambda: plots.plot_grid(_grid([1, 2], [1, 2, 4])),
    "07 grid gpu": lambda: plots.plot_grid(_grid([1, 2], [1, 2, 4], ["lockstep"])),
    "07 straggler": lambda: _panels(
        [
            {
                "values": {"lockstep": 610.0, "pool": 890.0, "double_buffered": 1020.0},
                "ylabel": "env steps/s",
                "title": "throughput, same run",
            },
            {
                "values": {
                    f"{k}\n{w}": v
                    for k, w, v in (
                        ("lockstep", "plain", 3.1),
                        ("lockstep", "reset", 42.0),
                        ("pool", "plain", 2.2),
                        ("pool", "reset", 2.4),
                        ("double_buffered", "plain", 1.9),
                        ("double_buffered", "reset", 2.0),
                    )
                },
                "ylabel": "ms per batch (median)",
                "title": "batches without / with a reset",
            },
        ]
    ),
    "07 ppo dqn": lambda: plots.plot_mean_spread(
        {"PPO": [make_history(5)], "DQN": [make_history(6)]}, x="time", metric="eval", band="minmax"
    ),
    # 08 · distributed training
    "08 workers": lambda: distributed_charts.plot_worker_scaling(
        {
            "Ray rollout workers": {"1": 378.6, "2": 1405.6},
            "local vector env": {"1": 479.7, "2": 1354.9},
        },
        title="Rollout collection, vizdoom_basic_ppo",
    ),
    "08 shares": lambda: distributed_charts.plot_shares(
        {
            "training, 2 Ray workers": {"env": 0.31, "act": 0.12, "transfer": 0.2, "learner": 0.3},
            "collection: Ray workers, 1": {"env": 0.72, "act": 0.24, "transfer": 0.04},
            "collection: Ray workers, 2": {"env": 0.5, "act": 0.36, "transfer": 0.14},
            "collection: vector env, 1": {"env": 0.75, "act": 0.25},
            "collection: vector env, 2": {"env": 0.57, "act": 0.43},
        },
        title="Share of time: a training run, then collection alone",
    ),
    "08 backup": lambda: plots.plot_bars(
        {"2 healthy": 1405.6, "2, one slow": 504.1, "2+1 backup": 1345.8},
        ylabel="env steps/s",
        title="one worker sleeps 0.36 s per fragment",
    ),
    "08 transfer": lambda: _panels(
        [
            {
                "values": {
                    m: r for m, r in zip(TRANSFER, (5.4, 900.0, 2600.0, 310.0, 1200.0), strict=True)
                },
                "log": True,
                "ylabel": "MB/s of observation",
                "title": f"{size}: {mb:.2f} MB per message ({shape})",
            }
            for size, mb, shape in (
                ("fragment", 0.1728, "128×1×1×30×45"),
                ("large", 8.2944, "6144×1×1×30×45"),
            )
        ],
        figsize=(11, 3.8),
    ),
    "08 allreduce": lambda: distributed_charts.plot_allreduce(
        [{"mb": 0.1, "median_s": 0.00088}, {"mb": 1.0, "median_s": 0.0031}],
        marks={"cartpole_ppo": 0.018, "vizdoom_basic_ppo": 0.105, "Nature trunk, 4×84×84": 6.7},
    ),
    "08 projection": _projection,
    # benchmarks and the dashboard
    "soak": _soak,
    "dashboard": lambda: (
        __import__("rlkit.ui.dashboard", fromlist=["Dashboard"])
        .Dashboard("off", title="vizdoom_simpler_basic")
        .figure(make_history())
    ),
    "returns": lambda: plots.plot_returns(
        {"uniform": make_history(1), "prioritized": make_history(2)}
    ),
    "returns, none yet": lambda: plots.plot_returns(History()),
}


@pytest.mark.parametrize("name", list(CHARTS))
@pytest.mark.slow
def test_rlkit_charts_have_no_problems(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a chart that warns while it is built is a problem too
        fig = CHARTS[name]()
    assert figure_problems(fig) == []


def test_charts_module_is_covered():
    drawn = {
        "plot_grid",
        "plot_bars",
        "plot_scaling",
        "plot_ipc_cost",
        "plot_latency",
        "plot_scores",
        "show_frames",
    }
    assert drawn == set(charts.__all__) - {"GRID_METRICS"}
