"""Look at the figures by machine: texts that collide or are cut off, layout warnings, empty axes.

:func:`figure_problems` draws a figure and returns one sentence per problem a reader would see;
:func:`install` runs it after every cell of an IPython kernel and appends what it finds to a
JSON-lines report, which the notebook runner reads back with :func:`read_report`::

    from rlkit.ui.figure_check import figure_problems

    assert figure_problems(plots.plot_grid(grid)) == []
"""

from __future__ import annotations

import json
import math
import sys
import warnings
import weakref
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["figure_problems", "install", "read_report", "startup_source"]

_TOLERANCE_PX = 1.0  # at 100 dpi: boxes that share a pixel's edge still read as apart


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.replace("\\mathdefault", "").replace("$", "").split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _rectangle(artist: Any, renderer: Any) -> np.ndarray:
    """The four corners of what the artist covers, in pixels, rotation included."""
    box = artist.get_window_extent(renderer)
    angle = artist.get_rotation() % 360 if hasattr(artist, "get_rotation") else 0.0
    upright = box
    if angle % 90:  # the window extent is the upright box around the rotated one: far bigger
        try:
            artist.set_rotation(0)
            upright = artist.get_window_extent(renderer)
        finally:
            artist.set_rotation(angle)
    w, h = (upright.height, upright.width) if angle % 180 == 90 else (upright.width, upright.height)
    # A rotated rectangle's upright bounding box is centred on the rectangle's own centre.
    t = math.radians(angle)
    c = np.array([box.x0 + box.width / 2, box.y0 + box.height / 2])
    u = np.array([math.cos(t), math.sin(t)]) * w / 2
    v = np.array([-math.sin(t), math.cos(t)]) * h / 2
    return np.array([c + u + v, c - u + v, c - u - v, c + u - v])


def _overlap(p: np.ndarray, q: np.ndarray) -> float:
    """How far two convex quadrilaterals overlap along their least-overlapping direction
    (separating axes): ≤ 0 when they are apart."""
    depth = math.inf
    for edge in (p[1] - p[0], p[2] - p[1], q[1] - q[0], q[2] - q[1]):
        if norm := math.hypot(*edge):
            a, b = p @ [-edge[1] / norm, edge[0] / norm], q @ [-edge[1] / norm, edge[0] / norm]
            depth = min(depth, min(a.max(), b.max()) - max(a.min(), b.min()))
    return depth


def _shown(t: Any) -> bool:
    return t.get_visible() and bool(t.get_text().strip())


def _tick_labels(axis: Any) -> list[Any]:
    """The tick labels the axis draws: those of its ticks inside the view interval."""
    tr = axis.get_transform()
    lo, hi = sorted(np.ravel(tr.transform(sorted(axis.get_view_interval()))))
    slack, out = 1e-9 * (abs(hi - lo) or 1.0), []
    for locs, ticks in ((axis.get_majorticklocs(), axis.get_major_ticks),
                        (axis.get_minorticklocs(), axis.get_minor_ticks)):  # fmt: skip
        for tick in ticks(len(locs)):
            at = np.ravel(tr.transform(tick.get_loc()))[0]
            if tick.get_visible() and np.isfinite(at) and lo - slack <= at <= hi + slack:
                out += [t for t in (tick.label1, tick.label2) if _shown(t)]
    return out


def _titles(ax: Any) -> list[Any]:
    from matplotlib.text import Text

    # An axes' own Text children that are not in ax.texts are its left, centre and right titles.
    return [t for t in ax.get_children() if isinstance(t, Text) and t not in ax.texts]


def _axes_name(i: int, ax: Any) -> str:
    title = " ".join(t.get_text() for t in _titles(ax) if _shown(t))
    return f"axes {i + 1}" + (f" ({_quote(title)})" if title else "")


def _items(fig: Any) -> list[tuple[tuple[int, str], str, Any]]:
    """Every title, axis label, tick label, legend and text: ``((axes index, kind), name, artist)``;
    the figure's own texts and legends have axes index -1."""
    found = [((-1, "figure text"), f"figure text {_quote(t.get_text())}", t)
             for t in fig.texts if _shown(t)]  # fmt: skip
    found += [((-1, "figure legend"), "the figure legend", g) for g in fig.legends]
    for i, ax in enumerate(fig.axes):
        of = f" of {_axes_name(i, ax)}"
        found += [((i, "title"), f"title {_quote(t.get_text())}", t) for t in _titles(ax)]
        for xy, axis in (("x", ax.xaxis), ("y", ax.yaxis)) if ax.axison else ():
            if axis.get_visible():
                found.append(((i, f"{xy} label"), f"{xy} label {_quote(axis.label.get_text())}"
                              f"{of}", axis.label))  # fmt: skip
                found += [((i, f"{xy} tick labels"), f"{xy} tick label {_quote(t.get_text())}{of}",
                           t) for t in _tick_labels(axis)]  # fmt: skip
        found += [((i, "legend"), f"the legend{of}", g) for g in [ax.get_legend()] if g]
        found += [((i, "text"), f"text {_quote(t.get_text())}{of}", t) for t in ax.texts]
    return [(g, n, a) for g, n, a in found
            if a.get_visible() and (g[0] < 0 or fig.axes[g[0]].get_visible())
            and (not hasattr(a, "get_text") or _shown(a))]  # fmt: skip


def _compared(a: tuple[int, str], b: tuple[int, str]) -> bool:
    if a[0] != b[0] or a[0] == -1:  # texts of different axes, or the figure's own
        return True
    if a[1] == b[1]:  # within one axes: the crowded ticks of one axis, texts on texts
        return a[1].endswith("tick labels") or a[1] == "text"
    # A legend or a bar's value must not cover the labels; a title and ticks cannot meet.
    return bool({"legend", "text"} & {a[1], b[1]})


def _text_problems(fig: Any, renderer: Any) -> list[str]:
    tol = _TOLERANCE_PX * fig.dpi / 100
    items = [(g, n, _rectangle(a, renderer)) for g, n, a in _items(fig)]
    found: dict[tuple[Any, Any], list[str]] = {}
    for i, (ga, na, ra) in enumerate(items):
        for gb, nb, rb in items[i + 1 :]:
            apart = np.any(ra.min(0) > rb.max(0) - tol) or np.any(rb.min(0) > ra.max(0) - tol)
            if _compared(ga, gb) and not apart and _overlap(ra, rb) > tol:
                found.setdefault((ga, gb), []).append(f"{na} and {nb} overlap")
    page = fig.bbox
    for g, name, r in items:
        if np.any(r.min(0) < [page.x0 - tol, page.y0 - tol]) or np.any(
            r.max(0) > [page.x1 + tol, page.y1 + tol]
        ):
            found.setdefault((g, "page"), []).append(f"{name} runs off the figure")
        for j, ax in enumerate(fig.axes):
            b = ax.bbox
            area = np.array([[b.x0, b.y0], [b.x1, b.y0], [b.x1, b.y1], [b.x0, b.y1]])
            if g == (j, "text") and _overlap(r, area) > tol:  # half in, half out: cut by the frame
                if np.any(r.min(0) < area[0] - tol) or np.any(r.max(0) > area[2] + tol):
                    found.setdefault((g, "frame"), []).append(f"{name} sticks out of its frame")
            # Its own axes, a twin, an inset, or a figure legend: placed there on purpose.
            mine = g[0] >= 0 and fig.axes[g[0]].bbox.overlaps(b)
            if mine or g[1] == "figure legend" or not ax.get_visible():
                continue
            if _overlap(r, area) > tol:
                found.setdefault((g, j), []).append(
                    f"{name} runs into the plot area of {_axes_name(j, ax)}"
                )
    return [s[0] + (f" ({len(s)} like it in all)" if len(s) > 1 else "")
            for s in found.values()]  # fmt: skip


def _has_content(ax: Any, renderer: Any) -> bool:
    """Whether anything is drawn in the axes: a line with a finite point, a collection with a
    shape, a patch with an area, an image, a text, a table, an inset."""
    lines = (np.asarray(ln.get_xydata(), dtype=float).reshape(-1, 2) for ln in ax.lines
             if ln.get_visible())  # fmt: skip
    boxes = (p.get_window_extent(renderer) for p in ax.patches if p.get_visible())
    return bool(
        ax.images or ax.tables or ax.artists or ax.child_axes
        or any(_shown(t) for t in ax.texts)
        or any(np.isfinite(xy).all(axis=1).any() for xy in lines)
        or any(c.get_visible() and len(c.get_paths()) and len(c.get_offsets())
               for c in ax.collections)
        or any(b.width > 0 and b.height > 0 for b in boxes)
    )  # fmt: skip


def figure_problems(fig: Any) -> list[str]:
    """Draw ``fig`` and say what a reader would find wrong with it, one sentence per problem:

    - titles, axis labels, tick labels, legends and texts (bar values, annotations) of different
      axes that overlap, or that run into another axes' plot area or off the figure;
    - within one axes, tick labels of one axis that overlap, texts that overlap each other, the
      legend or the labels, and texts half inside the frame (cut by it);
    - every warning raised while drawing (a layout that could not be applied, a missing glyph);
    - visible axes with nothing drawn in them (no line with a finite point, no bar with a height).

    Overlaps of at most a pixel (at 100 dpi) are allowed; a text over its own plot area is not
    a problem.

    :param fig: a matplotlib Figure.
    :return: the problems; empty when the figure looks right.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not hasattr(fig.canvas, "get_renderer"):  # a bare Figure(): draw it as savefig would
        FigureCanvasAgg(fig)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = list(dict.fromkeys(f"drawing warned: {w.message}" for w in caught))
    problems += _text_problems(fig, renderer)
    for i, ax in enumerate(fig.axes):
        if ax.get_visible() and not _has_content(ax, renderer):
            problems.append(
                f"{_axes_name(i, ax)} is empty: nothing is drawn in it (hide it with "
                "ax.set_visible(False) if it is a spare panel)"
            )
    fig.stale = False  # the rotations set and restored above changed nothing
    return problems


def install(shell: Any, report_path: str | Path) -> None:
    """Check every open pyplot figure after each cell the IPython ``shell`` runs, and append a
    line ``{"cell": n, "figure": label or number, "problems": [...]}`` per figure with problems
    to ``report_path``. The check never raises into the notebook: its own failure is recorded.

    Figures that ``plt.show()`` displayed and closed during the cell are not seen.

    :param shell: the kernel's InteractiveShell (``get_ipython()``).
    :param report_path: the JSON-lines report, appended to.
    """
    path = Path(report_path)
    checked: weakref.WeakSet[Any] = weakref.WeakSet()

    def after() -> None:
        cell = None
        try:
            # The cell just run: IPython has counted it by now (9.x at its start, 8.x at its end).
            cell = shell.execution_count - 1
            if "matplotlib.pyplot" not in sys.modules:  # no cell has drawn with pyplot yet
                return
            # pyplot's own registry of open figures; plt.figure(num) would make each current.
            from matplotlib._pylab_helpers import Gcf

            for manager in Gcf.get_all_fig_managers():
                fig, num = manager.canvas.figure, manager.num
                if fig in checked and not fig.stale:  # left open and unchanged since its check
                    continue
                try:
                    problems = figure_problems(fig)
                except Exception as e:  # the check's own failure is a finding, not a crash
                    problems = [f"the figure check failed: {type(e).__name__}: {e}"]
                checked.add(fig)
                if problems:
                    _append(path, {"cell": cell, "figure": fig.get_label() or num,
                                   "problems": problems})  # fmt: skip
        except Exception as e:
            try:
                failed = f"the figure check failed: {type(e).__name__}: {e}"
                _append(path, {"cell": cell, "figure": None, "problems": [failed]})
            except Exception:
                pass  # nowhere left to say it; the user's cell must not fail for it

    shell.events.register("post_execute", after)
    # First in line, whenever pyplot was imported: matplotlib-inline's flush_figures, also a
    # post_execute callback, shows the figures and closes them, and callbacks run in list order.
    hooks = shell.events.callbacks["post_execute"]
    hooks.insert(0, hooks.pop(hooks.index(after)))


def _append(path: Path, line: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line, default=str) + "\n")
        f.flush()


def startup_source(report_path: str | Path) -> str:
    """The text of an IPython startup file that installs the check in the kernel it starts
    (written to ``$IPYTHONDIR/profile_default/startup/``)."""
    return (
        "# Written by rlkit's notebook runner: checks the figures of every cell.\n"
        "from rlkit.ui.figure_check import install as _rlkit_figure_check\n\n"
        f"_rlkit_figure_check(get_ipython(), {str(report_path)!r})\n"
        "del _rlkit_figure_check\n"
    )


def read_report(path: str | Path) -> list[dict[str, Any]]:
    """The report's lines, in order; ``[]`` when no figure had a problem (no file)."""
    p = Path(path)
    lines = p.read_text(encoding="utf-8").splitlines() if p.exists() else []
    return [json.loads(line) for line in lines if line.strip()]
