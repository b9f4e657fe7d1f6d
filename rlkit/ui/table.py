"""Tables that render as tables: HTML in JupyterLab, aligned text in a terminal or a log.

Rows printed with f-strings are only text in JupyterLab (no header row, no columns), and a
Markdown table is raw pipes in a batch log. :class:`Table` carries the rows once and renders
them both ways: Jupyter picks ``_repr_html_``, and ``str`` / ``repr`` (what papermill stores as
``text/plain``, what a terminal prints) aligns columns, numbers to the right::

    from rlkit.ui.table import show_table

    show_table([{"player": "random", "mean": -95.2}, {"player": "trained", "mean": 71.9}],
               title="100 shared episodes", formats={"mean": "{:.1f}"})
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from rlkit.ui.frontend import kernel_shell

__all__ = ["Table", "show_table"]


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


class Table:
    """Rows with named columns, shown as HTML in a notebook and as aligned text elsewhere.

    :param rows: one mapping per row (column name -> value), or sequences in ``columns`` order.
    :param columns: the columns, in order (default: the first row's keys, then any new key).
    :param title: a line above the table.
    :param formats: column -> format string for its values, e.g. ``{"mean": "{:.1f}"}``;
        otherwise numbers are written with thousands separators and at most 3 significant
        decimals, ``None`` as a dash.
    """

    def __init__(
        self,
        rows: Sequence[Mapping[str, Any] | Sequence[Any]],
        columns: Sequence[str] | None = None,
        title: str | None = None,
        formats: Mapping[str, str] | None = None,
    ):
        if columns is None:
            columns = []
            for row in rows:
                if not isinstance(row, Mapping):
                    raise ValueError("rows given as sequences need their columns")
                columns += [k for k in row if k not in columns]
        self.columns = [str(c) for c in columns]
        self.rows = [
            [row.get(c) for c in columns] if isinstance(row, Mapping) else list(row) for row in rows
        ]
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"a row has {len(row)} values for {len(self.columns)} columns")
        self.title = title
        self.formats = dict(formats or {})

    def _cell(self, column: str, value: Any) -> str:
        if value is None:
            return "–"
        if column in self.formats:
            return self.formats[column].format(value)
        if _is_number(value):
            if isinstance(value, numbers.Integral):
                return f"{value:,}"
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
        return str(value)

    def _numeric(self, j: int) -> bool:
        values = [row[j] for row in self.rows if row[j] is not None]
        return bool(values) and all(_is_number(v) for v in values)

    def text(self) -> str:
        """Aligned plain text: numeric columns to the right, the others to the left."""
        cells = [
            [self._cell(c, v) for c, v in zip(self.columns, row, strict=True)] for row in self.rows
        ]
        widths = [max([len(c), *(len(r[j]) for r in cells)]) for j, c in enumerate(self.columns)]
        right = [self._numeric(j) for j in range(len(self.columns))]

        def line(values: Sequence[str]) -> str:
            return "  ".join(
                v.rjust(w) if r else v.ljust(w)
                for v, w, r in zip(values, widths, right, strict=True)
            ).rstrip()

        out = [self.title] if self.title else []
        out += [line(self.columns), line(["-" * w for w in widths])]
        out += [line(r) for r in cells]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        esc = html.escape
        align = ["right" if self._numeric(j) else "left" for j in range(len(self.columns))]
        head = "".join(
            f'<th style="text-align:{a}">{esc(c)}</th>'
            for c, a in zip(self.columns, align, strict=True)
        )
        body = "".join(
            "<tr>"
            + "".join(
                f'<td style="text-align:{a}">{esc(self._cell(c, v))}</td>'
                for c, v, a in zip(self.columns, row, align, strict=True)
            )
            + "</tr>"
            for row in self.rows
        )
        caption = f"<caption>{esc(self.title)}</caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def show_table(
    rows: Sequence[Mapping[str, Any] | Sequence[Any]],
    columns: Sequence[str] | None = None,
    title: str | None = None,
    formats: Mapping[str, str] | None = None,
) -> Table:
    """Show rows as a :class:`Table` (displayed in a notebook, printed elsewhere); returns it.

    End the notebook line with ``;`` so that the returned table is not shown a second time.
    """
    t = Table(rows, columns, title, formats)
    if kernel_shell() is not None:
        from IPython.display import display

        display(t)
    else:
        print(t.text())
    return t
