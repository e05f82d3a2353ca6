"""What sits in a table's grid but is not part of it: the caption, and notes and sources.

* A header row whose one text runs over every column and reads as a caption ("Exhibit
  4. ...", "Table 2 (continued)") or a units line ("[In thousands]") is the table's
  caption, not a header level: kept as one, it would start every column's header path.
* Trailing body rows that start like a note ("Note:", "Sources:", "SOURCE:", "Exhibit
  reads:", "*", "1 Includes ...", "a Estimated"), in one cell or with their words spread
  over the columns, and the rows that continue them (none a row of values), are notes:
  they leave the grid and become a text element of their own, tied to the table
  (``parent_id``), so retrieval still finds them.
"""

from __future__ import annotations

import re

from ..elements import CAPTION_RE
from .structure import TableModel, is_units_line, numeric_cell

__all__ = ["NAMED_NOTE_RE", "NOTE_RE", "caption_rows", "is_note", "split_notes"]

#: The start of a note or a source line under a table.
NOTE_RE = re.compile(
    r"^\s*(?:(?i:notes?|sources?|source\s+of\s+data|data\s+sources?|footnotes?|"
    r"legend|key|exhibit\s+reads|table\s+reads|how\s+to\s+read(?:\s+this\s+table)?|"
    r"read\s+as|note\s*\d+)\s*[:.\-–—]"
    r"|[*†‡§¶]+\s*\S"
    r"|\(?[0-9]{1,2}\)?\s+[A-Z][a-z]+\s+\S+\s+\S+"
    r"|\(?[a-z]\)\s+\S+\s+\S+"
    r"|[a-z]\s+[A-Z][a-z]+\s+\S+\s+\S+)",
)


#: A note named as such, or marked with a symbol (what a note spread over cells starts with).
NAMED_NOTE_RE = re.compile(
    r"^\s*(?:(?i:notes?|sources?|footnotes?|exhibit\s+reads|table\s+reads)\s*[:.\-–—]|[*†‡§¶]+\s*\S)"
)


def is_note(text: str) -> bool:
    """A line that starts like a note, a source or a footnote ("Note: ...", "* p < .05")."""
    return bool(NOTE_RE.match(text))


def _one_text(row: list[str]) -> str | None:
    """The row's text when it has only one distinct non-empty text (a spanning cell)."""
    texts = {c for c in row if c}
    return next(iter(texts)) if len(texts) == 1 else None


def caption_rows(model: TableModel) -> list[str]:
    """Lift leading header rows that are a caption or a units line out of ``model``
    (in place) and return their texts, top first."""
    out: list[str] = []
    width = max((len(r) for r in model.rows), default=0)
    while len(model.header) > 1 or (model.header and out):
        row = model.header[0]
        text = _one_text(row)
        if width < 2 or text is None:
            break
        spans_all = all(c == text for c in row)
        if not spans_all and not (row[0] == text and not any(row[1:])):
            break
        units = is_units_line(text) and (bool(out) or spans_all)
        if not (CAPTION_RE.match(text) or units):
            break
        out.append(text)
        del model.header[0]
    if out and not model.header and model.body:
        model.header.append(model.body.pop(0))
    return out


def _data_like(row: list[str]) -> bool:
    """Half or more of the row's filled cells hold numbers (a row of values)."""
    filled = [c for c in row if c]
    return bool(filled) and sum(1 for c in filled if numeric_cell(c)) * 2 >= len(filled)


def split_notes(model: TableModel) -> list[str]:
    """Remove the note rows at the end of the body (in place) and return the notes, one
    text per note (continuation rows joined to the note they continue).

    The notes are the rows from the last body row that starts like a note up to the end,
    when none of them is a row of values: a note in one cell, or a note whose words
    spread over the columns ("* Significantly | different | (P<=0.05) from ...")."""
    body = model.body
    width = max((len(r) for r in model.rows), default=0)
    if width < 2 or len(body) < 2:
        return []
    start = len(body)
    k = len(body) - 1
    while k >= 1:
        row = body[k]
        text = _one_text(row) or " ".join(c for c in row if c)
        if not text or (_one_text(row) is None and _data_like(row)):
            break
        single = _one_text(row) is not None
        if is_note(text) if single else NAMED_NOTE_RE.match(text):
            start = k
        k -= 1
    if start == len(body):
        return []
    notes: list[str] = []
    for row in body[start:]:
        single = _one_text(row)
        text = single or " ".join(c for c in row if c)
        if (is_note(text) if single else NAMED_NOTE_RE.match(text)) or not notes:
            notes.append(text)
        else:
            notes[-1] = f"{notes[-1]} {text}"
    del body[start:]
    return notes
