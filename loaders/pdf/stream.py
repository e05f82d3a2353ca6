"""Unruled tables: columns, the header block and body rows from aligned text lines.

* Columns come from the data rows (their whitespace-separated segments); each column's
  alignment (left, right, centred) and the white strips between header texts decide
  where header text belongs, so stacked header lines are given to the column they sit
  over, not cut at a midpoint.
* The header block is the lines above the first data row, or above the full-width rule
  that closes the header, or a leading run of bold lines. A header line that names a
  group of columns (few fragments, a short rule under it, or a short text centred over
  its own sub-headers) is a *spanning* row; the other header fragments of a column are
  one multi-line cell; every column gets its path from the top ("Grade · PK") (the
  header block itself: :mod:`.header`).
* Body lines: wrapped text joins its row (see :mod:`.structure` for labels); two numbers
  set closer than a column gap in every row are two columns; row labels cut by their
  own word gaps are one label.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from typing import Any

from ..elements import CAPTION_RE
from .finding import is_table_line
from .header import centers, header_grid, zone_cuts
from .rulings import Rule
from .structure import (
    TableModel,
    group_labels,
    label_only,
    merge_labels,
    numeric_cell,
    strip_leaders,
)
from .stub import row_levels
from .words import Line, join_words

__all__ = [
    "aligned_header",
    "column_bounds",
    "grid",
    "join_label_columns",
    "line_gap",
    "split_packed",
    "stream_table",
    "wrap_gap",
]


def column_bounds(lines: list[Line]) -> list[float]:
    """Cut points between columns from the union of segment extents of table lines."""
    intervals = sorted(
        (min(w["x0"] for w in seg), max(w["x1"] for w in seg))
        for line in lines
        if is_table_line(line)
        for seg in line.segments
    )
    if not intervals:
        return []
    counts = [len(line.segments) for line in lines if is_table_line(line)]
    # segments that span several columns (headers) would glue the projection together:
    # build columns from the lines with the most common (or higher) segment count first
    typical = statistics.median_high(counts)
    base = sorted(
        (min(w["x0"] for w in seg), max(w["x1"] for w in seg))
        for line in lines
        if len(line.segments) >= typical
        for seg in line.segments
    )
    merged: list[list[float]] = []
    for x0, x1 in base:
        if merged and x0 <= merged[-1][1] + 1.0:
            merged[-1][1] = max(merged[-1][1], x1)
        else:
            merged.append([x0, x1])
    return [(a[1] + b[0]) / 2 for a, b in itertools.pairwise(merged)]


def grid(lines: list[Line], cuts: list[float]) -> list[list[str]]:
    """Each line's words placed into the columns that ``cuts`` separate (by centre)."""
    rows: list[list[str]] = []
    for line in lines:
        cells: list[list[dict[str, Any]]] = [[] for _ in range(len(cuts) + 1)]
        for seg in line.segments:
            for word in seg:
                center = (word["x0"] + word["x1"]) / 2
                col = sum(1 for c in cuts if center > c)
                cells[col].append(word)
        rows.append([join_words(c) for c in cells])
    return rows


def aligned_header(line: Line, below: Line, cuts: list[float]) -> bool:
    """A line right above a stream table whose words sit inside its columns (a header line)."""
    if not cuts or CAPTION_RE.match(line.text):
        return False
    height = max(line.bottom - line.top, 1.0)
    if below.top - line.bottom > (4.0 if len(line.segments) >= 2 else 1.5) * height:
        return False
    if len(line.text) > 120:
        return False
    return not any(w["x0"] < c - 1 and w["x1"] > c + 1 for w in line.words for c in cuts)


def line_gap(upper: Line, lower: Line) -> float:
    """Vertical white space between two lines."""
    return lower.top - upper.bottom


def wrap_gap(block: list[Line]) -> float:
    """The largest vertical gap that still means "the same row, wrapped text".

    Only meaningful when rows are clearly spaced apart (median gap of 3 pt or more);
    wrapped lines then sit much closer than rows do. Returns -inf otherwise.
    """
    gaps = [line_gap(a, b) for a, b in itertools.pairwise(block)]
    positive = [g for g in gaps if g > 0]
    if len(positive) < 2:
        return float("-inf")
    row_gap = statistics.median(positive)
    if row_gap < 3.0:
        return float("-inf")
    return 0.35 * row_gap


def _merge_body(lines: list[Line], rows: list[list[str]]) -> list[list[str]]:
    """Merge wrapped text into its row: lines closer than the row spacing, value cells
    continued on a line without a label, and wrapped row labels."""
    tight = wrap_gap(lines)
    merged: list[list[str]] = []
    for index, row in enumerate(rows):
        if merged and index > 0:
            close = line_gap(lines[index - 1], lines[index]) <= tight
            prev = merged[-1]
            text_continuation = (
                not row[0]
                and any(row[1:])
                and not any(numeric_cell(c) for c in row[1:] if c)
                and all(prev[j] for j, c in enumerate(row) if c)
            )
            # a text row whose label continues in lowercase ("Participating" / "students")
            text_continuation = text_continuation or (
                row[0][:1].islower()
                and bool(prev[0])
                and not any(numeric_cell(c) for c in row if c)
                and not any(numeric_cell(c) for c in prev[1:] if c)
            )
            if close or text_continuation:
                merged[-1] = [f"{a} {b}".strip() for a, b in zip(prev, row, strict=True)]
                continue
        merged.append(list(row))
    return group_labels(merge_labels(merged))


def _cells(line: Line, cuts: list[float]) -> list[list[dict]]:
    cells: list[list[dict]] = [[] for _ in range(len(cuts) + 1)]
    for word in line.words:
        center = (word["x0"] + word["x1"]) / 2
        cells[bisect.bisect_left(cuts, center)].append(word)
    return cells


def split_packed(lines: list[Line], cuts: list[float]) -> list[float]:
    """Cut columns that hold two numbers set close together in every row ("1,144 193.5":
    a count and a rate under two headers, closer than the segment gap): where nine in ten
    of a column's filled cells are exactly two numbers and a clear vertical strip runs
    between the first and the second in every row, that strip is a column boundary."""
    if not cuts or len(lines) < 3:
        return cuts
    extra: list[float] = []
    for j in range(len(cuts) + 1):
        cells = [words for words in (_cells(line, cuts)[j] for line in lines) if words]
        if len(cells) < 3:
            continue
        pairs = [
            sorted(words, key=lambda w: w["x0"])
            for words in cells
            if len(words) == 2 and all(numeric_cell(w["text"]) for w in words)
        ]
        if len(pairs) * 10 < len(cells) * 9:
            continue
        left = max(p[0]["x1"] for p in pairs)
        right = min(p[1]["x0"] for p in pairs)
        if right - left >= 1.0:
            extra.append((left + right) / 2)
    return sorted([*cuts, *extra]) if extra else cuts


_RANGE_OPEN = ("-", "–", "—", " to")


def _past_header_numbers(lines: list[Line], rows: list[list[str]], first: int) -> int:
    """Move the first data line past header lines that hold numbers: a line that closes
    ranges opened on the line above ("$10,000-" over "14,999"), or one still in the bold
    type of every line above it while the lines under it are not."""
    while first < len(rows) - 1:
        above, row = rows[first - 1], rows[first]
        closes = any(
            (
                a.rstrip().endswith(_RANGE_OPEN)
                or a.rstrip().casefold().startswith(("under", "less"))
            )
            and numeric_cell(b)
            for a, b in zip(above[1:], row[1:], strict=False)
            if a and b
        )
        bold_head = (
            lines[first].bold
            and all(line.bold for line in lines[:first])
            and not lines[first + 1].bold
        )
        if not (closes or bold_head):
            break
        first += 1
    return first


def _first_data_line(rows: list[list[str]]) -> int | None:
    for index, row in enumerate(rows[:12]):
        filled = [c for c in row[1:] if c]
        numeric = [c for c in filled if numeric_cell(c)]
        data_like = index > 0 and filled and numeric and len(numeric) * 2 >= len(filled)
        if data_like and (row[0] or len(filled) >= 2):
            return index
    return None


def stream_table(lines: list[Line], cuts: list[float], rules: list[Rule]) -> TableModel | None:
    """The header/body model of an unruled table made of ``lines`` (header lines first)."""
    if not lines or not cuts:
        return None
    rows = grid(lines, cuts)
    first = _first_data_line(rows)
    if first is not None:
        first = _past_header_numbers(lines, rows, first)
    if first is None and lines[0].bold:  # a bold header block over plain data rows
        first = next((i for i, line in enumerate(lines[:9]) if not line.bold), None) or None
    x0 = min(line.x0 for line in lines)
    x1 = max(line.x1 for line in lines)
    width = max(x1 - x0, 1.0)
    # the header ends at the first full-width rule under its first line, else at the
    # first data row
    reach = lines[min(len(lines) - 1, 12)].top
    closing = [
        r
        for r in rules
        if r.width >= 0.9 * width
        and lines[0].bottom - 1.0 < r.y < reach
        and r.x0 <= x0 + 0.1 * width
        and any(line.top > r.y for line in lines)
    ]
    if closing:
        above_data = [r.y for r in closing if first is not None and r.y < lines[first].top]
        # the last full rule above the first data row; else (numbers in the header: "Grade
        # 7 8 9") the first full rule under the header's first line
        y = max(above_data) if above_data else min(r.y for r in closing)
        split = sum(1 for line in lines if (line.top + line.bottom) / 2 < y)
    elif first is not None:
        split = first
    else:
        split = 1
    split = max(1, min(split, len(lines) - 1))
    # label-only lines right above the data are section rows, not header
    while (
        split > 1
        and label_only(rows[split - 1])
        and any(any(c for c in r[1:]) for r in rows[: split - 1])
    ):
        split -= 1
    head_lines, body_lines = lines[:split], lines[split:]
    # columns come from the data rows when there are enough of them (header lines split
    # into more, narrower pieces than the data)
    aligned = [line for line in body_lines if len(line.segments) >= 2]
    body_cuts = (column_bounds(body_lines) if len(aligned) >= 2 else []) or cuts
    body_cuts = split_packed(body_lines, body_cuts)
    body_rows = grid(body_lines, body_cuts)
    zones = zone_cuts(body_lines, body_cuts, head_lines)
    header, units = header_grid(head_lines, zones, centers(body_lines, body_cuts), rules)
    header, body_rows = join_label_columns(header, body_rows)
    body = _merge_body(body_lines, [[strip_leaders(c) for c in r] for r in body_rows])
    return TableModel(
        header=header,
        body=body,
        units=" ".join(units) or None,
        row_levels=row_levels(body_lines, body_cuts, body),
    )


def join_label_columns(
    header: list[list[str]], body: list[list[str]]
) -> tuple[list[list[str]], list[list[str]]]:
    """The row labels cut into columns by their own wide word gaps (justified or spaced
    text: "Number | of | member | states in"): leading columns after the first with no
    header text and only words (no numbers) in the body, whose cells continue the label
    (lowercase or short words), join the first column."""
    if not body or len(body[0]) < 3:
        return header, body
    width = len(body[0])
    k = 1
    while k < width - 1:
        heads = [r[k] for r in header if k < len(r)]
        cells = [r[k] for r in body if r[k]]
        if any(heads) or not cells or any(numeric_cell(c) for c in cells):
            break
        if not all(c[:1].islower() or len(c) <= 3 for c in cells):
            break
        k += 1
    if k == 1:
        return header, body

    def joined(row: list[str]) -> list[str]:
        return [" ".join(c for c in row[:k] if c), *row[k:]]

    return [joined(r) if any(r[1:k]) else [r[0], *r[k:]] for r in header], [joined(r) for r in body]
