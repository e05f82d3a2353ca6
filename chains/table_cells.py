"""Table cells a question names: its row label and its column header, found in the
retrieved tables, so that the answer prompt can point at the value.

"What was the Q3 revenue of the North region?" names the row ``North`` and the column
``Q3``; the table chunk holds ``63`` where they cross. Reading that value out of a grid
of numbers is exactly what small local models fail at: SmolLM2-135M answered 1 of 30
such questions from the markdown table alone and 12 of 30 once the matching cell was
named under the question; on 100 ICDAR 2013 table questions lcelkit now answers 41%,
the naive recipe 1% (``bench/answers.py``; docs/DESIGN.md, docs/BENCHMARKS.md).

Matching works on the chunk's ``text_as_html`` (every table chunk carries its own
piece's grid, whatever ``table_format`` rendered), with each column's header path
(``loaders.elements.header_paths``). A row label or a header level matches when its
words occur in the question as a run of words, compared
without case, punctuation or dot leaders ("Unknown(%)" = "Unknown (%)"); text in
scripts written without spaces between words and particles, such as Hangul, may also
match inside a question word ("서울" in "서울의"). A cell is named when both its row label
and a level of its column header match; the more of the question they cover, the
higher it ranks. The model still writes the
answer; nothing is answered without it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from langchain_core.documents import Document

__all__ = ["NamedCell", "find_named_cells", "format_named_cells"]

_WORD = re.compile(r"\w+", re.UNICODE)
_MIN_LABEL_CHARS = 2  # a one-character label ("a", "1") names nothing reliably


@dataclass(frozen=True)
class NamedCell:
    """A cell whose row label and column header both occur in the question."""

    passage: int  # 1-based passage number the cell comes from
    row: str
    column: str  # the column's header path
    value: str
    score: int  # characters of the question the row and column matches cover


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _unspaced(words: Sequence[str]) -> bool:
    return any(not ch.isascii() and unicodedata.category(ch) == "Lo" for w in words for ch in w)


def _occurs(label: Sequence[str], question: Sequence[str], joined: str) -> bool:
    """``label``'s words as a run inside ``question``'s (or inside a word, for Hangul-like
    scripts whose particles attach to the word)."""
    n = len(label)
    if not n or len("".join(label)) < _MIN_LABEL_CHARS:
        return False
    if any(list(question[i : i + n]) == list(label) for i in range(len(question) - n + 1)):
        return True
    return _unspaced(label) and "".join(label) in joined


def _table_grid(doc: Document) -> tuple[list[str], list[list[str]]] | None:
    """(column header paths, body rows) of a table chunk, or None."""
    html = doc.metadata.get("text_as_html")
    if not isinstance(html, str) or "<t" not in html:
        return None
    return _parsed(html)


@lru_cache(maxsize=256)  # the answer step matches the same chunks more than once
def _parsed(html: str) -> tuple[list[str], list[list[str]]] | None:
    from lcelkit.loaders.elements import header_paths, parse_table_html

    rows, _, header_rows = parse_table_html(html)
    if len(rows) < 2:
        return None
    header_rows = max(1, header_rows)
    return header_paths(html), rows[header_rows:]


def _column_match(path: str, question: Sequence[str], joined: str) -> int:
    """How much of ``path`` the question names: the characters of its header levels
    that occur in it (0: none)."""
    from lcelkit.loaders.elements import HEADER_PATH_SEP

    levels = {tuple(_words(level)) for level in path.split(HEADER_PATH_SEP)}
    return sum(len("".join(w)) for w in levels if _occurs(w, question, joined))


def _inside(short: Sequence[str], long: Sequence[str]) -> bool:
    n = len(short)
    return n < len(long) and any(
        list(long[i : i + n]) == list(short) for i in range(len(long) - n + 1)
    )


def find_named_cells(question: str, docs: Sequence[Document], limit: int = 3) -> list[NamedCell]:
    """Cells of the table passages in ``docs`` (passage n = ``docs[n-1]``) whose row label
    and column header the question names, best first, at most ``limit``. A row label
    inside a longer one that also matches ("North" in "North-East") does not count."""
    q_words = _words(question)
    joined = "".join(q_words)
    found: list[NamedCell] = []
    for number, doc in enumerate(docs, 1):
        grid = _table_grid(doc)
        if grid is None:
            continue
        paths, body = grid
        columns = [_column_match(p, q_words, joined) for p in paths]
        rows = [(row, _words(row[0])) for row in body if row and row[0].strip()]
        named = [(row, label) for row, label in rows if _occurs(label, q_words, joined)]
        for row, label in named:
            if any(_inside(label, other) for _, other in named):
                continue
            for j in range(1, min(len(row), len(paths))):
                value = row[j].strip()
                if columns[j] and value:
                    score = len("".join(label)) + columns[j]
                    found.append(NamedCell(number, row[0].strip(), paths[j], value, score))
    if not found:
        found = _matched_row_cells(q_words, joined, docs)
    found.sort(key=lambda c: (-c.score, c.passage))
    unique: list[NamedCell] = []
    for cell in found:
        if all((c.row, c.column, c.value) != (cell.row, cell.column, cell.value) for c in unique):
            unique.append(cell)
    return unique[:limit]


def _matched_row_cells(
    q_words: Sequence[str], joined: str, docs: Sequence[Document]
) -> list[NamedCell]:
    """When the question's words name no cell, the cells of the row the retriever matched
    (``metadata["matched_row"]``, a row unit: ``loaders.table_units``): those of its
    columns the question names, else all of them (a unit holds at most a few). A
    paraphrased question ("death rate for Black men aged 55-64") still gets pointed at
    the row it was matched to."""
    from lcelkit.loaders.table_units import read_unit

    for number, doc in enumerate(docs, 1):
        unit = doc.metadata.get("matched_row")
        if not isinstance(unit, str) or not unit:
            continue
        name, cells = read_unit(unit)
        named = [
            NamedCell(number, name, column, value, _column_match(column, q_words, joined))
            for column, value in cells
        ]
        chosen = [c for c in named if c.score] or named
        if chosen:
            return chosen
    return []


def format_named_cells(cells: Sequence[NamedCell]) -> str:
    """One line for the answer prompt: ``North · Q3 = 63 [1]; ...`` ("" when none)."""
    return "; ".join(f"{c.row} · {c.column} = {c.value} [{c.passage}]" for c in cells)
