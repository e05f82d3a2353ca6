"""Signs that a PDF is truncated or partly unreadable, for a warning in the ingest summary.

PDF readers repair what they can silently: a file cut short, a broken cross-reference
table or a page whose content object is missing still parses, and the lost text is
simply absent from the index. :func:`pdf_damage` looks for those signs independently
of the parser, so the user is told that what was indexed may be incomplete:

* the file does not end with ``%%EOF`` (cut short: a download or copy that stopped);
* ``startxref`` is missing or points nowhere (the reader rebuilt the table by repair);
* a page's content stream is missing or cannot be read (the page is indexed empty).

It never raises: a check that cannot run says nothing.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import BinaryIO

__all__ = ["pdf_damage"]

logger = logging.getLogger(__name__)

_TAIL = 2048
_STARTXREF = re.compile(rb"startxref\s+(\d+)")
_XREF_AT = re.compile(rb"\s*(xref|\d+\s+\d+\s+obj)")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _structure(handle: BinaryIO, size: int) -> list[str]:
    handle.seek(max(0, size - _TAIL))
    tail = handle.read()
    problems: list[str] = []
    if b"%%EOF" not in tail:
        problems.append(
            "the file does not end with %%EOF: it looks truncated, so text at its end "
            "may be missing"
        )
    offsets = _STARTXREF.findall(tail)
    if not offsets:
        problems.append("it has no startxref: its cross-reference table was rebuilt by repair")
    else:
        offset = int(offsets[-1])
        handle.seek(min(offset, size))
        if offset >= size or not _XREF_AT.match(handle.read(64)):
            problems.append(
                "its startxref points to no cross-reference table: the table was rebuilt by repair"
            )
    return problems


def _pages(path: Path) -> list[str]:
    """Pages whose content cannot be read (pypdf, lenient, its warnings collected)."""
    import pypdf

    handler = _Collect()
    pypdf_logger = logging.getLogger("pypdf")
    pypdf_logger.addHandler(handler)
    bad: list[int] = []
    try:
        reader = pypdf.PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            return []
        for number, page in enumerate(reader.pages, start=1):
            before = len(handler.messages)
            try:
                contents = page.get("/Contents")
                resolved = contents.get_object() if contents is not None else None
                if contents is not None and resolved is None:
                    bad.append(number)
                elif resolved is not None:
                    page.get_contents()
                    if len(handler.messages) > before:
                        bad.append(number)
            except Exception:  # any failure: the page is unreadable
                bad.append(number)
    except Exception as exc:  # the parser decides on unreadable files
        logger.debug("%s: integrity check skipped: %s", path, exc)
        return []
    finally:
        pypdf_logger.removeHandler(handler)
    if not bad:
        return []
    shown = ", ".join(str(n) for n in bad[:10]) + (" ..." if len(bad) > 10 else "")
    noun = "page" if len(bad) == 1 else "pages"
    return [f"{noun} {shown}: the content is missing or unreadable (indexed without it)"]


def pdf_damage(path: str | Path) -> list[str]:
    """Human-readable signs of damage in the PDF at ``path`` (empty when it looks whole)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            problems = _structure(handle, path.stat().st_size)
    except OSError:
        return []
    return problems + _pages(path)
