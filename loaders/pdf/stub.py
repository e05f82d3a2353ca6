"""The hierarchy of an unruled table's row labels, read from how they are set.

Statistical tables nest their rows by type, not by empty section rows: a bold row with
its own totals ("Aged 15 and older  230,391 ...") set apart from the plain labels heads
the plain rows under it (one set at the outermost indent heads only deeper ones), and an
indented label ("Severe") belongs to the less indented one above it ("Difficulty
seeing"); steps of a few points count (2.2 pt in real census tables). The grid keeps
neither, so :func:`row_levels` reads them from the lines: each body row's label gets a
*level* (bold rows that head plain ones 0, plain rows 2, 4, ... by indentation), which
the html keeps (``data-level``) for the row units (``loaders.table_units.row_names``).
Used by :mod:`.stream`.
"""

from __future__ import annotations

import bisect

from .structure import strip_leaders
from .words import Line, join_words

__all__ = ["MAX_INDENTS", "row_levels"]

#: More distinct label indents than this are not a hierarchy (centred or ragged labels).
MAX_INDENTS = 4
_SAME_INDENT = 2.0  # points: labels starting this close share an indent
_LOOKAHEAD = 4  # lines a row's label may lie past the previous row's (wrapped rows)


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _label_words(line: Line, cuts: list[float]) -> list[dict]:
    first = cuts[0] if cuts else float("inf")
    return [w for w in line.words if bisect.bisect_left([first], (w["x0"] + w["x1"]) / 2) == 0]


def _styles(
    lines: list[Line], cuts: list[float], body: list[list[str]]
) -> list[tuple[float, float, bool] | None]:
    """For each body row, its label's (left, right, bold) from the line it starts on."""
    labels = []
    for line in lines:
        words = _label_words(line, cuts)
        labels.append((_norm(strip_leaders(join_words(words))) if words else "", words))
    styles: list[tuple[float, float, bool] | None] = []
    at = 0
    for row in body:
        label = _norm(row[0]) if row and row[0] else ""
        found = None
        if label:
            for index in range(at, min(len(lines), at + _LOOKAHEAD + 1)):
                text, words = labels[index]
                if text and label.startswith(text):
                    found = index
                    break
        if found is None:
            styles.append(None)
            continue
        words = labels[found][1]
        bold = all("bold" in str(w.get("fontname", "")).lower() for w in words)
        text = [w for w in words if any(ch.isalnum() for ch in w["text"])] or words  # no leaders
        styles.append((min(w["x0"] for w in words), max(w["x1"] for w in text), bold))
        at = found + 1
    return styles


def _indents(lefts: list[float]) -> list[float] | None:
    """The distinct indents of ``lefts`` (None: not a plausible hierarchy)."""
    groups: list[float] = []
    for x in sorted(lefts):
        if not groups or x - groups[-1] > _SAME_INDENT:
            groups.append(x)
    return None if len(groups) > MAX_INDENTS else groups


def row_levels(
    lines: list[Line], cuts: list[float], body: list[list[str]]
) -> list[tuple[str, int]] | None:
    """``(label, level)`` for the body rows whose label's setting was found, in order;
    None when the labels show no hierarchy (one indent and no bold rows heading plain
    ones, labels right-aligned or centred, or too many indents)."""
    styles = _styles(lines, cuts, body)
    known = [s for s in styles if s is not None]
    if len(known) < 3:
        return None
    bolds = sum(1 for _, _, bold in known if bold)
    # bold rows head the plain ones when there are several of them (one bold row is a
    # total, not a group)
    heads = 2 <= bolds < len(known)
    plain = [s for s in known if not (heads and s[2])]
    rights = [right for _, right, _ in plain]
    lefts = [left for left, _, _ in plain]
    middles = [(left + right) / 2 for left, right in zip(lefts, rights, strict=True)]
    if max(lefts) - min(lefts) > _SAME_INDENT and (
        max(rights) - min(rights) <= _SAME_INDENT or max(middles) - min(middles) <= _SAME_INDENT
    ):
        return None  # right-aligned or centred labels: their left edges say nothing
    indents = _indents(lefts)
    if indents is None or (len(indents) < 2 and not heads):
        return None
    if heads:
        # bold rows set at the outermost indent (subtotals among top-level rows: "Property
        # crime" over its indented kinds, then "Other assaults") head only the deeper rows;
        # bold rows set apart from the plain labels head every plain row
        lefts_bold = [left for left, _, bold in known if bold]
        aligned = sum(abs(left - indents[0]) <= _SAME_INDENT for left in lefts_bold)
        heads = aligned * 2 <= len(lefts_bold)
    base = 2 if heads else 0
    out: list[tuple[str, int]] = []
    for row, style in zip(body, styles, strict=True):
        if style is None:
            continue
        left, _, bold = style
        if heads and bold:
            level = 0
        else:
            rank = max(0, bisect.bisect_right(indents, left + _SAME_INDENT) - 1)
            level = base + 2 * rank
        out.append((row[0], level))
    return out
