"""Characters of a pdfium text page as pdfplumber's char dicts (see :mod:`loaders._pdfium`
for what is reproduced from pdfminer and where pdfium differs)."""

from __future__ import annotations

import ctypes
from typing import Any

from ._pdfium_base import (
    _RTL,
    _SUBSET_TAG,
    _UNKNOWN,
    _WHITESPACE,
    Matrix,
    PdfiumReadError,
    _color,
    _Fn,
    _Geometry,
    _mult,
)

__all__: list[str] = []


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
