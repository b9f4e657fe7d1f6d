"""Tests for rlkit.ui.dashboard: text, bar, off and widgets modes, auto detection, degradation."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # headless: tests never open windows

import matplotlib.pyplot as plt
import numpy as np
import pytest

from rlkit.records import EpisodeRow, EvalRow, History, Progress
from rlkit.ui import frontend
from rlkit.ui.dashboard import Dashboard, resolve_mode

PNG_MAGIC = b"\x89PNG"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # The detection reads these; the test machine's own values must not leak in.
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(frontend.ENV_VAR, raising=False)
    yield
    plt.close("all")


PHASES = {"time/env": 1.0, "time/act": 0.5, "time/learner": 0.3}
EPISODES = tuple(EpisodeRow(100 * (i + 1), (i + 1) / 10, float(i), 100) for i in range(20))


def make_history() -> History:
    h = History()
    for row in EPISODES:  # the last 10 returns average to 14.5
        h.add_episode(row)
    h.env_steps, h.updates = 2000, 500
    h.phase_seconds = {"env": 1.0, "act": 0.5, "learner": 0.3}
    h.train_seconds = 2.0
    return h


def make_progress(
    event, steps, train_seconds, frame=None, eps=0.42, new_episodes=(), evaluation=None
):
    return Progress(
        event=event,
        algo="dqn",
        env_id="CartPole-v1",
        env_steps=steps,
        total_steps=10_000,
        updates=steps // 4,
        episodes=20 if steps else 0,
        train_seconds=train_seconds,
        metrics={"epsilon": eps, **PHASES},
        new_episodes=tuple(new_episodes),
        evaluation=evaluation,
        frame=frame if frame is not None else np.zeros(4, dtype=np.float32),
    )


def make_eval(steps, mean, scores):
    return EvalRow(steps, steps / 1000, mean, float(np.std(scores)), tuple(scores))


def simulate(d: Dashboard, frame=None, logs: int = 2):
    """start, ``logs`` log events 1000 steps apart (1000 steps/s), one eval, end."""
    d.on_start(make_progress("start", 0, 0.0, frame))
    for k in range(1, logs + 1):
        rows = EPISODES if k == 1 else ()
        d.on_log(make_progress("log", 1000 * k, 1.0 * k, frame, new_episodes=rows))
    ev = make_eval(1000 * logs, 20.0, [10.0, 30.0])
    stop = d.on_eval(make_progress("eval", 1000 * logs, 1.0 * logs, evaluation=ev))
    d.on_end(make_progress("end", 10_000, 10.0, frame))
    return stop


# -- modes and options ------------------------------------------------------------------------


def test_bad_mode_names_the_valid_ones():
    with pytest.raises(ValueError, match="'auto', 'widgets', 'text', 'bar', 'off'"):
        Dashboard(mode="fancy")
    with pytest.raises(ValueError, match="mode"):
        resolve_mode("plain")


@pytest.mark.parametrize("bad", [0, -3, 1.5, "10", "often", True])
def test_bad_print_every(bad):
    with pytest.raises(ValueError, match="print_every"):
        Dashboard(mode="text", print_every=bad)


def test_text_mode_prints_one_line_per_event(capsys):
    stop = simulate(Dashboard(mode="text"))
    assert not stop  # a display never stops training
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("start     0/10000")
    assert out[1].startswith("step   1000/10000 | 1000 steps/s | ETA ")
    assert "eps 0.42 | last10 return 14.5" in out[1]
    assert out[2].startswith("step   2000/10000")
    assert (
        out[3] == "eval   2000/10000 | 20.0 ± 10.0 over 2 episodes (min 10.0, max 30.0) | best 20.0"
    )
    assert out[4].startswith("done  10000/10000 |")
    assert "best eval 20.0" in out[4] and "env 1.0s, act 0.5s, learner 0.3s" in out[4]
    assert len(out) == 5


def test_text_log_lines_show_the_last_eval(capsys):
    d = Dashboard(mode="text")
    d.on_start(make_progress("start", 0, 0.0))
    d.on_eval(make_progress("eval", 500, 0.5, evaluation=make_eval(500, 61.3, [61.3, 61.3])))
    d.on_log(make_progress("log", 1000, 1.0))
    assert capsys.readouterr().out.splitlines()[-1].endswith("| eval 61.3 ± 0.0")


def test_text_print_every_events_and_seconds(capsys):
    simulate(Dashboard(mode="text", print_every=2), logs=4)
    steps = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step")]
    assert [line.split("/")[0].split()[-1] for line in steps] == ["1000", "3000"]
    simulate(Dashboard(mode="text", print_every="1000s"), logs=4)
    steps = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step")]
    assert len(steps) == 1  # the first log line, then nothing within 1000 s


def test_text_mode_writes_to_given_file(capsys):
    buf = io.StringIO()
    simulate(Dashboard(mode="text", file=buf))
    assert "eval" in buf.getvalue()
    assert capsys.readouterr().out == ""


def test_off_prints_nothing_but_keeps_the_history(capsys):
    d = Dashboard(mode="off")
    simulate(d)
    assert capsys.readouterr() == ("", "")
    assert d.history.episode_returns == [r.ret for r in EPISODES]
    assert d.history.eval_means == [20.0] and d.history.env_steps == 10_000
    assert len(d.figure().axes) == 2


def test_bar_mode_uses_a_plain_tqdm_outside_notebooks():
    buf = io.StringIO()
    d = Dashboard(mode="bar", file=buf)
    simulate(d)
    text = buf.getvalue()
    assert "10.0k/10.0k" in text
    assert "eps=0.42" in text and "eval=20.0±10.0" in text
    assert d._bar is None  # closed at the end


# -- auto mode --------------------------------------------------------------------------------


def test_auto_outside_a_kernel_picks_text(capsys):
    assert resolve_mode() == "text"
    d = Dashboard()
    simulate(d)
    assert d.active_mode == "text"
    assert "kernel" in d.mode_reason
    assert capsys.readouterr().out.startswith("start")


def test_auto_honours_ci_and_the_override_variable(monkeypatch):
    monkeypatch.setenv("CI", "true")
    d = Dashboard()
    d.on_start(make_progress("start", 0, 0.0))
    assert (d.active_mode, d.mode_reason) == ("text", "CI is set")
    monkeypatch.setenv(frontend.ENV_VAR, "off")
    assert resolve_mode() == "off"
    monkeypatch.setenv(frontend.ENV_VAR, "nonsense")
    assert resolve_mode() == "text"


class FakeKernel:
    def __init__(self, header):
        self.header = header

    def get_parent(self, channel="shell"):
        return {"header": self.header, "metadata": {}}


class FakeShell:
    def __init__(self, header, user_ns=None):
        self.kernel = FakeKernel(header)
        self.user_ns = user_ns or {}


SESSION = "72cdd613-900c0935ba38adedbc3f915d"


@pytest.mark.parametrize(
    "msg_id, user_ns, expected",
    [
        # What papermill/nbclient send (jupyter_client: <session>_<pid>_<n>), and older clients.
        (f"{SESSION}_10340_1", {}, "text"),
        (f"{SESSION}_7", {}, "text"),
        # JupyterLab, Notebook and VS Code send UUIDs.
        ("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", {}, "widgets"),
        # papermill run through another client still leaves its injected parameters.
        ("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", {"PAPERMILL_OUTPUT_PATH": "x"}, "text"),
    ],
)
def test_auto_in_a_kernel_tells_papermill_from_a_browser(monkeypatch, msg_id, user_ns, expected):
    header = {"msg_id": msg_id, "session": SESSION, "msg_type": "execute_request"}
    monkeypatch.setattr(frontend, "kernel_shell", lambda: FakeShell(header, user_ns))
    assert resolve_mode() == expected


@pytest.mark.notebooks
@pytest.mark.slow
def test_papermill_requests_are_recognised(tmp_path):
    """Run a real papermill execution and check its execute request looks headless to us."""
    papermill = pytest.importorskip("papermill")
    nbformat = pytest.importorskip("nbformat")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.skip("no python3 kernel installed")
    # The cell only reports the request header: importing rlkit (and torch) in the kernel
    # would triple the time of this test for nothing.
    code = (
        "h = get_ipython().kernel.get_parent('shell')['header']\nprint(h['msg_id'], h['session'])"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill.execute_notebook(
        str(tmp_path / "in.ipynb"),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        progress_bar=False,
    )
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs[0]["text"]
    msg_id, session = out.split()
    assert frontend.sent_by_jupyter_client({"msg_id": msg_id, "session": session})


# -- widgets mode -----------------------------------------------------------------------------


@pytest.fixture
def shown(monkeypatch):
    """Replace IPython's display with a recorder (there is no frontend in tests)."""
    import IPython.display

    calls = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: calls.extend(objs))
    return calls


@pytest.mark.slow
def test_widgets_mode_builds_and_updates_the_tree(shown, capsys):
    import ipywidgets

    d = Dashboard(mode="widgets", title="DQN <cartpole>", refresh_seconds=0.01)
    frame = np.zeros((4, 30, 40), dtype=np.uint8)  # (C, H, W) a Doom-like frame stack
    simulate(d, frame=frame)
    assert shown == [d.root]
    assert isinstance(d.root, ipywidgets.VBox)
    assert d.active_mode == "widgets" and not d.notes
    assert bytes(d._w_plot.value).startswith(PNG_MAGIC)
    assert bytes(d._w_frame.value).startswith(PNG_MAGIC)
    assert d._w_frame.layout.display is None  # visible for image observations
    assert d._w_bar.value == 10_000 and d._w_bar.bar_style == "success"
    assert "ε 0.420" in d._w_status.value and "eval 20.0 ± 10.0" in d._w_status.value
    assert "&lt;cartpole&gt;" in d.root.children[0].value  # the title is escaped
    assert capsys.readouterr() == ("", "")


def test_widgets_mode_hides_the_frame_for_vector_observations(shown):
    d = Dashboard(mode="widgets")
    simulate(d)
    assert d._w_frame.layout.display == "none"
    assert bytes(d._w_plot.value).startswith(PNG_MAGIC)


def test_widgets_redraws_are_throttled(shown, monkeypatch):
    d = Dashboard(mode="widgets", refresh_seconds=1000)
    draws = []
    original = d._redraw
    monkeypatch.setattr(d, "_redraw", lambda: (draws.append(1), original())[1])
    d.on_start(make_progress("start", 0, 0.0))
    for k in range(1, 6):
        d.on_log(make_progress("log", 1000 * k, 1.0 * k))
    assert len(draws) == 1  # only the first draw: the logs came within 1000 s of it
    d.on_end(make_progress("end", 10_000, 10.0))
    assert len(draws) == 2  # the end always draws the final state
    assert d._w_bar.value == 10_000
    assert "done after" in d._w_speed.value


def test_display_error_degrades_to_text_once(monkeypatch, capsys):
    import IPython.display

    def broken(*objs, **kw):
        raise RuntimeError("no frontend")

    monkeypatch.setattr(IPython.display, "display", broken)
    d = Dashboard(mode="widgets")
    simulate(d)
    out, err = capsys.readouterr()
    assert d.active_mode == "text"
    assert len(d.notes) == 1 and err.count("widgets display failed") == 1
    assert "RuntimeError: no frontend" in err
    assert out.splitlines()[0].startswith("start")
    assert any(line.startswith("eval") for line in out.splitlines())


def test_error_during_a_redraw_degrades_midway(shown, monkeypatch, capsys):
    d = Dashboard(mode="widgets")
    d.on_start(make_progress("start", 0, 0.0))

    def boom():
        raise ValueError("widget gone")

    monkeypatch.setattr(d, "_redraw", boom)
    # Redraw at every log, whatever the throttle says.
    monkeypatch.setattr(d, "_widgets_log", lambda: d._widgets_refresh(force=True))
    d.on_log(make_progress("log", 1000, 1.0))
    d.on_log(make_progress("log", 2000, 2.0))
    out, err = capsys.readouterr()
    assert d.active_mode == "text" and len(d.notes) == 1
    assert "ValueError: widget gone" in err
    assert [line[:4] for line in out.splitlines()] == ["step", "step"]


def test_failing_text_output_turns_the_dashboard_off(capsys):
    class Broken(io.StringIO):
        def write(self, s):
            raise OSError("stream closed")

    d = Dashboard(mode="text", file=Broken())
    simulate(d)  # must not raise
    assert d.active_mode == "off"
    assert "dashboard is off" in capsys.readouterr().err


def test_unreadable_info_is_skipped_not_raised(capsys):
    d = Dashboard(mode="text")
    d.on_start({"env_steps": "not a number"})
    d.on_log({"env_steps": "still not"})
    assert capsys.readouterr().err.count("skipping such updates") == 1


# -- figure -----------------------------------------------------------------------------------


def test_figure_after_a_run_and_before_one():
    with pytest.raises(ValueError, match="not watched a run"):
        Dashboard(mode="off").figure()
    fig = Dashboard(mode="off", title="run").figure(make_history())
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2  # raw returns + moving average
    assert fig.get_suptitle().startswith("run — 2,000 env steps")


# -- with the real training loop --------------------------------------------------------------


def test_train_dqn_with_a_text_dashboard(capsys):
    import torch

    from rlkit.entry import train_dqn
    from rlkit.presets import preset

    config = preset(
        "cartpole",
        total_steps=300,
        learning_starts=100,
        eval_interval=150,
        eval_episodes=2,
        log_interval=100,
        # One thread: on a shared 2-core machine torch's default threads fight each other and
        # make this tiny run 20x slower.
        torch_threads=1,
    )
    d = Dashboard(mode="text")
    threads = torch.get_num_threads()
    try:
        result = train_dqn(config, device="cpu", callbacks=[d])
    finally:
        torch.set_num_threads(threads)  # train_dqn sets it process-wide
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("start")
    assert sum(line.startswith("step") for line in lines) >= 2
    assert sum(line.startswith("eval") for line in lines) == 2
    assert lines[-1].startswith("done") and "300/300" in lines[-1]
    # The dashboard saw only Progress records, and rebuilt the run's whole history from them.
    assert d.history.to_dict() == result.history.to_dict() and not d.notes


def test_widgets_say_a_run_stopped_by_ctrl_c_was_stopped(shown):
    """JupyterLab's ■ during rlkit.train: the dashboard ends as stopped, not done."""
    import signal

    from rlkit.entry import train
    from rlkit.presets import preset
    from rlkit.stopping import TrainingInterrupted
    from rlkit.training import Callback

    class CtrlC(Callback):
        def on_log(self, progress):
            if progress.env_steps >= 600:
                signal.raise_signal(signal.SIGINT)

    d = Dashboard(mode="widgets", refresh_seconds=0.01)
    cfg = preset("cartpole", total_steps=100_000, eval_interval=0, log_interval=200)
    with pytest.raises(TrainingInterrupted):
        train(cfg, device="cpu", callbacks=[d, CtrlC()])
    assert d._w_bar.bar_style == "warning" and "stopped after" in d._w_speed.value
