"""Table-aware PDF parsing: offline rules by default, unstructured ``hi_res`` when available.

The offline ("rules") path builds unstructured elements itself, one concern a module:

* :mod:`.words`: characters -> words (gaps relative to the font size, ligatures) -> lines;
* :mod:`.rulings`: the page's horizontal rules (under spanning headers, under header blocks);
* :mod:`.finding`: where tables are: ruled grids (pdfplumber's ``lines`` strategy) and
  unruled blocks of aligned lines (not the labels around a chart's plotted series);
* :mod:`.structure`: what a table is: the header/body model (wrapped cells and row
  labels merged, dot leaders dropped, section rows kept) and ruled grids;
* :mod:`.stream`: unruled tables: columns, the header block, body rows;
* :mod:`.header`: an unruled table's header block (every column's header path, spanning
  and multi-line header cells);
* :mod:`.layout`: text layout and reading order: paragraphs, titles, two-column prose,
  captions and units lines, running headers and footers kept out, tables that continue
  on the next page;
* :mod:`.captions`: captions, units lines and header lines that go with a table;
* :mod:`.apart`: what sits in a grid but is not part of it (caption rows; notes and
  sources, which become text elements pointing at the table with ``parent_id``);
* :mod:`.continued`: tables that go on over pages ("(continued)", repeated headers);
* :mod:`.pages`: pages whose text runs sideways are turned upright first.

Glyphs and rulings are read with pdfium (:mod:`loaders._pdfium`, several times faster
than pdfminer) into pdfplumber's page objects; ``reader="pdfminer"`` keeps pdfplumber's
own reader, and any page pdfium cannot read falls back to it.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from lcelkit.errors import CorruptFileError, EmptyFileError, EncryptedFileError, LoaderError

from ..elements import html_to_table, table_to_markdown
from .layout import PdfReaderName, partition_pdf_rules
from .pages import quiet_pypdf, rotation_for

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

__all__ = [
    "PdfReaderName",
    "PdfStrategy",
    "choose_strategy",
    "hires_available",
    "parse_pdf",
    "partition_pdf_hires",
    "partition_pdf_rules",
    "rotation_for",
]

logger = logging.getLogger(__name__)

PdfStrategy = Literal["auto", "hi_res", "rules"]


HIRES_HINT = (
    "install the hi_res extra (pip install 'lcelkit[hires]') and make unstructured's "
    "layout models available locally, or use pdf_strategy='rules'"
)


@functools.cache
def hires_available() -> bool:
    """True when unstructured_inference is importable AND its layout model loads."""
    if importlib.util.find_spec("unstructured_inference") is None:
        return False
    try:
        from unstructured_inference.models.base import get_model

        get_model()
    except Exception as exc:  # offline hub, missing weights, broken install
        logger.info("hi_res PDF strategy unavailable: %s", exc)
        return False
    return True


def choose_strategy(
    requested: PdfStrategy, available: Callable[[], bool] | None = None, *, source: str = ""
) -> Literal["hi_res", "rules"]:
    """Resolve ``auto`` / ``hi_res`` / ``rules`` into the strategy that will run.

    ``auto`` takes hi_res when it is available, else the offline rules; ``hi_res``
    raises a LoaderError when it is not available. ``available`` defaults to
    :func:`hires_available`.
    """
    if available is None:
        available = hires_available
    if requested == "rules":
        return "rules"
    if requested == "hi_res":
        if not available():
            raise LoaderError(
                source,
                f"{source}: pdf_strategy='hi_res' needs unstructured's layout models, "
                "which are not available",
                hint=HIRES_HINT,
            )
        return "hi_res"
    if requested == "auto":
        return "hi_res" if available() else "rules"
    raise LoaderError(
        source,
        f"{source}: unknown pdf_strategy {requested!r}",
        hint="use one of 'auto', 'hi_res', 'rules'",
    )


def partition_pdf_hires(path: Path) -> list[Element]:
    """unstructured's hi_res partitioning with table structure; tables re-rendered as markdown."""
    from unstructured.documents.elements import Table
    from unstructured.partition.pdf import partition_pdf

    elements = partition_pdf(filename=str(path), strategy="hi_res", infer_table_structure=True)
    for element in elements:
        if isinstance(element, Table) and element.metadata.text_as_html:
            rows, caption = html_to_table(element.metadata.text_as_html)
            if rows:
                element.text = table_to_markdown(rows, caption)
    return list(elements)


def _open_checks(path: Path, source: str) -> None:
    """Raise EncryptedFileError / CorruptFileError before parsing (pypdf)."""
    with quiet_pypdf():
        _pypdf_checks(path, source)


def _pypdf_checks(path: Path, source: str) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:
                ok = 0
            if not ok:
                raise EncryptedFileError(
                    source,
                    f"{source}: the PDF is encrypted (password protected)",
                    hint="decrypt it first (qpdf --decrypt in.pdf out.pdf) and ingest the copy",
                )
        if len(reader.pages) == 0:
            raise CorruptFileError(source, f"{source}: the PDF has no pages", hint="re-export it")
    except LoaderError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise CorruptFileError(
            source,
            f"{source}: the PDF is damaged or truncated ({type(exc).__name__}: {exc})",
            hint="re-download or re-export the file",
        ) from exc


def parse_pdf(
    path: Path,
    *,
    source: str,
    strategy: PdfStrategy = "auto",
    reader: PdfReaderName = "pdfium",
) -> list[Element]:
    """Parse a PDF into elements with the chosen strategy; never returns an empty list.

    ``reader`` picks the glyph reader of the rules strategy (see
    :func:`partition_pdf_rules`).
    """
    if reader not in ("pdfium", "pdfminer"):
        raise LoaderError(
            source,
            f"{source}: unknown PDF reader {reader!r}",
            hint="use 'pdfium' (fast) or 'pdfminer'",
        )
    _open_checks(path, source)
    chosen = choose_strategy(strategy, source=source)
    if chosen == "hi_res":
        try:
            elements = partition_pdf_hires(path)
        except LoaderError:
            raise
        except Exception as exc:  # missing poppler/tesseract, model errors, damaged file
            raise LoaderError(
                source,
                f"{source}: hi_res parsing failed ({type(exc).__name__}: {exc})",
                hint="check the hires extra's system packages (poppler, tesseract), or use "
                "pdf_strategy='rules'",
            ) from exc
    else:
        try:
            elements = partition_pdf_rules(path, reader=reader)
        except LoaderError:
            raise
        except Exception as exc:
            raise CorruptFileError(
                source,
                f"{source}: the PDF could not be parsed ({type(exc).__name__}: {exc})",
                hint="re-export the file, or try pdf_strategy='hi_res' with the hires extra",
            ) from exc
    if not any(e.text.strip() for e in elements):
        raise EmptyFileError(
            source,
            f"{source}: the PDF has no text layer (scanned images?)",
            hint="OCR needs the hires extra: pip install 'lcelkit[hires]', then "
            "pdf_strategy='hi_res'; or OCR the file first (e.g. ocrmypdf)",
        )
    return elements
