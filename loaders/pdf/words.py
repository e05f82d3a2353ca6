"""Words and text lines of a PDF page, as a reader sees them.

Characters are joined into words by their gap relative to the font size (not by a
fixed number of points), ligature glyphs are expanded to their letters, text printed
twice at one spot (fake bold) is read once, and right-to-left runs are put in logical
order. Lines group words whose vertical centres agree; a line's *segments* are its
runs of words separated by more than about one em.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Line", "group_lines", "join_words", "line_segments", "page_words"]

#: A word break is a gap wider than this share of the font size (a space is ~0.25 em;
#: kerning and letter-spacing in headings stay well under it).
WORD_GAP_RATIO = 0.25

#: Ligature code points and what they stand for.
LIGATURES = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",
    "\ufb06": "st",
}
_LIGATURE_RE = re.compile("[" + "".join(LIGATURES) + "]")

_RTL_RE = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


@dataclass
class Line:
    """One text line: its words left to right, box, median font size, boldness, segments."""

    words: list[dict[str, Any]]
    top: float
    bottom: float
    size: float
    bold: bool
    segments: list[list[dict[str, Any]]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The line's words as text."""
        return join_words(self.words)

    @property
    def x0(self) -> float:
        """Left edge."""
        return min(w["x0"] for w in self.words)

    @property
    def x1(self) -> float:
        """Right edge."""
        return max(w["x1"] for w in self.words)


def page_words(page: Any) -> list[dict[str, Any]]:
    """The page's words (pdfplumber word dicts with ``size`` and ``fontname``)."""
    words = page.extract_words(
        x_tolerance=1.0,
        x_tolerance_ratio=WORD_GAP_RATIO,
        y_tolerance=2.5,
        keep_blank_chars=False,
        expand_ligatures=True,
        return_chars=True,  # not extra_attrs: a font switch inside a word is no break
    )
    for word in words:
        chars = word.pop("chars", None) or [{}]
        first = chars[0]
        word["size"] = max((float(c.get("size") or 0.0) for c in chars), default=0.0)
        word["fontname"] = str(first.get("fontname", ""))
    # text printed twice at (almost) the same spot (fake bold, shadows) reads "FROM FROM"
    seen: set[tuple[str, int, int]] = set()
    unique = []
    for word in words:
        key = (word["text"], round(word["x0"]), round(word["top"]))
        if key not in seen:
            seen.add(key)
            unique.append(word)
    words = unique
    for word in words:
        if _LIGATURE_RE.search(word["text"]):
            word["text"] = _LIGATURE_RE.sub(lambda m: LIGATURES[m.group()], word["text"])
        # pdfplumber gives right-to-left scripts (Hebrew, Arabic) in visual order
        if _RTL_RE.search(word["text"]):
            word["text"] = word["text"][::-1]
            word["rtl"] = True
    return words


def join_words(words: list[dict[str, Any]]) -> str:
    """Words left to right as text; a mostly right-to-left run is read right to left."""
    ordered = sorted(words, key=lambda w: w["x0"])
    if sum(1 for w in ordered if w.get("rtl")) * 2 > len(ordered):
        ordered.reverse()
    return " ".join(w["text"] for w in ordered)


def group_lines(words: list[dict[str, Any]]) -> list[Line]:
    """Words -> text lines (sorted top to bottom, words left to right)."""
    lines: list[list[dict[str, Any]]] = []
    for word in sorted(words, key=lambda w: (round(w["top"], 1), w["x0"])):
        if lines:
            last = lines[-1]
            ref_top = statistics.median(w["top"] for w in last)
            ref_h = max(1.0, statistics.median(w["bottom"] - w["top"] for w in last))
            if abs(word["top"] - ref_top) <= 0.45 * ref_h:
                last.append(word)
                continue
        lines.append([word])
    result: list[Line] = []
    for group in lines:
        group.sort(key=lambda w: w["x0"])
        sizes = [float(w.get("size") or 0.0) for w in group]
        size = statistics.median(sizes) if sizes else 0.0
        bold = all("bold" in str(w.get("fontname", "")).lower() for w in group)
        line = Line(
            words=group,
            top=min(w["top"] for w in group),
            bottom=max(w["bottom"] for w in group),
            size=size or (group[0]["bottom"] - group[0]["top"]),
            bold=bold,
        )
        line.segments = line_segments(line)
        result.append(line)
    return result


def line_segments(line: Line) -> list[list[dict[str, Any]]]:
    """Split a line where the gap between two words is wider than about one em."""
    gap_limit = max(0.9 * line.size, 4.0)
    segments: list[list[dict[str, Any]]] = [[line.words[0]]]
    for prev, word in zip(line.words, line.words[1:], strict=False):
        if word["x0"] - prev["x1"] > gap_limit:
            segments.append([word])
        else:
            segments[-1].append(word)
    return segments
