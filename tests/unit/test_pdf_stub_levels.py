"""Row levels of an unruled table from how its labels are set (loaders/pdf/stub.py)."""

from __future__ import annotations

from lcelkit.loaders.pdf.stub import row_levels
from lcelkit.loaders.pdf.words import Line

CUTS = [200.0]  # the label column ends at x = 200


def _line(top: float, label: str, x0: float, bold: bool = False, value: str = "1") -> Line:
    font = "Helvetica-Bold" if bold else "Helvetica"
    words = []
    x = x0
    for text in label.split():
        words.append({"text": text, "x0": x, "x1": x + 5 * len(text), "top": top,
                      "bottom": top + 8, "fontname": font})  # fmt: skip
        x += 5 * len(text) + 3
    words.append({"text": value, "x0": 250, "x1": 260, "top": top, "bottom": top + 8,
                  "fontname": font})  # fmt: skip
    return Line(words=words, top=top, bottom=top + 8, size=8, bold=bold)


def _levels(spec):
    lines = [_line(12.0 * i, label, x0, bold) for i, (label, x0, bold) in enumerate(spec)]
    body = [[label, "1"] for label, _, _ in spec]
    return row_levels(lines, CUTS, body)


def test_bold_heads_set_apart_head_every_plain_row_below_them():
    levels = _levels([("Aged 15 and older", 77, True), ("With a disability", 53, False),
                      ("Severe", 61, False), ("Aged 65 and older", 77, True),
                      ("With a disability", 53, False)])  # fmt: skip
    assert [lv for _, lv in levels] == [0, 2, 4, 0, 2]


def test_bold_subtotals_at_the_outermost_indent_head_only_deeper_rows():
    levels = _levels([("Violent crime", 36, True), ("Robbery", 39.3, False),
                      ("Property crime", 36, True), ("Arson", 39.3, False),
                      ("Other assaults", 36, False), ("Fraud", 36, False)])  # fmt: skip
    assert [lv for _, lv in levels] == [0, 2, 0, 2, 0, 0]


def test_labels_without_indents_or_bold_heads_have_no_levels():
    assert _levels([("Austria", 36, False), ("Belgium", 36, False), ("Cyprus", 36, False)]) is None
    # centred labels start at different points but share their middle: no hierarchy
    centred = [("Men", 100 - 7.5, False), ("Women", 100 - 12.5, False), ("All", 100 - 7.5, False)]
    assert _levels(centred) is None
