"""Generate small test documents (PDF, DOCX) without extra dependencies.

PDFs come from a tiny raw PDF writer (Helvetica base-14 fonts, lines, a grayscale
image): reportlab and LibreOffice are not available, fpdf2 would be one more
dependency, and a hand-written PDF keeps the exact layout (ruled vs whitespace-
aligned tables) under the test's control. Text is Latin-1 only.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "PdfBuilder",
    "PdfPage",
    "encrypted_pdf",
    "landscape_table_pdf",
    "multipage_table_pdf",
    "report_pdf",
    "scanned_pdf",
    "serialize_pdf",
    "write_docx",
]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _text_width(text: str, size: float) -> float:
    """Rough Helvetica width (0.5 em per char is close enough for layout)."""
    return 0.5 * size * len(text)


@dataclass
class PdfPage:
    """One page: drawing operations in top-left coordinates (points)."""

    width: float
    height: float
    ops: list[str] = field(default_factory=list)
    image: tuple[int, int, bytes, tuple[float, float, float, float]] | None = None
    sideways: bool = False  # drawn on a landscape canvas, printed turned onto a portrait page

    def text(self, x: float, top: float, text: str, size: float = 10, bold: bool = False) -> None:
        """Draw one line of text whose top edge is ``top`` points below the page top."""
        font = "F2" if bold else "F1"
        baseline = self.height - top - size * 0.8
        self.ops.append(f"BT /{font} {size} Tf {x:.2f} {baseline:.2f} Td ({_escape(text)}) Tj ET")

    def line(self, x0: float, top0: float, x1: float, top1: float, width: float = 0.8) -> None:
        """A straight line between two points (top-left coordinates)."""
        y0, y1 = self.height - top0, self.height - top1
        self.ops.append(f"{width} w {x0:.2f} {y0:.2f} m {x1:.2f} {y1:.2f} l S")

    def gray_image(self, pixels: bytes, cols: int, rows: int, box: tuple[float, ...]) -> None:
        """Place an 8-bit grayscale image in ``box`` = (x, top, width, height)."""
        x, top, w, h = box
        self.image = (cols, rows, pixels, (x, top, w, h))
        self.ops.append(f"q {w:.2f} 0 0 {h:.2f} {x:.2f} {self.height - top - h:.2f} cm /Im1 Do Q")

    def ruled_table(
        self,
        x: float,
        top: float,
        widths: Sequence[float],
        rows: Sequence[Sequence[str]],
        size: float = 9,
        row_h: float = 16,
    ) -> float:
        """A table with a full grid of lines; returns the bottom edge."""
        total_w = sum(widths)
        for i, row in enumerate(rows):
            cx = x
            for w, cell in zip(widths, row, strict=False):
                self.text(cx + 3, top + i * row_h + (row_h - size) / 2, cell, size, bold=i == 0)
                cx += w
        bottom = top + len(rows) * row_h
        for i in range(len(rows) + 1):
            self.line(x, top + i * row_h, x + total_w, top + i * row_h)
        cx = x
        for w in [0, *widths]:
            cx += w
            self.line(cx, top, cx, bottom)
        return bottom

    def stream_table(
        self,
        x: float,
        top: float,
        widths: Sequence[float],
        rows: Sequence[Sequence[str]],
        size: float = 9,
        row_h: float = 14,
    ) -> float:
        """A table aligned by whitespace only (no lines); numbers right-aligned."""
        for i, row in enumerate(rows):
            cx = x
            for j, (w, cell) in enumerate(zip(widths, row, strict=False)):
                tx = cx + w - _text_width(cell, size) - 4 if j > 0 else cx
                self.text(tx, top + i * row_h, cell, size, bold=i == 0)
                cx += w
        return top + len(rows) * row_h

    def paragraph(
        self, x: float, top: float, text: str, size: float = 10, width: float = 460
    ) -> float:
        """Wrap ``text`` into lines; returns the bottom edge."""
        per_line = max(10, int(width / (0.5 * size)))
        words, line, lines = text.split(), "", []
        for word in words:
            if line and len(line) + 1 + len(word) > per_line:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        if line:
            lines.append(line)
        for i, content in enumerate(lines):
            self.text(x, top + i * size * 1.35, content, size)
        return top + len(lines) * size * 1.35


def serialize_pdf(objects: list[bytes], root: int) -> bytes:
    """Numbered objects (1-based, in order) -> PDF bytes with a valid xref and trailer."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(
        b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, root, xref)
    )
    return out.getvalue()


class PdfBuilder:
    """Collect pages, then ``build()`` the PDF bytes."""

    def __init__(self, width: float = 612, height: float = 792) -> None:
        self.width, self.height = width, height
        self.pages: list[PdfPage] = []

    def page(self, *, sideways: bool = False) -> PdfPage:
        """Start a new page; ``sideways`` draws a landscape page turned 90 degrees onto a
        portrait sheet (its text runs up the page, like a rotated table in a report)."""
        if sideways:
            page = PdfPage(self.height, self.width, sideways=True)
        else:
            page = PdfPage(self.width, self.height)
        self.pages.append(page)
        return page

    def build(self) -> bytes:
        """Serialize: catalog, page tree, two fonts, pages with content streams, xref."""
        objects: list[bytes] = []

        def add(body: bytes) -> int:
            objects.append(body)
            return len(objects)

        catalog = add(b"")
        pages_id = add(b"")
        f1 = add(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
        )
        f2 = add(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
            b"/Encoding /WinAnsiEncoding >>"
        )
        kids = []
        for page in self.pages:
            ops = "\n".join(page.ops)
            if page.sideways:  # (x, y) -> (width - y, x): a quarter turn counter-clockwise
                ops = f"q 0 1 -1 0 {self.width} 0 cm\n{ops}\nQ"
            content = zlib.compress(ops.encode("latin-1"))
            content_id = add(
                b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
                + content
                + b"\nendstream"
            )
            xobject = b""
            if page.image is not None:
                cols, rows, pixels, _ = page.image
                data = zlib.compress(pixels)
                image_id = add(
                    b"<< /Type /XObject /Subtype /Image /Width %d /Height %d "
                    b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
                    b"/Length %d >>\nstream\n" % (cols, rows, len(data)) + data + b"\nendstream"
                )
                xobject = b" /XObject << /Im1 %d 0 R >>" % image_id
            page_id = add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >>%s >> >>"
                % (pages_id, self.width, self.height, content_id, f1, f2, xobject)
            )
            kids.append(page_id)
        objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
        objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
            b" ".join(b"%d 0 R" % k for k in kids),
            len(kids),
        )
        return serialize_pdf(objects, catalog)


REGIONS = [
    ["Region", "Q1", "Q2", "Q3", "Q4"],
    ["North", "12.1", "13.4", "15.2", "16.0"],
    ["South", "9.8", "10.2", "11.7", "12.3"],
    ["East", "7.5", "8.1", "8.9", "9.4"],
    ["West", "11.0", "11.6", "12.8", "13.5"],
]

OFFICES = [
    ["Office", "Engineers", "Sales", "Support"],
    ["Seoul", "42", "17", "9"],
    ["Busan", "11", "6", "4"],
    ["Berlin", "23", "8", "5"],
    ["Austin", "31", "14", "7"],
]


def report_pdf(path: Path) -> Path:
    """A one-page report: headings, paragraphs, a bulleted list, a ruled and an unruled table."""
    pdf = PdfBuilder()
    page = pdf.page()
    page.text(72, 60, "Acme Analytics Annual Report 2024", 18, bold=True)
    top = page.paragraph(
        72,
        95,
        "This report summarises the revenue of Acme Analytics by region and the headcount "
        "of each office. All revenue figures are in millions of US dollars.",
    )
    page.text(72, top + 16, "Revenue by region", 13, bold=True)
    page.text(72, top + 40, "Table 1: Quarterly revenue by region (USD millions)", 10)
    bottom = page.ruled_table(72, top + 58, [110, 70, 70, 70, 70], REGIONS)
    top = page.paragraph(
        72,
        bottom + 14,
        "The North region grew fastest, driven by the new logistics customers signed in "
        "the second quarter.",
    )
    page.text(72, top + 16, "Headcount by office", 13, bold=True)
    page.text(72, top + 40, "Table 2: Headcount by office at year end", 10)
    bottom = page.stream_table(72, top + 58, [110, 90, 90, 90], OFFICES)
    page.text(72, bottom + 16, "- Hiring continues in Seoul and Austin.", 10)
    page.text(72, bottom + 32, "- The Busan office moves to a larger building in May.", 10)
    path.write_bytes(pdf.build())
    return path


def multipage_table_pdf(path: Path, n_rows: int = 90) -> Path:
    """A ruled table of ``n_rows`` data rows that runs over several pages (header on page 1)."""
    pdf = PdfBuilder()
    rows = [[f"Item {i:03d}", f"{i * 3}", f"{(i * 7) % 100}.5"] for i in range(1, n_rows + 1)]
    header = ["Item", "Units", "Price"]
    per_page = 40
    for start in range(0, n_rows, per_page):
        page = pdf.page()
        top = 60
        if start == 0:
            page.text(72, 40, "Table 9: Inventory", 10)
        body = rows[start : start + per_page]
        page.ruled_table(72, top, [120, 80, 80], [header, *body] if start == 0 else body)
    path.write_bytes(pdf.build())
    return path


def landscape_table_pdf(path: Path) -> Path:
    """A page whose text runs sideways: a captioned ruled table printed landscape."""
    pdf = PdfBuilder()
    page = pdf.page(sideways=True)
    page.text(72, 50, "Table 6: Revenue by region, landscape", 10)
    page.ruled_table(72, 70, [160, 90, 90, 90, 90], REGIONS)
    path.write_bytes(pdf.build())
    return path


def scanned_pdf(path: Path) -> Path:
    """A page with only an image (no text layer), like a scan."""
    pdf = PdfBuilder()
    page = pdf.page()
    cols, rows = 64, 64
    pixels = bytes((x * 4) % 256 if (y // 8) % 2 else 255 for y in range(rows) for x in range(cols))
    page.gray_image(pixels, cols, rows, (72, 72, 300, 300))
    path.write_bytes(pdf.build())
    return path


def encrypted_pdf(path: Path, password: str = "secret") -> Path:
    """The report PDF encrypted with a user password (pypdf, RC4-128)."""
    from pypdf import PdfReader, PdfWriter

    plain = path.with_name(path.stem + "_plain.pdf")
    report_pdf(plain)
    writer = PdfWriter(clone_from=PdfReader(str(plain)))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    with open(path, "wb") as handle:
        writer.write(handle)
    plain.unlink()
    return path


def write_docx(path: Path, *, with_page_break: bool = True) -> Path:
    """A DOCX with a title, heading, paragraphs, a list, a table and (optionally) a page break."""
    import docx
    from docx.enum.text import WD_BREAK

    document = docx.Document()
    document.add_heading("Travel Policy", level=0)
    document.add_heading("Allowances", level=1)
    document.add_paragraph("Employees travelling abroad receive a daily allowance.")
    document.add_paragraph("Book flights two weeks ahead", style="List Bullet")
    document.add_paragraph("Keep all receipts", style="List Bullet")
    if with_page_break:
        document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    document.add_paragraph("Table 4: Daily allowance by city")
    table = document.add_table(rows=3, cols=2)
    for r, (city, amount) in enumerate([("City", "Allowance"), ("Tokyo", "180"), ("Paris", "150")]):
        table.cell(r, 0).text = city
        table.cell(r, 1).text = amount
    document.add_paragraph("Allowances are reviewed every year.")
    import datetime as dt

    fixed = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # reproducible bytes
    document.core_properties.created = fixed
    document.core_properties.modified = fixed
    document.core_properties.last_printed = fixed
    buffer = io.BytesIO()
    document.save(buffer)
    _fixed_zip_times(buffer.getvalue(), path)
    return path


def _fixed_zip_times(data: bytes, path: Path) -> None:
    """Rewrite a zip (DOCX) with fixed entry timestamps, so the bytes are reproducible."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2024, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(info.filename))
