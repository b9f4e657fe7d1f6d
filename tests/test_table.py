"""Tables that render as HTML in JupyterLab and as aligned text in batch."""

from __future__ import annotations

import pytest

from rlkit.ui.table import Table, show_table

ROWS = [
    {"player": "random", "mean": -95.25, "episodes": 100, "note": None},
    {"player": "trained DQN", "mean": 71.9, "episodes": 1000, "note": "<shipped>"},
]


def test_text_aligns_every_column_numbers_to_the_right():
    lines = Table(ROWS, title="scores").text().splitlines()
    assert lines[0] == "scores"
    header, rule, *body = lines[1:]
    assert header.split() == ["player", "mean", "episodes", "note"]
    assert set(rule.replace(" ", "")) == {"-"}
    # every value of a numeric column ends where its header ends; text starts where it starts
    for column, value in (("mean", "-95.2"), ("episodes", "1,000"), ("mean", "71.9")):
        end = header.index(column) + len(column)
        assert any(line[end - len(value) : end] == value for line in body), (column, value)
    assert body[0].index("random") == header.index("player") == 0
    assert "–" in body[0]  # None


def test_html_is_a_table_with_escaped_cells():
    out = Table(ROWS, formats={"mean": "{:.2f}"})._repr_html_()
    assert out.startswith("<table>") and out.count("<tr>") == 3
    assert "&lt;shipped&gt;" in out and "<shipped>" not in out
    assert "-95.25" in out and 'style="text-align:right">71.90' in out


def test_repr_is_the_text_papermill_stores():
    t = Table([[1, "a"], [22, "b"]], columns=["n", "name"])
    assert repr(t) == str(t) == t.text()


@pytest.mark.parametrize(
    ("rows", "columns", "match"),
    [([[1, 2]], None, "need their columns"), ([[1, 2, 3]], ["a", "b"], "3 values for 2")],
)
def test_bad_rows_are_one_clear_error(rows, columns, match):
    with pytest.raises(ValueError, match=match):
        Table(rows, columns)


def test_show_table_prints_aligned_text_outside_a_kernel(capsys):
    t = show_table(ROWS)
    assert capsys.readouterr().out.strip() == t.text()
