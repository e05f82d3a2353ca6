"""The pdfium glyph reader (``loaders._pdfium``): the page objects it builds match the
ones pdfplumber builds with pdfminer (chars, rulings) on generated PDFs, including
MediaBox origins that are not (0, 0), ``/Rotate``, form XObjects and scaled or
stretched text; tables and elements come out the same; a failure falls back to
pdfminer."""

from __future__ import annotations

import io
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pdfplumber
import pytest

from lcelkit.errors import LoaderError
from lcelkit.loaders import _pdfium, _pdfium_text
from lcelkit.loaders import pdf as pdf_mod
from tests.support.make_docs import (
    REGIONS,
    PdfBuilder,
    landscape_table_pdf,
    multipage_table_pdf,
    report_pdf,
    serialize_pdf,
)

# ----------------------------------------------------------------------- raw PDFs

# Text in several fonts and sizes, text scaled by Tm instead of Tf, horizontal
# scaling, rise, character spacing, a line that ends with a hyphen, a glyph whose
# ToUnicode gives two characters (/F3 maps "f" to "fi": "Of ce" reads "Ofi ce"), stroked and
# filled rectangles ("re" and closed paths), a bezier, a coloured line, a clipping
# path (never painted), and a form XObject (text, a line, a rectangle) placed with a
# scaling matrix.
_CONTENT = (
    "BT /F2 16 Tf 72 740 Td (Quarterly report) Tj ET "
    "BT /F1 1 Tf 10 0 0 10 72 700 Tm (Scaled by the text matrix) Tj ET "
    "BT /F1 12 Tf 80 Tz 72 670 Td (Squeezed text) Tj 100 Tz ET "
    "BT /F1 12 Tf 72 640 Td (Base) Tj 3 Ts (rise) Tj 0 Ts ET "
    "BT /F1 11 Tf 0.8 Tc 72 610 Td (Spaced out) Tj 0 Tc ET "
    "BT /F1 10 Tf 72 580 Td (Ring-ding-) Tj 0 -12 Td (dingeringeding) Tj ET "
    "BT /F3 12 Tf 72 540 Td (Of ce work) Tj ET "
    "0.5 w 72 500 m 300 500 l S "
    "72 400 100 50 re S "
    "72 300 m 150 300 l 150 350 l 72 350 l h f "
    "72 200 m 100 250 200 250 250 200 c S "
    "72 150 50 20 re W n "
    "1 0 0 RG 1 w 300 100 m 400 120 l S "
    "0 0 1 rg 300 150 40 40 re f "
    "400 150 m 450 150 l 450 190 l 400 190 l 400 150 l h B "
    "q 2 0 0 2 300 300 cm /Fx Do Q"
)
_FORM = "BT /F1 10 Tf 0 0 Td (Inside a form) Tj ET 0 -5 m 50 -5 l S 0 -20 30 10 re S"


_FI_CMAP = """/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CMapName /FiLigature def /CMapType 2 def
1 begincodespacerange <00> <FF> endcodespacerange
1 beginbfchar <66> <00660069> endbfchar
endcmap CMapName currentdict /CMap defineresource pop end end"""


def _raw_pdf(pages: list[tuple[str, tuple[float, ...], int]]) -> bytes:
    """A PDF of ``(content, MediaBox, /Rotate)`` pages sharing Helvetica (/F1),
    Helvetica-Bold (/F2) and one form XObject (/Fx)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog, tree = add(b""), add(b"")
    f1 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    f2 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>")
    cmap = _FI_CMAP.encode()
    to_unicode = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(cmap), cmap))
    descriptor = add(
        b"<< /Type /FontDescriptor /FontName /FiSans /Flags 32 /FontBBox [-166 -225 1000 931] "
        b"/ItalicAngle 0 /Ascent 718 /Descent -207 /CapHeight 718 /StemV 88 >>"
    )
    f3 = add(  # not a standard-14 name: both readers take /Widths and the descriptor
        b"<< /Type /Font /Subtype /Type1 /BaseFont /FiSans /Encoding /WinAnsiEncoding "
        b"/FirstChar 32 /LastChar 126 /Widths [%s] /FontDescriptor %d 0 R /ToUnicode %d 0 R >>"
        % (b" ".join([b"556"] * 95), descriptor, to_unicode)
    )
    form = _FORM.encode()
    fx = add(
        b"<< /Type /XObject /Subtype /Form /BBox [-100 -100 200 200] /Matrix [1 0 0 1 5 5] "
        b"/Resources << /Font << /F1 %d 0 R >> >> /Length %d >>\nstream\n%s\nendstream"
        % (f1, len(form), form)
    )
    kids = []
    for content, box, rotate in pages:
        data = content.encode()
        stream = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [%s] /Rotate %d /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R /F3 %d 0 R >> "
                b"/XObject << /Fx %d 0 R >> >> >>"
                % (tree, " ".join(f"{v:g}" for v in box).encode(), rotate, stream, f1, f2, f3, fx)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    return serialize_pdf(objects, catalog)


# ----------------------------------------------------------------------- helpers


def _char_keys(page: Any) -> list[tuple[Any, ...]]:
    keys = (
        (
            c["page_number"],
            c["top"],
            c["x0"],
            c["text"],
            c["x1"],
            c["bottom"],
            c["doctop"],
            c["size"],
            c["upright"],
            c["fontname"],
        )
        for c in page.chars
    )
    return list(keys)


def _edge_keys(page: Any) -> list[tuple[Any, ...]]:
    keys = (
        (e["object_type"], e["orientation"], e["top"], e["x0"], e["x1"], e["bottom"])
        for e in page.edges
    )
    return list(keys)


def _shape_keys(page: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {
        kind: [
            (tuple(v for point in obj["pts"] for v in point), obj["stroke"], obj["fill"])
            for obj in page.objects.get(kind, [])
        ]
        for kind in ("rect", "line", "curve")
    }


def _close(new: Any, old: Any, tolerance: float = 0.01) -> bool:
    """Equal, numbers within ``tolerance`` (pdfium works in float32, pdfminer in float64)."""
    if isinstance(new, dict):
        return new.keys() == old.keys() and all(_close(new[k], old[k]) for k in new)
    if isinstance(new, list | tuple):
        return (
            isinstance(old, list | tuple)
            and len(new) == len(old)
            and all(_close(a, b) for a, b in zip(new, old, strict=True))
        )
    if isinstance(new, float) or isinstance(old, float):
        return abs(new - old) <= tolerance
    return new == old


def _unmatched(new: list[Any], old: list[Any]) -> list[Any]:
    """Items of ``old`` with no ``_close`` partner in ``new`` (each partner used once)."""
    free = list(new)
    missing = []
    for item in old:
        partner = next((i for i, cand in enumerate(free) if _close(cand, item)), None)
        if partner is None:
            missing.append(item)
        else:
            free.pop(partner)
    return missing + free


def _assert_same(new: dict[str, Any], old: dict[str, Any]) -> None:
    for part in ("chars", "edges"):
        odd = _unmatched(new[part], old[part])
        assert not odd, f"{part} differ ({len(new[part])} vs {len(old[part])}): {odd[:4]}"
    for kind, shapes in old["shapes"].items():
        odd = _unmatched(new["shapes"][kind], shapes)
        assert not odd, f"{kind}s differ: {odd[:4]}"


def _pages_both(data: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Per page: (what pdfminer gives, what pdfium gives) as comparable keys."""
    out = []
    with (
        pdfplumber.open(io.BytesIO(data)) as old,
        pdfplumber.open(io.BytesIO(data)) as new,
        _pdfium.open_document(data) as doc,
    ):
        assert doc is not None
        for index, (page_old, page_new) in enumerate(zip(old.pages, new.pages, strict=True)):
            assert doc.install(index, page_new), "pdfium fell back to pdfminer"
            out.append(
                tuple(
                    {
                        "chars": _char_keys(page),
                        "edges": _edge_keys(page),
                        "shapes": _shape_keys(page),
                    }
                    for page in (page_old, page_new)
                )
            )
    return out


def _elements(path: Path, reader: pdf_mod.PdfReaderName) -> list[tuple[str, int, str, str]]:
    return [
        (e.category, e.metadata.page_number, e.text, e.metadata.text_as_html or "")
        for e in pdf_mod.partition_pdf_rules(path, reader=reader)
    ]


# ----------------------------------------------------------------------- objects


def test_chars_and_rulings_match_pdfplumbers_on_a_generated_report(tmp_path: Path):
    data = report_pdf(tmp_path / "r.pdf").read_bytes()
    ((old, new),) = _pages_both(data)
    assert len(new["chars"]) > 500
    _assert_same(new, old)
    assert {key[9] for key in new["chars"]} == {"Helvetica", "Helvetica-Bold"}


def test_pages_after_the_first_keep_their_numbers_and_document_offsets(tmp_path: Path):
    data = multipage_table_pdf(tmp_path / "inventory.pdf", n_rows=90).read_bytes()
    pages = _pages_both(data)
    assert len(pages) == 3
    for number, (old, new) in enumerate(pages, start=1):
        assert {key[0] for key in new["chars"]} == {number}
        _assert_same(new, old)
    assert min(key[6] for key in pages[2][1]["chars"]) > 2 * 792  # doctop


@pytest.mark.parametrize(
    ("box", "rotate"),
    [
        ((0, 0, 612, 792), 0),
        ((100, 200, 712, 992), 0),  # MediaBox origin away from (0, 0)
        ((0, 0, 612, 792), 90),
        ((0, 0, 612, 792), 180),
        ((50, -30, 662, 762), 270),  # both
    ],
)
def test_scaled_text_paths_and_forms_match_on_any_mediabox_and_rotation(
    box: tuple[float, ...], rotate: int
):
    ((old, new),) = _pages_both(_raw_pdf([(_CONTENT, box, rotate)]))
    glyphs = Counter(key[3] for key in new["chars"])
    assert "fi" in glyphs  # one char, as pdfminer has it
    for words in ("Scaled by the", "Squeezed text", "Baserise", "Inside a form", "Ring-ding-"):
        assert Counter(words.replace(" ", "")) <= glyphs, words
    _assert_same(new, old)
    # the form's line and rectangle, and no clipping path
    assert len(new["shapes"]["rect"]) == 5 and len(new["shapes"]["line"]) == 3
    assert len(new["shapes"]["curve"]) == 1


def test_rotated_glyphs_match_and_stay_not_upright():
    pdf = PdfBuilder()
    page = pdf.page(sideways=True)
    page.text(72, 50, "Table 6: Revenue by region, landscape", 10)
    page.ruled_table(72, 70, [160, 90, 90, 90, 90], REGIONS)
    ((old, new),) = _pages_both(pdf.build())
    assert not any(key[8] for key in new["chars"] if key[3].strip())
    _assert_same(new, old)


def test_matrix_tells_which_way_sideways_text_runs():
    pdf = PdfBuilder()
    pdf.page(sideways=True).text(72, 50, "Runs up the page", 10)
    data = pdf.build()
    with pdfplumber.open(io.BytesIO(data)) as plumber, _pdfium.open_document(data) as doc:
        assert doc is not None
        page = plumber.pages[0]
        assert doc.install(0, page)
        assert all(c["matrix"][1] > 0 for c in page.chars if c["text"].strip())
        assert pdf_mod.rotation_for(page) == 90


def test_a_ruled_table_is_found_identically(tmp_path: Path):
    path = report_pdf(tmp_path / "r.pdf")
    found = []
    for reader in ("pdfminer", "pdfium"):
        with pdfplumber.open(str(path)) as plumber, _pdfium.open_document(path) as doc:
            page = plumber.pages[0]
            if reader == "pdfium":
                assert doc is not None and doc.install(0, page)
            tables = page.find_tables(
                {"vertical_strategy": "lines", "horizontal_strategy": "lines"}
            )
            found.append(
                [(tuple(round(v, 2) for v in t.bbox), len(t.cells), t.extract()) for t in tables]
            )
    assert found[0] == found[1]
    assert found[1][0][2] == REGIONS


# ----------------------------------------------------------------------- elements


def test_both_readers_give_the_same_elements(tmp_path: Path):
    report = report_pdf(tmp_path / "report.pdf")
    inventory = multipage_table_pdf(tmp_path / "inventory.pdf", n_rows=60)
    rotated = tmp_path / "rotated.pdf"
    rotated.write_bytes(_raw_pdf([(_CONTENT, (0, 0, 612, 792), 90)]))
    for path in (report, inventory, rotated):
        assert _elements(path, "pdfium") == _elements(path, "pdfminer"), path.name
    assert any(kind == "Table" for kind, *_ in _elements(report, "pdfium"))


def test_sideways_page_is_turned_and_read_by_pdfium(tmp_path: Path, monkeypatch):
    path = landscape_table_pdf(tmp_path / "landscape.pdf")
    installed: list[bool] = []
    original = _pdfium.PdfiumDocument.install

    def spy(self: Any, index: int, page: Any) -> bool:
        installed.append(original(self, index, page))
        return installed[-1]

    monkeypatch.setattr(_pdfium.PdfiumDocument, "install", spy)
    elements = _elements(path, "pdfium")
    assert installed == [True, True]  # the page as it is, then turned upright
    monkeypatch.undo()
    assert elements == _elements(path, "pdfminer")
    assert "| North | 12.1 | 13.4 | 15.2 | 16.0 |" in elements[0][2]


# ----------------------------------------------------------------------- failures


def test_a_page_pdfium_cannot_read_falls_back_to_pdfminer(tmp_path: Path, monkeypatch):
    path = report_pdf(tmp_path / "r.pdf")
    expected = _elements(path, "pdfminer")

    def broken(*args: Any) -> list[dict[str, Any]]:
        raise RuntimeError("simulated pdfium failure")

    monkeypatch.setattr(_pdfium, "_read_chars", broken)
    with pdfplumber.open(str(path)) as plumber, _pdfium.open_document(path) as doc:
        assert doc is not None
        page = plumber.pages[0]
        assert doc.install(0, page) is False
        assert not hasattr(page, "_objects")  # pdfplumber reads it with pdfminer
    assert _elements(path, "pdfium") == expected


def test_unreadable_bytes_give_no_pdfium_document():
    with _pdfium.open_document(b"%PDF-1.4 this is not a PDF") as doc:
        assert doc is None


def test_documents_are_closed_on_exit(tmp_path: Path):
    path = report_pdf(tmp_path / "r.pdf")
    with _pdfium.open_document(path) as doc:
        assert doc is not None and len(doc) == 1
    assert doc._doc is None
    with pdfplumber.open(str(path)) as plumber, pytest.raises(_pdfium.PdfiumReadError):
        doc.page_objects(0, plumber.pages[0])


def test_unknown_reader_is_refused(tmp_path: Path):
    path = report_pdf(tmp_path / "r.pdf")
    with pytest.raises(LoaderError, match="unknown PDF reader"):
        pdf_mod.parse_pdf(path, source="r.pdf", strategy="rules", reader="fitz")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown PDF reader"):
        pdf_mod.partition_pdf_rules(path, reader="fitz")  # type: ignore[arg-type]


def test_concurrent_parses_agree(tmp_path: Path):
    path = report_pdf(tmp_path / "r.pdf")
    expected = _elements(path, "pdfium")
    results: list[Any] = []

    def work() -> None:
        results.append(_elements(path, "pdfium"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


# ----------------------------------------------------------------------- helpers


def _char(text: str, x0: float, top: float = 100.0) -> dict[str, Any]:
    return {"text": text, "x0": x0, "x1": x0 + 4, "top": top, "size": 8.0, "upright": True}


def test_brackets_of_right_to_left_runs_get_their_drawn_code_point():
    # pdfium lists "(1)" of a Hebrew line right to left, with mirrored brackets
    rtl = [_char("(", 108), _char("1", 104), _char(")", 100)]
    _pdfium_text._unmirror(rtl)
    assert [c["text"] for c in sorted(rtl, key=lambda c: c["x0"])] == ["(", "1", ")"]
    # left to right text keeps its brackets, as do brackets on other lines
    ltr = [_char("(", 100), _char("1", 104), _char(")", 108), _char(")", 50, top=300)]
    _pdfium_text._unmirror(ltr)
    assert [c["text"] for c in ltr] == ["(", "1", ")", ")"]
