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

One concern a module: this one opens documents and installs pages;
:mod:`loaders._pdfium_text` reads characters, :mod:`loaders._pdfium_paths` vector
paths, and :mod:`loaders._pdfium_base` holds the lock, the ctypes prototypes and the
page geometry they share.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._pdfium_base import _LOCK, PdfiumReadError, _fn, _Geometry
from ._pdfium_paths import _read_paths
from ._pdfium_text import _read_chars

__all__ = ["PdfiumDocument", "PdfiumReadError", "open_document"]

logger = logging.getLogger(__name__)


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
