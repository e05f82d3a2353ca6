"""PDF strategy selection (hi_res vs rules), the hi_res path with a fake partitioner, and
the rule-based parser on small generated PDFs."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from lcelkit.errors import CorruptFileError, LoaderError
from lcelkit.loaders import load
from lcelkit.loaders import pdf as pdf_mod
from tests.support.make_docs import PdfBuilder, report_pdf


def test_rules_never_consults_hires():
    def boom() -> bool:
        raise AssertionError("availability checked")

    assert pdf_mod.choose_strategy("rules", boom) == "rules"


@pytest.mark.parametrize(("available", "expected"), [(True, "hi_res"), (False, "rules")])
def test_auto_follows_availability(available: bool, expected: str):
    assert pdf_mod.choose_strategy("auto", lambda: available) == expected


def test_forced_hires_unavailable_raises_with_install_hint():
    with pytest.raises(LoaderError) as info:
        pdf_mod.choose_strategy("hi_res", lambda: False, source="docs/a.pdf")
    assert "docs/a.pdf" in str(info.value)
    assert "lcelkit[hires]" in info.value.hint


def test_unknown_strategy_is_refused():
    with pytest.raises(LoaderError, match="unknown pdf_strategy"):
        pdf_mod.choose_strategy("fast", lambda: True)  # type: ignore[arg-type]


def test_hires_unavailable_without_unstructured_inference(monkeypatch: pytest.MonkeyPatch):
    pdf_mod.hires_available.cache_clear()
    monkeypatch.setattr(pdf_mod.importlib.util, "find_spec", lambda name: None)
    try:
        assert pdf_mod.hires_available() is False
    finally:
        pdf_mod.hires_available.cache_clear()


def test_hires_unavailable_when_layout_model_fails(monkeypatch: pytest.MonkeyPatch):
    base = types.ModuleType("unstructured_inference.models.base")

    def get_model():
        raise OSError("offline: cannot download yolo_x_layout")

    base.get_model = get_model
    for name in ("unstructured_inference", "unstructured_inference.models"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "unstructured_inference.models.base", base)
    monkeypatch.setattr(pdf_mod.importlib.util, "find_spec", lambda name: object())
    pdf_mod.hires_available.cache_clear()
    try:
        assert pdf_mod.hires_available() is False
    finally:
        pdf_mod.hires_available.cache_clear()


def test_auto_uses_hires_partitioner_when_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from unstructured.documents.elements import ElementMetadata, Table, Title

    calls: dict = {}

    def fake_partition_pdf(**kwargs):
        calls.update(kwargs)
        html = (
            "<table><tr><th>Region</th><th>Q3</th></tr><tr><td>North</td><td>15.2</td></tr></table>"
        )
        return [
            Title("Report", metadata=ElementMetadata(page_number=1)),
            Table(
                "Region Q3 North 15.2", metadata=ElementMetadata(page_number=1, text_as_html=html)
            ),
        ]

    module = types.ModuleType("unstructured.partition.pdf")
    module.partition_pdf = fake_partition_pdf
    monkeypatch.setitem(sys.modules, "unstructured.partition.pdf", module)
    monkeypatch.setattr(pdf_mod, "hires_available", lambda: True)
    path = report_pdf(tmp_path / "r.pdf")
    docs = load(path)  # auto
    assert calls["strategy"] == "hi_res" and calls["infer_table_structure"] is True
    assert [d.metadata["category"] for d in docs] == ["Title", "Table"]
    table = docs[1]
    assert table.page_content == "| Region | Q3 |\n|---|---|\n| North | 15.2 |"
    assert table.metadata["page_number"] == 1
    assert table.metadata["text_as_html"].count("<tr>") == 2


def test_forced_hires_through_load_raises_loader_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(pdf_mod, "hires_available", lambda: False)
    path = report_pdf(tmp_path / "r.pdf")
    with pytest.raises(LoaderError, match="hi_res"):
        load(path, pdf_strategy="hi_res")
    # auto falls back to the offline rules
    assert any(d.metadata["category"] == "Table" for d in load(path))


def test_report_pdf_rules_elements(tmp_path: Path):
    docs = load(report_pdf(tmp_path / "r.pdf"), pdf_strategy="rules")
    kinds = [d.metadata["category"] for d in docs]
    assert kinds == [
        "Title",
        "NarrativeText",
        "Title",
        "Table",
        "NarrativeText",
        "Title",
        "Table",
        "ListItem",
        "ListItem",
    ]
    assert all(d.metadata["page_number"] == 1 for d in docs)
    ruled, unruled = (d for d in docs if d.metadata["category"] == "Table")
    assert ruled.page_content.split("\n")[:4] == [
        "Table 1: Quarterly revenue by region (USD millions)",
        "| Region | Q1 | Q2 | Q3 | Q4 |",
        "|---|---|---|---|---|",
        "| North | 12.1 | 13.4 | 15.2 | 16.0 |",
    ]
    assert unruled.page_content.split("\n")[0] == "Table 2: Headcount by office at year end"
    assert "| Berlin | 23 | 8 | 5 |" in unruled.page_content
    assert unruled.metadata["text_as_html"].count("<tr>") == 5


def test_truncated_pdf_is_corrupt(tmp_path: Path):
    data = report_pdf(tmp_path / "r.pdf").read_bytes()
    bad = tmp_path / "truncated.pdf"
    bad.write_bytes(data[:120])
    with pytest.raises(CorruptFileError) as info:
        load(bad)
    assert "truncated.pdf" in str(info.value)


def test_pdf_with_zero_pages_is_corrupt(tmp_path: Path):
    path = tmp_path / "nopages.pdf"
    path.write_bytes(PdfBuilder().build())
    with pytest.raises(CorruptFileError, match="no pages"):
        load(path)


def test_unruled_table_wrapped_cells_join_their_row(tmp_path: Path):
    pdf = PdfBuilder()
    page = pdf.page()
    page.text(72, 60, "Table 3: Animal sounds", 10)
    rows = [("Animal", "Action", "Result"), ("Cat", "Says", "Meow"), ("Dog", "Says", "Woof")]
    top = 80.0
    for animal, action, result in rows:
        page.text(72, top, animal, 9)
        page.text(200, top, action, 9)
        page.text(300, top, result, 9)
        top += 20
    page.text(72, top, "Fox", 9)
    page.text(200, top, "Says", 9)
    page.text(300, top, "Ring-ding-ding-", 9)
    page.text(300, top + 10, "dingeringeding", 9)  # wrapped: much closer than rows
    path = tmp_path / "animals.pdf"
    path.write_bytes(pdf.build())
    docs = load(path, pdf_strategy="rules")
    assert [d.metadata["category"] for d in docs] == ["Table"]
    assert docs[0].page_content.split("\n") == [
        "Table 3: Animal sounds",
        "| Animal | Action | Result |",
        "|---|---|---|",
        "| Cat | Says | Meow |",
        "| Dog | Says | Woof |",
        "| Fox | Says | Ring-ding-ding- dingeringeding |",
    ]


def test_two_column_prose_is_read_column_by_column(tmp_path: Path):
    pdf = PdfBuilder()
    page = pdf.page()
    left = "Left column sentence number {} talks about the first topic in detail."
    right = "Right column sentence number {} covers a different second topic here."
    for i in range(12):
        page.text(40, 80 + i * 13, left.format(i)[:52], 9)
        page.text(320, 80 + i * 13, right.format(i)[:52], 9)
    path = tmp_path / "columns.pdf"
    path.write_bytes(pdf.build())
    text = "\n".join(d.page_content for d in load(path, pdf_strategy="rules"))
    assert "Table" not in text
    assert text.index("Left column sentence number 11") < text.index(
        "Right column sentence number 0"
    )


def test_hires_runtime_failure_is_a_loader_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    module = types.ModuleType("unstructured.partition.pdf")

    def broken(**kwargs):
        raise RuntimeError("poppler not installed")

    module.partition_pdf = broken
    monkeypatch.setitem(sys.modules, "unstructured.partition.pdf", module)
    monkeypatch.setattr(pdf_mod, "hires_available", lambda: True)
    with pytest.raises(LoaderError) as info:
        load(report_pdf(tmp_path / "r.pdf"), pdf_strategy="hi_res")
    assert "poppler" in str(info.value) and "rules" in info.value.hint
