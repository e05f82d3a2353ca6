"""Generate Korean PDFs for tests: real Hangul text in an embedded TrueType font.

The base-14 fonts of ``make_docs`` have no Hangul, so these PDFs embed a Nanum font
from Debian's ``fonts-nanum`` (installed by ``.ci/run``) through PDFium's own page
editing API (``pypdfium2``, already a dependency): PDFium writes the CID font, its
glyph widths and the ToUnicode map, so the text extracts as Unicode like a PDF from
a word processor. Coordinates are points from the page's top-left corner, as in
``make_docs.PdfPage``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["FONT_DIR", "KoreanPdf", "find_korean_font"]

FONT_DIR = Path("/usr/share/fonts/truetype/nanum")


def find_korean_font(bold: bool = False) -> Path | None:
    """NanumGothic (or its bold face) when ``fonts-nanum`` is installed, else None."""
    path = FONT_DIR / ("NanumGothicBold.ttf" if bold else "NanumGothic.ttf")
    return path if path.is_file() else None


class KoreanPdf:
    """Pages of Korean and English text, lines and ruled tables; ``save(path)`` writes it."""

    def __init__(self, width: float = 595, height: float = 842) -> None:  # A4
        import pypdfium2 as pdfium
        import pypdfium2.raw as raw

        regular, bold = find_korean_font(), find_korean_font(bold=True)
        if regular is None or bold is None:
            raise FileNotFoundError(f"no Nanum font under {FONT_DIR}: apt-get install fonts-nanum")
        self._raw = raw
        self.width, self.height = width, height
        self.doc = pdfium.PdfDocument.new()
        self._buffers: list[Any] = []  # font bytes must outlive the document
        self._fonts = {False: self._load_font(regular), True: self._load_font(bold)}
        self.pages: list[Any] = []
        self._page: Any = None

    def _load_font(self, path: Path) -> Any:
        data = path.read_bytes()
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        self._buffers.append(buffer)
        raw = self._raw
        return raw.FPDFText_LoadFont(self.doc.raw, buffer, len(data), raw.FPDF_FONT_TRUETYPE, 1)

    def page(self) -> KoreanPdf:
        """Start a new page (drawing calls go to it)."""
        self._page = self.doc.new_page(self.width, self.height)
        self.pages.append(self._page)
        return self

    def text(self, x: float, top: float, text: str, size: float = 10, bold: bool = False) -> float:
        """One line of text whose top edge is ``top`` below the page top; returns its width."""
        raw = self._raw
        obj = raw.FPDFPageObj_CreateTextObj(self.doc.raw, self._fonts[bold], ctypes.c_float(size))
        encoded = (text + "\0").encode("utf-16-le")
        chars = ctypes.create_string_buffer(encoded, len(encoded))
        raw.FPDFText_SetText(obj, ctypes.cast(chars, ctypes.POINTER(raw.FPDF_WCHAR)))
        baseline = self.height - top - size * 0.8
        raw.FPDFPageObj_Transform(obj, 1, 0, 0, 1, x, baseline)
        raw.FPDFPage_InsertObject(self._page.raw, obj)
        left, right = ctypes.c_float(), ctypes.c_float()
        bottom, upper = ctypes.c_float(), ctypes.c_float()
        raw.FPDFPageObj_GetBounds(
            obj, ctypes.byref(left), ctypes.byref(bottom), ctypes.byref(right), ctypes.byref(upper)
        )
        return right.value - left.value

    def width_of(self, text: str, size: float = 10, bold: bool = False) -> float:
        """Width of ``text`` in points, measured on a scratch page."""
        saved = self._page
        scratch = self.doc.new_page(self.width, self.height)
        self._page = scratch
        try:
            return self.text(0, 0, text, size, bold)
        finally:
            self._page = saved
            self.doc.del_page(len(self.doc) - 1)

    def line(self, x0: float, top0: float, x1: float, top1: float, width: float = 0.8) -> None:
        """A straight stroked line between two points."""
        raw = self._raw
        path = raw.FPDFPageObj_CreateNewPath(x0, self.height - top0)
        raw.FPDFPath_LineTo(path, x1, self.height - top1)
        raw.FPDFPageObj_SetStrokeColor(path, 0, 0, 0, 255)
        raw.FPDFPageObj_SetStrokeWidth(path, ctypes.c_float(width))
        raw.FPDFPath_SetDrawMode(path, 0, 1)
        raw.FPDFPage_InsertObject(self._page.raw, path)

    def paragraph(
        self,
        x: float,
        top: float,
        lines: Sequence[str],
        size: float = 10,
        leading: float = 1.35,
    ) -> float:
        """Lines of text ``leading * size`` apart; returns the bottom edge."""
        for i, content in enumerate(lines):
            self.text(x, top + i * size * leading, content, size)
        return top + len(lines) * size * leading

    def ruled_table(
        self,
        x: float,
        top: float,
        widths: Sequence[float],
        rows: Sequence[Sequence[str]],
        size: float = 9,
        row_h: float = 18,
    ) -> float:
        """A fully ruled table (header row bold, numbers right-aligned); returns the bottom."""
        for i, row in enumerate(rows):
            cx = x
            for j, (w, cell) in enumerate(zip(widths, row, strict=False)):
                text_top = top + i * row_h + (row_h - size) / 2
                if i and j and cell.replace(",", "").replace(".", "").isdigit():
                    tx = cx + w - 4 - self.width_of(cell, size)
                else:
                    tx = cx + 4
                self.text(tx, text_top, cell, size, bold=i == 0)
                cx += w
        bottom = top + len(rows) * row_h
        for i in range(len(rows) + 1):
            self.line(x, top + i * row_h, x + sum(widths), top + i * row_h)
        cx = x
        for w in [0, *widths]:
            cx += w
            self.line(cx, top, cx, bottom)
        return bottom

    def save(self, path: Path) -> Path:
        """Write the PDF (content streams generated for every page)."""
        for page in self.pages:
            self._raw.FPDFPage_GenerateContent(page.raw)
        self.doc.save(str(path))
        return path
