"""Generated PDFs, one per kind of table failure that issue 24 lists (no real document copied):
ruled grids and charts here, unruled tables and continued ones in
:mod:`tests.support.make_stream_kinds`.

Each builder writes a small PDF with the raw writer of :mod:`tests.support.make_docs` and
returns its path; the ``*_EXPECTED`` constants say what a reader sees.

- :func:`caption_in_grid_pdf`: a ruled grid whose first row is one merged cell holding
  the caption ("Exhibit 3. ..."), and whose last rows are merged cells holding a note, a
  source line and an "Exhibit reads:" line (kinds 1 and 3).
- :func:`staggered_grid_pdf`: a ruled grid whose header boxes are drawn at other x than
  the body's cells, so each header text sits over another grid slot than its values.
- :func:`side_by_side_pdf`: two ruled tables next to each other, 24 pt apart.
- :func:`chart_pdf`: a line chart (a plotted series of 60 points) with tick labels on
  the left and a legend on the right, set in lines that align like a table's rows.
- :func:`spread_note_pdf`: a grid whose last row is a footnote line cut into cells by
  the inner rulings.
- :func:`sentence_grid_pdf`: a ruled grid whose cells are sentences wrapped onto three
  or four lines (one row, not one row per line).
- :func:`framed_chart_pdf`: a chart drawn as a framed plot area with axis ticks and
  square markers (no path of many points), labels aligned like rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.make_docs import PdfBuilder, PdfPage
from tests.support.make_tables import text_width

__all__ = [
    "CAPTION_IN_GRID_EXPECTED",
    "SENTENCE_GRID_EXPECTED",
    "SIDE_BY_SIDE_EXPECTED",
    "SPREAD_NOTE_EXPECTED",
    "STAGGERED_EXPECTED",
    "caption_in_grid_pdf",
    "chart_pdf",
    "framed_chart_pdf",
    "sentence_grid_pdf",
    "side_by_side_pdf",
    "spread_note_pdf",
    "staggered_grid_pdf",
]


def _put(
    page: PdfPage,
    x: float,
    top: float,
    text: str,
    size: float = 8,
    *,
    align: str = "left",
    bold: bool = False,
) -> None:
    width = text_width(text, size, bold)
    left = {"left": x, "right": x - width, "center": x - width / 2}[align]
    page.text(left, top, text, size, bold=bold)


def _hlines(page: PdfPage, x0: float, x1: float, ys: Sequence[float]) -> None:
    for y in ys:
        page.line(x0, y, x1, y, 0.5)


# --- kinds 1 and 3: caption and notes inside the grid ------------------------------------

CAPTION_IN_GRID_EXPECTED: dict[str, Any] = {
    "caption": "Exhibit 3. Staff by office and function, 2011",
    "header_paths": ["Office", "Engineers", "Sales", "Support"],
    "body": [
        ["Seoul", "42", "17", "9"],
        ["Busan", "11", "6", "4"],
        ["Berlin", "23", "8", "5"],
        ["Austin", "31", "14", "7"],
    ],
    "notes": [
        "Note: Staff counted in full-time equivalents at year end.",
        "Source: Human resources register, December 2011.",
        "Exhibit reads: Seoul had 42 engineers at the end of 2011.",
    ],
}


def caption_in_grid_pdf(path: Path) -> Path:
    """One grid: caption row (merged), header row, four body rows, three note rows (each a
    merged cell over the whole width)."""
    expected = CAPTION_IN_GRID_EXPECTED
    pdf = PdfBuilder()
    page = pdf.page()
    xs = [72.0, 200.0, 290.0, 380.0, 470.0]
    row_h = 16.0
    top = 80.0
    rows_y = [
        top + i * row_h for i in range(2 + len(expected["body"]) + len(expected["notes"]) + 1)
    ]
    _put(page, xs[0] + 4, rows_y[0] + 4, expected["caption"], 9, bold=True)
    for j, name in enumerate(expected["header_paths"]):
        _put(page, xs[j] + 4, rows_y[1] + 4, name, 8, bold=True)
    for i, row in enumerate(expected["body"], start=2):
        for j, cell in enumerate(row):
            _put(
                page,
                xs[j] + 4 if j == 0 else xs[j + 1] - 4,
                rows_y[i] + 4,
                cell,
                8,
                align="left" if j == 0 else "right",
            )
    first_note = 2 + len(expected["body"])
    for k, note in enumerate(expected["notes"]):
        _put(page, xs[0] + 4, rows_y[first_note + k] + 4, note, 7)
    _hlines(page, xs[0], xs[-1], rows_y)
    for x in (xs[0], xs[-1]):
        page.line(x, rows_y[0], x, rows_y[-1], 0.5)
    for x in xs[1:-1]:  # inner rulings only between the header and the notes
        page.line(x, rows_y[1], x, rows_y[first_note], 0.5)
    page.paragraph(
        xs[0], rows_y[-1] + 16, "The offices grew in every function over the year.", 9, width=400
    )
    path.write_bytes(pdf.build())
    return path


# --- staggered grid: header boxes drawn at other x than the body cells ---------------------

STAGGERED_EXPECTED: dict[str, Any] = {
    "header_paths": ["Period", "Portugal", "Greece", "Spain"],
    "body": [
        ["2006-2010", "0.33", "0.51", "0.31"],
        ["2009", "-0.01", "0.45", "0.21"],
        ["Q4 2009", "0.17", "0.70", "0.26"],
        ["Q1 2010", "0.64", "0.72", "0.56"],
    ],
}


def staggered_grid_pdf(path: Path) -> Path:
    """Header cells 100 pt wide from x = 180; body cells as wide but 60 pt further left,
    so every header text lies over another grid slot than the values under it."""
    expected = STAGGERED_EXPECTED
    pdf = PdfBuilder()
    page = pdf.page()
    left, label_right = 72.0, 180.0
    head_xs = [label_right + 100 * j for j in range(4)]  # 180, 280, 380, 480
    body_xs = [label_right - 60 + 100 * j for j in range(1, 4)] + [480.0]  # 220, 320, 420, 480
    top, row_h = 90.0, 18.0
    ys = [top + i * row_h for i in range(len(expected["body"]) + 2)]
    _put(page, left + 4, ys[0] + 5, expected["header_paths"][0], 8, bold=True)
    for j, name in enumerate(expected["header_paths"][1:]):
        _put(page, (head_xs[j] + head_xs[j + 1]) / 2, ys[0] + 5, name, 8, align="center", bold=True)
    cells = [label_right, *body_xs]  # body cells: [180, 220], [220, 320], [320, 420] ...
    value_edges = [(cells[1], cells[2]), (cells[2], cells[3]), (cells[3], cells[4])]
    for i, row in enumerate(expected["body"], start=1):
        _put(page, left + 4, ys[i] + 5, row[0], 8)
        for (a, b), value in zip(value_edges, row[1:], strict=True):
            _put(page, (a + b) / 2, ys[i] + 5, value, 8, align="center")
    _hlines(page, left, 480.0, ys)
    for x in [left, label_right, *head_xs[1:]]:
        page.line(x, ys[0], x, ys[1], 0.5)
    for x in [left, label_right, *body_xs]:
        page.line(x, ys[1], x, ys[-1], 0.5)
    path.write_bytes(pdf.build())
    return path


# --- two tables side by side ---------------------------------------------------------------

SIDE_BY_SIDE_EXPECTED: dict[str, Any] = {
    "left": [
        ["Topic", "Enquiries"],
        ["Institutions", "3,597"],
        ["Employment", "1,783"],
        ["Air passengers", "1,726"],
        ["Justice", "1,451"],
        ["Consumers", "1,241"],
    ],
    "right": [
        ["Country", "Enquiries"],
        ["Spain", "268"],
        ["Germany", "233"],
        ["France", "136"],
        ["Italy", "92"],
        ["Belgium", "66"],
    ],
}


def _grid(
    page: PdfPage,
    x: float,
    top: float,
    widths: Sequence[float],
    rows: Sequence[Sequence[str]],
    row_h: float = 16.0,
) -> None:
    xs = [x]
    for w in widths:
        xs.append(xs[-1] + w)
    ys = [top + i * row_h for i in range(len(rows) + 1)]
    for i, row in enumerate(rows):
        _put(page, xs[0] + 4, ys[i] + 4, row[0], 8, bold=i == 0)
        for j, cell in enumerate(row[1:], start=1):
            _put(page, xs[j + 1] - 4, ys[i] + 4, cell, 8, align="right", bold=i == 0)
    _hlines(page, xs[0], xs[-1], ys)
    for x_ in xs:
        page.line(x_, ys[0], x_, ys[-1], 0.5)


def side_by_side_pdf(path: Path) -> Path:
    """Two grids of two columns, the second 24 pt right of the first, rows level."""
    pdf = PdfBuilder()
    page = pdf.page()
    _grid(page, 72.0, 90.0, [110.0, 60.0], SIDE_BY_SIDE_EXPECTED["left"])
    _grid(page, 72.0 + 170.0 + 24.0, 90.0, [110.0, 60.0], SIDE_BY_SIDE_EXPECTED["right"])
    path.write_bytes(pdf.build())
    return path


# --- a line chart whose labels line up like table rows --------------------------------------


def chart_pdf(path: Path) -> Path:
    """Figure 2: a plotted series (one path of 60 points) between tick labels on the left
    and a two-entry legend per line on the right; a paragraph under it."""
    pdf = PdfBuilder()
    page = pdf.page()
    x0, x1, top, bottom = 110.0, 380.0, 100.0, 196.0
    ticks = ["1200", "1000", "800", "600", "400", "200", "0"]
    legend = [
        ("Greece", "Spain"),
        ("Ireland", "Italy"),
        ("Portugal", "France"),
        ("Germany", "Austria"),
        ("Belgium", "Finland"),
    ]
    step = (bottom - top) / (len(ticks) - 1)
    for i, tick in enumerate(ticks):
        _put(page, x0 - 6, top + i * step - 4, tick, 7, align="right")
        if i < len(legend) and legend[i][0]:
            _put(page, x1 + 20, top + i * step - 4, legend[i][0], 7)
            _put(page, x1 + 80, top + i * step - 4, legend[i][1], 7)
    page.line(x0, top, x0, bottom, 0.5)
    page.line(x0, bottom, x1, bottom, 0.5)
    pts = []
    for k in range(60):
        x = x0 + (x1 - x0) * k / 59
        y = bottom - 20 - 100 * (0.5 + 0.5 * math.sin(k / 6.0)) * k / 59
        pts.append((x, page.height - y))
    ops = [f"{pts[0][0]:.2f} {pts[0][1]:.2f} m"] + [f"{x:.2f} {y:.2f} l" for x, y in pts[1:]]
    page.ops.append("0.8 w " + " ".join(ops) + " S")
    for k, label in enumerate(["1-Sep-08", "1-Mar-09", "1-Sep-09", "1-Mar-10"]):
        _put(page, x0 + k * 85, bottom + 6, label, 7)
    _put(page, 72, bottom + 24, "Figure 2: European sovereign 5-year CDS spreads (bp)", 9)
    page.paragraph(
        72,
        bottom + 44,
        "Spreads widened sharply in the first months of 2010 "
        "for every country shown, most of all for Greece.",
        9,
        width=440,
    )
    path.write_bytes(pdf.build())
    return path


# --- a note whose words the grid's inner rulings cut into cells ---------------------------

SPREAD_NOTE_EXPECTED: dict[str, Any] = {
    "body": [
        ["0", "39", "5.8", "8.8"],
        ["250", "30", "5.9", "9.0"],
        ["500", "33", "6.0", "8.6"],
        ["1,000", "31", "5.8", "8.4"],
    ],
    "note": "* Significantly different (P<=0.05) from the control group by Dunnett's test",
}


def spread_note_pdf(path: Path) -> Path:
    """A full grid whose last row holds one long footnote line under the inner rulings,
    so that its words fall into every cell of the row."""
    expected = SPREAD_NOTE_EXPECTED
    pdf = PdfBuilder()
    page = pdf.page()
    rows = [["Concentration", "No.", "Day 1", "Day 4"], *expected["body"]]
    widths = [110.0, 80.0, 80.0, 80.0]
    xs = [72.0]
    for w in widths:
        xs.append(xs[-1] + w)
    row_h = 16.0
    ys = [90.0 + i * row_h for i in range(len(rows) + 2)]
    for i, row in enumerate(rows):
        _put(page, xs[0] + 4, ys[i] + 4, row[0], 8, bold=i == 0)
        for j, cell in enumerate(row[1:], start=1):
            _put(page, xs[j + 1] - 4, ys[i] + 4, cell, 8, align="right", bold=i == 0)
    _put(page, xs[0] + 4, ys[len(rows)] + 4, expected["note"], 8)
    _hlines(page, xs[0], xs[-1], ys)
    for x in xs:
        page.line(x, ys[0], x, ys[-1], 0.5)
    path.write_bytes(pdf.build())
    return path


# --- a ruled grid whose cells are sentences wrapped over several lines ---------------------

SENTENCE_GRID_EXPECTED: dict[str, Any] = {
    "header": ["Property", "What is assessed", "Review considerations"],
    "body": [
        [
            "Reliability",
            "Stability of scores over time when no change is expected in the concept",
            "Intraclass correlation coefficient and the time period of assessment",
        ],
        [
            "Validity",
            "Evidence that the instrument measures the concept it is meant to measure",
            "Derivation of all items and the qualitative methods used to find them",
        ],
    ],
}


def _wrap(text: str, per_line: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= per_line:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def sentence_grid_pdf(path: Path) -> Path:
    """A full grid of three columns, each body cell a sentence wrapped onto 3-4 lines."""
    expected = SENTENCE_GRID_EXPECTED
    pdf = PdfBuilder()
    page = pdf.page()
    xs = [72.0, 172.0, 322.0, 472.0]
    ys = [90.0, 106.0]
    for j, name in enumerate(expected["header"]):
        _put(page, xs[j] + 4, ys[0] + 4, name, 8, bold=True)
    for row in expected["body"]:
        top = ys[-1]
        depth = 1
        for j, cell in enumerate(row):
            lines = _wrap(cell, 28)
            depth = max(depth, len(lines))
            for k, line in enumerate(lines):
                _put(page, xs[j] + 4, top + 4 + 10 * k, line, 8)
        ys.append(top + 8 + 10 * depth)
    _hlines(page, xs[0], xs[-1], ys)
    for x in xs:
        page.line(x, ys[0], x, ys[-1], 0.5)
    path.write_bytes(pdf.build())
    return path


def framed_chart_pdf(path: Path) -> Path:
    """A chart drawn as a framed plot area with axis ticks (the data as small square
    markers), tick labels on the left and a legend on the right set in aligned lines."""
    pdf = PdfBuilder()
    page = pdf.page()
    x0, x1, top, bottom = 110.0, 380.0, 100.0, 196.0
    ticks = ["0.40", "0.35", "0.30", "0.25", "0.20", "0.15", "0.10"]
    legend = [
        ("Gini index", "of income"),
        ("Premature", "mortality"),
        ("Between-state", "inequality"),
        ("Health-adjusted", "life expectancy"),
        ("Mean household", "income"),
    ]
    step = (bottom - top) / (len(ticks) - 1)
    rect = f"{x0:.2f} {page.height - bottom:.2f} {x1 - x0:.2f} {bottom - top:.2f} re S"
    page.ops.append("0.5 w " + rect)
    for i, tick in enumerate(ticks):
        y = top + i * step
        page.line(x0 - 3, y, x0, y, 0.5)  # a tick standing out of the left edge
        _put(page, x0 - 6, y - 4, tick, 7, align="right")
        if i < len(legend):
            _put(page, x1 + 20, y - 4, legend[i][0], 7)
            _put(page, x1 + 100, y - 4, legend[i][1], 7)
    for k in range(11):
        x = x0 + 10 + 25 * k
        page.line(x, bottom, x, bottom + 3, 0.5)  # ticks under the bottom edge
        y = page.height - (bottom - 20 - 6 * k)
        page.ops.append(f"{x - 1.5:.2f} {y - 1.5:.2f} 3 3 re f")
    _put(page, 72, bottom + 24, "Figure 3: Inequality measures, 1997-2007", 9)
    path.write_bytes(pdf.build())
    return path
