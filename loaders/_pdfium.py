"""Fast page objects for pdfplumber, read with pdfium (pypdfium2) instead of pdfminer.

pdfplumber's ``Page.objects`` interprets the content stream with pdfminer in pure
Python and turns every glyph into a dict; on table-heavy PDFs that is most of the
parse time. pdfium reads the same glyphs and vector paths in C. This module builds
the dicts pdfplumber would build (``{"char": [...], "rect": [...], "line": [...],
"curve": [...]}``, same keys and coordinate conventions) and stores them as the
page's cached ``_objects``, so that ``extract_words``, ``find_tables`` and the rest
of :mod:`loaders.pdf` run unchanged on them.

What is reproduced from pdfminer + pdfplumber:

* char boxes span the advance width and ``descent .. descent + font size`` (the
  font's descent from the standard-14 metrics or the font descriptor), not the
  tight glyph box; ``size`` is the box height as pdfminer computes it (for turned
  glyphs that is their advance, rounded to 0.001); ``upright`` and ``matrix``
  come from the glyph's text matrix (``matrix`` includes horizontal scaling and
  its ``e, f`` are the glyph origin, rise included);
* page rotation (``/Rotate``) and MediaBox origins are applied exactly as
  pdfminer's page matrix and pdfplumber's top-left flip do;
* chars pdfium makes up (spaces and line breaks between text runs, its line-end
  hyphen marker is read as "-") are dropped; a glyph whose ToUnicode gives several
  characters ("fi") is one char, as in pdfminer;
* paths: each subpath is an LTLine (two points), an LTRect (an axis-aligned closed
  four-sided path) or an LTCurve (anything else, with the end points of its
  segments as ``pts``), paths inside form XObjects included.

Where pdfium differs, on purpose or not: ``fontname`` has no subset tag
("ABCDEF+"); runs of spaces, and no-break spaces and tabs, come out as at most one
space (words are still split by the gap); text printed twice at the same spot
(fake bold) comes out once; Arabic presentation forms come out as base letters; a
text state set before a form XObject applies inside it (pdfminer resets it); the
brackets that pdfium mirrors in right-to-left runs are turned back. Not
reproduced: images, annotations, marked-content ids (``mcid``/``tag`` are None),
dash patterns; ``path`` lists pdfium's segments; colors are device RGB in 0..1
(pdfminer keeps the colorspace's own components).

Any failure raises :class:`PdfiumReadError` and the caller reads that page with
pdfminer; so does a page where pdfium visibly lost text (a "space" with ink).

pdfium is not thread-safe: every call into it runs under one module lock.
"""

from __future__ import annotations

import ctypes
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["PdfiumDocument", "PdfiumReadError", "open_document"]

logger = logging.getLogger(__name__)

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


class PdfiumDocument:
    """One PDF opened with pdfium; :meth:`install` fills pdfplumber pages' objects.

    Use as a context manager (or call :meth:`close`): pdfium memory is freed there,
    not by the garbage collector.
    """

    def __init__(self, source: Path | str | bytes) -> None:
        fn = _fn()
        import pypdfium2 as pdfium

        with _LOCK:
            try:
                data = source if isinstance(source, bytes) else str(source)
                self._doc: Any = pdfium.PdfDocument(data)
            except Exception as exc:
                raise PdfiumReadError(f"pdfium cannot open the document: {exc}") from exc
        self._fn = fn

    def __enter__(self) -> PdfiumDocument:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._doc)

    def close(self) -> None:
        """Free the pdfium document (idempotent)."""
        with _LOCK:
            if self._doc is not None:
                self._doc.close()
                self._doc = None

    def page_objects(self, index: int, page: Any) -> dict[str, list[dict[str, Any]]]:
        """pdfplumber-style objects of page ``index``; ``page`` is the pdfplumber Page
        (its geometry and numbering are used). Raises PdfiumReadError."""
        if self._doc is None:
            raise PdfiumReadError("the document is closed")
        geometry = _Geometry.of(page)
        with _LOCK:
            try:
                pdf_page = self._doc[index]
            except Exception as exc:
                raise PdfiumReadError(f"pdfium cannot load page {index + 1}: {exc}") from exc
            try:
                textpage = pdf_page.get_textpage()
                try:
                    chars = _read_chars(self._fn, textpage.raw, geometry)
                finally:
                    textpage.close()
                shapes = _read_paths(self._fn, pdf_page.raw, geometry)
            except PdfiumReadError:
                raise
            except Exception as exc:
                raise PdfiumReadError(f"pdfium failed on page {index + 1}: {exc}") from exc
            finally:
                pdf_page.close()
        objects: dict[str, list[dict[str, Any]]] = {}
        if chars:
            objects["char"] = chars
        for kind, obj in shapes:
            objects.setdefault(kind, []).append(obj)
        return objects

    def install(self, index: int, page: Any) -> bool:
        """Set ``page._objects`` (pdfplumber's cache) from pdfium; False (and the page
        left to pdfminer) when pdfium fails on it."""
        try:
            page._objects = self.page_objects(index, page)
        except Exception as exc:  # PdfiumReadError, or an odd page pdfplumber accepts
            logger.debug("page %d: pdfium failed, using pdfminer: %s", index + 1, exc)
            return False
        return True


@contextmanager
def open_document(source: Path | str | bytes) -> Iterator[PdfiumDocument | None]:
    """A :class:`PdfiumDocument`, or None when pdfium cannot open the file (logged at
    DEBUG; the caller then reads every page with pdfminer). Always closed on exit."""
    try:
        doc = PdfiumDocument(source)
    except Exception as exc:  # PdfiumReadError, or pypdfium2 missing / broken
        logger.debug("pdfium unavailable for %s, using pdfminer: %s", _name(source), exc)
        yield None
        return
    try:
        yield doc
    finally:
        doc.close()


def _name(source: Path | str | bytes) -> str:
    return "<bytes>" if isinstance(source, bytes) else str(source)


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


def _page_text(fn: _Fn, textpage: Any, count: int) -> str:
    """All of the text page's characters in one call (one UTF-16 unit per char)."""
    if count == 0:
        return ""
    buffer = (ctypes.c_ushort * (count + 1))()
    written = fn.raw.FPDFText_GetText(textpage, 0, count, buffer)
    if written != count + 1:  # count chars and the terminating NUL
        raise PdfiumReadError(f"pdfium gave {written - 1} of {count} characters")
    text = bytes(buffer)[: 2 * count].decode("utf-16-le", "surrogatepass")
    if len(text) != count:
        raise PdfiumReadError("unexpected text length")
    return text


def _read_chars(fn: _Fn, textpage: Any, geo: _Geometry) -> list[dict[str, Any]]:
    """pdfplumber char dicts of a pdfium text page (see the module doc)."""
    raw = fn.raw
    count = raw.FPDFText_CountChars(textpage)
    if count < 0:
        raise PdfiumReadError("pdfium could not read the text layer")
    page_text = _page_text(fn, textpage, count)
    tp = ctypes.cast(textpage, ctypes.c_void_p).value
    is_generated = fn.is_generated
    get_loose = fn.loose_box
    get_origin = fn.origin
    text_object = fn.text_object
    loose = (ctypes.c_float * 4)()  # FS_RECTF: left, top, right, bottom
    origin_xy = (ctypes.c_double * 2)()
    ink = (ctypes.c_double * 4)()  # FPDFText_GetCharBox: left, right, bottom, top
    ink_ref = ctypes.addressof(ink)
    get_ink = fn.char_box
    loose_ref = ctypes.addressof(loose)
    ox_ref = ctypes.addressof(origin_xy)
    oy_ref = ox_ref + ctypes.sizeof(ctypes.c_double)
    fn.fonts.clear()
    ca, cb, cc, cd, ce, cf = geo.ctm
    height, mb_x0, mb_top, doctop0 = geo.height, geo.mb_x0, geo.mb_top, geo.doctop
    page_number = geo.page_number
    runs: dict[int, _Run] = {}
    widths: dict[int, dict[int, float | None]] = {}  # font -> code point -> width
    font_widths: dict[int, float | None] = {}
    chars: list[dict[str, Any]] = []
    pending_high = ""
    last_ux = last_uy = float("nan")
    last_handle: int | None = None
    last_box: tuple[float, ...] = ()
    run: _Run | None = None
    current = None
    for index, unit in enumerate(page_text):
        if unit in _WHITESPACE and is_generated(tp, index):
            continue
        handle = text_object(tp, index)
        orphan = not handle
        if orphan:
            if unit not in _WHITESPACE or run is None:
                continue  # not from the content stream
            # a real space of a right-to-left line that pdfium moved into place and
            # detached from its text object: it still separates the words around it
            # (it takes the metrics of the run before it)
        elif handle != current:
            run = runs.get(handle)
            if run is None:
                run = runs[handle] = _Run.read(fn, textpage, index, handle, geo.ctm)
            current = handle
            pa, pb, pc, pd = run.pdfium_abcd
            a, b, c, d = run.abcd
            lo, hi, axis, size = run.lo, run.hi, run.axis, run.size
            fontname, upright, font_key, font_size = (
                run.fontname,
                run.upright,
                run.font_key,
                run.font_size,
            )
            fill_color, stroke_color = run.fill_color, run.stroke_color
            font_widths = widths.setdefault(font_key, {})
        assert run is not None
        code = ord(unit)
        if 0xD800 <= code < 0xDC00:  # a surrogate pair arrives as two chars
            pending_high = unit
            continue
        if 0xDC00 <= code < 0xE000 and pending_high:
            text = (pending_high + unit).encode("utf-16", "surrogatepass").decode("utf-16")
        else:
            text = unit
        pending_high = ""
        if code == 0xFFFE or code == 0x02:  # pdfium's marker for a line-end hyphen
            text = "-"
            code = 0x2D
        get_origin(tp, index, ox_ref, oy_ref)
        get_loose(tp, index, loose_ref)
        ux, uy = origin_xy
        left, ltop, right, lbottom = loose
        same_origin = ux == last_ux and uy == last_uy and handle == last_handle
        if (
            same_origin
            and left == last_box[0]
            and right == last_box[2]
            and ltop == last_box[1]
            and lbottom == last_box[3]
            and chars
        ):
            # one glyph whose ToUnicode gives several characters ("fi", " ."):
            # pdfium lists each on its own, pdfminer keeps one char with all of them
            # (a right-to-left ligature's parts go in drawing order, as pdfminer's
            # glyphs do: the words of such lines are reversed later)
            if _RTL.search(text):
                chars[-1]["text"] = text + chars[-1]["text"]
            else:
                chars[-1]["text"] += text
            continue
        last_ux, last_uy, last_handle, last_box = ux, uy, handle, (left, ltop, right, lbottom)
        # the pdfminer box (advance width x descent..descent + size) in pdfium's
        # user space; pdfium's loose box (advance x its own ascent..descent, joined
        # with the glyph's ink) gives where the advance lies. pdfium gives every glyph
        # of some runs the run's origin (and spreads the run's width over their loose
        # boxes): only the loose box places those
        placed = not same_origin
        if axis == 0:  # glyphs along the page's axes
            if unit == " " and not orphan and (left > ux + 0.01 if pa > 0 else right < ux - 0.01):
                # a "space" whose loose box is ink off its origin: pdfium kept only part
                # of a glyph's text (seen with ToUnicode " ." dot leaders); pdfminer
                # reads such pages right
                raise PdfiumReadError("pdfium lost the text of a visible glyph")
            if placed:
                # the loose box joins the advance and the ink: its far edge is the
                # advance unless ink reaches it ("f", "/", italics); then the font's
                # width (for this code point; it must fit) is the advance
                reach = right - ux if pa > 0 else ux - left
                adv = reach / abs(pa) if pa else 0.0
                width = font_widths.get(code, _UNKNOWN)
                if width is _UNKNOWN:
                    width = font_widths[code] = _advance(fn, run, code)
                if width is not None and abs(pa) * width * font_size < reach - 0.01:
                    get_ink(tp, index, ink_ref, ink_ref + 8, ink_ref + 16, ink_ref + 24)
                    if (ink[1] if pa > 0 else -ink[0]) >= (right if pa > 0 else -left) - 0.01:
                        adv = width * font_size
                bx0, bx1 = ux, ux + pa * adv
            else:
                bx0, bx1 = left, right
                adv = (right - left) / abs(pa) if pa else 0.0
                ux = left if pa > 0 else right
            by0, by1 = uy + pd * lo, uy + pd * hi
        elif axis == 1:  # glyphs turned a quarter
            if placed:
                reach = ltop - uy if pb > 0 else uy - lbottom
                adv = reach / abs(pb)
                width = font_widths.get(code, _UNKNOWN)
                if width is _UNKNOWN:
                    width = font_widths[code] = _advance(fn, run, code)
                if width is not None and abs(pb) * width * font_size < reach - 0.01:
                    get_ink(tp, index, ink_ref, ink_ref + 8, ink_ref + 16, ink_ref + 24)
                    if (ink[3] if pb > 0 else -ink[2]) >= (ltop if pb > 0 else -lbottom) - 0.01:
                        adv = width * font_size
                by0, by1 = uy, uy + pb * adv
            else:
                by0, by1 = lbottom, ltop
                adv = (ltop - lbottom) / abs(pb)
                uy = lbottom if pb > 0 else ltop
            bx0, bx1 = ux + pc * lo, ux + pc * hi
        else:  # any other angle: solve the loose hull for the advance
            if abs(pa) >= abs(pb):
                adv = (right - left - abs(pc) * run.loose_height) / abs(pa)
            else:
                adv = (ltop - lbottom - abs(pd) * run.loose_height) / abs(pb)
            adv = max(adv, 0.0)
            xs = (pc * lo, pc * hi, pa * adv + pc * lo, pa * adv + pc * hi)
            ys = (pd * lo, pd * hi, pb * adv + pd * lo, pb * adv + pd * hi)
            bx0, bx1, by0, by1 = ux + min(xs), ux + max(xs), uy + min(ys), uy + max(ys)
        if adv < 0.001 and not orphan and text.isspace():
            # pdfium re-places some spaces of right-to-left lines at the start of the
            # previous word with no width; there they would split that word
            continue
        # to pdfminer's space (page rotation and MediaBox origin)
        px0, py0 = bx0 * ca + by0 * cc + ce, bx0 * cb + by0 * cd + cf
        px1, py1 = bx1 * ca + by1 * cc + ce, bx1 * cb + by1 * cd + cf
        x0, x1 = (px0, px1) if px0 <= px1 else (px1, px0)
        y0, y1 = (py0, py1) if py0 <= py1 else (py1, py0)
        top = (height - y1) + mb_top
        if run.size is None:  # rounded: pdfium's float32 would make equal glyphs differ
            size = round(y1 - y0, 3)
        chars.append(
            {
                "matrix": (a, b, c, d, ux * ca + uy * cc + ce, ux * cb + uy * cd + cf),
                "fontname": fontname,
                "adv": round(adv, 4),
                "upright": upright,
                "x0": x0 + mb_x0,
                "y0": y0,
                "x1": x1 + mb_x0,
                "y1": y1,
                "width": x1 - x0,
                "height": y1 - y0,
                "size": size,
                "mcid": None,
                "tag": None,
                "object_type": "char",
                "page_number": page_number,
                "text": text,
                "stroking_color": stroke_color,
                "non_stroking_color": fill_color,
                "top": top,
                "bottom": (height - y0) + mb_top,
                "doctop": doctop0 + top,
            }
        )
    _unmirror(chars)
    return chars


_MIRRORED = dict(zip("()[]{}<>«»‹›", ")(][}{><»«›‹", strict=True))


def _unmirror(chars: list[dict[str, Any]]) -> None:
    """Undo pdfium's bidi mirroring of brackets in right-to-left runs.

    pdfium lists a right-to-left run in logical order (right to left on the page)
    and gives a bracket there its mirrored code point; pdfminer reports the glyph
    as drawn. A bracket whose neighbour in pdfium's order sits on the same line on
    the "wrong" side (the previous char to its right, or the next to its left) is in
    such a run and gets its drawn code point back.
    """
    last = len(chars) - 1
    for index, char in enumerate(chars):
        swapped = _MIRRORED.get(char["text"])
        if swapped is None or not char["upright"]:
            continue
        size = max(char["size"], 1.0)
        prev = chars[index - 1] if index > 0 else None
        nxt = chars[index + 1] if index < last else None
        if (
            prev is not None
            and abs(prev["top"] - char["top"]) < 0.5 * size
            and char["x0"] + 0.1 < prev["x0"] < char["x1"] + 2 * size
        ) or (
            nxt is not None
            and abs(nxt["top"] - char["top"]) < 0.5 * size
            and char["x0"] - 2 * size < nxt["x1"] < char["x1"] - 0.1
        ):
            char["text"] = swapped


def _advance(fn: _Fn, run: _Run, code: int) -> float | None:
    """The glyph's advance width per unit of font size (text space), from the
    font's widths; None when pdfium does not know it."""
    width = ctypes.c_float()
    found = fn.raw.FPDFFont_GetGlyphWidth(run.font, code, ctypes.c_float(1000.0), width)
    return float(width.value) / 1000 if found and width.value > 0 else None


class _Run:
    """What all glyphs of one pdfium text object share (matrix, font, size, color)."""

    __slots__ = (
        "abcd",
        "axis",
        "fill_color",
        "font",
        "font_key",
        "font_size",
        "fontname",
        "hi",
        "lo",
        "loose_height",
        "pdfium_abcd",
        "size",
        "stroke_color",
        "upright",
    )

    abcd: tuple[float, float, float, float]
    axis: int
    font: Any
    font_key: int
    font_size: float
    pdfium_abcd: tuple[float, float, float, float]
    fontname: str
    lo: float
    hi: float
    loose_height: float
    size: float | None
    upright: bool
    fill_color: tuple[float, ...]
    stroke_color: tuple[float, ...]

    @classmethod
    def read(cls, fn: _Fn, textpage: Any, index: int, handle: int, ctm: Matrix) -> _Run:
        raw = fn.raw
        run = cls()
        matrix = raw.FS_MATRIX()
        if not raw.FPDFText_GetMatrix(textpage, index, matrix):
            raise PdfiumReadError("no text matrix")
        pa, pb, pc, pd = matrix.a, matrix.b, matrix.c, matrix.d
        run.pdfium_abcd = (pa, pb, pc, pd)
        # 0: glyphs along pdfium's axes, 1: turned a quarter, 2: any other angle
        # (a skew of 1/1000 or less, common in generated PDFs, counts as none)
        if abs(pb) <= 1e-3 * abs(pa) and abs(pc) <= 1e-3 * abs(pd):
            run.axis = 0
        elif abs(pa) <= 1e-3 * abs(pb) and abs(pd) <= 1e-3 * abs(pc):
            run.axis = 1
        else:
            run.axis = 2
        a, b, c, d, _e, _f = _mult((pa, pb, pc, pd, 0.0, 0.0), ctm)
        run.abcd = (a, b, c, d)
        run.upright = a * d > 0 and b * c <= 0
        font_size = raw.FPDFText_GetFontSize(textpage, index)
        obj = ctypes.cast(ctypes.c_void_p(handle), raw.FPDF_PAGEOBJECT)
        font = raw.FPDFTextObj_GetFont(obj)
        if not font:
            raise PdfiumReadError("a text object without a font")
        run.font = font
        run.font_key = ctypes.cast(font, ctypes.c_void_p).value or 0
        run.font_size = font_size
        info = fn.fonts.get(run.font_key)
        if info is None:
            info = fn.fonts[run.font_key] = _font_info(fn, font)
        run.fontname, ascent, descent, embedded = info
        run.loose_height = (ascent - descent) * font_size
        # pdfminer takes the standard-14 names (and aliases such as Arial) from its
        # AFM table; pdfium drops the subset tag ("ABCDEF+"), which those fonts
        # (embedded) have, so the table only serves fonts that are not embedded
        desc = None if embedded else fn.afm.get(run.fontname)
        if desc is None:
            desc = descent
        if desc > 0:  # pdfminer: /Descent is always taken as negative
            desc = -desc
        run.lo = desc * font_size
        run.hi = run.lo + font_size
        # pdfminer's size is the box height; for glyphs that are not rotated it is
        # exactly font size x vertical scale: computing it once keeps words whole
        if abs(b) <= 1e-3 * abs(a) and abs(c) <= 1e-3 * abs(d):
            run.size = round(abs(d) * font_size, 4)
        else:  # the box height, which depends on each glyph's advance
            run.size = None
        run.fill_color = _color(fn, raw.FPDFPageObj_GetFillColor, obj)
        run.stroke_color = _color(fn, raw.FPDFPageObj_GetStrokeColor, obj)
        return run


def _base_font_name(raw: Any, font: Any) -> str:
    """The font's /BaseFont (pdfium leaves out a subset tag such as "ABCDEF+")."""
    size = raw.FPDFFont_GetBaseFontName(font, None, 0)
    if size <= 0:
        return ""
    buffer = ctypes.create_string_buffer(size)
    raw.FPDFFont_GetBaseFontName(font, buffer, size)
    name = buffer.value.decode("utf-8", "replace")
    return _SUBSET_TAG.sub("", name)


def _font_info(fn: _Fn, font: Any) -> tuple[str, float, float, bool]:
    """Name, ascent and descent (per unit of font size), and whether it is embedded."""
    raw = fn.raw
    ascent, descent = ctypes.c_float(), ctypes.c_float()
    raw.FPDFFont_GetAscent(font, ctypes.c_float(1.0), ascent)
    raw.FPDFFont_GetDescent(font, ctypes.c_float(1.0), descent)
    embedded = bool(raw.FPDFFont_GetIsEmbedded(font))
    return _base_font_name(raw, font), ascent.value, descent.value, embedded


def _color(fn: _Fn, getter: Any, obj: Any) -> tuple[float, ...]:
    """An object's fill or stroke color as device RGB in 0..1 ((0.0,) if unknown)."""
    r, g, b, a = fn.rgba
    if not getter(obj, r, g, b, a):
        return (0.0,)
    return (r.value / 255, g.value / 255, b.value / 255)


# ---------------------------------------------------------------------------- paths

_LINETO, _BEZIERTO, _MOVETO = 0, 1, 2
_PAGEOBJ_PATH, _PAGEOBJ_FORM = 2, 5
_MAX_FORM_DEPTH = 15


def _read_paths(fn: _Fn, page: Any, geo: _Geometry) -> list[tuple[str, dict[str, Any]]]:
    """(kind, dict) of every painted subpath of the page, in drawing order."""
    out: list[tuple[str, dict[str, Any]]] = []
    handle = ctypes.cast(page, ctypes.c_void_p).value
    count = fn.raw.FPDFPage_CountObjects(page)
    if count < 0:
        raise PdfiumReadError("pdfium could not list the page objects")
    objects = [fn.page_object(handle, i) for i in range(count)]
    _walk(fn, objects, geo.ctm, geo, out, 0)
    return out


def _walk(
    fn: _Fn,
    objects: list[int],
    parent: Matrix,
    geo: _Geometry,
    out: list[tuple[str, dict[str, Any]]],
    depth: int,
) -> None:
    """Paths of ``objects`` (page-object addresses), forms entered with their matrix."""
    matrix = (ctypes.c_float * 6)()
    matrix_ref = ctypes.addressof(matrix)
    for obj in objects:
        kind = fn.object_type(obj)
        if kind not in (_PAGEOBJ_PATH, _PAGEOBJ_FORM):
            continue
        if not fn.object_matrix(obj, matrix_ref):
            raise PdfiumReadError("no object matrix")
        full = _mult(tuple(matrix), parent)  # type: ignore[arg-type]
        if kind == _PAGEOBJ_FORM:
            if depth >= _MAX_FORM_DEPTH:
                continue
            count = fn.form_count(obj)
            children = [fn.form_object(obj, i) for i in range(count)]
            _walk(fn, children, full, geo, out, depth + 1)
            continue
        out.extend(_path_shapes(fn, obj, full, geo))


def _path_shapes(fn: _Fn, obj: int, m: Matrix, geo: _Geometry) -> list[tuple[str, dict[str, Any]]]:
    """One pdfium path object -> pdfminer's LTLine/LTRect/LTCurve dicts (one per subpath)."""
    raw = fn.raw
    modes = (ctypes.c_int * 2)()  # fill mode, stroke
    modes_ref = ctypes.addressof(modes)
    if not fn.draw_mode(obj, modes_ref, modes_ref + ctypes.sizeof(ctypes.c_int)):
        raise PdfiumReadError("no path draw mode")
    fill_mode, stroke = modes
    fill = fill_mode != 0
    stroked = bool(stroke)
    if not fill and not stroked:
        return []
    a, b, c, d, e, f = m
    xy = (ctypes.c_float * 2)()
    x_ref = ctypes.addressof(xy)
    y_ref = x_ref + ctypes.sizeof(ctypes.c_float)
    segment, point, seg_type, seg_close = fn.segment, fn.point, fn.seg_type, fn.seg_close
    # segments as pdfminer records them: ("m"|"l"|"c"|"h", points...) in pdfminer space
    path: list[tuple[Any, ...]] = []
    bezier: list[tuple[float, float]] = []
    for j in range(fn.segment_count(obj)):
        seg = segment(obj, j)
        if not seg or not point(seg, x_ref, y_ref):
            raise PdfiumReadError("unreadable path segment")
        px, py = xy
        pt = (px * a + py * c + e, px * b + py * d + f)
        kind = seg_type(seg)
        if kind == _MOVETO:
            path.append(("m", pt))
        elif kind == _LINETO:
            path.append(("l", pt))
        elif kind == _BEZIERTO:
            bezier.append(pt)
            if len(bezier) == 3:
                path.append(("c", *bezier))
                bezier = []
        else:
            raise PdfiumReadError(f"unknown path segment type {kind}")
        if seg_close(seg):
            path.append(("h",))
    if not path:
        return []
    handle = ctypes.cast(ctypes.c_void_p(obj), raw.FPDF_PAGEOBJECT)
    width = ctypes.c_float()
    linewidth = width.value if raw.FPDFPageObj_GetStrokeWidth(handle, width) else 0.0
    style = {
        "linewidth": float(linewidth),
        "stroke": stroked,
        "fill": fill,
        "evenodd": fill_mode == 1,
        "stroking_color": _color(fn, raw.FPDFPageObj_GetStrokeColor, handle),
        "non_stroking_color": _color(fn, raw.FPDFPageObj_GetFillColor, handle),
    }
    shapes: list[tuple[str, dict[str, Any]]] = []
    for sub in _subpaths(path):
        shape = _classify(sub, style, geo)
        if shape is not None:
            shapes.append(shape)
    return shapes


def _subpaths(path: list[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    """Split at each "m", as pdfminer's ``paint_path`` does."""
    current: list[tuple[Any, ...]] = []
    for seg in path:
        if seg[0] == "m" and current:
            yield current
            current = []
        current.append(seg)
    if current:
        yield current


def _classify(
    path: list[tuple[Any, ...]], style: dict[str, Any], geo: _Geometry
) -> tuple[str, dict[str, Any]] | None:
    """pdfminer's ``PDFLayoutAnalyzer.paint_path`` for one subpath, then pdfplumber's
    ``process_object`` for the resulting dict."""
    shape = "".join(seg[0] for seg in path)
    if shape[:1] != "m":
        return None
    pts = [seg[-1] if seg[0] != "h" else path[0][-1] for seg in path]
    if len(shape) > 3 and shape[-2:] == "lh" and pts[-2] == pts[0]:
        shape = shape[:-2] + "h"
        pts.pop()
    kind = "curve"
    if shape in ("mlh", "ml"):
        kind = "line"
        pts = pts[:2]
    elif shape in ("mlllh", "mllll"):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3), _ = pts
        closed = pts[0] == pts[4]
        square = (x0 == x1 and y1 == y2 and x2 == x3 and y3 == y0) or (
            y0 == y1 and x1 == x2 and y2 == y3 and x3 == x0
        )
        if closed and square:
            kind = "rect"  # LTRect rebuilds its corners from the first and third point
            (x0, y0), (x1, y1) = pts[0], pts[2]
            pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    bx0, by0, bx1, by1 = min(xs), min(ys), max(xs), max(ys)
    height, mb_x0, mb_top = geo.height, geo.mb_x0, geo.mb_top

    def coord(pt: tuple[float, float]) -> tuple[float, float]:
        return (mb_x0 + pt[0], mb_top + height - pt[1])

    obj: dict[str, Any] = {
        "x0": bx0 + mb_x0,
        "y0": by0,
        "x1": bx1 + mb_x0,
        "y1": by1,
        "width": bx1 - bx0,
        "height": by1 - by0,
        "pts": [coord(p) for p in pts],
        **style,
        "mcid": None,
        "tag": None,
        "object_type": kind,
        "page_number": geo.page_number,
        "path": [(seg[0], *(coord(p) for p in seg[1:])) for seg in path],
        "dash": None,
        "top": (height - by1) + mb_top,
        "bottom": (height - by0) + mb_top,
    }
    obj["doctop"] = geo.doctop + obj["top"]
    return kind, obj
