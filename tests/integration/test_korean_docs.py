"""Korean documents end to end: Korean PDFs (a Hangul font from fonts-nanum), a CP949
text file and a decomposed (NFD) file beside them -> parse -> split -> ingest with the
bundled embedder -> BM25 / hybrid search -> cited answers, all in NFC text.
"""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from lcelkit.cli import main
from tests.conftest import TEST_EMBEDDER
from tests.support.korean_pdf import KoreanPdf, find_korean_font

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_korean_font() is None, reason="needs fonts-nanum (see .ci/run)"),
]

CAPTION = "표 3. 지역별 분기 매출 (단위: 억 원)"
TABLE = [
    ["지역", "1분기", "2분기", "3분기"],
    ["서울", "152", "161", "170"],
    ["부산", "88", "93", "97"],
    ["대구", "61", "64", "66"],
    ["광주", "47", "52", "55"],
]
MIXED = [
    "lcelkit은 PDF, DOCX, Markdown 파일을 읽어 Chroma에 저장합니다.",
    "Hybrid search는 BM25와 dense retrieval을 결합하여 답의 근거를 찾습니다.",
    "GDP 성장률은 2.6%였고, Revenue는 전년 대비 12% 늘었습니다.",
]
BULLET = (
    "지역 균형 발전을 위해 2025년까지 총 3조 원을 투자하고,",
    "지방 중소기업의 디지털 전환을 단계적으로 지원한다.",
)
CP949_TEXT = (
    "부산 지사는 신규 고객 확보에 집중하여 고객 수가 두 배로 늘었습니다.\n\n"
    "서울 지사의 3분기 매출은 170억 원으로 전년 대비 12% 증가했습니다.\n"
)
NFD_TEXT = "# 회의록\n\n제주 물류센터의 자동화 설비는 내년 상반기에 가동한다.\n"


def report_pdf(path: Path) -> Path:
    """Page 1: title, mixed Korean/English paragraph, caption and ruled table.
    Page 2: a government-report layout (Roman numeral sections, □/○/- items, wide
    leading and large gaps between items)."""
    pdf = KoreanPdf()
    pdf.page()
    pdf.text(72, 60, "2024년 지역별 사업 보고서", 16, bold=True)
    top = pdf.paragraph(72, 100, MIXED)
    pdf.text(72, top + 24, CAPTION, 10)
    pdf.ruled_table(72, top + 44, [110, 80, 80, 80], TABLE)
    pdf.page()
    pdf.text(72, 60, "Ⅰ. 추진 배경", 14, bold=True)
    pdf.text(80, 100, "□ 수도권 집중 완화와 지역 경제 활성화 필요", 11)
    pdf.paragraph(92, 134, ["○ " + BULLET[0], "   " + BULLET[1]], 11, leading=2.0)
    pdf.text(104, 200, "- 대상: 비수도권 중소기업 1,200곳", 11)
    pdf.text(72, 260, "Ⅱ. 주요 내용", 14, bold=True)
    pdf.text(80, 300, "□ 지역 거점 물류센터 구축", 11)
    pdf.paragraph(92, 334, ["○ 부산, 대구, 광주에 거점 센터를 세우고 공동 배송을 시행한다."], 11)
    return pdf.save(path)


@pytest.fixture(scope="module")
def korean_home(tmp_path_factory):
    """The docs folder ingested once into a fresh home; yields (home, docs, summary)."""
    root = tmp_path_factory.mktemp("korean")
    docs = root / "docs"
    docs.mkdir()
    report_pdf(docs / "report_ko.pdf")
    (docs / "notes_cp949.txt").write_bytes(CP949_TEXT.encode("cp949"))
    (docs / "minutes_nfd.md").write_text(unicodedata.normalize("NFD", NFD_TEXT), "utf-8")
    saved = {k: v for k, v in os.environ.items() if k.startswith("LCELKIT_")}
    for key in saved:
        del os.environ[key]
    os.environ["LCELKIT_HOME"] = str(root / "home")
    os.environ["LCELKIT_EMBEDDINGS__BACKEND"] = "torch"  # no OpenVINO conversion: faster here
    # The English-only embedder on purpose: the coverage warning and the BM25 lean.
    os.environ["LCELKIT_EMBEDDINGS_MODEL"] = TEST_EMBEDDER
    try:
        yield root / "home", docs
    finally:
        del os.environ["LCELKIT_HOME"], os.environ["LCELKIT_EMBEDDINGS__BACKEND"]
        del os.environ["LCELKIT_EMBEDDINGS_MODEL"]
        os.environ.update(saved)
        _EMBEDDERS.clear()


@pytest.fixture(scope="module")
def ingested(korean_home):
    import contextlib
    import io

    home, docs = korean_home
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["ingest", str(docs), "--json"])
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert code == 0, summary
    return home, docs, summary


_EMBEDDERS: dict[str, object] = {}


def _retriever(search: str, k: int = 4):
    """The configured retriever, sharing one embedder per home (loaded once)."""
    from lcelkit.factories import make_embeddings, make_retriever
    from lcelkit.settings import get_settings

    settings = get_settings()
    home = str(settings.home)
    if home not in _EMBEDDERS:
        _EMBEDDERS[home] = make_embeddings(settings)
    return make_retriever(settings, embeddings=_EMBEDDERS[home], search=search, k=k)


def _rows(markdown: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in markdown.splitlines()
        if line.strip().startswith("|") and not set(line.strip()) <= set("|-: ")
    ]


def test_korean_pdf_table_answers_header_for_row_label_from_one_chunk(ingested):
    hits = _retriever("bm25").invoke("부산 2분기 매출")
    assert hits, "BM25 found nothing for a Korean query"
    top = hits[0]
    assert top.metadata["source"].endswith("report_ko.pdf") and top.metadata["page_number"] == 1
    assert CAPTION in top.page_content  # the caption travels with its table
    rows = _rows(top.page_content)
    header = rows[0]
    assert header == TABLE[0]
    busan = next(r for r in rows if r[0] == "부산")
    assert busan[header.index("2분기")] == "93"  # "2분기 for 부산" from this one chunk


def test_cited_answer_points_at_the_korean_pdf_page(ingested):
    from lcelkit.chains.rag import cited_indices, make_rag_chain

    question = "부산의 2분기 매출은 얼마인가?"
    retriever = _retriever("bm25", k=3)
    ranked = retriever.invoke(question)
    n = 1 + next(i for i, d in enumerate(ranked) if "| 부산 | 88 | 93 | 97 |" in d.page_content)
    answer = f"부산의 2분기 매출은 93억 원입니다 [{n}]."
    chain = make_rag_chain(
        retriever,
        GenericFakeChatModel(messages=iter([AIMessage(content=answer)])),
        counter=lambda text: len(text.split()),
        context_window=4096,
        max_new_tokens=64,
    )
    result = chain.invoke({"question": question})
    cited = result["sources"][cited_indices(result["answer"])[0] - 1]
    assert cited["index"] == n and cited["page"] == 1
    assert cited["source"].endswith("report_ko.pdf") and CAPTION in cited["text"]


def test_mixed_korean_english_and_report_spacing_survive_parsing(ingested):
    mixed = _retriever("bm25").invoke("Hybrid search BM25 dense retrieval")[0]
    flat = " ".join(mixed.page_content.split())
    for line in MIXED:
        assert line in flat  # Hangul next to Latin: no lost or added spaces, in order
    bullet = _retriever("bm25").invoke("지방 중소기업 디지털 전환")[0]
    assert bullet.metadata["page_number"] == 2
    text = " ".join(bullet.page_content.split())
    # The item wrapped over two widely spaced lines reads as one sentence, in order
    # (the □/○/- item markers are dropped like any list bullet).
    assert " ".join(BULLET) in text
    assert text.index("Ⅰ. 추진 배경") < text.index("수도권 집중") < text.index("지역 균형")


def test_cp949_and_nfd_files_are_read_as_nfc_and_found(ingested):
    from lcelkit.factories import make_keyword_index
    from lcelkit.settings import get_settings

    cp949 = _retriever("bm25").invoke("부산 지사 신규 고객")[0]
    assert cp949.metadata["source"].endswith("notes_cp949.txt")
    assert "고객 수가 두 배로 늘었습니다" in cp949.page_content
    nfd = _retriever("bm25").invoke("제주 물류센터 자동화")[0]  # an NFC query
    assert nfd.metadata["source"].endswith("minutes_nfd.md")
    assert unicodedata.normalize("NFC", NFD_TEXT.split("\n\n")[1].strip()) in nfd.page_content
    index = make_keyword_index(get_settings())
    texts = index.sample_texts(1000)
    assert len(texts) >= 4
    assert all(unicodedata.is_normalized("NFC", t) for t in texts)


def test_ingest_warns_once_and_hybrid_leans_on_bm25(ingested, capsys):
    _, docs, summary = ingested
    notes = summary.get("notes", [])
    assert len(notes) == 1
    assert "Korean" in notes[0] and "LCELKIT_EMBEDDINGS_MODEL" in notes[0]
    hits = _retriever("hybrid").invoke("부산 2분기 매출")
    assert hits and all(h.metadata.get("bm25_lean") is True for h in hits)
    assert "| 부산 | 88 | 93 | 97 |" in hits[0].page_content  # as BM25 ranks it
    # An English question on this mostly-Korean collection leans too.
    assert _retriever("hybrid").invoke("regional sales report")[0].metadata.get("bm25_lean")
    # The readable summary prints the warning once.
    (docs / "extra_ko.txt").write_text("대전 지사는 내년에 이전한다.\n", encoding="utf-8")
    assert main(["ingest", str(docs / "extra_ko.txt")]) == 0
    out = capsys.readouterr().out
    assert out.count("WARNING") == 1 and "Korean (Hangul)" in out


def test_english_ingest_has_no_korean_warning(tmp_path, monkeypatch, capsys, lcelkit_home):
    monkeypatch.setenv("LCELKIT_EMBEDDINGS__BACKEND", "torch")
    note = tmp_path / "note.md"
    note.write_text("# Travel\n\nEmployees book trains for trips under 500 km.\n", "utf-8")
    assert main(["ingest", str(note), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "notes" not in summary
    hits = _retriever("hybrid").invoke("trains for short trips")
    assert hits and "bm25_lean" not in hits[0].metadata
