"""End-to-end PDF parsing on generated PDFs: ruled and unruled tables with captions, a table
that runs over pages, a scanned PDF, an encrypted PDF, and the bundled samples folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lcelkit.chains.embeddings import load_tokenizer
from lcelkit.errors import EmptyFileError, EncryptedFileError
from lcelkit.loaders import Splitter, discover, load, load_and_split
from lcelkit.loaders.elements import parse_table_html
from tests.support.make_docs import (
    encrypted_pdf,
    multipage_table_pdf,
    report_pdf,
    scanned_pdf,
)

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def splitter() -> Splitter:
    return Splitter(load_tokenizer(), chunk_size=256, chunk_overlap=32)


def test_ruled_and_unruled_tables_are_exact(tmp_path: Path):
    docs = load(report_pdf(tmp_path / "report.pdf"), pdf_strategy="rules")
    tables = [d for d in docs if d.metadata["category"] == "Table"]
    assert len(tables) == 2
    ruled, _, _ = parse_table_html(tables[0].metadata["text_as_html"])
    assert ruled == [
        ["Region", "Q1", "Q2", "Q3", "Q4"],
        ["North", "12.1", "13.4", "15.2", "16.0"],
        ["South", "9.8", "10.2", "11.7", "12.3"],
        ["East", "7.5", "8.1", "8.9", "9.4"],
        ["West", "11.0", "11.6", "12.8", "13.5"],
    ]
    unruled, caption, _ = parse_table_html(tables[1].metadata["text_as_html"])
    assert caption == "Table 2: Headcount by office at year end"
    assert unruled == [
        ["Office", "Engineers", "Sales", "Support"],
        ["Seoul", "42", "17", "9"],
        ["Busan", "11", "6", "4"],
        ["Berlin", "23", "8", "5"],
        ["Austin", "31", "14", "7"],
    ]
    # captions left the text flow: they are not repeated as paragraphs
    texts = [d.page_content for d in docs if d.metadata["category"] != "Table"]
    assert not any(t.startswith("Table ") for t in texts)


def test_multipage_table_repeats_header_on_every_page(tmp_path: Path, splitter: Splitter):
    docs = load(multipage_table_pdf(tmp_path / "inventory.pdf", n_rows=90))
    tables = [d for d in docs if d.metadata["category"] == "Table"]
    assert [t.metadata["page_number"] for t in tables] == [1, 2, 3]
    all_rows = []
    for table in tables:
        rows, caption, _ = parse_table_html(table.metadata["text_as_html"])
        assert rows[0] == ["Item", "Units", "Price"]
        assert caption == "Table 9: Inventory"
        all_rows.extend(rows[1:])
    assert [r[0] for r in all_rows] == [f"Item {i:03d}" for i in range(1, 91)]
    chunks = splitter.split(docs)
    assert all(splitter.count_tokens(c.page_content) <= 256 for c in chunks)
    assert all("| Item | Units | Price |" in c.page_content for c in chunks)


def test_scanned_pdf_is_refused_with_ocr_hint(tmp_path: Path):
    path = scanned_pdf(tmp_path / "scan.pdf")
    with pytest.raises(EmptyFileError) as info:
        load(path)
    assert "scan.pdf" in str(info.value)
    assert "hires" in info.value.hint


def test_encrypted_pdf_is_refused(tmp_path: Path):
    path = encrypted_pdf(tmp_path / "locked.pdf")
    with pytest.raises(EncryptedFileError) as info:
        load(path)
    assert "locked.pdf" in str(info.value)
    assert "decrypt" in info.value.hint


def test_samples_folder_answers_the_readme_question(tmp_path: Path, splitter: Splitter):
    files = discover([SAMPLES])
    names = {f.name for f in files}
    assert {
        "report.pdf",
        "hr_policy_ko.txt",
        "handbook.md",
        "faq.html",
        "travel_policy.docx",
    } <= names
    assert "make_samples.py" not in names
    chunks = [c for f in files for c in load_and_split(f, splitter)]
    assert all(splitter.count_tokens(c.page_content) <= 256 for c in chunks)
    # "What was the Q3 revenue of the North region?" -> 15.2, in ONE chunk with its labels
    hits = [c for c in chunks if "| North |" in c.page_content and "15.2" in c.page_content]
    assert len(hits) == 1
    assert "| Region | Q1 | Q2 | Q3 | Q4 |" in hits[0].page_content
    assert hits[0].metadata["source"].endswith("report.pdf")
    assert hits[0].metadata["page_number"] == 1
    berlin = [c for c in chunks if "| Berlin | 23 |" in c.page_content]
    assert len(berlin) == 1 and "| Office | Engineers |" in berlin[0].page_content
    pro = [c for c in chunks if "| Pro | 4 hours |" in c.page_content]
    assert len(pro) == 1 and "| Plan | First response |" in pro[0].page_content
    korean = [c for c in chunks if c.metadata["filename"] == "hr_policy_ko.txt"]
    assert any("하루 8만 원" in c.page_content for c in korean)


def test_samples_are_reproducible(tmp_path: Path):
    import subprocess
    import sys

    copy = tmp_path / "samples"
    copy.mkdir()
    shutil.copy(SAMPLES / "make_samples.py", copy / "make_samples.py")
    # the script imports tests.support from the repo root next to the folder it writes to
    script = copy / "make_samples.py"
    text = script.read_text().replace(
        "sys.path.insert(0, str(HERE.parent))", f"sys.path.insert(0, {str(SAMPLES.parent)!r})"
    )
    script.write_text(text)
    subprocess.run([sys.executable, str(script)], check=True)
    assert (copy / "report.pdf").read_bytes() == (SAMPLES / "report.pdf").read_bytes()
    for name in ("hr_policy_ko.txt", "handbook.md", "faq.html", "travel_policy.docx"):
        assert (copy / name).read_bytes() == (SAMPLES / name).read_bytes(), name


def test_sideways_table_is_turned_upright(tmp_path: Path):
    from tests.support.make_docs import REGIONS, landscape_table_pdf

    path = landscape_table_pdf(tmp_path / "landscape.pdf")
    import pdfplumber

    with pdfplumber.open(str(path)) as check:  # the text really runs sideways
        assert not any(c["upright"] for c in check.pages[0].chars if c["text"].strip())
    docs = load(path, pdf_strategy="rules")
    tables = [d for d in docs if d.metadata["category"] == "Table"]
    assert len(tables) == 1
    rows, caption, _ = parse_table_html(tables[0].metadata["text_as_html"])
    assert caption == "Table 6: Revenue by region, landscape"
    assert rows == REGIONS


def test_pdf_with_only_an_owner_password_loads(tmp_path: Path):
    from pypdf import PdfReader, PdfWriter

    plain = report_pdf(tmp_path / "plain.pdf")
    writer = PdfWriter(clone_from=PdfReader(str(plain)))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
    path = tmp_path / "restricted.pdf"
    writer.write(str(path))
    docs = load(path)
    assert any("| North | 12.1 | 13.4 | 15.2 | 16.0 |" in d.page_content for d in docs)
