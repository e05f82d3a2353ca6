"""A generated PDF for row hierarchies and group headers over one shared rule.

:func:`nested_rows_pdf`: an unruled census-style table. "2005" and "2010" are centred
over three columns each, with **one** rule under both names (not a short rule per
group). Bold rows with their own totals ("Aged 15 and older"), centred in the label
column, head the plain rows under them, and indented labels ("Severe") belong to the
less indented one above.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.make_docs import PdfBuilder
from tests.support.make_table_kinds import _put

__all__ = ["NESTED_ROWS_EXPECTED", "nested_rows_pdf"]

_LEAVES = ["Number", "Error", "Percent"]

# (label, indent, bold): bold rows, centred in the label column as in the census's tables,
# head the rows below them until the next bold row
_ROWS: list[tuple[str, int, bool]] = [
    ("All ages", 0, True),
    ("With a disability", 0, False),
    ("Severe disability", 1, False),
    ("Aged 15 and older", 0, True),
    ("With a disability", 0, False),
    ("Severe disability", 1, False),
    ("Difficulty seeing", 0, False),
    ("Severe", 1, False),
    ("Difficulty hearing", 0, False),
    ("Severe", 1, False),
    ("Aged 65 and older", 0, True),
    ("With a disability", 0, False),
    ("Severe disability", 1, False),
]

NESTED_ROWS_EXPECTED: dict[str, Any] = {
    "caption": "Table 1. Prevalence of disability by age group: 2005 and 2010",
    "header_paths": ["Category", *(f"{y} · {leaf}" for y in ("2005", "2010") for leaf in _LEAVES)],
    "body": [
        [label, *(f"{(i + 3) * 1013 + 7 * j:,}" for j in range(6))]
        for i, (label, _, _) in enumerate(_ROWS)
    ],
    "names": [
        "All ages",
        "All ages > With a disability",
        "All ages > With a disability > Severe disability",
        "Aged 15 and older",
        "Aged 15 and older > With a disability",
        "Aged 15 and older > With a disability > Severe disability",
        "Aged 15 and older > Difficulty seeing",
        "Aged 15 and older > Difficulty seeing > Severe",
        "Aged 15 and older > Difficulty hearing",
        "Aged 15 and older > Difficulty hearing > Severe",
        "Aged 65 and older",
        "Aged 65 and older > With a disability",
        "Aged 65 and older > With a disability > Severe disability",
    ],
}


def nested_rows_pdf(path: Path) -> Path:
    """Caption; "Category" beside "2005"/"2010" centred over Number/Error/Percent each,
    one rule under both group names; 13 rows, values right-aligned."""
    expected = NESTED_ROWS_EXPECTED
    pdf = PdfBuilder()
    page = pdf.page()
    left = 72.0
    groups = {"2005": [250.0, 300.0, 345.0], "2010": [405.0, 455.0, 500.0]}
    _put(page, left, 60, expected["caption"], 10, bold=True)
    top = 84.0
    page.line(left, top - 4, 510, top - 4, 0.8)
    for name, edges in groups.items():
        _put(page, (edges[0] - 32 + edges[-1]) / 2, top, name, 8, align="center")
    page.line(212, top + 11, 503, top + 11, 0.5)  # one rule under both group names
    top += 15
    _put(page, left, top, "Category", 8)
    for edges in groups.values():
        for edge, leaf in zip(edges, _LEAVES, strict=True):
            _put(page, edge, top, leaf, 8, align="right")
    page.line(left, top + 12, 510, top + 12, 0.8)
    top += 18
    edges = [e for es in groups.values() for e in es]
    for (label, indent, bold), row in zip(_ROWS, expected["body"], strict=True):
        if bold:  # heads centred in the label column, apart from the plain labels
            _put(page, left + 60, top, label, 8, align="center", bold=True)
        else:
            _put(page, left + 8 * indent, top, label, 8)
        for edge, value in zip(edges, row[1:], strict=True):
            _put(page, edge, top, value, 8, align="right", bold=bold)
        top += 12
    path.write_bytes(pdf.build())
    return path
