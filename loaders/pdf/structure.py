"""What a table is: the header/body model shared by both kinds of table, and ruled grids.

Tables are *expanded grids* (see :mod:`loaders.elements`): header rows over body rows,
a spanning header's text in every slot it covers. Body rows: wrapped cell text and
wrapped row labels are merged into their row, dot leaders are dropped, a row with only
a label ("Male", "Actual") stays as a section row, and rows of a labelled group take its
label. Ruled grids (:func:`ruled_table`) get this model from their cells; unruled
tables get it from :mod:`.stream`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..elements import CAPTION_RE
from .finding import COVERED_FROM_LEFT, COVERED_FROM_TOP

__all__ = [
    "TableModel",
    "fill_up",
    "group_labels",
    "header_rows",
    "is_units_line",
    "label_only",
    "merge_labels",
    "numeric_cell",
    "ruled_table",
    "strip_leaders",
]

#: "[In thousands]", "(Numbers in thousands)", "(percent)", "In millions of euros".
_UNITS_RE = re.compile(
    r"^\s*(?:[\[(][^\])]{2,60}[\])]|(?:amounts?|figures?|numbers?|data)?\s*in\s+"
    r"(?:thousands|millions|billions|percent|per ?cent|%|euros?|dollars?|units)\b.{0,40})\s*$",
    re.IGNORECASE,
)
_LEADERS_RE = re.compile(r"(?:\s*[.\u2026]){3,}")
_NUMERIC_RE = re.compile(r"\d")
_CONTINUES_RE = re.compile(r"(?:\b(?:and|or|of|in|for|the|to|by|with|from|on|at|per)|[,/&–-])$")


@dataclass
class TableModel:
    """A table as an expanded grid: ``header`` rows over ``body`` rows, and its units."""

    header: list[list[str]]
    body: list[list[str]]
    units: str | None = None
    #: ``(label, level)`` of body rows in order, when their setting shows a hierarchy
    #: (:mod:`.stub`); None otherwise.
    row_levels: list[tuple[str, int]] | None = None

    @property
    def rows(self) -> list[list[str]]:
        """Header rows then body rows."""
        return [*self.header, *self.body]


def is_units_line(text: str) -> bool:
    """A units note such as "[In thousands]" that belongs with the caption."""
    return len(text) <= 80 and bool(_UNITS_RE.match(text)) and not CAPTION_RE.match(text)


def strip_leaders(text: str) -> str:
    """Drop dot leaders (". . . ." / "……") from a cell's text."""
    if "." not in text and "\u2026" not in text:
        return text.strip()
    return re.sub(r"\s{2,}", " ", _LEADERS_RE.sub(" ", text)).strip()


def header_rows(rows: list[list[str]]) -> int:
    """Leading rows before the first row that looks like data (mostly numeric cells)."""
    limit = min(8, max(1, len(rows) - 1))
    for index, row in enumerate(rows[:limit]):
        filled = [c for c in row[1:] if c]
        numeric = [c for c in filled if any(ch.isdigit() for ch in c)]
        if index > 0 and row[0] and filled and len(numeric) >= max(1, len(filled) // 2):
            return index
    return 1


def numeric_cell(cell: str) -> bool:
    """A cell that holds a number ("12.5", "(95% CI)", "*3,337"), not words."""
    return bool(_NUMERIC_RE.search(cell)) and sum(ch.isalpha() for ch in cell) <= 3


def label_only(row: list[str]) -> bool:
    """A row with only its first cell filled (a section row or a wrapped label)."""
    return bool(row[0]) and not any(row[1:])


def merge_labels(rows: list[list[str]]) -> list[list[str]]:
    """Join wrapped row labels: a label-only row that continues the row above ("(as
    HCl)", "constant dollars") or that the row below continues; other label-only rows
    are section rows and stay."""
    out: list[list[str]] = []
    index = 0
    while index < len(rows):
        row = list(rows[index])
        if len(row) > 1 and label_only(row):
            label = row[0]
            prev = out[-1] if out else None
            nxt = rows[index + 1] if index + 1 < len(rows) else None
            starts_low = label[:1].islower() or label[:1] in "(["
            if (
                prev is not None
                and prev[0]
                and any(prev[1:])
                and (starts_low or _CONTINUES_RE.search(prev[0]))
            ):
                prev[0] = f"{prev[0]} {label}"
                index += 1
                continue
            if (
                nxt is not None
                and nxt[0]
                and any(nxt[1:])
                and (nxt[0][:1].islower() or nxt[0][:1] in "([" or _CONTINUES_RE.search(label))
            ):
                rows[index + 1] = [f"{label} {nxt[0]}", *nxt[1:]]
                index += 1
                continue
        out.append(row)
        index += 1
    return out


def ruled_table(rows: list[list[str | None]]) -> TableModel:
    """The header/body model of a ruled grid (covered slots as given by the finder)."""
    rows = _merge_staggered(_collapse_columns(rows))
    plain = [[("" if c is None or c[:1] == "\x00" else c.strip()) for c in r] for r in rows]
    n_head = header_rows(plain)
    # a header cell that spans rows down ("Pollutant" over three header rows) keeps them
    # in the header
    while (
        n_head < len(rows) - 1
        and COVERED_FROM_TOP in rows[n_head]
        and not any(numeric_cell(c) for c in plain[n_head])
    ):
        n_head += 1
    header_part = _stack_continuations(rows[:n_head])
    rows = [*header_part, *_join_spanned_rows(rows[n_head:])]
    n_head = len(header_part)
    grid_rows: list[list[str]] = []
    for i, raw in enumerate(rows):
        out: list[str] = []
        for j, cell in enumerate(raw):
            if cell == COVERED_FROM_LEFT:
                out.append(out[j - 1] if i < n_head and j > 0 else "")
            elif cell == COVERED_FROM_TOP or cell is None:
                out.append(grid_rows[i - 1][j] if i > 0 and j < len(grid_rows[i - 1]) else "")
            else:
                out.append(strip_leaders(" ".join(cell.split())))
        grid_rows.append(out)
    header = fill_up([r for r in grid_rows[:n_head] if any(r)] or grid_rows[:1])
    return TableModel(header=header, body=group_labels(merge_labels(grid_rows[n_head:])))


def group_labels(rows: list[list[str]]) -> list[list[str]]:
    """Rows of a group ("Allergy problems" over a "Count" and a "Percentage" row): a row
    with no label of its own but a sub-label in the second column takes the label above."""
    out: list[list[str]] = []
    for row in rows:
        row = list(row)
        grouped = (
            out
            and len(row) > 2
            and row[1]
            and not numeric_cell(row[1])
            and out[-1][0]
            and out[-1][1]
        )
        if grouped and row[0][:1].islower():  # the group's label wrapped onto this row
            out[-1][0] = row[0] = f"{out[-1][0]} {row[0]}"
        if (
            out
            and len(row) > 2
            and not row[0]
            and row[1]
            and not numeric_cell(row[1])
            and any(row[2:])
            and out[-1][0]
            and out[-1][1]
        ):
            row[0] = out[-1][0]
        out.append(row)
    return out


def _real(cell: str | None) -> bool:
    return bool(cell) and cell[:1] != "\x00"  # type: ignore[index]


def _collapse_columns(rows: list[list[str | None]]) -> list[list[str | None]]:
    """Merge grid columns that every data row merges: a grid cut by the edges of shaded
    header boxes has more columns than the table; the data rows show the real ones."""
    width = max((len(r) for r in rows), default=0)
    grid_rows = [list(r) + [""] * (width - len(r)) for r in rows]
    data = [
        r
        for r in grid_rows[1:]
        if sum(1 for c in r if _real(c)) >= 2 and any(numeric_cell(c) for c in r if _real(c))
    ]
    if len(data) < 2:
        return grid_rows
    groups: list[list[int]] = []
    for j in range(width):
        if groups and sum(1 for r in data if r[j] == COVERED_FROM_LEFT) * 3 >= len(data) * 2:
            groups[-1].append(j)
        else:
            groups.append([j])
    if len(groups) == width:
        return grid_rows
    out: list[list[str | None]] = []
    for r in grid_rows:
        row: list[str | None] = []
        for group in groups:
            texts = [c for c in (r[j] for j in group) if _real(c)]
            if texts:
                row.append("\n".join(t for t in texts if t))
            elif r[group[0]] == COVERED_FROM_LEFT:
                row.append(COVERED_FROM_LEFT)
            elif any(r[j] == COVERED_FROM_TOP for j in group):
                row.append(COVERED_FROM_TOP)
            else:
                row.append("")
        out.append(row)
    return out


def _join_spanned_rows(rows: list[list[str | None]]) -> list[list[str | None]]:
    """Body grid rows that only exist because a cell beside them is split: a row whose
    every slot is covered by the cells above goes; a row whose texts continue the texts
    above ("(FedRAMP)", a lowercase line) while its other slots are covered from above is
    a wrapped line of the row above, not a row (its values would be copied down)."""
    out: list[list[str | None]] = []
    for row in rows:
        real = [j for j, c in enumerate(row) if _real(c)]
        covered = sum(1 for c in row if c == COVERED_FROM_TOP or c is None)
        if out and not real and covered:
            continue
        above = out[-1] if out else None
        if (
            above is not None
            and real
            and covered
            and all(j < len(above) and _real(above[j]) for j in real)
            and all(
                (row[j] or "")[:1].islower()
                or (row[j] or "")[:1] in "(["
                or _CONTINUES_RE.search(above[j] or "")
                for j in real
            )
            and not any(numeric_cell(row[j] or "") for j in real)
        ):
            for j in real:
                above[j] = f"{above[j]}\n{row[j]}"
            continue
        out.append(list(row))
    return out


def _merge_staggered(rows: list[list[str | None]]) -> list[list[str | None]]:
    """Merge neighbouring grid columns that hold one column of the table in turns: no row
    has text in both, and some row has one cell spanning both, or one column's texts are
    all in the top rows and the other's all below them. (Rulings drawn per row at
    slightly different places cut the grid finer than the table: a value sits in the
    left slot in one row and in the right slot in the next, a header over the other slot
    than its values.)"""
    width = max((len(r) for r in rows), default=0)
    out = [list(r) + [""] * (width - len(r)) for r in rows]
    j = 0
    while out and j < len(out[0]) - 1:
        both = any(_real(r[j]) and _real(r[j + 1]) for r in out)
        spanned = any(
            r[j + 1] == COVERED_FROM_LEFT and (_real(r[j]) or r[j] == COVERED_FROM_LEFT)
            for r in out[1:]
        )
        left = [i for i, r in enumerate(out) if _real(r[j])]
        right = [i for i, r in enumerate(out) if _real(r[j + 1])]
        # a header box over a slot of a finer body grid: one column's texts all in the top
        # rows, the other's all below them
        stacked = bool(left and right) and (
            (max(left) < min(right) and max(left) < 3)
            or (max(right) < min(left) and max(right) < 3)
        )
        if both or not (spanned or stacked) or not (left and right):
            j += 1
            continue
        for r in out:
            if _real(r[j + 1]):
                r[j] = r[j + 1]
            del r[j + 1]
    return out


def _stack_continuations(rows: list[list[str | None]]) -> list[list[str | None]]:
    """Header rows that only continue the texts of the row above (each text under a
    text, and more slots covered from above than texts: the row exists because of
    other columns' boxes) are lines of those cells, not levels."""
    out = [list(r) for r in rows]
    i = 1
    while i < len(out):
        above, row = out[i - 1], out[i]
        texts = [j for j, c in enumerate(row) if _real(c)]
        covered = sum(1 for c in row if not _real(c))
        if (
            texts
            and covered >= len(texts)
            and all(_real(above[j]) or not _real(c) for j, c in enumerate(row))
            and not any(numeric_cell(row[j] or "") for j in texts)
        ):
            for j in texts:
                above[j] = f"{above[j]}\n{row[j]}"
            del out[i]
            continue
        i += 1
    return out


def fill_up(header: list[list[str]]) -> list[list[str]]:
    """Empty slots above a column's first header text take that text (a rowspan)."""
    if not header:
        return header
    width = max(len(r) for r in header)
    grid_rows = [list(r) + [""] * (width - len(r)) for r in header]
    for j in range(width):
        first = next((i for i, r in enumerate(grid_rows) if r[j]), None)
        if first:
            for i in range(first):
                grid_rows[i][j] = grid_rows[first][j]
    return grid_rows
