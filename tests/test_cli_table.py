"""The CLI's tables: one line per record within the width, ids whole, long fields cut with an ellipsis."""

from __future__ import annotations

from rich.cells import cell_len

from livesight.cli_table import Column, render

COLUMNS = [
    Column("ID"),
    Column("STATUS"),
    Column("COUNT", align_right=True, drop=2),
    Column("CREATED", drop=1),
    Column("NAME", shrink=True, min_width=6, drop=3),
    Column("SOURCE", shrink=True, min_width=10),
]
ROW = [
    "ses_0123456789abcdef01234567",
    "ACTIVE",
    "12",
    "2026-01-02 03:04",
    "front door, north side",
    "rtsp://" + "x" * 90,
]


def test_everything_fits_in_a_wide_terminal() -> None:
    header, row = render(COLUMNS, [ROW], 400)
    assert header.split() == ["ID", "STATUS", "COUNT", "CREATED", "NAME", "SOURCE"]
    assert row.endswith(ROW[-1]) and "front door, north side" in row and "…" not in row
    assert header.index("COUNT") + len("COUNT") == row.index(" 12") + len(" 12")  # right-aligned under its header


def test_long_fields_are_cut_never_the_ids() -> None:
    for width in (120, 100, 80, 60):
        lines = render(COLUMNS, [ROW, ROW], width)
        assert len(lines) == 3
        assert all(cell_len(line) <= width for line in lines), (width, lines)
        for line in lines[1:]:
            assert line.startswith(ROW[0] + "  ACTIVE")
            source = line.split()[-1]
            assert source.endswith("…") and ROW[-1].startswith(source[:-1])


def test_columns_are_left_out_in_their_order() -> None:
    header = render(COLUMNS, [ROW], 80)[0].split()
    assert "CREATED" not in header and header[-1] == "SOURCE"
    assert render(COLUMNS, [ROW], 56)[0].split() == ["ID", "STATUS", "NAME", "SOURCE"]  # COUNT went before NAME
    assert render(COLUMNS, [ROW], 50)[0].split() == ["ID", "STATUS", "SOURCE"]


def test_a_newline_in_a_field_does_not_break_the_line() -> None:
    lines = render([Column("NAME", shrink=True)], [["two\nlines\tand a tab"]], 80)
    assert lines == ["NAME", "two lines and a tab"]


def test_wide_characters_are_measured_in_cells() -> None:
    lines = render([Column("ID"), Column("NAME", shrink=True, min_width=4)], [["a", "監視カメラ玄関前の映像"]], 12)
    assert all(cell_len(line) <= 12 for line in lines) and lines[1].endswith("…")
