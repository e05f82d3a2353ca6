"""Element helpers: build unstructured elements, render tables, turn elements into Documents.

Every loader produces ``unstructured`` element objects (``Title``, ``NarrativeText``,
``ListItem``, ``Table`` ...) so that the splitter can run unstructured's
``chunk_by_title`` on them.

Tables carry ``metadata.text_as_html``: ``<caption>``, the header rows in ``<thead>``
(a spanning header cell once, with ``colspan``/``rowspan``), the body in ``<tbody>``.
In code a table is an *expanded grid*: a spanning header cell's text stands in every
slot it covers, so each column's *header path* ("Threshold for releases · to air ·
kg/year") is read top to bottom. Their text is a markdown rendering: caption line, one
header row holding every column's header path, separator, body rows in order.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from unstructured.documents.elements import Element

__all__ = [
    "CAPTION_RE",
    "HEADER_PATH_SEP",
    "element_to_document",
    "header_paths",
    "html_to_table",
    "lift_caption",
    "make_element",
    "make_table",
    "normalize_rows",
    "parse_table_html",
    "row_levels_of",
    "strip_caption_paths",
    "table_to_html",
    "table_to_markdown",
    "table_to_rows_text",
]

#: A table caption: "Table 3: ...", "Table A-1.", "Tab. 3", "Exhibit 9", "표 3", "<표 3>".
CAPTION_RE = re.compile(
    r"^\s*[<\[(]?\s*(table|tab\.|exhibit|표)\s*[:.]?\s*(?:[A-Z]{1,2}\s?[-.–]?\s?)?[0-9IVXivx]+",
    re.IGNORECASE,
)

_WS = re.compile(r"\s+")

#: Joins the levels of a column's header path.
HEADER_PATH_SEP = " · "


def _clean_cell(value: object) -> str:
    """One-line cell text: None -> "", whitespace runs collapsed."""
    if value is None:
        return ""
    return _WS.sub(" ", str(value)).strip()


def normalize_rows(rows: Sequence[Sequence[object]]) -> list[list[str]]:
    """Clean cells, pad rows to the same width, drop rows and columns that are all empty."""
    cleaned = [[_clean_cell(c) for c in row] for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return []
    width = max(len(row) for row in cleaned)
    padded = [row + [""] * (width - len(row)) for row in cleaned]
    keep = [j for j in range(width) if any(row[j] for row in padded)]
    return [[row[j] for j in keep] for row in padded]


def table_to_html(
    rows: Sequence[Sequence[str]],
    caption: str | None = None,
    header_rows: int = 1,
    row_levels: Sequence[tuple[str, int]] | None = None,
) -> str:
    """Render an expanded grid as ``<table>``: header rows in ``<thead>`` with spanning
    cells merged (``colspan``/``rowspan``), the rest in ``<tbody>``. ``row_levels``:
    ``(label, level)`` of body rows in order (the PDF parser's row hierarchy), kept as
    ``data-level`` on the row's first cell (:func:`row_levels_of` reads it back)."""
    head_n = min(max(1, header_rows), len(rows)) if rows else 0
    width = max((len(r) for r in rows), default=0)
    grid = [[_clean_cell(c) for c in r] + [""] * (width - len(r)) for r in rows]
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption>{html_lib.escape(caption)}</caption>")
    if head_n:
        parts.append("<thead>")
        parts.extend(_header_html(grid[:head_n]))
        parts.append("</thead>")
    if len(grid) > head_n:
        parts.append("<tbody>")
        levels = _match_levels(grid[head_n:], row_levels or ())
        for row, level in zip(grid[head_n:], levels, strict=True):
            cells = "".join(f"<td>{html_lib.escape(c)}</td>" for c in row)
            if level is not None and cells:
                cells = f'<td data-level="{level}">' + cells[len("<td>") :]
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody>")
    parts.append("</table>")
    return "".join(parts)


def _match_levels(
    body: Sequence[Sequence[str]], row_levels: Sequence[tuple[str, int]]
) -> list[int | None]:
    """Each body row's level: ``row_levels`` taken in order by label (rows lifted out of
    the grid since, such as captions and notes, are skipped over)."""
    out: list[int | None] = []
    at = 0
    for row in body:
        label = _clean_cell(row[0]) if row else ""
        found = None
        for index in range(at, min(len(row_levels), at + 4)):
            if label and _clean_cell(row_levels[index][0]) == label:
                found = index
                break
        if found is None:
            out.append(None)
            continue
        out.append(int(row_levels[found][1]))
        at = found + 1
    return out


def row_levels_of(text_as_html: str) -> list[int | None] | None:
    """The ``data-level`` of each row of a table's html, in the order of
    :func:`parse_table_html`'s rows (None where a row has none); None when no row has one."""
    from bs4 import BeautifulSoup

    if "data-level" not in text_as_html:
        return None
    out: list[int | None] = []
    for tr in BeautifulSoup(text_as_html, "lxml").find_all("tr"):
        cell = tr.find(["th", "td"])
        value = str(cell.get("data-level", "")) if cell is not None else ""
        out.append(int(value) if value.lstrip("-").isdigit() else None)
    return out


def _header_html(head: list[list[str]]) -> list[str]:
    """Header rows with spans: equal neighbours in a row under one parent merge into a
    colspan; a cell repeated in the rows below becomes a rowspan."""
    n, width = len(head), len(head[0]) if head else 0
    taken = [[False] * width for _ in range(n)]
    out: list[str] = []
    for i in range(n):
        cells: list[str] = []
        j = 0
        while j < width:
            if taken[i][j]:
                j += 1
                continue
            text = head[i][j]
            span = 1
            while (
                text
                and j + span < width
                and not taken[i][j + span]
                and head[i][j + span] == text
                and all(head[k][j + span] == head[k][j] for k in range(i))
            ):
                span += 1
            down = 1
            while (
                text
                and i + down < n
                and all(head[i + down][c] == text for c in range(j, j + span))
                and not any(taken[i + down][c] for c in range(j, j + span))
            ):
                down += 1
            for r in range(i, i + down):
                for c in range(j, j + span):
                    taken[r][c] = True
            attrs = (f' colspan="{span}"' if span > 1 else "") + (
                f' rowspan="{down}"' if down > 1 else ""
            )
            cells.append(f"<th{attrs}>{html_lib.escape(text)}</th>")
            j += span
        out.append(f"<tr>{''.join(cells)}</tr>")
    return out


def header_paths(text_as_html: str) -> list[str]:
    """Each column's header path: its distinct header texts, top to bottom, joined."""
    rows, _, header_rows = parse_table_html(text_as_html)
    return _paths(rows[: max(1, header_rows)]) if rows else []


def _paths(head: Sequence[Sequence[str]]) -> list[str]:
    width = max((len(r) for r in head), default=0)
    paths = []
    for j in range(width):
        parts: list[str] = []
        for row in head:
            text = _clean_cell(row[j]) if j < len(row) else ""
            if text and (not parts or parts[-1] != text):
                parts.append(text)
        paths.append(HEADER_PATH_SEP.join(parts))
    return paths


def _md_cell(value: str) -> str:
    return _clean_cell(value).replace("|", "\\|")


def table_to_markdown(
    rows: Sequence[Sequence[str]],
    caption: str | None = None,
    header_rows: int = 1,
    *,
    compact: bool = False,
) -> str:
    """Render an expanded grid as markdown: caption line, one header row holding each
    column's header path (the first ``header_rows`` rows), separator, body rows.

    ``compact`` writes the header rows as they stand instead, each spanning text once
    (shorter for wide tables with spanning headers)."""
    lines: list[str] = []
    if caption:
        lines.append(_clean_cell(caption))
    if rows:
        width = max(len(r) for r in rows)
        padded = [list(r) + [""] * (width - len(r)) for r in rows]
        head_n = min(max(1, header_rows), len(padded))
        if compact and head_n > 1:
            head = _spans_once(padded[:head_n])
            lines.append("| " + " | ".join(_md_cell(c) for c in head[0]) + " |")
            lines.append("|" + "---|" * width)
            lines.extend("| " + " | ".join(_md_cell(c) for c in r) + " |" for r in head[1:])
        else:
            paths = strip_caption_paths(_paths(padded[:head_n]), caption)
            lines.append("| " + " | ".join(_md_cell(c) for c in paths) + " |")
            lines.append("|" + "---|" * width)
        lines.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in padded[head_n:])
    return "\n".join(lines)


def table_to_rows_text(
    rows: Sequence[Sequence[str]], caption: str | None = None, header_rows: int = 1
) -> str:
    """Render an expanded grid row by row: caption line, then one line per body row,
    "<row label>: <header path> <value>; ..." (a row with only a label stays a line)."""
    lines: list[str] = []
    if caption:
        lines.append(_clean_cell(caption))
    if rows:
        width = max(len(r) for r in rows)
        padded = [list(r) + [""] * (width - len(r)) for r in rows]
        head_n = min(max(1, header_rows), len(padded))
        paths = strip_caption_paths(_paths(padded[:head_n]), caption)
        for row in padded[head_n:]:
            label = _clean_cell(row[0])
            parts = [
                f"{paths[j]} {_clean_cell(row[j])}".strip()
                for j in range(1, width)
                if _clean_cell(row[j])
            ]
            if parts:
                lines.append(f"{label}: {'; '.join(parts)}" if label else "; ".join(parts))
            elif label:
                lines.append(label)
    return "\n".join(lines)


def _spans_once(head: list[list[str]]) -> list[list[str]]:
    """Header rows with a spanning text kept in its first slot only."""
    out = [list(r) for r in head]
    for i, row in enumerate(head):
        for j, text in enumerate(row):
            if text and ((j and row[j - 1] == text) or (i and head[i - 1][j] == text)):
                out[i][j] = ""
    return out


def html_to_table(text_as_html: str) -> tuple[list[list[str]], str | None]:
    """Parse a ``<table>`` back into rows (``th`` and ``td`` cells) and its caption."""
    rows, caption, _ = parse_table_html(text_as_html)
    return rows, caption


def parse_table_html(text_as_html: str) -> tuple[list[list[str]], str | None, int]:
    """Rows as an expanded grid, caption, and the number of leading header rows (in
    ``thead``, or all ``th``). A spanning header cell's text fills every slot it covers;
    a spanning body cell's text stands in its first slot only."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text_as_html, "lxml")
    caption_tag = soup.find("caption")
    caption = _clean_cell(caption_tag.get_text(" ")) if caption_tag else None
    header_rows = 0
    counting = True
    pending: dict[tuple[int, int], str] = {}  # slots filled by a rowspan from above
    rows: list[list[str]] = []
    for r, tr in enumerate(soup.find_all("tr")):
        cells = tr.find_all(["th", "td"])
        in_head = tr.find_parent("thead") is not None
        is_head = bool(cells) and (in_head or all(c.name == "th" for c in cells))
        if counting and is_head:
            header_rows += 1
        else:
            counting = False
        row: list[str] = []
        col = 0
        for cell in cells:
            while (r, col) in pending:
                row.append(pending.pop((r, col)))
                col += 1
            text = _clean_cell(cell.get_text(" "))
            colspan = _span(cell.get("colspan"))
            rowspan = _span(cell.get("rowspan"))
            for k in range(colspan):
                value = text if (k == 0 or counting) else ""
                row.append(value)
                for down in range(1, rowspan):
                    pending[(r + down, col + k)] = value if counting or k == 0 else ""
            col += colspan
        while (r, col) in pending:
            row.append(pending.pop((r, col)))
            col += 1
        rows.append(row)
    return rows, caption or None, header_rows


def _span(value: object) -> int:
    text = str(value or "1").strip()
    return max(1, min(int(text), 1000)) if text.isdigit() else 1


def lift_caption(
    rows: Sequence[Sequence[str]], caption: str | None, header_rows: int
) -> tuple[list[list[str]], str | None, int]:
    """Leading header rows that are a caption ("Table 3 ...", "Exhibit 4 (continued)":
    one text over every column) moved into ``caption``: kept as header rows they would
    start every column's header path. Returns (rows, caption, header_rows)."""
    out = [list(r) for r in rows]
    width = max((len(r) for r in out), default=0)
    texts: list[str] = []
    while width >= 2 and header_rows > 1 and len(out) > 1:
        row = [_clean_cell(c) for c in out[0]]
        text = row[0]
        if not text or not all(c == text for c in row) or not CAPTION_RE.match(text):
            break
        texts.append(text)
        del out[0]
        header_rows -= 1
    if texts:
        own = _clean_cell(caption)
        joined = " ".join(texts)
        caption = joined if not own or own == joined else f"{own} {joined}"
    return out, caption, header_rows


def strip_caption_paths(paths: list[str], caption: str | None) -> list[str]:
    """Header paths without a leading level that repeats the caption."""
    own = _clean_cell(caption).casefold()
    if not own:
        return paths
    out = []
    for path in paths:
        levels = path.split(HEADER_PATH_SEP)
        if len(levels) > 1 and levels[0].casefold() == own:
            levels = levels[1:]
        out.append(HEADER_PATH_SEP.join(levels))
    return out


def make_element(
    category: str,
    text: str,
    *,
    page_number: int | None = None,
    category_depth: int | None = None,
) -> Element:
    """Build one unstructured text element of ``category`` (Title, NarrativeText, ...)."""
    from unstructured.documents.elements import (
        TYPE_TO_TEXT_ELEMENT_MAP,
        ElementMetadata,
        NarrativeText,
    )

    cls = TYPE_TO_TEXT_ELEMENT_MAP.get(category, NarrativeText)
    metadata = ElementMetadata(page_number=page_number, category_depth=category_depth)
    return cls(text=text, metadata=metadata)


def make_table(
    rows: Sequence[Sequence[object]],
    *,
    caption: str | None = None,
    page_number: int | None = None,
    header_rows: int = 1,
    normalize: bool = True,
    row_levels: Sequence[tuple[str, int]] | None = None,
) -> Element | None:
    """Build a ``Table`` element (markdown text + html), or None when no cell has text.
    ``row_levels``: the body rows' hierarchy, as :func:`table_to_html` takes it."""
    from unstructured.documents.elements import ElementMetadata, Table

    clean = normalize_rows(rows) if normalize else [[_clean_cell(c) for c in r] for r in rows]
    if normalize:  # empty rows were dropped: count the header rows that are left
        header_rows = sum(1 for r in rows[:header_rows] if any(_clean_cell(c) for c in r))
    if not clean:
        return None
    clean, caption, header_rows = lift_caption(clean, caption, header_rows)
    caption = _clean_cell(caption) or None
    metadata = ElementMetadata(
        page_number=page_number,
        text_as_html=table_to_html(clean, caption, header_rows, row_levels),
    )
    return Table(text=table_to_markdown(clean, caption, header_rows), metadata=metadata)


def element_to_document(element: Element, *, source: str, filename: str, filetype: str) -> Document:
    """A LangChain Document for one element, with Chroma-safe metadata (no None, no lists)."""
    from langchain_core.documents import Document

    metadata: dict[str, Any] = {
        "source": source,
        "filename": filename,
        "filetype": filetype,
        "category": element.category,
        "element_id": element.id,
    }
    page = element.metadata.page_number
    if page is not None:
        metadata["page_number"] = int(page)
    depth = element.metadata.category_depth
    if depth is not None:
        metadata["category_depth"] = int(depth)
    if element.metadata.text_as_html:
        metadata["text_as_html"] = element.metadata.text_as_html
    # a note of a table points at the table; element ids are assigned after parsing, so
    # the table element itself is kept on the note (``table_parent``) and read here
    parent_element = getattr(element, "table_parent", None)
    parent = parent_element.id if parent_element is not None else element.metadata.parent_id
    if parent:
        metadata["parent_id"] = str(parent)
    return Document(page_content=element.text, metadata=metadata)
