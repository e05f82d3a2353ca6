"""Table-aware PDF parsing: pdfplumber rules offline, unstructured ``hi_res`` when available.

The offline ("rules") path builds unstructured elements itself:

* ruled tables: pdfplumber's table finder with the ``lines`` strategy;
* unruled ("stream") tables: text lines whose words fall into two or more
  whitespace-separated segments, several in a row, become a table; columns come
  from clustering the segments' horizontal extents;
* the rest of the text: lines grouped into paragraphs; a short line in a larger or
  bold font is a ``Title``, a bulleted line a ``ListItem``;
* a caption ("Table 3: ...", "표 3") right above or below a table goes with it;
* pages whose text runs sideways (rotated tables) are turned upright first.

Everything is merged in page reading order (top to bottom).

Glyphs and rulings are read with pdfium (:mod:`loaders._pdfium`, several times
faster than pdfminer) into pdfplumber's page objects; ``reader="pdfminer"`` keeps
pdfplumber's own reader, and any page pdfium cannot read falls back to it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import itertools
import logging
import re
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lcelkit.errors import CorruptFileError, EmptyFileError, EncryptedFileError, LoaderError

from . import _pdfium
from .elements import (
    CAPTION_RE,
    html_to_table,
    make_element,
    make_table,
    parse_table_html,
    table_to_markdown,
)

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

__all__ = [
    "PdfReaderName",
    "PdfStrategy",
    "choose_strategy",
    "hires_available",
    "parse_pdf",
    "partition_pdf_hires",
    "partition_pdf_rules",
]

logger = logging.getLogger(__name__)

PdfStrategy = Literal["auto", "hi_res", "rules"]

#: Which library reads glyphs and rulings for the rules strategy.
PdfReaderName = Literal["pdfium", "pdfminer"]

HIRES_HINT = (
    "install the hi_res extra (pip install 'lcelkit[hires]') and make unstructured's "
    "layout models available locally, or use pdf_strategy='rules'"
)

_BULLET_RE = re.compile(r"^\s*([•·▪◦●○■□\-–*]|\(?\d{1,2}[.)]|[a-z][.)])\s+")


# --------------------------------------------------------------------------- hi_res


@functools.cache
def hires_available() -> bool:
    """True when unstructured_inference is importable AND its layout model loads."""
    if importlib.util.find_spec("unstructured_inference") is None:
        return False
    try:
        from unstructured_inference.models.base import get_model

        get_model()
    except Exception as exc:  # offline hub, missing weights, broken install
        logger.info("hi_res PDF strategy unavailable: %s", exc)
        return False
    return True


def choose_strategy(
    requested: PdfStrategy, available: Callable[[], bool] | None = None, *, source: str = ""
) -> Literal["hi_res", "rules"]:
    """Resolve ``auto`` / ``hi_res`` / ``rules`` into the strategy that will run.

    ``auto`` takes hi_res when it is available, else the offline rules; ``hi_res``
    raises a LoaderError when it is not available. ``available`` defaults to
    :func:`hires_available`.
    """
    if available is None:
        available = hires_available
    if requested == "rules":
        return "rules"
    if requested == "hi_res":
        if not available():
            raise LoaderError(
                source,
                f"{source}: pdf_strategy='hi_res' needs unstructured's layout models, "
                "which are not available",
                hint=HIRES_HINT,
            )
        return "hi_res"
    if requested == "auto":
        return "hi_res" if available() else "rules"
    raise LoaderError(
        source,
        f"{source}: unknown pdf_strategy {requested!r}",
        hint="use one of 'auto', 'hi_res', 'rules'",
    )


def partition_pdf_hires(path: Path) -> list[Element]:
    """unstructured's hi_res partitioning with table structure; tables re-rendered as markdown."""
    from unstructured.documents.elements import Table
    from unstructured.partition.pdf import partition_pdf

    elements = partition_pdf(filename=str(path), strategy="hi_res", infer_table_structure=True)
    for element in elements:
        if isinstance(element, Table) and element.metadata.text_as_html:
            rows, caption = html_to_table(element.metadata.text_as_html)
            if rows:
                element.text = table_to_markdown(rows, caption)
    return list(elements)


# --------------------------------------------------------------------------- checks


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs a WARNING for every repaired xref entry; keep that out of the user's way."""
    pypdf_logger = logging.getLogger("pypdf")
    level = pypdf_logger.level
    pypdf_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        pypdf_logger.setLevel(level)


def _open_checks(path: Path, source: str) -> None:
    """Raise EncryptedFileError / CorruptFileError before parsing (pypdf)."""
    with _quiet_pypdf():
        _pypdf_checks(path, source)


def _pypdf_checks(path: Path, source: str) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:
                ok = 0
            if not ok:
                raise EncryptedFileError(
                    source,
                    f"{source}: the PDF is encrypted (password protected)",
                    hint="decrypt it first (qpdf --decrypt in.pdf out.pdf) and ingest the copy",
                )
        if len(reader.pages) == 0:
            raise CorruptFileError(source, f"{source}: the PDF has no pages", hint="re-export it")
    except LoaderError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise CorruptFileError(
            source,
            f"{source}: the PDF is damaged or truncated ({type(exc).__name__}: {exc})",
            hint="re-download or re-export the file",
        ) from exc


def parse_pdf(
    path: Path,
    *,
    source: str,
    strategy: PdfStrategy = "auto",
    reader: PdfReaderName = "pdfium",
) -> list[Element]:
    """Parse a PDF into elements with the chosen strategy; never returns an empty list.

    ``reader`` picks the glyph reader of the rules strategy (see
    :func:`partition_pdf_rules`).
    """
    if reader not in ("pdfium", "pdfminer"):
        raise LoaderError(
            source,
            f"{source}: unknown PDF reader {reader!r}",
            hint="use 'pdfium' (fast) or 'pdfminer'",
        )
    _open_checks(path, source)
    chosen = choose_strategy(strategy, source=source)
    if chosen == "hi_res":
        try:
            elements = partition_pdf_hires(path)
        except LoaderError:
            raise
        except Exception as exc:  # missing poppler/tesseract, model errors, damaged file
            raise LoaderError(
                source,
                f"{source}: hi_res parsing failed ({type(exc).__name__}: {exc})",
                hint="check the hires extra's system packages (poppler, tesseract), or use "
                "pdf_strategy='rules'",
            ) from exc
    else:
        try:
            elements = partition_pdf_rules(path, reader=reader)
        except LoaderError:
            raise
        except Exception as exc:
            raise CorruptFileError(
                source,
                f"{source}: the PDF could not be parsed ({type(exc).__name__}: {exc})",
                hint="re-export the file, or try pdf_strategy='hi_res' with the hires extra",
            ) from exc
    if not any(e.text.strip() for e in elements):
        raise EmptyFileError(
            source,
            f"{source}: the PDF has no text layer (scanned images?)",
            hint="OCR needs the hires extra: pip install 'lcelkit[hires]', then "
            "pdf_strategy='hi_res'; or OCR the file first (e.g. ocrmypdf)",
        )
    return elements


# --------------------------------------------------------------------------- rules


@dataclass
class _Line:
    words: list[dict[str, Any]]
    top: float
    bottom: float
    size: float
    bold: bool
    segments: list[list[dict[str, Any]]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return _join(self.words)

    @property
    def x0(self) -> float:
        return min(w["x0"] for w in self.words)

    @property
    def x1(self) -> float:
        return max(w["x1"] for w in self.words)


@dataclass
class _Item:
    top: float
    bottom: float
    kind: Literal["table", "text"]
    rows: list[list[str]] | None = None
    header_rows: int = 1
    lines: list[_Line] | None = None
    caption: str | None = None


def _upright_share(page: Any) -> float:
    chars = [c for c in page.chars if c["text"].strip()]
    if not chars:
        return 1.0
    return sum(1 for c in chars if c.get("upright", True)) / len(chars)


def _rotated_pdf(path: Path, rotations: dict[int, int]) -> bytes:
    """A copy of the PDF with some pages turned (``/Rotate`` += degrees)."""
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(str(path), strict=False)
    writer = PdfWriter()
    for index, page in enumerate(reader.pages):
        if index in rotations:
            page.rotate(rotations[index])
        writer.add_page(page)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


_RTL_RE = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


def _words(page: Any) -> list[dict[str, Any]]:
    words = page.extract_words(
        x_tolerance=1.5, y_tolerance=2.5, keep_blank_chars=False, extra_attrs=["size", "fontname"]
    )
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
        # pdfplumber gives right-to-left scripts (Hebrew, Arabic) in visual order
        if _RTL_RE.search(word["text"]):
            word["text"] = word["text"][::-1]
            word["rtl"] = True
    return words


def _join(words: list[dict[str, Any]]) -> str:
    """Words left to right as text; a mostly right-to-left run is read right to left."""
    ordered = sorted(words, key=lambda w: w["x0"])
    if sum(1 for w in ordered if w.get("rtl")) * 2 > len(ordered):
        ordered.reverse()
    return " ".join(w["text"] for w in ordered)


def _group_lines(words: list[dict[str, Any]]) -> list[_Line]:
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
    result: list[_Line] = []
    for group in lines:
        group.sort(key=lambda w: w["x0"])
        sizes = [float(w.get("size") or 0.0) for w in group]
        size = statistics.median(sizes) if sizes else 0.0
        bold = all("bold" in str(w.get("fontname", "")).lower() for w in group)
        line = _Line(
            words=group,
            top=min(w["top"] for w in group),
            bottom=max(w["bottom"] for w in group),
            size=size or (group[0]["bottom"] - group[0]["top"]),
            bold=bold,
        )
        line.segments = _segments(line)
        result.append(line)
    return result


def _segments(line: _Line) -> list[list[dict[str, Any]]]:
    """Split a line where the gap between two words is wider than about one em."""
    gap_limit = max(0.9 * line.size, 4.0)
    segments: list[list[dict[str, Any]]] = [[line.words[0]]]
    for prev, word in zip(line.words, line.words[1:], strict=False):
        if word["x0"] - prev["x1"] > gap_limit:
            segments.append([word])
        else:
            segments[-1].append(word)
    return segments


def _is_table_line(line: _Line) -> bool:
    if len(line.segments) < 2:
        return False
    lengths = [sum(len(w["text"]) + 1 for w in seg) for seg in line.segments]
    # two long runs of prose side by side are a two-column layout, not a table row
    return not (len(lengths) == 2 and min(lengths) > 45)


def _stream_blocks(lines: list[_Line]) -> list[tuple[int, int]]:
    """Index ranges [start, end) of lines that form an unruled table."""
    blocks: list[tuple[int, int]] = []
    i = 0
    n = len(lines)
    while i < n:
        if not _is_table_line(lines[i]):
            i += 1
            continue
        start = i
        end = i + 1
        multi = 1
        j = i + 1
        while j < n:
            height = max(lines[j - 1].bottom - lines[j - 1].top, 1.0)
            if lines[j].top - lines[j - 1].bottom > 2.5 * height:
                break
            if _is_table_line(lines[j]):
                multi += 1
                end = j + 1
                j += 1
                continue
            # allow up to two single-segment lines inside a table (wrapped cells, labels)
            k = j
            while k < n and k < j + 2 and not _is_table_line(lines[k]):
                k += 1
            if k < n and _is_table_line(lines[k]) and k - j <= 2:
                h2 = max(lines[k - 1].bottom - lines[k - 1].top, 1.0)
                if lines[k].top - lines[k - 1].bottom <= 2.5 * h2:
                    j = k
                    continue
            break
        if multi >= 3:
            blocks.append((start, end))
        i = end
    return blocks


def _column_bounds(lines: list[_Line]) -> list[float]:
    """Cut points between columns from the union of segment extents of table lines."""
    intervals = sorted(
        (min(w["x0"] for w in seg), max(w["x1"] for w in seg))
        for line in lines
        if _is_table_line(line)
        for seg in line.segments
    )
    if not intervals:
        return []
    counts = [len(line.segments) for line in lines if _is_table_line(line)]
    # segments that span several columns (headers) would glue the projection together:
    # build columns from the lines with the most common (or higher) segment count first
    typical = statistics.median_high(counts)
    base = sorted(
        (min(w["x0"] for w in seg), max(w["x1"] for w in seg))
        for line in lines
        if len(line.segments) >= typical
        for seg in line.segments
    )
    merged: list[list[float]] = []
    for x0, x1 in base:
        if merged and x0 <= merged[-1][1] + 1.0:
            merged[-1][1] = max(merged[-1][1], x1)
        else:
            merged.append([x0, x1])
    return [(a[1] + b[0]) / 2 for a, b in itertools.pairwise(merged)]


def _grid(lines: list[_Line], cuts: list[float]) -> list[list[str]]:
    rows: list[list[str]] = []
    for line in lines:
        cells: list[list[dict[str, Any]]] = [[] for _ in range(len(cuts) + 1)]
        for seg in line.segments:
            for word in seg:
                center = (word["x0"] + word["x1"]) / 2
                col = sum(1 for c in cuts if center > c)
                cells[col].append(word)
        rows.append([_join(c) for c in cells])
    return rows


def _aligned_header(line: _Line, below: _Line, cuts: list[float]) -> bool:
    """A line right above a stream table whose words sit inside its columns (a header line)."""
    if not cuts or CAPTION_RE.match(line.text):
        return False
    height = max(line.bottom - line.top, 1.0)
    if below.top - line.bottom > (4.0 if len(line.segments) >= 2 else 1.5) * height:
        return False
    if len(line.text) > 120:
        return False
    return not any(w["x0"] < c - 1 and w["x1"] > c + 1 for w in line.words for c in cuts)


def _header_rows(rows: list[list[str]]) -> int:
    """Leading rows before the first row that looks like data (mostly numeric cells)."""
    limit = min(8, max(1, len(rows) // 2))
    for index, row in enumerate(rows[:limit]):
        filled = [c for c in row[1:] if c]
        numeric = [c for c in filled if any(ch.isdigit() for ch in c)]
        if index > 0 and row[0] and filled and len(numeric) >= max(1, len(filled) // 2):
            return index
    return 1


def _inside(word: dict[str, Any], bbox: tuple[float, float, float, float]) -> bool:
    cx = (word["x0"] + word["x1"]) / 2
    cy = (word["top"] + word["bottom"]) / 2
    return bbox[0] - 1 <= cx <= bbox[2] + 1 and bbox[1] - 1 <= cy <= bbox[3] + 1


def _ruled_tables(
    page: Any, words: list[dict[str, Any]]
) -> list[tuple[tuple[float, float, float, float], list[list[str | None]], set[int]]]:
    settings = {"vertical_strategy": "lines", "horizontal_strategy": "lines"}
    found = []
    for table in page.find_tables(table_settings=settings):
        rows, glued, assigned = _cell_texts(table, words)
        if len(rows) < 2 or max((len(r) for r in rows), default=0) < 2:
            continue
        filled = sum(1 for r in rows for c in r if c and c.strip())
        if filled < 3:
            continue
        # background rectangles (shaded rows) look like rulings to the lines strategy but
        # give one "cell" per row that holds several columns: the text path does better
        if glued * 10 >= filled:
            continue
        rows, used = _side_columns(table, rows, words)
        found.append((tuple(table.bbox), _split_stacked_rows(rows), used | assigned))
    return found


def _cell_texts(
    table: Any, words: list[dict[str, Any]]
) -> tuple[list[list[str | None]], int, set[int]]:
    """Text of each grid cell from the page's words (lines joined by newlines), the
    number of cells whose text falls into three or more whitespace-separated runs, and
    the ids of the words used.

    ``None`` marks a cell covered by a merged neighbour, as pdfplumber's extract does.
    A word inside the table's box but in no cell (a ruling missing at the edge) joins
    the nearest cell of its row.
    """
    bbox = table.bbox  # a property that scans every cell: read it once
    inside = [w for w in words if _inside(w, bbox)]
    per_row: list[tuple[list[dict[str, Any]], list[list[dict[str, Any]] | None], Any]] = []
    placed: set[int] = set()
    for row in table.rows:
        band = [
            w for w in inside if row.bbox[1] - 1 <= (w["top"] + w["bottom"]) / 2 <= row.bbox[3] + 1
        ]
        groups: list[list[dict[str, Any]] | None] = [
            None if cell is None else [w for w in band if _inside(w, cell)] for cell in row.cells
        ]
        placed.update(id(w) for g in groups if g for w in g)
        per_row.append((band, groups, row))
    rows: list[list[str | None]] = []
    assigned: set[int] = set(placed)
    glued = 0
    for band, groups, row in per_row:
        boxes = [(i, c) for i, c in enumerate(row.cells) if c is not None]
        for word in band:
            if id(word) in assigned or not boxes:
                continue
            cx = (word["x0"] + word["x1"]) / 2
            index, _ = min(boxes, key=lambda ic: min(abs(cx - ic[1][0]), abs(cx - ic[1][2])))
            groups[index].append(word)  # type: ignore[union-attr]
            assigned.add(id(word))
        cells: list[str | None] = []
        for group in groups:
            if group is None:
                cells.append(None)
                continue
            if not group:
                cells.append("")
                continue
            lines = _group_lines(group)
            if any(len(line.segments) >= 3 for line in lines):
                glued += 1
            cells.append("\n".join(line.text for line in lines))
        rows.append(cells)
    return rows, glued, assigned


def _side_columns(
    table: Any, rows: list[list[str | None]], words: list[dict[str, Any]]
) -> tuple[list[list[str | None]], set[int]]:
    """Add the unframed first/last column of a grid (row labels left of the rulings)."""
    x0, top, x1, bottom = table.bbox
    bands = [row.bbox for row in table.rows]
    if len(bands) != len(rows):
        return rows, set()
    left: list[list[dict[str, Any]]] = [[] for _ in rows]
    right: list[list[dict[str, Any]]] = [[] for _ in rows]
    for word in words:
        cy = (word["top"] + word["bottom"]) / 2
        if not top <= cy <= bottom:
            continue
        for index, band in enumerate(bands):
            if band[1] <= cy <= band[3]:
                if word["x1"] <= x0 + 1 and x0 - word["x1"] < 150:
                    left[index].append(word)
                elif word["x0"] >= x1 - 1 and word["x0"] - x1 < 150:
                    right[index].append(word)
                break
    need = max(2, len(rows) * 3 // 10)
    out = [list(r) for r in rows]
    used: set[int] = set()
    if sum(1 for cell in left if cell) >= need:
        out = [[_join(cell), *row] for cell, row in zip(left, out, strict=True)]
        used.update(id(w) for cell in left for w in cell)
    if sum(1 for cell in right if cell) >= need:
        out = [[*row, _join(cell)] for cell, row in zip(right, out, strict=True)]
        used.update(id(w) for cell in right for w in cell)
    return out, used


def _split_stacked_rows(rows: list[list[str | None]]) -> list[list[str | None]]:
    """Split a grid row whose cells each stack several lines (a grid with few horizontal
    rulings: one "cell" holds a whole column of values) into one row per line."""
    out: list[list[str | None]] = []
    for index, row in enumerate(rows):
        parts = [(c or "").split("\n") if c else [] for c in row]
        counts = [len(p) for p in parts if p]
        depth = max(counts, default=0)
        full = sum(1 for n in counts if n == depth)
        if index == 0 or depth < 3 or full < 2 or full * 2 < len(counts):
            out.append(row)
            continue
        for line in range(depth):
            out.append(
                [
                    (p[line] if len(p) == depth else ("\n".join(p) if line == 0 else ""))
                    for p in parts
                ]
            )
    return out


def _paragraphs(lines: list[_Line], body_size: float) -> list[tuple[str, list[_Line]]]:
    """Group text lines into (category, lines) paragraphs."""
    groups: list[tuple[str, list[_Line]]] = []
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


def _close(prev: _Line, line: _Line) -> bool:
    height = max(prev.bottom - prev.top, 1.0)
    return line.top - prev.bottom <= 0.8 * height and abs(prev.size - line.size) < 1.0


def _gutter(words: list[dict[str, Any]], width: float) -> float | None:
    """The x of the gutter of a two-column prose layout, or None.

    A vertical band in the middle of the page that (almost) no word crosses, with
    prose (long runs of words) on both sides; tables have short cells, so a table's
    column gap is never taken for a gutter.
    """
    if len(words) < 40:
        return None
    best: tuple[float, float] | None = None
    x = width * 0.3
    while x < width * 0.7:
        crossing = sum(1 for w in words if w["x0"] < x < w["x1"])
        if crossing <= max(2, len(words) // 100):
            gap_left = max((w["x1"] for w in words if w["x1"] <= x), default=0.0)
            gap_right = min((w["x0"] for w in words if w["x0"] >= x), default=width)
            gap = gap_right - gap_left
            if gap >= 8 and (best is None or gap > best[1]):
                best = ((gap_left + gap_right) / 2, gap)
        x += 2.0
    if best is None:
        return None
    cut = best[0]
    sides = (
        [w for w in words if (w["x0"] + w["x1"]) / 2 < cut],
        [w for w in words if (w["x0"] + w["x1"]) / 2 >= cut],
    )
    if min(len(side) for side in sides) < len(words) * 0.25:
        return None
    for side in sides:
        lengths = [
            sum(len(w["text"]) + 1 for w in seg)
            for line in _group_lines(side)
            for seg in line.segments
        ]
        if not lengths or statistics.median(lengths) < 30:
            return None
    return cut


def _reading_order(items: list[_Item]) -> list[_Item]:
    return sorted(items, key=lambda it: (it.top, 0 if it.kind == "table" else 1))


def _page_items(page: Any) -> list[_Item]:
    words = _words(page)
    ruled = _ruled_tables(page, words)
    taken = {i for _, _, used in ruled for i in used}
    free = [w for w in words if id(w) not in taken]
    items: list[_Item] = []
    for bbox, rows, _ in ruled:
        clean = [[(c or "").strip() for c in r] for r in rows]
        items.append(
            _Item(
                top=bbox[1],
                bottom=bbox[3],
                kind="table",
                rows=clean,
                header_rows=_header_rows(clean),
            )
        )
    cut = _gutter(free, float(page.width))
    if cut is None:
        items = _reading_order(items + _region_items(free))
    else:  # two prose columns: the left one is read first, then the right one
        left = _region_items([w for w in free if (w["x0"] + w["x1"]) / 2 < cut])
        right = _region_items([w for w in free if (w["x0"] + w["x1"]) / 2 >= cut])
        items = _reading_order(items + left) + _reading_order(right)
    _attach_captions(items)
    return items


def _prose_like(rows: list[list[str]]) -> bool:
    """Long runs of words in most cells: wrapped paragraphs side by side, not a table."""
    cells = [c for row in rows for c in row if c]
    if not cells:
        return True
    words = sum(1 for c in cells for w in c.split() if sum(ch.isalnum() for ch in w) >= 2)
    return words / len(cells) > 5


def _gap(upper: _Line, lower: _Line) -> float:
    return lower.top - upper.bottom


def _wrap_gap(block: list[_Line]) -> float:
    """The largest vertical gap that still means "the same row, wrapped text".

    Only meaningful when rows are clearly spaced apart (median gap of 3 pt or more);
    wrapped lines then sit much closer than rows do. Returns -inf otherwise.
    """
    gaps = [_gap(a, b) for a, b in itertools.pairwise(block)]
    positive = [g for g in gaps if g > 0]
    if len(positive) < 2:
        return float("-inf")
    row_gap = statistics.median(positive)
    if row_gap < 3.0:
        return float("-inf")
    return 0.35 * row_gap


def _merge_wrapped(block: list[_Line], rows: list[list[str]], tight: float) -> list[list[str]]:
    """Join lines that sit closer than ``tight`` to the line above into its row."""
    merged: list[list[str]] = []
    for index, row in enumerate(rows):
        if merged and index > 0 and _gap(block[index - 1], block[index]) <= tight:
            merged[-1] = [f"{a} {b}".strip() for a, b in zip(merged[-1], row, strict=True)]
        else:
            merged.append(list(row))
    return merged


def _region_items(free: list[dict[str, Any]]) -> list[_Item]:
    """Stream tables and text lines of one region (the page, or one prose column)."""
    items: list[_Item] = []
    lines = _group_lines(free) if free else []
    used: set[int] = set()
    blocks = _stream_blocks(lines)
    claimed = {i for start, end in blocks for i in range(start, end)}
    for start, end in blocks:
        cuts = _column_bounds(lines[start:end])
        while (
            start > 0
            and start - 1 not in used
            and _aligned_header(lines[start - 1], lines[start], cuts)
            and end - start < 400
        ):
            start -= 1
        tight = _wrap_gap(lines[start:end])
        # wrapped cell text right under the last row belongs to the table
        while end < len(lines) and end not in claimed and _gap(lines[end - 1], lines[end]) <= tight:
            end += 1
        block = lines[start:end]
        caption = None
        if CAPTION_RE.match(block[0].text):  # "Table 5: ..." aligned like a row
            caption = block[0].text
            block = block[1:]
        rows = _merge_wrapped(block, _grid(block, cuts), tight)
        if _prose_like(rows):
            continue
        items.append(
            _Item(
                top=block[0].top,
                bottom=block[-1].bottom,
                kind="table",
                rows=rows,
                header_rows=_header_rows(rows),
                caption=caption,
            )
        )
        used.update(range(start, end))
    for index, line in enumerate(lines):
        if index not in used:
            items.append(_Item(top=line.top, bottom=line.bottom, kind="text", lines=[line]))
    return items


def _attach_captions(items: list[_Item]) -> None:
    """Move a caption line right above (or else right below) a table into the table."""
    for index, item in enumerate(items):
        if item.kind != "table":
            continue
        for neighbour in (index - 1, index + 1):
            if not 0 <= neighbour < len(items):
                continue
            other = items[neighbour]
            if other.kind != "text" or not other.lines:
                continue
            text = other.lines[0].text
            gap = item.top - other.bottom if neighbour < index else other.top - item.bottom
            height = max(other.bottom - other.top, 1.0)
            if item.caption is None and CAPTION_RE.match(text) and gap <= 3 * height:
                item.caption = text
                other.lines = []
                break


def _page_elements(page: Any, page_number: int, body_size: float) -> list[Element]:
    elements: list[Element] = []
    pending: list[_Line] = []

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

    for item in _page_items(page):
        if item.kind == "text":
            pending.extend(item.lines or [])
            continue
        flush()
        table = make_table(
            item.rows or [],
            caption=item.caption,
            page_number=page_number,
            header_rows=item.header_rows,
        )
        if table is not None:
            elements.append(table)
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
        for index, page in enumerate(pdf.pages):
            if fast is not None:
                fast.install(index, page)
            if _upright_share(page) < 0.5:
                rotations[index] = _rotation_for(page)
            else:
                pages[index] = _page_elements(page, index + 1, _body_size(page))
            page.flush_cache()
    if rotations:
        with _quiet_pypdf():
            turned = _rotated_pdf(path, rotations)
        with (
            pdfplumber.open(io.BytesIO(turned)) as pdf,
            _glyph_reader(turned, reader, len(pdf.pages)) as fast,
        ):
            for index in rotations:
                page = pdf.pages[index]
                if fast is not None:
                    fast.install(index, page)
                pages[index] = _page_elements(page, index + 1, _body_size(page))
                page.flush_cache()
    elements: list[Element] = []
    for index in range(count):
        page_elements = pages.get(index, [])
        if elements and page_elements:
            _continue_table(elements[-1], page_elements[0])
        elements.extend(page_elements)
    return elements


def _body_size(page: Any) -> float:
    """The page's most common font size (median over its characters)."""
    sizes = [float(c.get("size") or 0) for c in page.chars if c["text"].strip()]
    return statistics.median(sizes) if sizes else 10.0


def _rotation_for(page: Any) -> int:
    """Degrees to add to ``/Rotate`` so that sideways text reads upright."""
    votes = 0
    for char in page.chars:
        if char.get("upright", True) or not char["text"].strip():
            continue
        _a, b, _c, _d, _e, _f = char["matrix"]
        votes += 1 if b > 0 else -1
    # text running up the page (b > 0) is read after turning the page clockwise
    return 90 if votes > 0 else 270


@functools.lru_cache(maxsize=4)
def _parsed_table(text_as_html: str) -> tuple[list[list[str]], str | None, int]:
    """parse_table_html, remembered: a page's only table is parsed as the next page's
    first element and again as the previous one (callers do not modify the rows)."""
    return parse_table_html(text_as_html)


def _continue_table(previous: Element, first: Element) -> None:
    """A table that ends a page and one that starts the next with as many columns are one
    table: the continuation gets the header rows and the caption of the first part."""
    if previous.category != "Table" or first.category != "Table":
        return
    if not (previous.metadata.text_as_html and first.metadata.text_as_html):
        return
    rows, own_caption, _ = _parsed_table(first.metadata.text_as_html)
    if own_caption or not rows:
        return
    prev_rows, caption, header_rows = _parsed_table(previous.metadata.text_as_html)
    if not prev_rows or len(prev_rows[0]) != len(rows[0]):
        return
    header = prev_rows[: max(1, header_rows)]
    if rows[: len(header)] == header:
        return
    rebuilt = make_table(
        [*header, *rows],
        caption=caption,
        page_number=first.metadata.page_number,
        header_rows=len(header),
    )
    if rebuilt is not None:
        first.text = rebuilt.text
        first.metadata.text_as_html = rebuilt.metadata.text_as_html
