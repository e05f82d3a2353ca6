"""Hostile inputs, generated: a DOCX decompression bomb, damaged PDFs, odd file names."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from tests.support.make_docs import multipage_table_pdf, write_docx

__all__ = ["damaged_pdf", "docx_bomb", "many_element_docx"]


def docx_bomb(path: Path, *, unpacked_mb: int = 300) -> Path:
    """A real DOCX whose ``word/document.xml`` unpacks to about ``unpacked_mb`` MiB
    (one paragraph of repeated text), a few hundred KiB on disk."""
    plain = path.with_name(path.stem + "_plain.docx")
    write_docx(plain)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                target.writestr(info, source.read(info.filename), zipfile.ZIP_DEFLATED)
                continue
            xml = source.read(info.filename)
            head, tail = xml.split(b"<w:body>", 1)
            head += b"<w:body><w:p><w:r><w:t>"
            tail = b"</w:t></w:r></w:p>" + tail
            entry = zipfile.ZipInfo("word/document.xml", date_time=(2024, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            block = b"A" * 2**20
            with target.open(entry, "w", force_zip64=True) as part:
                part.write(head)
                for _ in range(unpacked_mb):
                    part.write(block)
                part.write(tail)
    plain.unlink()
    return path


def many_element_docx(path: Path, *, elements: int) -> Path:
    """A small DOCX whose body holds ``elements`` empty paragraphs (an element flood)."""
    plain = path.with_name(path.stem + "_plain.docx")
    write_docx(plain)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + b"<w:p/>" * elements, 1)
            target.writestr(info, data, zipfile.ZIP_DEFLATED)
    plain.unlink()
    return path


def damaged_pdf(path: Path, kind: str) -> Path:
    """A multi-page PDF damaged in one way: ``no_eof`` (the last bytes cut, %%EOF gone),
    ``bad_xref`` (startxref points nowhere), ``missing_page`` (page 3's content gone)."""
    whole = multipage_table_pdf(path.with_name(path.stem + "_whole.pdf"), n_rows=300)
    data = whole.read_bytes()
    whole.unlink()
    if kind == "bad_xref":
        data = re.sub(rb"startxref\n\d+", b"startxref\n999999", data)
    elif kind == "missing_page":
        start = data.find(b"9 0 obj")
        end = data.find(b"endobj\n", start) + len(b"endobj\n")
        data = data[:start] + b" " * (end - start) + data[end:]
    elif kind == "no_eof":
        data = data[: data.rfind(b"%%EOF")]
    else:
        raise ValueError(kind)
    path.write_bytes(data)
    return path
