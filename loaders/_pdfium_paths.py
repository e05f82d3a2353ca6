"""Vector paths of a pdfium page as pdfplumber's line, rect and curve dicts (paths inside
form XObjects included; see :mod:`loaders._pdfium`)."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import Any

from ._pdfium_base import Matrix, PdfiumReadError, _color, _Fn, _Geometry, _mult

__all__: list[str] = []

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
