"""The live dashboard in JupyterLab, in a real browser: seen, not just executed.

Everything else runs notebooks headless (papermill), where the dashboard falls back to text
lines. This test takes the path a person takes with ``make lab``: a JupyterLab server from this
venv, a small training notebook of its own opened in (headless) Chromium, Run → Run All
Cells, and then the ipywidgets dashboard must appear on the page, with its curves image and
progress bar, and reach the end of training. A screenshot is kept in
``runs/jupyterlab/dashboard.png`` for a person to look at.

Chromium comes from Debian's packages (``make browser``, run by ``make setup`` and ``make
unit``); playwright only drives it and never downloads a browser.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from rlkit.paths import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.notebooks]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "runs" / "jupyterlab" / "dashboard.png"
KERNEL = "rlkit"
# Flags known to work here as root in a container: no sandbox (root), no GPU, and nothing that
# reaches out to the network on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Small enough to reach the end quickly, with two evaluations on the curves.
OVERRIDES = {"total_steps": 1000, "eval_episodes": 3, "eval_interval": 500}
SERVER_START_S = 60
PAGE_LOAD_S = 90
# The first import of torch and vizdoom in a fresh kernel is slow on a 2-core machine.
DASHBOARD_S = 180
TRAINING_S = 120  # 1000 steps train in ~10 s here


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_notebook(dest: Path, title: str, code: str) -> None:
    """A small notebook of a test's own, one markdown title and one code cell, on the rlkit
    kernel (the notebooks themselves are executed once, by ``make test``'s CI run)."""
    cells = [nbformat.v4.new_markdown_cell(f"# {title}"), nbformat.v4.new_code_cell(code)]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": KERNEL,
        "display_name": "Python (rlkit)",
        "language": "python",
    }
    nbformat.write(nb, dest)


def _dashboard_notebook(dest: Path, out_dir: Path) -> None:
    """A short DQN run on ViZDoom with the live dashboard."""
    _write_notebook(
        dest,
        "The live dashboard (tests/test_jupyterlab.py)",
        "import rlkit\n\n"
        f"cfg = rlkit.preset('vizdoom_simpler_basic', **{OVERRIDES!r})\n"
        f"result = rlkit.train(cfg, device='cpu', run_dir={str(out_dir)!r},\n"
        "                     callbacks=[rlkit.Dashboard()])\n"
        "print(result.summary())",
    )


def _get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def _pids_using(marker: str) -> list[int]:
    """Processes whose command line mentions ``marker`` (this test's private runtime dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def _jupyterlab(root_dir: Path, home: Path) -> Iterator[str]:
    """A JupyterLab server on a free loopback port; yields ``/lab/tree/{}?token=...`` to format."""
    port, token = _free_port(), secrets.token_hex(16)
    runtime, config = home / "runtime", home / "config"
    # A private config dir: a person's own Jupyter settings (password, workspaces, extensions'
    # settings) must not change what this test sees. Jupyter news would pop a toast over the page.
    settings = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = dict(os.environ)
    # CI=true (set by CI) or RLKIT_DASHBOARD would make the dashboard print text lines instead
    # of widgets: the kernel inherits the server's environment.
    for name in ("CI", "RLKIT_DASHBOARD", "JUPYTER_TOKEN", "JUPYTER_PATH"):
        env.pop(name, None)
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_DATA_DIR=str(home / "data"),  # the kernel is found in the venv (--sys-prefix)
    )
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [
        str(jupyter),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.news_url=",
    ]
    if os.geteuid() == 0:  # CI runs as root (in a container); jupyter refuses root without this
        cmd.append("--allow-root")
    log = (home / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        cmd, env=env, cwd=root_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited ({server.returncode}):\n{_tail(home)}")
            with contextlib.suppress(OSError):
                _get(f"{base}/api/status?token={token}")
                break
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {SERVER_START_S} s:\n{_tail(home)}")
            time.sleep(0.5)
        yield f"{base}/lab/tree/{{}}?token={token}"
    finally:
        # Kernels run in their own sessions, so killing the server's group would orphan them:
        # ask the server to shut its kernels down, then make sure of it.
        with contextlib.suppress(OSError):
            req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(req, timeout=10).close()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        # Any kernel still alive was started with a connection file in our runtime dir.
        for pid in _pids_using(str(runtime)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()


def _tail(home: Path, n: int = 20) -> str:
    return "\n".join((home / "jupyterlab.log").read_text(errors="replace").splitlines()[-n:])


# The notebook panel's toolbar names the kernel and shows its state.
KERNEL_NAME_JS = """() => {
    const name = document.querySelector('.jp-NotebookPanel .jp-Toolbar-kernelName');
    return name ? name.innerText.trim() : null;
}"""
KERNEL_IDLE_JS = """() => {
    const name = document.querySelector('.jp-NotebookPanel .jp-Toolbar-kernelName');
    const idle = document.querySelector(
        '.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]');
    return !!name && name.innerText.includes('rlkit') && !!idle;
}"""

# In the page: what the notebook's outputs say, to explain a failure.
OUTPUT_TEXT_JS = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))
    .map(e => e.innerText.trim()).filter(t => t).join('\\n---\\n')"""

# The dashboard: an ipywidgets VBox holding a progress bar and the curves as a decoded image.
# ipywidgets 8 draws a FloatProgress as .widget-hprogress (7: .widget-progress) > .progress-bar.
# "ended" when Run All is over without one (a cell failed, or the dashboard printed text): the
# kernel is idle, no cell is queued or running ([*]) and at least one has run ([1]).
PROGRESS = ".widget-hprogress .progress-bar, .widget-progress .progress-bar"
DASHBOARD_JS = """(progress) => {
    for (const box of document.querySelectorAll('.jp-OutputArea-output .widget-vbox')) {
        const bar = box.querySelector(progress);
        const imgs = Array.from(box.querySelectorAll('img'))
            .filter(i => i.src && i.complete && i.naturalWidth > 0);
        if (bar && imgs.length) return 'widget';
    }
    const idle = document.querySelector(
        '.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]');
    const prompts = Array.from(document.querySelectorAll('.jp-InputPrompt'))
        .map(p => p.innerText.trim());
    if (idle && !prompts.some(p => p.includes('*')) && prompts.some(p => /\\d/.test(p)))
        return 'ended';
    return false;
}"""

# The end of training: the dashboard appends "done after ..." (or "stopped after ..." when a
# callback stopped early) and the kernel is idle again.
FINISHED_JS = """() => {
    const box = document.querySelector('.jp-OutputArea-output .widget-vbox');
    const idle = document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]');
    return !!box && !!idle && /(done|stopped) after/.test(box.innerText);
}"""


def _short(text: str, n: int = 1500) -> str:
    text = text.strip() or "(no output)"
    return text if len(text) <= n else "…" + text[-n:]


def test_dashboard_renders_in_jupyterlab(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM} (install it with `make browser`, as root with apt-get)")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (it is in the dev extra: make setup)")

    root_dir = tmp_path / "lab"
    root_dir.mkdir()
    name = "dashboard.ipynb"
    _dashboard_notebook(root_dir / name, tmp_path / "run")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)

    with _jupyterlab(root_dir, tmp_path) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url.format(name), timeout=PAGE_LOAD_S * 1000)
            # The notebook is open and its kernel started and idle: Run All would otherwise be
            # queued behind the kernel's start or land before the notebook exists.
            try:
                page.wait_for_function(KERNEL_IDLE_JS, timeout=PAGE_LOAD_S * 1000, polling=250)
            except PlaywrightError:
                page.screenshot(path=str(SCREENSHOT), full_page=True)
                kernel = page.evaluate(KERNEL_NAME_JS)
                pytest.fail(
                    f"the notebook did not open with an idle Python (rlkit) kernel within "
                    f"{PAGE_LOAD_S} s (kernel: {kernel!r}; screenshot: {SCREENSHOT}); "
                    f"server log:\n{_tail(tmp_path)}"
                )

            # As a person would: the Run menu, then Run All Cells.
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()

            try:
                seen = page.wait_for_function(
                    DASHBOARD_JS, arg=PROGRESS, timeout=DASHBOARD_S * 1000, polling=500
                ).json_value()
            except PlaywrightError:
                seen = f"no dashboard widget rendered within {DASHBOARD_S} s"
            if seen != "widget":
                if seen == "ended":
                    seen = "the cells ran to their end, but no dashboard widget rendered"
                page.screenshot(path=str(SCREENSHOT), full_page=True)
                pytest.fail(
                    f"{seen} (screenshot: {SCREENSHOT}); the page shows:\n"
                    f"{_short(page.evaluate(OUTPUT_TEXT_JS))}"
                )
            try:
                page.wait_for_function(FINISHED_JS, timeout=TRAINING_S * 1000, polling=500)
            except PlaywrightError:
                page.screenshot(path=str(SCREENSHOT), full_page=True)
                pytest.fail(
                    f"the dashboard rendered but training did not finish within {TRAINING_S} s "
                    f"(screenshot: {SCREENSHOT}); the page shows:\n"
                    f"{_short(page.evaluate(OUTPUT_TEXT_JS))}"
                )

            dash = page.locator(".jp-OutputArea-output .widget-vbox").first
            # The training cell at the top of the view, as a person scrolled to watch it.
            dash.evaluate("e => e.closest('.jp-Cell').scrollIntoView({block: 'start'})")
            page.wait_for_timeout(500)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            text = dash.inner_text()
            # ipywidgets draws the bar's fill as a width in percent of its track.
            fill = dash.locator(PROGRESS).first.evaluate(
                "e => e.style.width || getComputedStyle(e).width"
            )
            images = dash.locator("img").evaluate_all(
                "imgs => imgs.filter(i => i.naturalWidth > 0 && getComputedStyle(i).display "
                "!== 'none').map(i => [i.naturalWidth, i.naturalHeight])"
            )
        finally:
            browser.close()

    print(f"dashboard: {text!r}; bar fill {fill}; images {images}; screenshot {SCREENSHOT}")
    assert "done after" in text or "stopped after" in text, f"training did not end: {text!r}"
    if "done after" in text:
        assert fill == "100%", f"training is done but the progress bar is filled to {fill}"
    # The curves, and the game frame the agent sees (Doom observations are images).
    assert len(images) >= 2, f"expected the curves and the game frame, got images {images}"


GAME_SCREENSHOT = ROOT / "runs" / "jupyterlab" / "game.png"
GAME_RATE = ROOT / "runs" / "jupyterlab" / "game-rate.json"
GAME_S = 120  # the kernel's first import of torch and vizdoom, then the engine's start


def _game_notebook(dest: Path, out_dir: Path) -> None:
    _write_notebook(
        dest,
        "You play (tests/test_jupyterlab.py)",
        "from rlkit.ui.game import GameWidget\n\n"
        f"game = GameWidget('vizdoom:simpler_basic', {str(out_dir)!r},\n"
        "                  env_kwargs={'resolution': (30, 45), 'frame_skip': 12})\n"
        "game",
    )


def _status(page) -> str:
    return page.locator(".rlkit-game-bar").first.inner_text()


def test_a_person_plays_the_game_widget_with_real_keys(tmp_path):
    """Chromium presses the keys: the frame changes, the actions reach the env, an episode
    ends and its record is written. The frame rate the browser drew and the key-to-effect
    latency are recorded in runs/jupyterlab/game-rate.json (measured, never asserted)."""
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM} (install it with `make browser`, as root with apt-get)")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    from rlkit.human import load_played

    root_dir, out = tmp_path / "lab", tmp_path / "me"
    root_dir.mkdir()
    _game_notebook(root_dir / "game.ipynb", out)
    GAME_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with _jupyterlab(root_dir, tmp_path) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []  # the browser's own words, for a failure's message
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.goto(url.format("game.ipynb"), timeout=PAGE_LOAD_S * 1000)
            page.wait_for_function(KERNEL_IDLE_JS, timeout=PAGE_LOAD_S * 1000, polling=250)
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
            try:
                page.wait_for_selector(".rlkit-game", timeout=GAME_S * 1000)
            except PlaywrightError:
                page.screenshot(path=str(GAME_SCREENSHOT), full_page=True)
                pytest.fail(
                    f"no game widget rendered within {GAME_S} s (screenshot: "
                    f"{GAME_SCREENSHOT}); the page shows:\n{_short(page.evaluate(OUTPUT_TEXT_JS))}"
                    f"\nbrowser errors: {_short(chr(10).join(errors))}"
                )
            game = page.locator(".rlkit-game").first
            assert "ArrowRight: MOVE_RIGHT" in game.inner_text()

            game.locator("button", has_text="start").click()
            page.wait_for_function(
                "() => { const i = document.querySelector('.rlkit-game img');"
                " return i && i.naturalWidth > 0; }",
                timeout=GAME_S * 1000,
            )
            first_src = game.locator("img").get_attribute("src")
            game.click()  # focus, as a person clicks the game before playing
            page.keyboard.down("ArrowRight")
            page.wait_for_function(
                "() => Number(document.querySelector('.rlkit-game img').dataset.tic) >= 36",
                timeout=GAME_S * 1000,
            )
            page.keyboard.up("ArrowRight")
            assert game.locator("img").get_attribute("src") != first_src  # the frame changed
            page.keyboard.down(" ")  # fire until the episode ends (a kill or the timeout)
            page.wait_for_function(
                "() => /seed 0 over/.test(document.querySelector('.rlkit-game-bar').innerText)",
                timeout=GAME_S * 1000,
            )
            page.keyboard.up(" ")
            game.scroll_into_view_if_needed()
            page.screenshot(path=str(GAME_SCREENSHOT))
            seen = page.evaluate("() => window.rlkitGame")
            status = _status(page)
        finally:
            browser.close()

    (ep,) = load_played(out)
    assert ep.complete and ep.player == "you"
    right, attack = 1, 2  # simpler_basic's buttons: MOVE_LEFT, MOVE_RIGHT, ATTACK
    # The keys as pressed, in order: MOVE_RIGHT first, ATTACK last (no key: the game waits).
    assert ep.actions[0] == right and ep.actions[-1] == attack
    assert set(ep.actions) <= {right, attack} and ep.actions.count(right) >= 3
    assert f"score {ep.score:g}" in status

    frames = seen["frames"]
    downs = [t for t, _ in seen["keys"]]
    # Key-to-effect: from a key going down to the first frame drawn past the tic it was at.
    latencies = []
    for t in downs:
        before = [tic for ft, tic in frames if ft <= t]
        after = [ft for ft, tic in frames if ft > t and tic > (before[-1] if before else -1)]
        if after:
            latencies.append(after[0] - t)
    playing = [ft for ft, tic in frames if tic > 0]
    fps = (len(playing) - 1) / ((playing[-1] - playing[0]) / 1000) if len(playing) > 1 else 0
    record = {
        "what": "frames the browser drew while the game ran, and key-to-effect latency",
        "frames_drawn": len(frames),
        "frames_per_s": round(fps, 1),
        "key_to_effect_ms": [round(x, 1) for x in latencies],
        "key_to_effect_median_ms": round(sorted(latencies)[len(latencies) // 2], 1)
        if latencies
        else None,
        "frame": [320, 240],
        "show_every_tics": 2,
        "frame_skip": 12,
    }
    GAME_RATE.write_text(json.dumps(record, indent=2) + "\n")
    print(f"game widget: {record}; screenshot {GAME_SCREENSHOT}")
    assert len(frames) > 20 and latencies, f"too little reached the browser: {record}"
