"""Does the embedder read Korean? Hangul shares, tokenizer coverage, the ingest warning and
hybrid search leaning on BM25 (real tokenizers, a real Chroma and keyword index)."""

from __future__ import annotations

import itertools
import math
import zlib

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from lcelkit.chains.coverage import hangul_share, letter_counts, reads_hangul, script_warning
from lcelkit.chains.embeddings import load_tokenizer
from lcelkit.chains.keyword import KeywordIndex
from lcelkit.chains.retrievers import make_retriever
from lcelkit.chains.store import open_chroma

KOREAN = [
    "서울 지사의 3분기 매출은 152억 원으로 전년 대비 12% 증가했습니다.",
    "부산 지사는 신규 고객 확보에 집중하여 고객 수가 두 배로 늘었습니다.",
    "표 3은 지역별 인구와 경제 성장률을 보여 준다.",
]


def korean_word_tokenizer():
    """A real fast tokenizer whose vocabulary holds whole Korean words (reads Korean)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from lcelkit.chains.coverage import _PROBE

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([_PROBE, *KOREAN], trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


def test_letter_counts_and_hangul_share():
    assert letter_counts("표 3은 Revenue 12%") == (2, 9)
    assert hangul_share(KOREAN) > 0.9
    assert hangul_share("Quarterly revenue grew.") == 0.0
    assert hangul_share(["", "123"]) == 0.0


def test_the_bundled_minilm_does_not_read_korean_a_korean_vocabulary_does():
    assert reads_hangul(load_tokenizer(None)) is False
    assert reads_hangul(korean_word_tokenizer()) is True


class Named:
    def __init__(self, tokenizer):
        self.name, self.tokenizer = "test-embedder", tokenizer


def test_script_warning_only_for_mostly_korean_text_and_a_blind_embedder():
    minilm = Named(load_tokenizer(None))
    h, n = letter_counts(" ".join(KOREAN))
    warning = script_warning(h, n, minilm)
    assert warning and "test-embedder" in warning and "LCELKIT_EMBEDDINGS_MODEL" in warning
    assert "--rebuild" in warning
    assert script_warning(*letter_counts("Revenue grew in the north."), minilm) is None
    assert script_warning(h, n, Named(korean_word_tokenizer())) is None
    assert script_warning(0, 0, minilm) is None


class HashEmbeddings(Embeddings):
    """Deterministic character-bigram hashing embedder with a chosen tokenizer."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.name = "hash"

    def _vec(self, text: str) -> list[float]:
        vec = [0.0] * 64
        for a, b in itertools.pairwise(text):
            vec[zlib.crc32((a + b).encode()) % 64] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


@pytest.mark.integration  # a real Chroma
@pytest.mark.parametrize("reads", [False, True])
def test_hybrid_leans_on_bm25_only_when_the_embedder_cannot_read_korean(tmp_path, reads):
    emb = HashEmbeddings(korean_word_tokenizer() if reads else load_tokenizer(None))
    store = open_chroma(emb, collection="ko-test", embedder_name="hash", persist_dir=tmp_path)
    index = KeywordIndex(tmp_path / "kw.sqlite")
    docs = [Document(page_content=t, metadata={"source": "ko.txt"}) for t in KOREAN]
    ids = [f"k{i}" for i in range(len(docs))]
    store.add_documents(docs, ids=ids)
    index.add_documents(docs, ids)
    retriever = make_retriever(store, search="hybrid", k=3, keyword_index=index)
    for query in ("부산 지사 고객", "regional growth"):  # Korean query; Korean collection
        hits = retriever.invoke(query)
        assert hits
        lean = [h.metadata.get("bm25_lean", False) for h in hits]
        assert lean == [not reads] * len(hits)
        dense_w, bm25_w = hits[0].metadata["fusion_weights"]
        assert dense_w + bm25_w == pytest.approx(1.0)
    off = make_retriever(store, search="hybrid", k=3, keyword_index=index)
    off.lean = "off"
    assert all("bm25_lean" not in h.metadata for h in off.invoke("부산 지사 고객"))
