"""Element helpers: build unstructured elements, render tables, turn elements into Documents.

Every loader produces ``unstructured`` element objects (``Title``, ``NarrativeText``,
``ListItem``, ``Table`` ...) so that the splitter can run unstructured's
``chunk_by_title`` on them. Tables carry ``metadata.text_as_html`` (one ``<tr>`` per
row) and their text is a markdown rendering: caption line, header row, separator,
rows in order. The caption is kept as ``<caption>`` inside the html.
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
    "element_to_document",
    "html_to_table",
    "make_element",
    "make_table",
    "normalize_rows",
    "parse_table_html",
    "table_to_html",
    "table_to_markdown",
]

#: A table caption: "Table 3: ...", "Tab. 3", "표 3", "<표 3>".
CAPTION_RE = re.compile(r"^\s*[<\[(]?\s*(table|tab\.|표)\s*[:.]?\s*[0-9IVXivx]+", re.IGNORECASE)

_WS = re.compile(r"\s+")


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
    rows: Sequence[Sequence[str]], caption: str | None = None, header_rows: int = 1
) -> str:
    """Render rows as ``<table>``: header rows in ``<th>`` cells, one ``<tr>`` per row."""
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption>{html_lib.escape(caption)}</caption>")
    for index, row in enumerate(rows):
        tag = "th" if index < max(1, header_rows) else "td"
        cells = "".join(f"<{tag}>{html_lib.escape(_clean_cell(c))}</{tag}>" for c in row)
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</table>")
    return "".join(parts)


def _md_cell(value: str) -> str:
    return _clean_cell(value).replace("|", "\\|")


def table_to_markdown(rows: Sequence[Sequence[str]], caption: str | None = None) -> str:
    """Render rows as a markdown table: caption line, header row, separator, rows in order."""
    lines: list[str] = []
    if caption:
        lines.append(_clean_cell(caption))
    if rows:
        width = max(len(r) for r in rows)
        padded = [list(r) + [""] * (width - len(r)) for r in rows]
        lines.append("| " + " | ".join(_md_cell(c) for c in padded[0]) + " |")
        lines.append("|" + "---|" * width)
        lines.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in padded[1:])
    return "\n".join(lines)


def html_to_table(text_as_html: str) -> tuple[list[list[str]], str | None]:
    """Parse a ``<table>`` back into rows (``th`` and ``td`` cells) and its caption."""
    rows, caption, _ = parse_table_html(text_as_html)
    return rows, caption


def parse_table_html(text_as_html: str) -> tuple[list[list[str]], str | None, int]:
    """Rows, caption and the number of leading header rows (all ``th`` or in ``thead``)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text_as_html, "lxml")
    caption_tag = soup.find("caption")
    caption = _clean_cell(caption_tag.get_text(" ")) if caption_tag else None
    rows: list[list[str]] = []
    header_rows = 0
    counting = True
    for tr in soup.find_all("tr"):
        cells = tr.find_all(["th", "td"])
        row: list[str] = []
        for cell in cells:
            text = _clean_cell(cell.get_text(" "))
            span = cell.get("colspan")
            row.append(text)
            if span and str(span).isdigit():
                row.extend([""] * (int(str(span)) - 1))
        rows.append(row)
        in_head = tr.find_parent("thead") is not None
        if counting and cells and (in_head or all(c.name == "th" for c in cells)):
            header_rows += 1
        else:
            counting = False
    return rows, caption or None, header_rows


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
) -> Element | None:
    """Build a ``Table`` element (markdown text + html), or None when no cell has text."""
    from unstructured.documents.elements import ElementMetadata, Table

    clean = normalize_rows(rows) if normalize else [[_clean_cell(c) for c in r] for r in rows]
    if normalize:  # empty rows were dropped: count the header rows that are left
        header_rows = sum(1 for r in rows[:header_rows] if any(_clean_cell(c) for c in r))
    if not clean:
        return None
    caption = _clean_cell(caption) or None
    metadata = ElementMetadata(
        page_number=page_number, text_as_html=table_to_html(clean, caption, header_rows)
    )
    return Table(text=table_to_markdown(clean, caption), metadata=metadata)


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
    return Document(page_content=element.text, metadata=metadata)
