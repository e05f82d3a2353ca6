"""Text layout and reading order of a page, and the rules partitioner that ties it up.

Per page: words and rulings are read; ruled grids are found first; the remaining words
form lines, which become unruled tables (:mod:`.structure`) or text. Text lines are
grouped into paragraphs (a short line in a larger or bold font is a ``Title``, a
bulleted line a ``ListItem``); two prose columns are read left column first. A caption
("Table 3: ...", also over two lines) and a units line ("[In thousands]") right above
or below a table go with it. Running headers and footers (lines in the page margins
that repeat on other pages, page numbers) never join a table. A table that ends a page
and one that starts the next with as many columns are one table. Captions and header
lines live in :mod:`.captions`, continued tables in :mod:`.continued`; a table's caption
rows and notes leave its grid in :mod:`.apart` (notes become text elements of their own,
tied to the table).
"""

from __future__ import annotations

import bisect
import contextlib
import io
import logging
import re
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .. import _pdfium
from ..elements import CAPTION_RE, make_element, make_table
from .apart import caption_rows, split_notes
from .captions import Item, attach_captions, caption_tail, extend_up
from .continued import continue_table, last_table
from .finding import over_plot, plot_boxes, prose_like, ruled_tables, stream_blocks
from .pages import quiet_pypdf, rotated_pdf, rotation_for, upright_share
from .rulings import Rule, horizontal_rules
from .stream import column_bounds, line_gap, stream_table, wrap_gap
from .structure import ruled_table
from .words import Line, group_lines, page_words

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

__all__ = ["PdfReaderName", "partition_pdf_rules"]

logger = logging.getLogger(__name__)

#: Which library reads glyphs and rulings for the rules strategy.
PdfReaderName = Literal["pdfium", "pdfminer"]

#: Share of the page height at the top and bottom where running headers/footers live.
MARGIN_BAND = 0.1

_DIGITS = re.compile(r"\d+")


_BULLET_RE = re.compile(r"^\s*([•·▪◦●○■□\-–*]|\(?\d{1,2}[.)]|[a-z][.)])\s+")


def _paragraphs(lines: list[Line], body_size: float) -> list[tuple[str, list[Line]]]:
    """Group text lines into (category, lines) paragraphs."""
    groups: list[tuple[str, list[Line]]] = []
    for line in lines:
        text = line.text
        is_title = (
            len(text) <= 100
            and len(text.split()) <= 14
            and not text.rstrip().endswith((".", ",", ";"))
            and any(ch.isalpha() for ch in text)
            and (line.size >= body_size * 1.15 or (line.bold and line.size >= body_size * 0.95))
        )
        if is_title:
            if groups and groups[-1][0] == "Title" and _close(groups[-1][1][-1], line):
                groups[-1][1].append(line)
            else:
                groups.append(("Title", [line]))
            continue
        if _BULLET_RE.match(text):
            groups.append(("ListItem", [line]))
            continue
        if (
            groups
            and groups[-1][0] in ("NarrativeText", "ListItem")
            and _close(groups[-1][1][-1], line)
        ):
            groups[-1][1].append(line)
            continue
        groups.append(("NarrativeText", [line]))
    return groups


def _close(prev: Line, line: Line) -> bool:
    height = max(prev.bottom - prev.top, 1.0)
    return line.top - prev.bottom <= 0.8 * height and abs(prev.size - line.size) < 1.0


def _gutter(words: list[dict[str, Any]], width: float) -> float | None:
    """The x of the gutter of a two-column prose layout, or None.

    A vertical band in the middle of the page that (almost) no word crosses, with
    prose (long runs of words) on both sides, or a table of three or more columns on
    one side and prose with its own line pitch on the other; a table's own column gap
    is never taken for a gutter.
    """
    if len(words) < 40:
        return None
    best: tuple[int, float, float] | None = None  # (crossing words, -gap, x): fewest first
    x = width * 0.3
    while x < width * 0.7:
        crossing = sum(1 for w in words if w["x0"] < x < w["x1"])
        if crossing <= max(2, len(words) // 100):
            gap_left = max((w["x1"] for w in words if w["x1"] <= x), default=0.0)
            gap_right = min((w["x0"] for w in words if w["x0"] >= x), default=width)
            gap = gap_right - gap_left
            candidate = (crossing, -gap, (gap_left + gap_right) / 2)
            if gap >= 8 and (best is None or candidate < best):
                best = candidate
        x += 2.0
    if best is None:
        return None
    cut = best[2]
    sides = (
        [w for w in words if (w["x0"] + w["x1"]) / 2 < cut],
        [w for w in words if (w["x0"] + w["x1"]) / 2 >= cut],
    )
    if min(len(side) for side in sides) < len(words) * 0.25:
        return None
    side_lines = [group_lines(side) for side in sides]
    prose = []
    for lines in side_lines:
        lengths = [sum(len(w["text"]) + 1 for w in seg) for line in lines for seg in line.segments]
        prose.append(bool(lengths) and statistics.median(lengths) >= 30)
    if all(prose):
        return cut
    if any(prose) and _table_beside_prose(*(side_lines if prose[1] else side_lines[::-1])):
        return cut
    return None


def _table_beside_prose(table: list[Line], prose: list[Line]) -> bool:
    """A table of three or more columns beside a column of prose (not a table whose last
    column holds sentences): most lines of the table side fall into three or more runs,
    and most prose lines do not start level with a table line (their own line pitch)."""
    if not table or not prose:
        return False
    if sum(1 for line in table if len(line.segments) >= 3) * 2 < len(table):
        return False
    tops = sorted(line.top for line in table)
    level = 0
    for line in prose:
        k = bisect.bisect_left(tops, line.top - 1.0)
        if k < len(tops) and tops[k] <= line.top + 1.0:
            level += 1
    return level * 2 < len(prose)


def _reading_order(items: list[Item]) -> list[Item]:
    return sorted(items, key=lambda it: (it.top, 0 if it.kind == "table" else 1))


def _page_items(page: Any, words: list[dict[str, Any]]) -> list[Item]:
    rules = horizontal_rules(page)
    ruled = ruled_tables(page, words)
    taken = {i for _, _, used in ruled for i in used}
    free = [w for w in words if id(w) not in taken]
    items: list[Item] = []
    for bbox, rows, _ in ruled:
        items.append(Item(top=bbox[1], bottom=bbox[3], kind="table", table=ruled_table(rows)))
    plots = plot_boxes(page)
    cut = _gutter(free, float(page.width))
    if cut is None:
        items = _reading_order(items + _region_items(free, rules, plots))
    else:  # two prose columns: the left one is read first, then the right one
        left = [w for w in free if (w["x0"] + w["x1"]) / 2 < cut]
        right = [w for w in free if (w["x0"] + w["x1"]) / 2 >= cut]
        items = _reading_order(items + _region_items(left, rules, plots))
        items += _reading_order(_region_items(right, rules, plots))
    attach_captions(items)
    return items


def _edge_lines(lines: list[Line], height: float) -> list[Line]:
    """Running header/footer candidates: the first two and last two lines of a page,
    inside its top or bottom margin band and set apart from the text next to them."""
    ordered = sorted(lines, key=lambda line: line.top)
    out: list[Line] = []
    for seq, inner in ((ordered, True), (ordered[::-1], False)):
        for i, line in enumerate(seq[:2]):
            in_band = (
                line.top <= height * MARGIN_BAND
                if inner
                else line.bottom >= height * (1 - MARGIN_BAND)
            )
            nxt = seq[i + 1] if i + 1 < len(seq) else None
            gap = (
                float("inf")
                if nxt is None
                else (nxt.top - line.bottom if inner else line.top - nxt.bottom)
            )
            if not in_band or gap < 0.9 * max(line.bottom - line.top, 1.0):
                break
            out.append(line)
    return out


def furniture_key(line: Line) -> str:
    """A margin line's text as compared across pages (digits dropped)."""
    return _DIGITS.sub("#", " ".join(line.text.split()).casefold())


def _page_number_like(key: str) -> bool:
    return key.strip("#-–— ") == "" or key.startswith("page #")


def _region_items(
    free: list[dict[str, Any]],
    rules: list[Rule],
    plots: list[tuple[float, float, float, float]] | None = None,
) -> list[Item]:
    """Stream tables and text lines of one region (the page, or one prose column);
    aligned labels around a plotted series (a chart) stay text."""
    items: list[Item] = []
    lines = group_lines(free) if free else []
    used: set[int] = set()
    blocks = stream_blocks(lines)
    claimed = {i for start, end in blocks for i in range(start, end)}
    for start, end in blocks:
        for c in range(start, min(end, start + 3)):
            if CAPTION_RE.match(lines[c].text):  # a caption set in columns like a row
                start = caption_tail(lines, c, end)
                break
        if end - start < 2:
            continue
        start = extend_up(lines, start, end, claimed | used)
        tight = wrap_gap(lines[start:end])
        # wrapped cell text right under the last row belongs to the table, and so does a
        # wrapped row label (a close line that stays inside the first column)
        first_cut = (column_bounds(lines[start:end]) or [float("inf")])[0]
        while (
            end < len(lines)
            and end not in claimed
            and (
                line_gap(lines[end - 1], lines[end]) <= tight
                or (
                    lines[end].x1 < first_cut
                    and lines[end].text[:1].islower()
                    and line_gap(lines[end - 1], lines[end])
                    <= 0.8 * max(lines[end].bottom - lines[end].top, 1.0)
                )
            )
        ):
            end += 1
        block = lines[start:end]
        if len(block) < 2 or over_plot(block, plots or []):
            continue
        cuts = column_bounds(block)
        model = stream_table(block, cuts, rules)
        if model is None or prose_like(
            model.body or model.header, model.header if model.body else None
        ):
            continue
        items.append(Item(top=block[0].top, bottom=block[-1].bottom, kind="table", table=model))
        used.update(range(start, end))
    for index, line in enumerate(lines):
        if index not in used:
            items.append(Item(top=line.top, bottom=line.bottom, kind="text", lines=[line]))
    return items


def _page_elements(
    page: Any, page_number: int, words: list[dict[str, Any]] | None = None
) -> list[Element]:
    body_size = _body_size(page)
    elements: list[Element] = []
    pending: list[Line] = []

    def flush() -> None:
        for category, group in _paragraphs(pending, body_size):
            text = " ".join(line.text for line in group).strip()
            if not text:
                continue
            if category == "ListItem":
                text = _BULLET_RE.sub("", text, count=1).strip() or text
            depth = 0 if category == "Title" else None
            elements.append(
                make_element(category, text, page_number=page_number, category_depth=depth)
            )
        pending.clear()

    for item in _page_items(page, page_words(page) if words is None else words):
        if item.kind == "text":
            pending.extend(item.lines or [])
            continue
        flush()
        model = item.table
        if model is None:
            continue
        lifted = caption_rows(model)
        notes = split_notes(model)
        caption = " ".join(p for p in (item.caption, *lifted) if p) or None
        table = make_table(
            model.rows,
            caption=caption,
            page_number=page_number,
            header_rows=len(model.header),
            row_levels=model.row_levels,
        )
        if table is not None:
            elements.append(table)
        for note in notes:
            element = make_element("NarrativeText", note, page_number=page_number)
            if table is not None:
                element.metadata.parent_id = table.id
                element.table_parent = table  # type: ignore[attr-defined]  # ids change later
            elements.append(element)
    flush()
    return elements


@contextlib.contextmanager
def _glyph_reader(
    source: Path | bytes, reader: PdfReaderName, page_count: int
) -> Iterator[_pdfium.PdfiumDocument | None]:
    """The pdfium document for ``source``, or None: pdfminer reads every page."""
    if reader == "pdfminer":
        yield None
        return
    with _pdfium.open_document(source) as doc:
        if doc is not None and len(doc) != page_count:
            logger.debug(
                "pdfium sees %d pages, pdfplumber %d: using pdfminer", len(doc), page_count
            )
            doc = None
        yield doc


def partition_pdf_rules(path: Path, *, reader: PdfReaderName = "pdfium") -> list[Element]:
    """Offline, rule-based partitioning of a PDF into unstructured elements (see module doc).

    ``reader="pdfium"`` (default) reads glyphs and rulings with pdfium, falling back to
    pdfminer per page; ``"pdfminer"`` uses pdfplumber's own reader for everything.
    """
    import pdfplumber

    if reader not in ("pdfium", "pdfminer"):
        raise ValueError(f"unknown PDF reader {reader!r}: use 'pdfium' or 'pdfminer'")
    pages: dict[int, list[Element]] = {}
    rotations: dict[int, int] = {}
    with (
        pdfplumber.open(str(path)) as pdf,
        _glyph_reader(path, reader, len(pdf.pages)) as fast,
    ):
        count = len(pdf.pages)
        words: dict[int, list[dict[str, Any]]] = {}
        edges: dict[int, list[Line]] = {}
        seen: dict[str, int] = {}
        for index, page in enumerate(pdf.pages):
            if fast is not None:
                fast.install(index, page)
            if upright_share(page) < 0.5:
                rotations[index] = rotation_for(page)
                page.flush_cache()
                continue
            words[index] = page_words(page)
            edges[index] = _edge_lines(group_lines(words[index]), float(page.height))
            for key in {furniture_key(line) for line in edges[index]}:
                seen[key] = seen.get(key, 0) + 1
        # running headers/footers: edge lines that repeat on other pages, page numbers
        for index, page_words_ in words.items():
            drop = {
                id(w)
                for line in edges[index]
                if seen.get(furniture_key(line), 0) >= 2 or _page_number_like(furniture_key(line))
                for w in line.words
            }
            page = pdf.pages[index]
            kept = [w for w in page_words_ if id(w) not in drop] if drop else page_words_
            pages[index] = _page_elements(page, index + 1, kept)
            page.flush_cache()
    if rotations:
        with quiet_pypdf():
            turned = rotated_pdf(path, rotations)
        with (
            pdfplumber.open(io.BytesIO(turned)) as pdf,
            _glyph_reader(turned, reader, len(pdf.pages)) as fast,
        ):
            for index in rotations:
                page = pdf.pages[index]
                if fast is not None:
                    fast.install(index, page)
                pages[index] = _page_elements(page, index + 1)
                page.flush_cache()
    elements: list[Element] = []
    for index in range(count):
        page_elements = pages.get(index, [])
        if elements and page_elements:
            continue_table(last_table(elements), page_elements[0])
        elements.extend(page_elements)
    return elements


def _body_size(page: Any) -> float:
    """The page's most common font size (median over its characters)."""
    sizes = [float(c.get("size") or 0) for c in page.chars if c["text"].strip()]
    return statistics.median(sizes) if sizes else 10.0
