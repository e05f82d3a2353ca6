"""Parsers for text, Markdown, HTML, DOCX and CSV into unstructured elements.

unstructured's own partitioners for these types need spaCy downloads (or extra
packages) and fail offline, so lcelkit builds the same element kinds itself.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lcelkit.errors import CorruptFileError, FileTooLargeError

from .elements import CAPTION_RE, make_element, make_table

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

__all__ = [
    "CSV_ROWS_PER_TABLE",
    "DEFAULT_MAX_ELEMENTS",
    "DEFAULT_MAX_UNPACKED_BYTES",
    "check_docx_size",
    "parse_csv",
    "parse_docx",
    "parse_html",
    "parse_markdown",
    "parse_text",
]

#: A CSV becomes one Table element per this many data rows (the header repeated).
CSV_ROWS_PER_TABLE = 50

#: A DOCX whose parts unpack to more than this is refused (256 MiB; zip bombs).
DEFAULT_MAX_UNPACKED_BYTES = 256 * 2**20
#: DOCX/HTML markup with more elements than this is refused.
DEFAULT_MAX_ELEMENTS = 2_000_000

_BULLET_RE = re.compile(r"^\s*([•·▪◦●○■□\-–*]|\d{1,3}[.)]|[가-하][.)])\s+")
_WS = re.compile(r"\s+")


def _clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


# --------------------------------------------------------------------------- text


def parse_text(text: str) -> list[Element]:
    """Plain text: blank-line separated paragraphs; short unpunctuated lines -> Title."""
    elements: list[Element] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        if all(_BULLET_RE.match(line) for line in lines):
            elements.extend(
                make_element("ListItem", _BULLET_RE.sub("", ln, count=1)) for ln in lines
            )
            continue
        if len(lines) == 1 and _looks_like_title(lines[0]):
            elements.append(make_element("Title", lines[0], category_depth=0))
            continue
        elements.append(make_element("NarrativeText", " ".join(lines)))
    return elements


def _looks_like_title(line: str) -> bool:
    return (
        len(line) <= 80
        and not line.endswith((".", ",", ";", ":", "다", "요", "?", "!"))
        and any(ch.isalpha() for ch in line)
    )


# --------------------------------------------------------------------------- markdown


def _inline_text(token: Any) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content or "")
    return _clean("".join(parts))


def parse_markdown(text: str) -> list[Element]:
    """Markdown (CommonMark + GFM tables) via markdown-it-py."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    elements: list[Element] = []
    list_depth = 0
    heading_level: int | None = None
    table_rows: list[list[str]] | None = None
    header_count = 0
    in_thead = False
    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            heading_level = int(token.tag[1:])
        elif kind == "heading_close":
            heading_level = None
        elif kind in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
        elif kind == "table_open":
            table_rows, header_count = [], 0
        elif kind == "thead_open":
            in_thead = True
        elif kind == "thead_close":
            in_thead = False
        elif kind == "tr_open" and table_rows is not None:
            table_rows.append([])
            header_count += 1 if in_thead else 0
        elif kind == "table_close" and table_rows is not None:
            caption = _take_caption(elements)
            table = make_table(table_rows, caption=caption, header_rows=max(1, header_count))
            if table is not None:
                elements.append(table)
            table_rows = None
        elif kind == "inline":
            content = _inline_text(token)
            if table_rows is not None:
                table_rows[-1].append(content)
            elif not content:
                continue
            elif heading_level is not None:
                elements.append(make_element("Title", content, category_depth=heading_level - 1))
            elif list_depth > 0:
                elements.append(make_element("ListItem", content, category_depth=list_depth - 1))
            else:
                elements.append(make_element("NarrativeText", content))
        elif kind in ("fence", "code_block") and token.content.strip():
            elements.append(make_element("CodeSnippet", token.content.rstrip("\n")))
    return elements


def _take_caption(elements: list[Element]) -> str | None:
    """A caption paragraph ("Table 2: ...") right before a table moves into the table."""
    if elements and elements[-1].category in ("NarrativeText", "Title"):
        text = elements[-1].text
        if CAPTION_RE.match(text) and len(text) <= 200:
            elements.pop()
            return text
    return None


# --------------------------------------------------------------------------- html

_SKIP_TAGS = {"script", "style", "nav", "noscript", "template", "head", "svg", "form", "button"}
_BLOCK_TEXT = {"p": "NarrativeText", "pre": "CodeSnippet", "blockquote": "NarrativeText"}


def _html_table(table: Any) -> tuple[list[list[str]], int]:
    rows: list[list[str]] = []
    header_rows = 0
    counting = True
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue
        cells = tr.find_all(["th", "td"], recursive=False)
        row: list[str] = []
        for cell in cells:
            row.append(_clean(cell.get_text(" ")))
            span = str(cell.get("colspan") or "1")
            if span.isdigit() and int(span) > 1:
                row.extend([""] * (int(span) - 1))
        rows.append(row)
        in_head = tr.find_parent("thead") is not None
        if counting and cells and (in_head or all(c.name == "th" for c in cells)):
            header_rows += 1
        else:
            counting = False
    return rows, header_rows


_START_TAG = re.compile(r"<[A-Za-z]")


def _too_many_elements(source: str, count: int, limit: int) -> FileTooLargeError:
    return FileTooLargeError(
        source,
        f"{source}: its markup has over {limit:,} elements ({count:,} counted)",
        hint="raise ingest.max_elements (LCELKIT_INGEST__MAX_ELEMENTS) if the file is "
        "genuine, or split it",
    )


def parse_html(
    text: str, *, source: str = "", max_elements: int | None = DEFAULT_MAX_ELEMENTS
) -> list[Element]:
    """HTML via BeautifulSoup/lxml: h1-h6 Title, p NarrativeText, li ListItem, table Table.

    Markup with more than ``max_elements`` start tags is refused before it is parsed
    (a tree of millions of nodes takes gigabytes).
    """
    from bs4 import BeautifulSoup, NavigableString, Tag

    if max_elements is not None:
        count = sum(1 for _ in _START_TAG.finditer(text))
        if count > max_elements:
            raise _too_many_elements(source, count, max_elements)
    soup = BeautifulSoup(text, "lxml")
    elements: list[Element] = []
    root = soup.body or soup

    def walk(node: Any, depth: int) -> None:
        loose: list[str] = []

        def flush() -> None:
            joined = _clean(" ".join(loose))
            if joined:
                elements.append(make_element("NarrativeText", joined))
            loose.clear()

        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString and child.strip():
                    loose.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if name in _SKIP_TAGS:
                continue
            if name in ("b", "strong", "i", "em", "a", "span", "code", "small", "sup", "sub"):
                loose.append(child.get_text(" "))
                continue
            flush()
            if re.fullmatch(r"h[1-6]", name):
                content = _clean(child.get_text(" "))
                if content:
                    elements.append(make_element("Title", content, category_depth=int(name[1]) - 1))
            elif name in _BLOCK_TEXT:
                raw = child.get_text("\n" if name == "pre" else " ")
                content = raw.strip("\n") if name == "pre" else _clean(raw)
                if content:
                    elements.append(make_element(_BLOCK_TEXT[name], content))
            elif name == "li":
                own = [
                    c.get_text(" ") if isinstance(c, Tag) else str(c)
                    for c in child.children
                    if not (isinstance(c, Tag) and c.name in ("ul", "ol", "table"))
                ]
                content = _clean(" ".join(own))
                if content:
                    elements.append(make_element("ListItem", content, category_depth=depth))
                for nested in child.find_all(["ul", "ol"], recursive=False):
                    walk(nested, depth + 1)
            elif name == "table":
                rows, header_rows = _html_table(child)
                cap = child.find("caption")
                caption = _clean(cap.get_text(" ")) if cap else _take_caption(elements)
                table = make_table(rows, caption=caption, header_rows=max(1, header_rows))
                if table is not None:
                    elements.append(table)
            else:
                walk(child, depth)
        flush()

    walk(root, 0)
    return elements


# --------------------------------------------------------------------------- docx


def _check_docx_bounds(
    path: Path, source: str, max_unpacked_bytes: int | None, max_elements: int | None
) -> None:
    """Refuse a DOCX whose parts unpack past the limit, or whose XML has too many elements.

    The sizes come from the zip's directory (nothing is unpacked); Python's zip reader
    stops at the declared size, so a lying directory cannot unpack more. The XML is
    then streamed in 1 MiB pieces and its start tags counted, before any tree is built.
    """
    import zipfile
    import zlib

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            unpacked = sum(info.file_size for info in infos)
            if max_unpacked_bytes is not None and unpacked > max_unpacked_bytes:
                raise FileTooLargeError(
                    source,
                    f"{source}: its parts unpack to {unpacked:,} bytes, over the limit of "
                    f"{max_unpacked_bytes:,} (a compressed 'zip bomb' or a huge document)",
                    hint="raise ingest.max_unpacked_mb (LCELKIT_INGEST__MAX_UNPACKED_MB) if "
                    "the file is genuine, or split it",
                )
            if max_elements is None:
                return
            count = 0
            for info in infos:
                if not info.filename.endswith(".xml"):
                    continue
                with archive.open(info) as part:
                    while chunk := part.read(2**20):
                        count += chunk.count(b"<") - chunk.count(b"</") - chunk.count(b"<?")
                        if count > max_elements:
                            raise _too_many_elements(source, count, max_elements)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError) as exc:
        raise CorruptFileError(
            source,
            f"{source}: not a valid DOCX document ({type(exc).__name__}: {exc})",
            hint="re-save it from your word processor as .docx",
        ) from exc


def check_docx_size(path: Path, source: str, max_unpacked_bytes: int | None) -> None:
    """Refuse a DOCX whose zip directory says it unpacks past ``max_unpacked_bytes``."""
    _check_docx_bounds(path, source, max_unpacked_bytes, None)


def parse_docx(
    path: Path,
    *,
    source: str,
    max_unpacked_bytes: int | None = DEFAULT_MAX_UNPACKED_BYTES,
    max_elements: int | None = DEFAULT_MAX_ELEMENTS,
) -> list[Element]:
    """DOCX via python-docx: paragraphs by style, tables in body order, explicit page breaks.

    Refused first (FileTooLargeError) when its parts unpack to more than
    ``max_unpacked_bytes`` or its XML has more than ``max_elements`` elements.
    """
    import zipfile

    import docx
    from docx.oxml.ns import qn
    from docx.table import Table as DocxTable
    from docx.text.paragraph import Paragraph

    _check_docx_bounds(path, source, max_unpacked_bytes, max_elements)
    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise CorruptFileError(
            source,
            f"{source}: not a valid DOCX document ({type(exc).__name__}: {exc})",
            hint="re-save it from your word processor as .docx",
        ) from exc
    body = document.element.body
    has_breaks = any(el.get(qn("w:type")) == "page" for el in body.iter(qn("w:br"))) or any(
        True for _ in body.iter(qn("w:lastRenderedPageBreak"))
    )
    page = 1
    elements: list[Element] = []
    for child in body.iterchildren():
        if child.tag == qn("w:p"):
            paragraph = Paragraph(child, document)
            breaks = sum(
                1 for el in child.iter(qn("w:br")) if el.get(qn("w:type")) == "page"
            ) + sum(1 for _ in child.iter(qn("w:lastRenderedPageBreak")))
            text = _clean(paragraph.text)
            page_number = page if has_breaks else None
            page += breaks
            if not text:
                continue
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            numbered = child.find(f"{qn('w:pPr')}/{qn('w:numPr')}") is not None
            if style.startswith("Heading"):
                level = int(style.split()[-1]) if style.split()[-1].isdigit() else 1
                elements.append(
                    make_element("Title", text, page_number=page_number, category_depth=level - 1)
                )
            elif style == "Title":
                elements.append(
                    make_element("Title", text, page_number=page_number, category_depth=0)
                )
            elif "List" in style or numbered:
                elements.append(make_element("ListItem", text, page_number=page_number))
            else:
                elements.append(make_element("NarrativeText", text, page_number=page_number))
        elif child.tag == qn("w:tbl"):
            table = DocxTable(child, document)
            rows: list[list[str]] = []
            for row in table.rows:
                cells: list[str] = []
                previous = None
                for cell in row.cells:
                    # a merged cell comes back once per grid column: keep its text once
                    cells.append("" if cell._tc is previous else cell.text)
                    previous = cell._tc
                rows.append(cells)
            caption = _take_caption(elements)
            element = make_table(rows, caption=caption, page_number=page if has_breaks else None)
            if element is not None:
                elements.append(element)
    return elements


# --------------------------------------------------------------------------- csv


def parse_csv(text: str, *, source: str = "") -> list[Element]:
    """CSV -> Table elements of up to CSV_ROWS_PER_TABLE data rows, the header repeated."""
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [
            row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)
        ]
    except csv.Error as exc:
        raise CorruptFileError(
            source, f"{source}: malformed CSV ({exc})", hint="check the quoting of the file"
        ) from exc
    if not rows:
        return []
    header, data = rows[0], rows[1:]
    if not data:
        table = make_table([header], normalize=False)
        return [table] if table is not None else []
    elements: list[Element] = []
    for start in range(0, len(data), CSV_ROWS_PER_TABLE):
        table = make_table([header, *data[start : start + CSV_ROWS_PER_TABLE]], normalize=False)
        if table is not None:
            elements.append(table)
    return elements
