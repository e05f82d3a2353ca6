"""Generated PDFs, one per kind of table failure that issue 24 lists (no real document copied).

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
- :func:`beside_prose_pdf`: an unruled table of four columns with a column of prose
  beside it (its own type size and line pitch).
- :func:`framed_chart_pdf`: a chart drawn as a framed plot area with axis ticks and
  square markers (no path of many points), labels aligned like rows.
- :func:`packed_pdf`: an unruled table with a count and a rate set 3 pt apart.
- :func:`definitions_pdf`: an unruled table of three columns whose cells are sentences
  (a term, its definition, an example), wrapped over two or three lines.
- :func:`ranges_pdf`: a bold two-line header of income ranges ("$10,000-" over
  "14,999"), left-aligned over right-aligned numbers.
- :func:`glued_header_pdf`: header cells of three and five lines under a spanning
  "Day 1", two of whose lines ("Weight", "Controls") stand 4 pt apart on one line.
- :func:`spaced_labels_pdf`: row labels justified with 12 pt word gaps and wrapped.
- :func:`continued_pdf`: a table with a group header over two leaf columns that goes on
  over a second page, under "Table 5 (continued)", repeating only the leaf header row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.make_docs import PdfBuilder, PdfPage
from tests.support.make_tables import text_width

__all__ = [
    "BESIDE_PROSE_EXPECTED",
    "CAPTION_IN_GRID_EXPECTED",
    "CONTINUED_EXPECTED",
    "DEFINITIONS_EXPECTED",
    "GLUED_HEADER_EXPECTED",
    "PACKED_EXPECTED",
    "RANGES_EXPECTED",
    "SENTENCE_GRID_EXPECTED",
    "SIDE_BY_SIDE_EXPECTED",
    "SPACED_LABELS_EXPECTED",
    "SPREAD_NOTE_EXPECTED",
    "STAGGERED_EXPECTED",
    "beside_prose_pdf",
    "caption_in_grid_pdf",
    "chart_pdf",
    "continued_pdf",
    "definitions_pdf",
    "framed_chart_pdf",
    "glued_header_pdf",
    "packed_pdf",
    "ranges_pdf",
    "sentence_grid_pdf",
    "side_by_side_pdf",
    "spaced_labels_pdf",
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


# --- a table continued on the next page ------------------------------------------------------

CONTINUED_EXPECTED: dict[str, Any] = {
    "caption": "Table 5. Households by region and tenure",
    "header_paths": ["Region", "Tenure · Owned", "Tenure · Rented"],
    "first": [[f"Region {i}", f"{100 + 7 * i}", f"{40 + 3 * i}"] for i in range(1, 31)],
    "second": [[f"Region {i}", f"{100 + 7 * i}", f"{40 + 3 * i}"] for i in range(31, 45)],
}


def continued_pdf(path: Path) -> Path:
    """Page 1: caption, "Tenure" over "Owned"/"Rented" (a short rule under it), 30 rows to
    the foot of the page. Page 2: "Table 5 (continued)", the leaf header row again, 14
    more rows."""
    expected = CONTINUED_EXPECTED
    pdf = PdfBuilder()
    left, edges = 72.0, [300.0, 400.0]
    for number, rows in ((1, expected["first"]), (2, expected["second"])):
        page = pdf.page()
        caption = expected["caption"] if number == 1 else "Table 5 (continued)"
        _put(page, left, 60, caption, 10, bold=True)
        top = 84.0
        page.line(left, top - 4, 420, top - 4, 0.8)
        if number == 1:
            _put(page, (250 + 400) / 2, top, "Tenure", 8, align="center", bold=True)
            page.line(250, top + 11, 400, top + 11, 0.5)
            top += 15
        _put(page, left, top, "Region", 8, bold=True)
        for edge, name in zip(edges, ["Owned", "Rented"], strict=True):
            _put(page, edge, top, name, 8, align="right", bold=True)
        page.line(left, top + 12, 420, top + 12, 0.8)
        top += 18
        for row in rows:
            _put(page, left, top, row[0], 8)
            for edge, value in zip(edges, row[1:], strict=True):
                _put(page, edge, top, value, 8, align="right")
            top += 12
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


# --- a table beside a column of prose -------------------------------------------------------

BESIDE_PROSE_EXPECTED: dict[str, Any] = {
    "header": ["State", "Deaths", "Rate", "Stroke"],
    "body": [
        [state, f"{1000 + 37 * i:,}", f"{190.5 - 2.5 * i:.1f}", f"{40 + i}"]
        for i, state in enumerate(
            [
                "New York",
                "Oklahoma",
                "Tennessee",
                "Arkansas",
                "Michigan",
                "Missouri",
                "Ohio",
                "Kentucky",
                "Maryland",
                "Iowa",
                "Delaware",
                "Indiana",
                "California",
                "Texas",
            ]
        )
    ],
    "prose": "Although there are many ways to reduce the burden of heart disease and stroke, "
    "most of them begin with knowing where the burden is largest. Rates in this report "
    "differ by state and by group, and the differences have held for a decade. Prevention "
    "through healthy eating, activity and not smoking should be given priority, and the "
    "control of blood pressure and cholesterol should reach those most at risk early.",
}


def beside_prose_pdf(path: Path) -> Path:
    """Left half: an unruled table of four columns in 7 pt type; right half: a column of
    9 pt prose with its own line pitch, running down beside the table."""
    expected = BESIDE_PROSE_EXPECTED
    pdf = PdfBuilder()
    page = pdf.page()
    left, edges = 50.0, [170.0, 220.0, 270.0]
    top = 90.0
    _put(page, left, top, expected["header"][0], 7, bold=True)
    for edge, name in zip(edges, expected["header"][1:], strict=True):
        _put(page, edge, top, name, 7, align="right", bold=True)
    for i, row in enumerate(expected["body"], start=1):
        _put(page, left, top + 10 * i, row[0], 7)
        for edge, value in zip(edges, row[1:], strict=True):
            _put(page, edge, top + 10 * i, value, 7, align="right")
    page.paragraph(310, 93, expected["prose"], 9, width=250)
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


# --- two numbers set closer than a column gap ------------------------------------------------

PACKED_EXPECTED: dict[str, Any] = {
    "header": ["State", "Deaths", "Rate", "(95% CI)"],
    "body": [
        [s, f"{1000 + 311 * i:,}", f"{150.5 - 3.1 * i:.1f}", f"({140 - 3 * i}.2-{160 - 3 * i}.8)"]
        for i, s in enumerate(["Alabama", "Alaska", "Arizona", "Arkansas", "Colorado", "Delaware"])
    ],
}


def packed_pdf(path: Path) -> Path:
    """An unruled table whose "Deaths" and "Rate" values stand only 3 pt apart (less than
    the gap between words of one cell elsewhere), right-aligned under their headers."""
    expected = PACKED_EXPECTED
    pdf = PdfBuilder()
    page = pdf.page()
    left = 72.0
    rate_edge = 230.0
    deaths_edge = rate_edge - text_width("150.5", 7) - 3.0
    ci_left = 250.0
    top = 90.0
    _put(page, left, top, "State", 7, bold=True)
    _put(page, deaths_edge, top, "Deaths", 7, align="right", bold=True)
    _put(page, rate_edge, top, "Rate", 7, align="right", bold=True)
    _put(page, ci_left, top, "(95% CI)", 7, bold=True)
    for i, row in enumerate(expected["body"], start=1):
        y = top + 11 * i
        _put(page, left, y, row[0], 7)
        _put(page, deaths_edge, y, row[1], 7, align="right")
        _put(page, rate_edge, y, row[2], 7, align="right")
        _put(page, ci_left, y, row[3], 7)
    path.write_bytes(pdf.build())
    return path


# --- an unruled table whose cells are sentences ---------------------------------------------

DEFINITIONS_EXPECTED: dict[str, Any] = {
    "header": ["Term", "Definition", "Example"],
    "body": [
        [
            "Accommodation",
            "A change in how a test is given that does not change what it measures",
            "Extra time for a student who reads slowly",
        ],
        [
            "Modification",
            "A change in what a test measures or in its level of difficulty",
            "Fewer answer choices on each item",
        ],
        [
            "Proficiency",
            "The level of knowledge a student shows on the test as a whole",
            "Scoring at or above the cut score",
        ],
        [
            "Subgroup",
            "Students who share a trait that the report counts apart",
            "Students with a disability",
        ],
    ],
}


def definitions_pdf(path: Path) -> Path:
    """Three unruled columns: a short term, its definition and an example, each wrapped
    over two or three lines, rows set apart by a blank half line; no rulings."""
    expected = DEFINITIONS_EXPECTED
    pdf = PdfBuilder()
    page = pdf.page()
    xs = [72.0, 170.0, 370.0]
    top = 90.0
    for j, name in enumerate(expected["header"]):
        _put(page, xs[j], top, name, 9, bold=True)
    top += 16
    for row in expected["body"]:
        depth = 1
        for j, cell in enumerate(row):
            lines = _wrap(cell, 14 if j == 0 else 38)
            depth = max(depth, len(lines))
            for k, line in enumerate(lines):
                _put(page, xs[j], top + 11 * k, line, 9)
        top += 11 * depth + 7
    path.write_bytes(pdf.build())
    return path


# --- a two-line header of ranges over right-aligned numbers --------------------------------

RANGES_EXPECTED: dict[str, Any] = {
    "header": [
        "Household type",
        "Under $10,000",
        "$10,000- 14,999",
        "$15,000- 24,999",
        "$25,000 or more",
    ],
    "body": [
        ["Married couples", "1,204", "2,310", "5,876", "40,112"],
        ["Single women", "3,455", "2,987", "4,120", "9,876"],
        ["Single men", "1,876", "1,543", "2,765", "8,432"],
        ["Other families", "876", "654", "1,321", "3,210"],
    ],
}


def ranges_pdf(path: Path) -> Path:
    """Income ranges as a two-line header, each line left-aligned at its column's left,
    over numbers right-aligned at the column's right edge (the header words reach past
    the numbers on both sides)."""
    expected = RANGES_EXPECTED
    pdf = PdfBuilder()
    page = pdf.page()
    left = 72.0
    lefts = [190.0, 250.0, 310.0, 370.0]
    rights = [232.0, 292.0, 352.0, 412.0]
    heads = [
        ("Under", "$10,000"),
        ("$10,000-", "14,999"),
        ("$15,000-", "24,999"),
        ("$25,000", "or more"),
    ]
    top = 90.0
    _put(page, left, top + 10, expected["header"][0], 8, bold=True)
    for x, (a, b) in zip(lefts, heads, strict=True):
        _put(page, x, top, a, 8, bold=True)
        _put(page, x, top + 10, b, 8, bold=True)
    for i, row in enumerate(expected["body"], start=1):
        y = top + 12 + 12 * i
        _put(page, left, y, row[0], 8)
        for x, value in zip(rights, row[1:], strict=True):
            _put(page, x, y, value, 8, align="right")
    path.write_bytes(pdf.build())
    return path


# --- multi-line header cells whose lines sit close to a neighbour's ------------------------

GLUED_HEADER_EXPECTED: dict[str, Any] = {
    "header_paths": [
        "Concentration (ppm)",
        "Day 1 · Body Weight (g)",
        "Day 1 · Weight Relative to Controls (%)",
        "Day 4 · Body Weight (g)",
        "Day 4 · Weight Relative to Controls (%)",
    ],
    "body": [
        ["0", "5.8", "100", "8.8", "100"],
        ["250", "5.9", "102", "9.0", "102"],
        ["500", "6.0", "103", "8.6", "98"],
        ["1,000", "5.8", "100", "8.4", "96"],
    ],
}


def glued_header_pdf(path: Path) -> Path:
    """Under "Day 1" and "Day 4" (each over a short rule), two bottom-aligned, centred
    header cells per day: "Body / Weight / (g)" and "Weight / Relative / to / Controls /
    (%)"; the lines "Weight" and "Controls" of neighbouring cells stand 4 pt apart."""
    expected = GLUED_HEADER_EXPECTED
    pdf = PdfBuilder()
    page = pdf.page()
    left = 72.0
    top = 90.0
    pitch = 10.0
    bottom_line = top + 16 + 4 * pitch  # the last header line ("(g)", "(%)")
    _put(page, left, bottom_line - pitch, "Concentration", 8, bold=True)
    _put(page, left, bottom_line, "(ppm)", 8, bold=True)
    half = text_width("Weight", 8, True) / 2 + text_width("Controls", 8, True) / 2
    rights = []
    for day, body_centre in (("Day 1", 190.0), ("Day 4", 320.0)):
        rel_centre = body_centre + half + 4.0
        _put(page, (body_centre + rel_centre) / 2, top, day, 8, align="center", bold=True)
        page.line(body_centre - 20, top + 11, rel_centre + 20, top + 11, 0.5)
        for k, line in enumerate(["Body", "Weight", "(g)"]):
            y = bottom_line - (2 - k) * pitch
            _put(page, body_centre, y, line, 8, align="center", bold=True)
        for k, line in enumerate(["Weight", "Relative", "to", "Controls", "(%)"]):
            y = bottom_line - (4 - k) * pitch
            _put(page, rel_centre, y, line, 8, align="center", bold=True)
        rights += [body_centre + 8, rel_centre + 8]
    page.line(left, bottom_line + 12, rights[-1] + 20, bottom_line + 12, 0.8)
    for i, row in enumerate(expected["body"]):
        y = bottom_line + 18 + 12 * i
        _put(page, left + 10, y, row[0], 8)
        for edge, value in zip(rights, row[1:], strict=True):
            _put(page, edge, y, value, 8, align="right")
    path.write_bytes(pdf.build())
    return path


# --- row labels set in spaced (justified) text --------------------------------------------

SPACED_LABELS_EXPECTED: dict[str, Any] = {
    "header": ["", "All", "Top 100"],
    "body": [
        ["Number of member states in the analysis", "21", "8"],
        ["Number of member states where one or more companies applied it", "11", "3"],
        ["Number of companies that applied the amendment", "81", "19"],
    ],
}


def spaced_labels_pdf(path: Path) -> Path:
    """Row labels justified across a wide first column (word gaps of 12 pt, more than a
    column gap elsewhere), each wrapped onto a second line; two numeric columns."""
    expected = SPACED_LABELS_EXPECTED
    pdf = PdfBuilder()
    page = pdf.page()
    left, edges = 72.0, [330.0, 420.0]
    top = 90.0
    for edge, name in zip(edges, expected["header"][1:], strict=True):
        _put(page, edge, top, name, 8, align="right", bold=True)
    y = top + 16
    for row in expected["body"]:
        words = row[0].split()
        first, rest = words[:5], words[5:]
        x = left
        for word in first:  # the first line justified: 12 pt between words
            _put(page, x, y, word, 8)
            x += text_width(word, 8) + 12.0
        _put(page, left, y + 10, " ".join(rest), 8)
        for edge, value in zip(edges, row[1:], strict=True):
            _put(page, edge, y, value, 8, align="right")
        y += 26
    path.write_bytes(pdf.build())
    return path
