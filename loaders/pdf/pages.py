"""Page orientation: pages whose text runs sideways are read from a turned copy."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["quiet_pypdf", "rotated_pdf", "rotation_for", "upright_share"]


@contextlib.contextmanager
def quiet_pypdf() -> Iterator[None]:
    """pypdf logs a WARNING for every repaired xref entry; keep that out of the user's way."""
    pypdf_logger = logging.getLogger("pypdf")
    level = pypdf_logger.level
    pypdf_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        pypdf_logger.setLevel(level)


def upright_share(page: Any) -> float:
    """Share of the page's visible characters that stand upright."""
    chars = [c for c in page.chars if c["text"].strip()]
    if not chars:
        return 1.0
    return sum(1 for c in chars if c.get("upright", True)) / len(chars)


def rotated_pdf(path: Path, rotations: dict[int, int]) -> bytes:
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


def rotation_for(page: Any) -> int:
    """Degrees to add to ``/Rotate`` so that sideways text reads upright."""
    votes = 0
    for char in page.chars:
        if char.get("upright", True) or not char["text"].strip():
            continue
        _a, b, _c, _d, _e, _f = char["matrix"]
        votes += 1 if b > 0 else -1
    # text running up the page (b > 0) is read after turning the page clockwise
    return 90 if votes > 0 else 270
