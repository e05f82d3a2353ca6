"""Captions and header lines of a table on the page (see :mod:`.layout`).

A caption ("Table 3: ...", also over two lines in its own font) and a units line
("[In thousands]") right above or below a table go with it; header lines above an
unruled table's first aligned lines join it while close, inside its width and short,
never the caption, a units line or a line of prose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..elements import CAPTION_RE
from .finding import is_table_line
from .stream import aligned_header, column_bounds
from .structure import TableModel, is_units_line
from .words import Line

__all__ = ["Item", "attach_captions", "caption_tail", "extend_up"]


@dataclass
class Item:
    """One thing on a page in reading order: a table (with its caption) or a text line."""

    top: float
    bottom: float
    kind: Literal["table", "text"]
    table: TableModel | None = None
    lines: list[Line] | None = None
    caption: str | None = None


def extend_up(lines: list[Line], start: int, end: int, taken: set[int]) -> int:
    """Header lines above an unruled table's first aligned lines: close above it,
    inside its horizontal extent, short; never the caption (nor the lines that continue
    it in the caption's font), a units line, or a line of prose."""
    x0 = min(line.x0 for line in lines[start:end])
    x1 = max(line.x1 for line in lines[start:end])
    width = max(x1 - x0, 1.0)
    cuts = column_bounds(lines[start:end])
    stop = _caption_end(lines, start)
    steps = 0
    while start > max(stop, 0) and steps < 10 and start - 1 not in taken:
        above, below = lines[start - 1], lines[start]
        height = max(above.bottom - above.top, 1.0)
        text = above.text
        if below.top - above.bottom > 2.0 * height and not aligned_header(above, below, cuts):
            break
        if is_units_line(text) and len(above.segments) == 1:
            break  # the units line goes with the caption
        if above.x0 < x0 - 0.1 * width or above.x1 > x1 + 0.1 * width or len(text) > 120:
            break
        if len(above.segments) == 1 and len(text.split()) >= 9 and not is_table_line(above):
            break
        start -= 1
        steps += 1
    return start


def _caption_end(lines: list[Line], start: int) -> int:
    """Index of the first line after the caption above ``start``, or -1 when no
    caption is near."""
    for c in range(start - 1, max(-1, start - 12), -1):
        if CAPTION_RE.match(lines[c].text):
            return caption_tail(lines, c, start)
    return -1


def caption_tail(lines: list[Line], c: int, limit: int) -> int:
    """Index after the caption at ``c`` and the lines that continue it (close below,
    in the caption's font), at most ``limit``."""
    cap = lines[c]
    k = c + 1
    while k < limit:
        line, prev = lines[k], lines[k - 1]
        height = max(prev.bottom - prev.top, 1.0)
        same_font = line.bold == cap.bold and abs(line.size - cap.size) < 0.6
        if line.top - prev.bottom > 0.8 * height or not same_font:
            break
        k += 1
    return k


def attach_captions(items: list[Item]) -> None:
    """Move a caption right above (or else right below) a table into the table: the
    caption line, the lines that continue it, and a units line."""
    for index, item in enumerate(items):
        if item.kind != "table" or item.caption is not None:
            continue
        found = _caption_above(items, index) or _caption_below(items, index)
        if found:
            item.caption = " ".join(found)
        if item.table is not None and item.table.units:
            item.caption = " ".join(p for p in (item.caption, item.table.units) if p)


def _text_line(item: Item) -> Line | None:
    return item.lines[0] if item.kind == "text" and item.lines else None


def _caption_above(items: list[Item], index: int) -> list[str]:
    """Caption lines, then continuation/units lines, ending right above the table."""
    top = items[index].top
    chain: list[int] = []
    k = index - 1
    while k >= 0 and len(chain) < 5:
        line = _text_line(items[k])
        if line is None:
            break
        ref = items[chain[-1]].top if chain else top
        if ref - line.bottom > 3 * max(line.bottom - line.top, 1.0):
            break
        chain.append(k)
        if CAPTION_RE.match(line.text):
            break
        k -= 1
    if not chain or not CAPTION_RE.match(items[chain[-1]].lines[0].text):  # type: ignore[index]
        return []
    texts = []
    for k in reversed(chain):
        texts.append(items[k].lines[0].text)  # type: ignore[index]
        items[k].lines = []
    return texts


def _caption_below(items: list[Item], index: int) -> list[str]:
    if index + 1 >= len(items):
        return []
    line = _text_line(items[index + 1])
    if line is None or not CAPTION_RE.match(line.text):
        return []
    if line.top - items[index].bottom > 3 * max(line.bottom - line.top, 1.0):
        return []
    items[index + 1].lines = []
    return [line.text]
