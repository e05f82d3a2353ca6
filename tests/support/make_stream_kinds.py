"""Generated PDFs for issue 24's kinds of failure in unruled tables and across pages (the
ruled ones and charts are in :mod:`tests.support.make_table_kinds`).

- :func:`continued_pdf`: a table with a group header over two leaf columns that goes on
  over a second page, under "Table 5 (continued)", repeating only the leaf header row.
- :func:`beside_prose_pdf`: an unruled table of four columns with a column of prose
  beside it (its own type size and line pitch).
- :func:`packed_pdf`: an unruled table with a count and a rate set 3 pt apart.
- :func:`definitions_pdf`: an unruled table of three columns whose cells are sentences
  (a term, its definition, an example), wrapped over two or three lines.
- :func:`ranges_pdf`: a bold two-line header of income ranges ("$10,000-" over
  "14,999"), left-aligned over right-aligned numbers.
- :func:`glued_header_pdf`: header cells of three and five lines under a spanning
  "Day 1", two of whose lines ("Weight", "Controls") stand 4 pt apart on one line.
- :func:`spaced_labels_pdf`: row labels justified with 12 pt word gaps and wrapped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.make_docs import PdfBuilder
from tests.support.make_table_kinds import _put, _wrap
from tests.support.make_tables import text_width

__all__ = [
    "BESIDE_PROSE_EXPECTED",
    "CONTINUED_EXPECTED",
    "DEFINITIONS_EXPECTED",
    "GLUED_HEADER_EXPECTED",
    "PACKED_EXPECTED",
    "RANGES_EXPECTED",
    "SPACED_LABELS_EXPECTED",
    "beside_prose_pdf",
    "continued_pdf",
    "definitions_pdf",
    "glued_header_pdf",
    "packed_pdf",
    "ranges_pdf",
    "spaced_labels_pdf",
]


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
