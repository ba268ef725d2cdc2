"""Aligned, plain-text tables that fit the terminal: one line per record, never a field broken across lines.

Columns that must stay whole (ids a user copies into the next command, statuses, counts) keep their
width; the others shrink, cut with an ellipsis, down to a few characters; when even that does not fit,
the least important columns are left out (``--json`` always has every field).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size

_GAP = "  "
_ELLIPSIS = "…"


@dataclass(frozen=True)
class Column:
    """A column: its header, whether it may be cut (``shrink``, down to ``min_width``), and when it is left out
    for lack of room (``drop``: 1 first, then 2, …; None: never)."""

    header: str
    shrink: bool = False
    min_width: int = 8
    drop: int | None = None
    align_right: bool = False


def _one_line(text: str) -> str:
    """A newline or tab in a name must not break the table's line."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _cut(text: str, width: int) -> str:
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(0, width - 1)).rstrip() + _ELLIPSIS if width > 0 else ""


def _widths(columns: Sequence[Column], natural: Sequence[int], width: int) -> list[int] | None:
    """Each column's width within ``width``, or None when the columns cannot fit even cut."""
    gaps = len(_GAP) * (len(columns) - 1)
    floors = [min(w, c.min_width) if c.shrink else w for c, w in zip(columns, natural, strict=True)]
    if sum(floors) + gaps > width:
        return None
    widths = list(natural)
    excess = sum(natural) + gaps - width
    shrinkable = [i for i, c in enumerate(columns) if c.shrink]
    # Take from the widest shrinkable column, one cell at a time: long URLs give way before short names.
    while excess > 0:
        candidates = [i for i in shrinkable if widths[i] > floors[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths


def render(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """The table's lines (header first) within ``width`` columns."""
    rows = [[_one_line(cell) for cell in row] for row in rows]
    keep = list(range(len(columns)))
    while True:
        cols = [columns[i] for i in keep]
        natural = [max([cell_len(columns[i].header), *(cell_len(row[i]) for row in rows)]) for i in keep]
        widths = _widths(cols, natural, width)
        droppable = [i for i in keep if columns[i].drop is not None]
        if widths is not None or not droppable:
            break
        keep.remove(min(droppable, key=lambda i: columns[i].drop or 0))
    if widths is None:  # a terminal narrower than the ids: the line runs on rather than an id being cut
        widths = [min(w, c.min_width) if c.shrink else w for c, w in zip(cols, natural, strict=True)]
    lines = []
    for cells in [[c.header for c in columns], *rows]:
        parts = []
        for column_width, i in zip(widths, keep, strict=True):
            text = _cut(cells[i], column_width)
            pad = " " * (column_width - cell_len(text))
            parts.append(pad + text if columns[i].align_right else text + pad)
        lines.append(_GAP.join(parts).rstrip())
    return lines
