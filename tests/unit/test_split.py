"""Splitter: token limits (English, Korean), tables kept whole or split by rows with the
header and caption repeated, metadata and chunk ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document

from lcelkit.chains.embeddings import load_tokenizer
from lcelkit.errors import ConfigError
from lcelkit.loaders import Splitter, load, load_and_split
from lcelkit.loaders.elements import element_to_document, make_table, parse_table_html
from lcelkit.loaders.ids import chunk_id


@pytest.fixture(scope="module")
def splitter() -> Splitter:
    return Splitter(load_tokenizer(), chunk_size=128, chunk_overlap=16)


def _doc(text: str, category: str = "NarrativeText", page: int | None = 1, **extra) -> Document:
    meta = {
        "source": "s.pdf",
        "filename": "s.pdf",
        "filetype": "pdf",
        "category": category,
        "element_id": f"id-{abs(hash(text)) % 10**8}",
        **extra,
    }
    if page is not None:
        meta["page_number"] = page
    return Document(page_content=text, metadata=meta)


ENGLISH = (
    "The quarterly review covers revenue, costs and hiring across all regions. " * 40
).strip()
KOREAN = (
    "본 정책은 모든 정규직 직원에게 적용됩니다. 연차 휴가는 입사 첫 해에 15일이 부여되며, "
    "근속 2년마다 1일씩 추가됩니다. 사용하지 않은 연차는 다음 해 3월 31일까지 이월할 수 있습니다. "
) * 15


def test_count_tokens_includes_special_tokens(splitter: Splitter):
    assert splitter.count_tokens("") == 2  # [CLS] [SEP]
    assert splitter.count_tokens("hello world") == 4


@pytest.mark.parametrize("text", [ENGLISH, KOREAN], ids=["english", "korean"])
def test_no_chunk_exceeds_the_limit(splitter: Splitter, text: str):
    assert splitter.count_tokens(text) > 4 * splitter.chunk_size
    chunks = splitter.split([_doc("Overview", "Title"), _doc(text)])
    assert len(chunks) > 4
    assert all(splitter.count_tokens(c.page_content) <= splitter.chunk_size for c in chunks)
    # nothing is lost: every sentence of the input shows up in some chunk
    joined = " ".join(c.page_content for c in chunks)
    for sentence in {s.strip() for s in text.split(". ") if s.strip()}:
        assert sentence.rstrip(".") in joined


def test_small_elements_are_combined_as_composite(splitter: Splitter):
    docs = [
        _doc("Revenue", "Title", category_depth=0),
        _doc("Revenue grew 5%."),
        _doc("Costs fell."),
    ]
    chunks = splitter.split(docs)
    assert len(chunks) == 1
    chunk = chunks[0]
    assert chunk.page_content == "Revenue\n\nRevenue grew 5%.\n\nCosts fell."
    assert chunk.metadata["category"] == "CompositeElement"
    assert chunk.metadata["source"] == "s.pdf" and chunk.metadata["page_number"] == 1
    assert chunk.metadata["chunk_id"] == chunk_id("s.pdf", chunk.page_content, 1)
    assert "category_depth" not in chunk.metadata


def test_single_element_chunk_keeps_its_category(splitter: Splitter):
    chunks = splitter.split([_doc(ENGLISH[:300])])
    assert chunks[0].metadata["category"] == "NarrativeText"


def test_sources_are_never_mixed(splitter: Splitter):
    a = _doc("Alpha text.")
    b = Document(page_content="Beta text.", metadata={**a.metadata, "source": "b.txt"})
    chunks = splitter.split([a, b])
    assert [c.metadata["source"] for c in chunks] == ["s.pdf", "b.txt"]


def _table_doc(n_rows: int, caption: str | None = "Table 7: Sales by store") -> Document:
    rows = [["Store", "City", "Revenue", "Margin"]] + [
        [f"Store {i}", f"City {i % 7}", f"{1000 + i * 13}", f"{i % 30}.5%"] for i in range(n_rows)
    ]
    element = make_table(rows, caption=caption, page_number=3)
    element._element_id = "tbl"
    return element_to_document(element, source="s.pdf", filename="s.pdf", filetype="pdf")


def test_small_table_stays_one_chunk(splitter: Splitter):
    doc = _table_doc(3)
    chunks = splitter.split([_doc("Before."), doc, _doc("After.")])
    assert [c.metadata["category"] for c in chunks] == ["NarrativeText", "Table", "NarrativeText"]
    table = chunks[1]
    assert table.page_content == doc.page_content
    assert table.metadata["text_as_html"] == doc.metadata["text_as_html"]
    assert "text_as_html" not in chunks[0].metadata


def test_sixty_row_table_split_by_rows_with_header_and_caption(splitter: Splitter):
    doc = _table_doc(60)
    chunks = splitter.split([doc])
    assert len(chunks) > 3
    seen_rows: list[list[str]] = []
    for chunk in chunks:
        assert chunk.metadata["category"] == "Table"
        assert chunk.metadata["page_number"] == 3
        assert splitter.count_tokens(chunk.page_content) <= splitter.chunk_size
        lines = chunk.page_content.split("\n")
        assert lines[0] == "Table 7: Sales by store"
        assert lines[1] == "| Store | City | Revenue | Margin |"
        assert lines[2] == "|---|---|---|---|"
        rows, caption, header_rows = parse_table_html(chunk.metadata["text_as_html"])
        assert caption == "Table 7: Sales by store"
        assert header_rows == 1 and rows[0] == ["Store", "City", "Revenue", "Margin"]
        assert len(rows) - 1 == len(lines) - 3  # html and markdown hold the same rows
        seen_rows.extend(rows[1:])
    # every data row exactly once, in order
    assert [r[0] for r in seen_rows] == [f"Store {i}" for i in range(60)]
    assert len({c.metadata["chunk_id"] for c in chunks}) == len(chunks)


def test_korean_table_split(splitter: Splitter):
    rows = [["부서", "인원", "비고"]] + [
        [f"영업{i}팀", str(i), "서울 본사 근무"] for i in range(40)
    ]
    element = make_table(rows, caption="표 2: 부서별 인원")
    doc = element_to_document(element, source="k.md", filename="k.md", filetype="md")
    chunks = splitter.split([doc])
    assert len(chunks) > 1
    for chunk in chunks:
        assert splitter.count_tokens(chunk.page_content) <= splitter.chunk_size
        assert chunk.page_content.startswith("표 2: 부서별 인원\n| 부서 | 인원 | 비고 |")


def test_row_longer_than_a_chunk_is_cut_but_fits(splitter: Splitter):
    rows = [["Clause", "Text"], ["7.1", "The supplier shall deliver the goods on time. " * 40]]
    element = make_table(rows, caption="Table 2: Clauses")
    doc = element_to_document(element, source="c.pdf", filename="c.pdf", filetype="pdf")
    chunks = splitter.split([doc])
    assert len(chunks) > 1
    for chunk in chunks:
        assert splitter.count_tokens(chunk.page_content) <= splitter.chunk_size
        assert "| Clause | Text |" in chunk.page_content


def test_callable_length_function():
    words = Splitter(lambda text: len(text.split()), chunk_size=20, chunk_overlap=2)
    chunks = words.split([_doc("word " * 200)])
    assert all(len(c.page_content.split()) <= 20 for c in chunks)
    assert len(chunks) >= 10


@pytest.mark.parametrize(("size", "overlap"), [(8, 0), (128, 64), (128, -1)])
def test_bad_sizes_are_refused(size: int, overlap: int):
    with pytest.raises(ConfigError):
        Splitter(lambda t: len(t), chunk_size=size, chunk_overlap=overlap)


def test_load_and_split_markdown(tmp_path: Path, splitter: Splitter):
    path = tmp_path / "h.md"
    path.write_text("# Plans\n\n| Plan | Price |\n|---|---|\n| Pro | 20 |\n\nText after.\n")
    chunks = load_and_split(path, splitter)
    assert [c.metadata["category"] for c in chunks] == ["Title", "Table", "NarrativeText"]
    assert chunks[1].metadata["text_as_html"].startswith("<table>")
    assert all(c.metadata["chunk_id"] == chunk_id(str(path), c.page_content, None) for c in chunks)
    assert len(load(path)) == 3
