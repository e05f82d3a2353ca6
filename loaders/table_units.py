"""Row units: small retrieval units for table rows (the multi-vector pattern).

A question about a table names one row and one column ("the death rate for Hispanic
women aged 65-74"). A 256-token piece of a table holds many rows, and its vector is
their average, so the piece that holds the answer is often outranked. Besides each
table piece, ingest therefore indexes **row units**: the table's caption, the row's name
in context, then its cells under their column's header path:

    Table 3. Death rates for coronary heart disease by race and sex
    Men > 55–64 | Race · Black | no.: 4,890; Rate: 340.1; (95% CI): (329.9–350.3)

A unit is matched, never shown: every retriever hands the model the unit's **parent**,
the table piece that shows the row (``metadata["parent_id"]``; ``chains.retrievers``).
Units carry the piece's metadata (source, page, ...) so filters apply to them alike,
``category="TableRow"``, and ids derived from their text and parent, so incremental
ingest writes and deletes them with their file.

* Units are built from the whole table (every header level, the full caption), so a row
  keeps its context when the table was split between pieces. A heading or caption-like
  line just above a table without caption stands in for it.
* Row context from the grid alone (``text_as_html`` keeps no indentation): a **section
  row** (a label with every other cell empty) names the rows under it; a label that
  **repeats** within the table ("Severe disability" under each age group) is named with
  the nearest row above it whose label does not repeat ("Aged 65 and older").
* Where the PDF parser read a hierarchy from how the labels are set (bold rows with
  their own totals heading plain ones, indented labels: ``loaders.pdf.stub``), it
  decides instead: "Aged 15 and older > Difficulty seeing > Severe".
* Cells under different group headers ("2005", "2010") make separate units, and a unit
  holds at most :data:`MAX_CELLS` cells (and ``max_tokens`` tokens): a question names
  one column, and twenty columns would average it away.
* A table **folded** side by side ("Age | Population | Age | Population") is read as
  several column ranges, each starting where the label column's header comes again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from .elements import HEADER_PATH_SEP, header_paths, parse_table_html, row_levels_of
from .ids import chunk_id

if TYPE_CHECKING:
    from langchain_core.documents import Document

__all__ = [
    "MAX_CELLS",
    "ROW_UNIT_CATEGORY",
    "read_unit",
    "row_names",
    "row_units",
    "stand_in_caption",
    "table_row_units",
]

#: ``metadata["category"]`` of a row unit.
ROW_UNIT_CATEGORY = "TableRow"
#: Cells in one unit at most: a wide row is cut into several units by columns (each
#: repeating the caption and the row name), so a column is not averaged away by ten others.
MAX_CELLS = 4
_CAPTION_CHARS = 300  # a caption longer than this is cut (it is context, not content)
_CONTEXT_SEP = " > "
_DROP_KEYS = ("text_as_html", "chunk_id", "category_depth", "parent_id", "score")


def _is_section(row: Sequence[str]) -> bool:
    return bool(row and row[0].strip()) and not any(c.strip() for c in row[1:])


def _key(label: str) -> str:
    return " ".join(label.casefold().split())


def row_names(
    rows: Sequence[Sequence[str]], levels: Sequence[int | None] | None = None
) -> list[str | None]:
    """Each body row's name in context ("Men > 55–64"); None for rows that make no unit
    (no label, or a section row).

    ``levels`` (the PDF parser's row hierarchy, ``loaders.pdf.stub``), when every labelled
    row has one: a row is named under the rows above it of a lower level (a section row
    also heads the rows of its own level). Otherwise the grid alone decides.
    """
    if levels is not None and all(
        level is not None for row, level in zip(rows, levels, strict=True) if row and row[0].strip()
    ):
        return _names_by_level(rows, levels)
    labels = Counter(_key(r[0]) for r in rows if r and r[0].strip() and not _is_section(r))
    section = ""
    group = ""
    names: list[str | None] = []
    for row in rows:
        if not row or not row[0].strip():
            names.append(None)
            continue
        label = row[0].strip()
        if _is_section(row):
            if _key(label) != _key(section):  # a piece repeats its section row: same section
                section, group = label, ""
            names.append(None)
            continue
        if labels[_key(label)] == 1:
            group = label
            context = [section]
        else:
            context = [section, group]
        names.append(_CONTEXT_SEP.join([c for c in context if c] + [label]))
    return names


def _names_by_level(
    rows: Sequence[Sequence[str]], levels: Sequence[int | None]
) -> list[str | None]:
    stack: list[tuple[float, str]] = []  # the rows that head the current one, outermost first
    names: list[str | None] = []
    for row, level in zip(rows, levels, strict=True):
        if not row or not row[0].strip() or level is None:
            names.append(None)
            continue
        label = row[0].strip()
        section = _is_section(row)
        rank = level - 0.5 if section else float(level)
        while stack and stack[-1][0] >= rank:
            stack.pop()
        names.append(None if section else _CONTEXT_SEP.join([*(n for _, n in stack), label]))
        stack.append((rank, label))
    return names


def row_units(
    name: str,
    row: Sequence[str],
    headers: Sequence[str],
    caption: str | None,
    *,
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int = 256,
    breaks: Collection[int] = (),
) -> list[str]:
    """The texts of one row's units: the caption, the row's name, its cells.

    ``headers[j]`` is column j's header path ("2010 · Percent"). Columns under different
    group headers (the path without its last level: "2005", "2010") make one unit each,
    so a unit speaks of one group's cells: a question names one column, and a row of
    twenty columns would average it away; for the same reason a unit holds at most
    :data:`MAX_CELLS` cells. ``breaks``: the columns where the table was cut into pieces
    by columns; no unit spans a cut (its piece could not show all its cells). A row
    without values makes none.
    """
    head = (caption or "").strip()
    if len(head) > _CAPTION_CHARS:
        head = head[:_CAPTION_CHARS].rsplit(" ", 1)[0] + " …"
    groups: dict[tuple[int, str], list[str]] = {}
    for j, value in enumerate(row[1:], start=1):
        value = value.strip()
        if not value:
            continue
        path = headers[j] if j < len(headers) else ""
        parent, _, leaf = path.rpartition(HEADER_PATH_SEP)
        segment = sum(1 for b in breaks if b <= j)
        groups.setdefault((segment, parent), []).append(f"{leaf}: {value}" if leaf else value)
    stub = (headers[0] if headers else "").strip()
    if stub and _key(stub) not in _key(name):  # the label column's header names it
        name = f"{stub}: {name}"
    texts: list[str] = []
    for (_, parent), cells in groups.items():
        title = f"{name} | {parent}" if parent else name
        for start in range(0, len(cells), MAX_CELLS):
            texts.extend(
                _fit(head, title, cells[start : start + MAX_CELLS], count_tokens, max_tokens)
            )
    return texts


def read_unit(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The row name (with its column group) and ``(column, value)`` pairs of a unit's text,
    as :func:`row_units` wrote it: ``"Men > 55–64 · Race · Black"``,
    ``[("Rate", "340.1"), ...]``."""
    line = text.rsplit("\n", 1)[-1]
    parts = line.split(" | ")
    if len(parts) < 2:
        return line.strip(), []
    name = HEADER_PATH_SEP.join(p.strip() for p in parts[:-1] if p.strip())
    cells: list[tuple[str, str]] = []
    for cell in parts[-1].split("; "):
        column, sep, value = cell.partition(": ")
        cells.append((column.strip(), value.strip()) if sep else ("", column.strip()))
    return name, [c for c in cells if c[1]]


def _fit(
    head: str,
    name: str,
    cells: list[str],
    count_tokens: Callable[[str], int] | None,
    max_tokens: int,
) -> list[str]:
    """``head`` / ``name | cell; cell ...``, cut by columns into units that fit."""

    def render(part: list[str]) -> str:
        body = f"{name} | {'; '.join(part)}"
        return f"{head}\n{body}" if head else body

    whole = render(cells)
    if count_tokens is None or count_tokens(whole) <= max_tokens or len(cells) == 1:
        return [whole]
    out: list[str] = []
    part: list[str] = []
    for cell in cells:
        if part and count_tokens(render([*part, cell])) > max_tokens:
            out.append(render(part))
            part = []
        part.append(cell)
    if part:
        out.append(render(part))
    return out


_TITLE_CHARS = 160  # a plain line right above a table longer than this is prose
_TITLE_LIKE = ("NarrativeText", "UncategorizedText")
_CONNECTIVES = frozenset({"a", "an", "and", "or", "of", "the", "to", "in", "for", "with", "by",
                          "from", "that", "which", "when", "where", "as", "at", "on"})  # fmt: skip
_CAPTION_START = re.compile(r"^\s*(table|exhibit|figure|chart|tab\.|표|그림)\b", re.IGNORECASE)


def stand_in_caption(doc: Document, *, adjacent: bool = False) -> str | None:
    """A heading or caption-like line ("Table 3 ...") that may name the table below it.

    ``adjacent``: ``doc`` comes right before the table, so a short one-line title in plain
    text ("Correlation coefficients of spread and yield differences", with "Table 2"
    printed under the table) names it too: one line of at most 160 characters, of three
    or more words and few digits (not a chart's ticks), that does not end a sentence or
    break off ("... in 2005, when").
    """
    text = doc.page_content.strip()
    if not text:
        return None
    first = text.split("\n")[0].strip()
    if doc.metadata.get("category") == "Title" or _CAPTION_START.match(first):
        return first[:_CAPTION_CHARS]
    if (
        adjacent
        and doc.metadata.get("category") in _TITLE_LIKE
        and "\n" not in text
        and len(text) <= _TITLE_CHARS
        and _title_like(text)
    ):
        return text
    return None


def _title_like(text: str) -> bool:
    """Words, not numbers (chart ticks, legends), and not a sentence cut off or ended."""
    chars = [c for c in text if not c.isspace()]
    digits = sum(c.isdigit() for c in chars)
    words = [w for w in text.split() if any(c.isalpha() for c in w)]
    last = text.split()[-1].casefold()
    return (
        len(words) >= 3
        and digits <= 0.15 * len(chars)
        and not text.endswith((".", "!", "?", ";", ",", "-", "–"))
        and last not in _CONNECTIVES
    )


def table_row_units(
    table: Document,
    pieces: Sequence[Document],
    *,
    above: str | None = None,
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int = 256,
) -> list[Document]:
    """Row units of one table element, each pointing at the piece that holds its row.

    ``table`` is the whole table (its ``text_as_html`` has every header level and the
    full caption, which a piece may have shortened to fit); ``pieces`` are its chunks,
    with their ``chunk_id``. Rows are named in the context of the whole table, so a row
    keeps its section and group when the table was split. ``above`` (a heading or a
    caption-like line just above the table) stands in for a missing caption. Each unit's
    ``metadata["parent_id"]`` is its piece's ``chunk_id``.
    """

    html = table.metadata.get("text_as_html")
    if not html or not pieces:
        return []
    grid, caption, header_rows = parse_table_html(str(html))
    body = grid[header_rows:] if header_rows else grid[1:]
    levels = row_levels_of(str(html))
    if levels is not None:
        levels = levels[len(grid) - len(body) :]
    headers = header_paths(str(html))
    caption = caption or above
    shown = _rows_shown(pieces)
    cuts = _column_cuts(headers, pieces)
    units: list[Document] = []
    for start, end in _folds(headers):
        part = [list(row[start:end]) for row in body]
        for row, part_row, name in zip(body, part, row_names(part, levels), strict=True):
            candidates = shown.get(_key(row[0]) if row else "", [])
            if name is None or not candidates:
                continue
            for text in row_units(
                name,
                part_row,
                headers[start:end],
                caption,
                count_tokens=count_tokens,
                max_tokens=max_tokens,
                breaks=[b - start for b in cuts if start < b < end],
            ):
                units.append(_unit(_owner(text, candidates), text))
    return units


def _column_cuts(headers: Sequence[str], pieces: Sequence[Document]) -> list[int]:
    """The table columns where a piece's own columns start, for a table cut into pieces by
    columns (each piece repeats the label columns); ``[]`` when it was cut by rows only,
    or its pieces' headers cannot be lined up with the table's."""
    keys = [_key(h) for h in headers]
    shown: list[set[int]] = []
    for piece in pieces:
        html = piece.metadata.get("text_as_html")
        if not html:
            continue
        columns: set[int] = set()
        at = 0
        for path in header_paths(str(html)):
            j = next((j for j in range(at, len(keys)) if keys[j] == _key(path)), None)
            if j is None:
                return []
            columns.add(j)
            at = j + 1
        shown.append(columns)
    if not shown:
        return []
    shared = set.intersection(*shown)
    starts = sorted({min(c - shared) for c in shown if c - shared})
    return starts[1:]


def _folds(headers: Sequence[str]) -> list[tuple[int, int]]:
    """Column ranges of a table folded side by side ("Age | Population | Age |
    Population"): a new range starts wherever the label column's header comes again.
    One range (the whole width) for ordinary tables."""
    first = _key(headers[0]) if headers else ""
    starts = [0] + [j for j in range(1, len(headers)) if first and _key(headers[j]) == first]
    ends = [*starts[1:], max(len(headers), 1) if len(starts) > 1 else 10**6]
    return list(zip(starts, ends, strict=True))


def _unit(piece: Document, text: str) -> Document:
    """The unit ``text`` as a Document pointing at ``piece`` (its metadata, a stable id)."""
    from langchain_core.documents import Document

    parent = str(piece.metadata.get("chunk_id") or piece.id)
    base = {k: v for k, v in piece.metadata.items() if k not in _DROP_KEYS}
    base["category"] = ROW_UNIT_CATEGORY
    base["parent_id"] = parent
    source, page = str(base.get("source", "")), base.get("page_number")
    uid = chunk_id(source, f"{parent}\x1f{text}", page)
    return Document(id=uid, page_content=text, metadata={**base, "chunk_id": uid})


def _owner(text: str, candidates: Sequence[tuple[Document, frozenset[str]]]) -> Document:
    """Of the pieces that show the unit's row label, the one showing most of its values.

    A wide table is cut between pieces by columns as well as rows, and a label ("55–64")
    may come again under another section: the piece must show the unit's own cells, or
    the model is handed the row without the value that was matched.
    """
    values = {_key(value) for _, value in read_unit(text)[1]}
    best, most = candidates[0][0], -1
    for piece, shown in candidates:
        if (n := len(values & shown)) > most:
            best, most = piece, n
    return best


def _rows_shown(pieces: Sequence[Document]) -> dict[str, list[tuple[Document, frozenset[str]]]]:
    """Row label -> ``(piece, the row's cell values there)`` for every piece showing it."""
    shown: dict[str, list[tuple[Document, frozenset[str]]]] = {}
    for piece in pieces:
        html = piece.metadata.get("text_as_html")
        if not html:
            continue
        grid, _, header_rows = parse_table_html(str(html))
        for row in grid[header_rows:] if header_rows else grid[1:]:
            if row:
                values = frozenset(_key(c) for c in row[1:] if c.strip())
                shown.setdefault(_key(row[0]), []).append((piece, values))
    return shown
