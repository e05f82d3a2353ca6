"""Generate one-page PDFs with the kinds of tables real government reports have.

Each function writes one page with the raw PDF writer of :mod:`tests.support.make_docs`
(Helvetica, Latin-1) and returns the path. The layouts copy what the ICDAR 2013
reports do, not any one document:

- :func:`enrollment_pdf`: stacked and spanning headers over an unruled body ("Grade"
  centred over four grade columns with a short rule under it), right-aligned numbers,
  a caption, a units line and section rows ("Actual", "Projected").
- :func:`participation_pdf`: header cells of 2 to 4 lines, bottom-aligned and
  right-aligned over numeric columns, in a table with no rulings at all.
- :func:`thresholds_pdf`: a full grid with a spanning header cell, header cells of two
  lines inside one grid cell ("to air" / "kg/year") and a wrapped row label.
- :func:`three_level_pdf`: a full grid with three ruled header rows
  ("Threshold for releases" / "to air" / "kg/year").
- :func:`population_pdf`: an unruled table with dot leaders after the row labels and
  row labels wrapped onto a second line (values on the first line only).
- :func:`furniture_pdf`: a page-long unruled table between a running header and a
  page-number footer that line up with the table's columns.

The ``*_EXPECTED`` constants hold what a reader sees in each table: caption, every
column's header path (header texts from top to bottom joined with " · ", a cell's lines
joined with spaces) and the body rows.

Text positions use Helvetica's real glyph widths (pdfminer's AFM tables, which
pdfplumber already brings), so right-aligned numbers really share their right edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.make_docs import PdfBuilder, PdfPage

__all__ = [
    "ENROLLMENT_EXPECTED",
    "FURNITURE_EXPECTED",
    "PARTICIPATION_EXPECTED",
    "POPULATION_EXPECTED",
    "THREE_LEVEL_EXPECTED",
    "THRESHOLDS_EXPECTED",
    "enrollment_pdf",
    "furniture_pdf",
    "participation_pdf",
    "population_pdf",
    "text_width",
    "three_level_pdf",
    "thresholds_pdf",
]


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width of ``text`` in points, in Helvetica (or Helvetica-Bold) at ``size``."""
    from pdfminer.fontmetrics import FONT_METRICS

    widths = FONT_METRICS["Helvetica-Bold" if bold else "Helvetica"][1]
    return sum(widths.get(ch, 556) for ch in text) * size / 1000


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
    """Draw ``text`` with its left edge, right edge or centre at ``x``."""
    width = text_width(text, size, bold)
    left = {"left": x, "right": x - width, "center": x - width / 2}[align]
    page.text(left, top, text, size, bold=bold)


def _leaders(label: str, size: float, x: float, until: float) -> str:
    """``label`` followed by spaced dot leaders (" . . .") that stop before ``until``."""
    text = label + " "
    while x + text_width(text + ". ", size) <= until:
        text += ". "
    return text.rstrip()


# --- 1. stacked + spanning headers, unruled body, section rows ----------------------------

_GRADES = {
    "2006": (1084, 3631, 3670, 3627),
    "2007": (1081, 3609, 3750, 3640),
    "2008": (1180, 3640, 3708, 3699),
    "2009": (1141, 3678, 3729, 3665),
    "2010": (1279, 3682, 3754, 3701),
    "2011": (1291, 3746, 3773, 3713),
    "2012": (1306, 3767, 3810, 3722),
    "2013": (1319, 3796, 3844, 3761),
}


def _n(value: int) -> str:
    return f"{value:,}"


ENROLLMENT_EXPECTED: dict[str, Any] = {
    "caption": "Table 2. Enrollment by grade",
    "units": "[In thousands]",
    "header_paths": ["Year", "Total", "Grade · PK", "Grade · K", "Grade · 1", "Grade · 2"],
    "body": [
        ["Actual", "", "", "", "", ""],
        *[[y, _n(sum(v)), *map(_n, v)] for y, v in list(_GRADES.items())[:5]],
        ["Projected", "", "", "", "", ""],
        *[[y, _n(sum(v)), *map(_n, v)] for y, v in list(_GRADES.items())[5:]],
    ],
}


def enrollment_pdf(path: Path) -> Path:
    """NCES-style table: "Grade" spans PK..2 over a short rule; Year/Total on the lower line."""
    pdf = PdfBuilder()
    page = pdf.page()
    left, right = 72.0, 420.0
    edges = [200.0, 260.0, 310.0, 360.0, 410.0]  # right edges of Total, PK, K, 1, 2
    _put(page, left, 72, ENROLLMENT_EXPECTED["caption"], 10, bold=True)
    _put(page, (left + right) / 2, 88, ENROLLMENT_EXPECTED["units"], 8, align="center")
    page.line(left, 102, right, 102, 0.8)
    _put(page, (218 + 410) / 2, 107, "Grade", 8, align="center")
    page.line(218, 117, 410, 117, 0.5)
    _put(page, left, 122, "Year", 8)
    for edge, name in zip(edges, ["Total", "PK", "K", "1", "2"], strict=True):
        _put(page, edge, 122, name, 8, align="right")
    page.line(left, 134, right, 134, 0.8)
    top = 140.0
    for row in ENROLLMENT_EXPECTED["body"]:
        if not any(row[1:]):  # a section row: flush left, the years under it indented
            _put(page, left, top, row[0], 8)
        else:
            _put(page, left + 8, top, row[0], 8)
            for edge, value in zip(edges, row[1:], strict=True):
                _put(page, edge, top, value, 8, align="right")
        top += 11
    page.line(left, top + 2, right, top + 2, 0.8)
    page.paragraph(
        left,
        top + 14,
        "Enrollment in the early grades grew by about 2 percent a year over the period, "
        "and the projections assume the same growth in prekindergarten.",
        9,
        width=348,
    )
    path.write_bytes(pdf.build())
    return path


# --- 2. multi-line header cells, right-aligned, no rulings ----------------------------------

_PARTICIPATION_HEADERS = [
    ["Weighted school", "participation rate", "before substitution"],
    ["Weighted school", "participation rate", "after substitution"],
    ["Weighted student", "participation rate"],
    ["Weighted", "overall", "participation", "rate"],
]

_PARTICIPATION_CAPTION = [
    "Table A-1. School and student participation rates before and after substitution,",
    "by education system: 2011",
]

PARTICIPATION_EXPECTED: dict[str, Any] = {
    "caption": " ".join(_PARTICIPATION_CAPTION),
    "header_paths": ["Country", *(" ".join(lines) for lines in _PARTICIPATION_HEADERS)],
    "body": [
        ["Australia", "81", "96", "95", "91"],
        ["Austria", "99", "100", "97", "97"],
        ["Azerbaijan", "100", "100", "99", "99"],
        ["Belgium (French)", "76", "97", "95", "92"],
        ["Botswana", "100", "100", "98", "98"],
        ["Bulgaria", "99", "100", "95", "95"],
        ["Canada", "88", "93", "91", "85"],
        ["Chinese Taipei", "100", "100", "99", "99"],
        ["Colombia", "93", "97", "95", "92"],
        ["Croatia", "99", "100", "95", "95"],
    ],
}


def participation_pdf(path: Path) -> Path:
    """PIRLS-style table: a two-line caption, then 4 numeric columns whose headers have 2-4
    lines (bottom-aligned, right-aligned), and no lines drawn at all."""
    pdf = PdfBuilder()
    page = pdf.page()
    left = 72.0
    edges = [262.0, 352.0, 442.0, 532.0]
    for i, line in enumerate(_PARTICIPATION_CAPTION):  # a caption on two lines
        _put(page, left, 48 + 12 * i, line, 10, bold=True)
    pitch, bottom_line = 9.5, 118.0
    _put(page, left, bottom_line, "Country", 8, bold=True)
    for edge, lines in zip(edges, _PARTICIPATION_HEADERS, strict=True):
        for i, line in enumerate(lines):  # bottom-aligned: the last line on bottom_line
            top = bottom_line - (len(lines) - 1 - i) * pitch
            _put(page, edge, top, line, 8, align="right", bold=True)
    top = bottom_line + 16
    for row in PARTICIPATION_EXPECTED["body"]:
        _put(page, left, top, row[0], 8)
        for edge, value in zip(edges, row[1:], strict=True):
            _put(page, edge, top, value, 8, align="right")
        top += 12
    page.paragraph(
        left,
        top + 14,
        "Participation rates are weighted by the number of students in each school. "
        "Substitute schools replaced sampled schools that declined to take part.",
        9,
        width=460,
    )
    path.write_bytes(pdf.build())
    return path


# --- 3. ruled grid: spanning header, two-line header cells, wrapped row label ---------------

_POLLUTANTS = [
    (["Ammonia (NH3)"], ["10 000", "-", "-"]),
    (["Carbon monoxide (CO)"], ["500 000", "-", "-"]),
    (["Chlorine and inorganic compounds", "(as HCl)"], ["10 000", "-", "-"]),
    (["Cyanides (as total CN)"], ["-", "50", "50"]),
    (["Fluorides (as total F)"], ["-", "2 000", "2 000"]),
    (["Hydrogen cyanide (HCN)"], ["200", "-", "-"]),
]

THRESHOLDS_EXPECTED: dict[str, Any] = {
    "caption": "Table 3. E-PRTR pollutants and their thresholds",
    "header_paths": [
        "Pollutant",
        "Threshold for releases · to air kg/year",
        "Threshold for releases · to water kg/year",
        "Threshold for releases · to land kg/year",
    ],
    "body": [[" ".join(label), *values] for label, values in _POLLUTANTS],
}


def _grid_body(
    page: PdfPage, xs: Sequence[float], top: float, rows: Sequence[tuple[list[str], list[str]]]
) -> float:
    """Body rows of a full grid: label lines left in column 0, values centred on line 1."""
    for label, values in rows:
        height = 6 + 10 * len(label)
        for i, line in enumerate(label):
            _put(page, xs[0] + 4, top + 4 + 10 * i, line, 8)
        for j, value in enumerate(values, start=1):
            _put(page, (xs[j] + xs[j + 1]) / 2, top + 4, value, 8, align="center")
        top += height
        page.line(xs[0], top, xs[-1], top, 0.5)
    return top


def thresholds_pdf(path: Path) -> Path:
    """eu-001-style grid: "Threshold for releases" spans 3 columns; "to air" / "kg/year"
    are two lines in ONE cell; "Pollutant" spans both header rows."""
    pdf = PdfBuilder()
    page = pdf.page()
    xs = [72.0, 262.0, 342.0, 422.0, 502.0]
    _put(page, xs[0], 70, THRESHOLDS_EXPECTED["caption"], 10, bold=True)
    head_top, mid, head_bottom = 90.0, 106.0, 134.0
    _put(page, xs[0] + 4, (head_top + head_bottom) / 2 - 4, "Pollutant", 8, bold=True)
    _put(page, (xs[1] + xs[4]) / 2, head_top + 4, "Threshold for releases", 8, bold=True)
    for j, medium in enumerate(["to air", "to water", "to land"], start=1):
        centre = (xs[j] + xs[j + 1]) / 2
        _put(page, centre, mid + 4, medium, 8, align="center", bold=True)
        _put(page, centre, mid + 14, "kg/year", 8, align="center", bold=True)
    page.line(xs[0], head_top, xs[-1], head_top, 0.5)
    page.line(xs[1], mid, xs[-1], mid, 0.5)  # not across "Pollutant": it spans both rows
    page.line(xs[0], head_bottom, xs[-1], head_bottom, 0.5)
    bottom = _grid_body(page, xs, head_bottom, _POLLUTANTS)
    for j, x in enumerate(xs):
        page.line(x, mid if j in (2, 3) else head_top, x, bottom, 0.5)
    page.paragraph(
        xs[0],
        bottom + 14,
        "A facility reports a pollutant when its releases exceed the threshold for the "
        "medium concerned.",
        9,
        width=430,
    )
    path.write_bytes(pdf.build())
    return path


# --- 3b. ruled grid with three header rows ----------------------------------------------

THREE_LEVEL_EXPECTED: dict[str, Any] = {
    "caption": "Table 6. Release thresholds by medium",
    "header_paths": [
        "Pollutant",
        "Threshold for releases · to air · kg/year",
        "Threshold for releases · to water · kg/year",
        "Threshold for releases · to land · kg/year",
    ],
    "body": [[label[0], *values] for label, values in _POLLUTANTS if len(label) == 1][:3],
}


def three_level_pdf(path: Path) -> Path:
    """A grid whose header has three ruled rows: the span, the media, the unit."""
    pdf = PdfBuilder()
    page = pdf.page()
    xs = [72.0, 262.0, 342.0, 422.0, 502.0]
    _put(page, xs[0], 70, THREE_LEVEL_EXPECTED["caption"], 10, bold=True)
    rows = [90.0, 106.0, 122.0, 138.0]
    _put(page, xs[0] + 4, (rows[0] + rows[3]) / 2 - 4, "Pollutant", 8, bold=True)
    _put(page, (xs[1] + xs[4]) / 2, rows[0] + 4, "Threshold for releases", 8, bold=True)
    for j, medium in enumerate(["to air", "to water", "to land"], start=1):
        centre = (xs[j] + xs[j + 1]) / 2
        _put(page, centre, rows[1] + 4, medium, 8, align="center", bold=True)
        _put(page, centre, rows[2] + 4, "kg/year", 8, align="center", bold=True)
    page.line(xs[0], rows[0], xs[-1], rows[0], 0.5)
    page.line(xs[1], rows[1], xs[-1], rows[1], 0.5)
    page.line(xs[1], rows[2], xs[-1], rows[2], 0.5)
    page.line(xs[0], rows[3], xs[-1], rows[3], 0.5)
    body = [(label, values) for label, values in _POLLUTANTS if len(label) == 1][:3]
    bottom = _grid_body(page, xs, rows[3], body)
    for j, x in enumerate(xs):
        page.line(x, rows[1] if j in (2, 3) else rows[0], x, bottom, 0.5)
    path.write_bytes(pdf.build())
    return path


# --- 4. unruled, dot leaders, wrapped row labels ------------------------------------------

_AGES = [
    (["All ages"], ["308,746", "151,781", "156,964"]),
    (["Under 5 years"], ["20,201", "10,319", "9,882"]),
    (["5 to 17 years"], ["53,981", "27,628", "26,353"]),
    (["18 to 24 years, including persons in", "the armed forces"], ["30,672", "15,673", "14,999"]),
    (["25 to 44 years"], ["82,135", "41,090", "41,045"]),
    (["45 to 64 years"], ["81,489", "39,920", "41,569"]),
    (["65 years and over, excluding persons", "in nursing homes"], ["40,268", "17,362", "22,906"]),
    (["Median age (years)"], ["37.2", "35.8", "38.5"]),
]

POPULATION_EXPECTED: dict[str, Any] = {
    "caption": "Table 4. Resident population by age and sex: 2010",
    "units": "[In thousands, except as indicated]",
    "header_paths": ["Age group", "Total", "Male", "Female"],
    "body": [[" ".join(label), *values] for label, values in _AGES],
}


def population_pdf(path: Path) -> Path:
    """Statistical-Abstract-style table: "All ages . . . . 308,746", labels wrapped with a
    hanging indent, values on the label's first line; no rulings."""
    pdf = PdfBuilder()
    page = pdf.page()
    left, leaders_end = 72.0, 250.0
    edges = [300.0, 360.0, 420.0]
    _put(page, left, 70, POPULATION_EXPECTED["caption"], 10, bold=True)
    _put(page, left, 85, POPULATION_EXPECTED["units"], 8)
    _put(page, left, 104, "Age group", 8, bold=True)
    for edge, name in zip(edges, ["Total", "Male", "Female"], strict=True):
        _put(page, edge, 104, name, 8, align="right", bold=True)
    top = 120.0
    for label, values in _AGES:
        if label[0] == "Median age (years)":  # leaders without spaces, as some reports set them
            first = label[0] + "." * int((leaders_end - left - text_width(label[0], 8)) / 2.3)
        elif len(label) == 1:
            first = _leaders(label[0], 8, left, leaders_end)
        else:
            first = label[0]
        _put(page, left, top, first, 8)
        for edge, value in zip(edges, values, strict=True):
            _put(page, edge, top, value, 8, align="right")
        for line in label[1:]:
            top += 10
            _put(page, left + 8, top, line, 8)
        top += 12
    page.paragraph(
        left,
        top + 12,
        "The median age rose by 1.9 years since 2000, the largest increase in four decades.",
        9,
        width=360,
    )
    path.write_bytes(pdf.build())
    return path


# --- 5. running header and page-number footer around a page-long table ------------------

_COUNTRIES = [
    "Australia", "Austria", "Azerbaijan", "Belgium (French)", "Botswana", "Bulgaria",
    "Canada", "Chinese Taipei", "Colombia", "Croatia", "Czech Republic", "Denmark",
    "England", "Finland", "France", "Georgia", "Germany", "Hong Kong SAR", "Hungary",
    "Indonesia", "Iran, Islamic Rep. of", "Ireland", "Israel", "Italy", "Kuwait",
    "Lithuania", "Malta", "Morocco", "Netherlands", "New Zealand", "Northern Ireland",
    "Norway", "Oman", "Poland", "Portugal", "Qatar", "Romania", "Russian Federation",
    "Saudi Arabia", "Singapore",
]  # fmt: skip


def _school_row(i: int, country: str) -> list[str]:
    schools = 120 + (i * 37) % 180
    students = 3000 + (i * 389) % 5000
    percent = 80.0 + (i * 13) % 19 + 0.1 * (i % 10)
    return [country, str(schools), f"{students:,}", f"{percent:.1f}"]


FURNITURE_EXPECTED: dict[str, Any] = {
    "caption": "Table A-3. Number and percentage of schools and students in the sample",
    "running_header": ["APPENDIX A", "HIGHLIGHTS FROM PIRLS 2011"],
    "page_number": "47",
    "header_paths": ["Country", "Schools", "Students", "Percent"],
    "body": [_school_row(i, c) for i, c in enumerate(_COUNTRIES)],
}


def furniture_pdf(path: Path) -> Path:
    """us-021-style page: the running header sits just above the caption with its two
    parts over the table's first and last columns; the page number sits just below the
    last row, right-aligned with the last column."""
    pdf = PdfBuilder()
    page = pdf.page()
    left, right = 72.0, 540.0
    edges = [330.0, 430.0, 540.0]
    head_left, head_right = FURNITURE_EXPECTED["running_header"]
    _put(page, left, 36, head_left, 8, bold=True)
    _put(page, right, 36, head_right, 8, align="right", bold=True)
    page.line(left, 47, right, 47, 0.5)
    _put(page, left, 60, FURNITURE_EXPECTED["caption"], 10, bold=True)
    _put(page, left, 82, "Country", 8, bold=True)
    for edge, name in zip(edges, ["Schools", "Students", "Percent"], strict=True):
        _put(page, edge, 82, name, 8, align="right", bold=True)
    top = 98.0
    for row in FURNITURE_EXPECTED["body"]:
        _put(page, left, top, row[0], 8)
        for edge, value in zip(edges, row[1:], strict=True):
            _put(page, edge, top, value, 8, align="right")
        top += 15.5
    _put(page, right, 740, FURNITURE_EXPECTED["page_number"], 8, align="right")
    path.write_bytes(pdf.build())
    return path
