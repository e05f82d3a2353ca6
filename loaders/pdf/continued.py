"""Tables that go on over pages (see :mod:`.layout`).

A table that ends a page and one that starts the next with as many columns are one
table: the continuation gets the header rows and the caption of the first part.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from ..elements import make_table, parse_table_html

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

__all__ = ["continue_table", "last_table"]


def last_table(elements: list[Element]) -> Element:
    """The page's last element, or the table its trailing notes belong to."""
    k = len(elements) - 1
    while k > 0 and getattr(elements[k], "table_parent", None) is not None:
        k -= 1
    return elements[k]


@functools.lru_cache(maxsize=4)
def _parsed_table(text_as_html: str) -> tuple[list[list[str]], str | None, int]:
    """parse_table_html, remembered: a page's only table is parsed as the next page's
    first element and again as the previous one (callers do not modify the rows)."""
    return parse_table_html(text_as_html)


_CONTINUED_RE = re.compile(r"\b(?:continued|cont(?:'d|\.)|concluded)\b", re.IGNORECASE)


def continue_table(previous: Element, first: Element) -> None:
    """A table that ends a page and one that starts the next with as many columns are one
    table: the continuation gets the header rows and the caption of the first part.

    A continuation with its own caption continues only when the caption says so ("Table
    3 (continued)"). A header that the new page repeats is recognised as the header (all
    its rows, or its last rows: the group header above them is carried over), so every
    piece names the full column headers."""
    if previous.category != "Table" or first.category != "Table":
        return
    if not (previous.metadata.text_as_html and first.metadata.text_as_html):
        return
    rows, own_caption, own_header = _parsed_table(first.metadata.text_as_html)
    if not rows or (own_caption and not _CONTINUED_RE.search(own_caption)):
        return
    prev_rows, caption, header_rows = _parsed_table(previous.metadata.text_as_html)
    if not prev_rows or len(prev_rows[0]) != len(rows[0]):
        return
    header = prev_rows[: max(1, header_rows)]
    body = rows
    for k in range(len(header), 0, -1):  # the repeated header, or its last k rows
        if rows[:k] == header[-k:]:
            if k == len(header) and own_header == k:
                return
            body = rows[k:]
            break
    rebuilt = make_table(
        [*header, *body],
        caption=own_caption or caption,
        page_number=first.metadata.page_number,
        header_rows=len(header),
    )
    if rebuilt is not None:
        first.text = rebuilt.text
        first.metadata.text_as_html = rebuilt.metadata.text_as_html
