"""pdfium plumbing shared by the readers of :mod:`loaders._pdfium`: the module lock, the
leaner ctypes prototypes (:class:`_Fn`), page geometry (pdfium user space -> pdfminer ->
pdfplumber), matrices and colors. Private to the ``_pdfium*`` modules."""

from __future__ import annotations

import ctypes
import re
import threading
from typing import Any

__all__ = ["Matrix", "PdfiumReadError"]

#: pdfium is not thread-safe (pypdfium2 documents this); one lock for all of it
_LOCK = threading.RLock()

Matrix = tuple[float, float, float, float, float, float]

_RTL = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")

_UNKNOWN: Any = object()

_SUBSET_TAG = re.compile(r"^[A-Z]{6}\+")

#: what pdfium may generate between text runs (spaces, line breaks, markers)
_WHITESPACE = frozenset(" \r\n\t\x02\ufffe\xa0")


class PdfiumReadError(RuntimeError):
    """pdfium could not read a document or a page (the caller falls back to pdfminer)."""


def _afm_descents() -> dict[str, float]:
    """Descent (per unit of font size) of the fonts pdfminer takes from its AFM table."""
    from pdfminer.fontmetrics import FONT_METRICS

    return {name: float(desc.get("Descent", 0)) * 0.001 for name, (desc, _) in FONT_METRICS.items()}


def _page_ctm(mediabox: tuple[float, float, float, float], rotate: int) -> Matrix:
    """pdfminer's page matrix (``PDFPageInterpreter.process_page``)."""
    x0, y0, x1, y1 = mediabox
    if rotate == 90:
        return (0, -1, 1, 0, -y0, x1)
    if rotate == 180:
        return (-1, 0, 0, -1, x1, y1)
    if rotate == 270:
        return (0, 1, -1, 0, y1, -x0)
    return (1, 0, 0, 1, -x0, -y0)


def _mult(m: Matrix, n: Matrix) -> Matrix:
    """``m`` then ``n`` (row-vector convention, as in PDF and pdfminer)."""
    a0, b0, c0, d0, e0, f0 = m
    a1, b1, c1, d1, e1, f1 = n
    return (
        a0 * a1 + b0 * c1,
        a0 * b1 + b0 * d1,
        c0 * a1 + d0 * c1,
        c0 * b1 + d0 * d1,
        e0 * a1 + f0 * c1 + e1,
        e0 * b1 + f0 * d1 + f1,
    )


class _Fn:
    """The pdfium functions used, some with leaner prototypes for the per-glyph loop.

    pypdfium2's bindings convert every argument and return page-object handles as
    ctypes pointer objects; prototypes over ``c_void_p`` take and return plain ints
    (about 40% cheaper per call, and text objects can serve as dict keys). Built
    lazily: importing pypdfium2 loads the shared library.
    """

    def __init__(self) -> None:
        import pypdfium2  # noqa: F401  (initialises the library)
        import pypdfium2.raw as raw

        self.raw = raw
        vp, ci = ctypes.c_void_p, ctypes.c_int
        proto = ctypes.CFUNCTYPE
        self.text_object = ctypes.cast(raw.FPDFText_GetTextObject, proto(vp, vp, ci))
        self.is_generated = ctypes.cast(raw.FPDFText_IsGenerated, proto(ci, vp, ci))
        self.origin = ctypes.cast(raw.FPDFText_GetCharOrigin, proto(ci, vp, ci, vp, vp))
        self.loose_box = ctypes.cast(raw.FPDFText_GetLooseCharBox, proto(ci, vp, ci, vp))
        self.char_box = ctypes.cast(raw.FPDFText_GetCharBox, proto(ci, vp, ci, vp, vp, vp, vp))
        # paths
        cl = ctypes.c_ulong
        self.page_object = ctypes.cast(raw.FPDFPage_GetObject, proto(vp, vp, ci))
        self.object_type = ctypes.cast(raw.FPDFPageObj_GetType, proto(ci, vp))
        self.object_matrix = ctypes.cast(raw.FPDFPageObj_GetMatrix, proto(ci, vp, vp))
        self.form_count = ctypes.cast(raw.FPDFFormObj_CountObjects, proto(ci, vp))
        self.form_object = ctypes.cast(raw.FPDFFormObj_GetObject, proto(vp, vp, cl))
        self.draw_mode = ctypes.cast(raw.FPDFPath_GetDrawMode, proto(ci, vp, vp, vp))
        self.segment_count = ctypes.cast(raw.FPDFPath_CountSegments, proto(ci, vp))
        self.segment = ctypes.cast(raw.FPDFPath_GetPathSegment, proto(vp, vp, ci))
        self.point = ctypes.cast(raw.FPDFPathSegment_GetPoint, proto(ci, vp, vp, vp))
        self.seg_type = ctypes.cast(raw.FPDFPathSegment_GetType, proto(ci, vp))
        self.seg_close = ctypes.cast(raw.FPDFPathSegment_GetClose, proto(ci, vp))
        self.afm = _afm_descents()
        self.rgba = tuple(ctypes.c_uint() for _ in range(4))
        #: font address -> (name, ascent, descent, embedded); cleared for every page
        #: (see _read_chars), as a closed page's font may free its address
        self.fonts: dict[int, tuple[str, float, float, bool]] = {}


_FN: _Fn | None = None


def _fn() -> _Fn:
    global _FN
    if _FN is None:
        _FN = _Fn()
    return _FN


class _Geometry:
    """Page numbers and transforms: pdfium user space -> pdfminer -> pdfplumber."""

    __slots__ = ("ctm", "doctop", "height", "mb_top", "mb_x0", "page_number")

    def __init__(
        self,
        ctm: Matrix,
        height: float,
        mb_x0: float,
        mb_top: float,
        doctop: float,
        page_number: int,
    ) -> None:
        self.ctm = ctm
        self.height = height
        self.mb_x0 = mb_x0
        self.mb_top = mb_top
        self.doctop = doctop
        self.page_number = page_number

    @classmethod
    def of(cls, page: Any) -> _Geometry:
        """From a pdfplumber Page (and its pdfminer PDFPage)."""
        page_obj = page.page_obj
        mediabox = tuple(float(v) for v in page_obj.mediabox)
        if len(mediabox) != 4:
            raise PdfiumReadError(f"unexpected MediaBox {page_obj.mediabox!r}")
        ctm = _page_ctm(mediabox, int(page_obj.rotate))  # type: ignore[arg-type]
        return cls(
            ctm,
            float(page.height),
            float(page.mediabox[0]),
            float(page.mediabox[1]),
            float(page.initial_doctop),
            int(page.page_number),
        )


def _color(fn: _Fn, getter: Any, obj: Any) -> tuple[float, ...]:
    """An object's fill or stroke color as device RGB in 0..1 ((0.0,) if unknown)."""
    r, g, b, a = fn.rgba
    if not getter(obj, r, g, b, a):
        return (0.0,)
    return (r.value / 255, g.value / 255, b.value / 255)
