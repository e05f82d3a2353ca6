"""Retrievers on a real Chroma in tmp_path with a fake, deterministic keyword embedder."""

from __future__ import annotations

import math
import re

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from chains.keyword import KeywordIndex
from chains.retrievers import (
    RRF_K,
    make_retriever,
    parse_filters,
    relative_fuse,
    rrf_fuse,
    sync_keyword_index,
)
from chains.store import open_chroma
from lcelkit.errors import ConfigError

VOCAB = ["revenue", "grew", "region", "password", "login", "reset", "cafeteria", "table"]


class KeywordEmbeddings(Embeddings):
    """Bag-of-words over VOCAB plus a constant dimension, L2-normalized."""

    def _vec(self, text: str) -> list[float]:
        words = re.findall(r"[a-z]+", text.lower())
        vec = [float(words.count(w)) for w in VOCAB] + [0.5]
        norm = math.sqrt(sum(v * v for v in vec))
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


def cosine(a: str, b: str) -> float:
    emb = KeywordEmbeddings()
    return sum(x * y for x, y in zip(emb.embed_query(a), emb.embed_query(b), strict=True))


CHUNKS = [
    ("r1", "revenue grew revenue", {"source": "a.pdf", "page_number": 1}),
    ("r2", "revenue grew revenue", {"source": "b.pdf", "page_number": 1}),
    ("r3", "revenue by region table", {"source": "b.pdf", "page_number": 2}),
    ("p1", "reset password at login", {"source": "a.pdf", "page_number": 3}),
    ("c1", "cafeteria opens", {"source": "c.md"}),
]


@pytest.fixture
def store(tmp_path):
    emb = KeywordEmbeddings()
    st = open_chroma(emb, collection="unit-test", embedder_name="kw", persist_dir=tmp_path / "db")
    st.add_documents(
        [Document(page_content=t, metadata={**m, "chunk_id": i}) for i, t, m in CHUNKS],
        ids=[i for i, _, _ in CHUNKS],
    )
    return st


@pytest.fixture
def index(store):
    kw = KeywordIndex(None)
    sync_keyword_index(kw, store)
    return kw


def _ids(docs):
    return [d.metadata["chunk_id"] for d in docs]


def test_similarity_scores_are_cosine_similarity_in_unit_range(store):
    docs = make_retriever(store, search="similarity", k=3).invoke("revenue grew")
    assert _ids(docs)[:2] in (["r1", "r2"], ["r2", "r1"])
    for doc in docs:
        assert doc.metadata["score"] == pytest.approx(
            cosine("revenue grew", doc.page_content), 1e-3
        )
        assert 0.0 <= doc.metadata["score"] <= 1.0
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_threshold_compares_similarity_not_distance(store):
    query = "reset password"
    expected = {i for i, t, _ in CHUNKS if cosine(query, t) >= 0.5}
    docs = make_retriever(store, search="threshold", k=5, score_threshold=0.5).invoke(query)
    assert set(_ids(docs)) == expected == {"p1"}
    assert all(d.metadata["score"] >= 0.5 for d in docs)
    low = make_retriever(store, search="threshold", k=5, score_threshold=0.0).invoke(query)
    assert len(low) == 5  # a threshold of 0 keeps everything within k
    assert make_retriever(store, search="threshold", k=5, score_threshold=1.0).invoke(query) == []


def test_mmr_prefers_diverse_chunks_over_duplicates(store):
    sim = make_retriever(store, search="similarity", k=2).invoke("revenue grew")
    assert set(_ids(sim)) == {"r1", "r2"}  # the two identical chunks
    mmr = make_retriever(store, search="mmr", k=2, fetch_k=5, lambda_mult=0.3).invoke(
        "revenue grew"
    )
    assert len(set(d.page_content for d in mmr)) == 2  # no duplicate text
    assert all("score" in d.metadata for d in mmr)


@pytest.mark.parametrize("search", ["similarity", "mmr", "threshold", "hybrid", "bm25"])
def test_filter_applies_to_every_strategy(store, index, search):
    where = parse_filters(["source=b.pdf"])
    docs = make_retriever(
        store, search=search, k=4, score_threshold=0.0, filter=where, keyword_index=index
    ).invoke("revenue grew region")
    assert docs, search
    assert {d.metadata["source"] for d in docs} == {"b.pdf"}
    where2 = parse_filters(["source=b.pdf", "page_number=2"])
    docs2 = make_retriever(
        store, search=search, k=4, score_threshold=0.0, filter=where2, keyword_index=index
    ).invoke("revenue grew region")
    assert _ids(docs2) == ["r3"]


def test_hybrid_rrf_scores_are_rrf_of_both_ranks(store, index):
    docs = make_retriever(store, search="hybrid", k=5, keyword_index=index, fusion="rrf").invoke(
        "revenue region table"
    )
    assert _ids(docs)[0] == "r3"  # first in both lists
    for doc in docs:
        ranks = [doc.metadata["dense_rank"], doc.metadata["bm25_rank"]]
        expected = sum(1.0 / (RRF_K + r) for r in ranks if r is not None)
        assert doc.metadata["score"] == pytest.approx(expected)
    assert docs[0].metadata["dense_rank"] == 1 and docs[0].metadata["bm25_rank"] == 1
    # A chunk sharing no keyword with the query has no BM25 rank.
    cafeteria = [d for d in docs if d.metadata["chunk_id"] == "c1"]
    assert cafeteria and cafeteria[0].metadata["bm25_rank"] is None


def test_hybrid_default_is_relative_score_fusion(store, index):
    docs = make_retriever(store, search="hybrid", k=5, keyword_index=index).invoke(
        "revenue region table"
    )
    dense = {
        d.metadata["chunk_id"]: d.metadata["score"]
        for d in make_retriever(store, search="similarity", k=20).invoke("revenue region table")
    }
    bm25 = {d.id: s for d, s in index.search("revenue region table", 20)}

    def norm(scores, key):
        if key not in scores:
            return 0.0
        lo, hi = min(scores.values()), max(scores.values())
        return (scores[key] - lo) / (hi - lo) if hi > lo else 1.0

    assert _ids(docs)[0] == "r3"
    for doc in docs:
        cid = doc.metadata["chunk_id"]
        expected = 0.5 * norm(dense, cid) + 0.5 * norm(bm25, cid)
        assert doc.metadata["score"] == pytest.approx(expected, abs=1e-6)
        assert 0.0 <= doc.metadata["score"] <= 1.0
    assert docs[0].metadata["score"] == pytest.approx(1.0)  # best in both lists
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_relative_fuse_hand_computed():
    a, b, c = (Document(id=x, page_content=x) for x in "abc")
    fused = relative_fuse([[(a, 0.9), (b, 0.5), (c, 0.1)], [(c, 8.0), (b, 4.0)]], [0.5, 0.5], k=3)
    # a: 0.5*1 + 0; b: 0.5*0.5 + 0.5*0 ; c: 0.5*0 + 0.5*1
    got = {d.id: (score, ranks) for d, score, ranks in fused}
    assert got["a"] == (pytest.approx(0.5), [1, None])
    assert got["b"] == (pytest.approx(0.25), [2, 2])
    assert got["c"] == (pytest.approx(0.5), [3, 1])
    assert [d.id for d, _, _ in fused] == ["a", "c", "b"]  # tie a/c: first seen first


def test_filtered_dense_search_post_filters_exactly(store, monkeypatch):
    import chains.retrievers as retrievers

    where = parse_filters(["source=b.pdf"])
    fast = make_retriever(store, search="similarity", k=2, filter=where).invoke("revenue")
    monkeypatch.setattr(retrievers, "POSTFILTER_FETCH", 0)  # force Chroma's where search
    slow = make_retriever(store, search="similarity", k=2, filter=where).invoke("revenue")
    assert _ids(fast) == _ids(slow) and {d.metadata["source"] for d in fast} == {"b.pdf"}


def test_rrf_fuse_hand_computed():
    a, b, c = (Document(id=x, page_content=x) for x in "abc")
    fused = rrf_fuse([[a, b], [b, c]], k=3, rrf_k=60)
    assert [d.id for d, _, _ in fused] == ["b", "a", "c"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1][1] == pytest.approx(1 / 61)
    assert fused[2][1] == pytest.approx(1 / 62)
    assert fused[0][2] == [2, 1] and fused[2][2] == [None, 2]
    assert len(rrf_fuse([[a, b], [b, c]], k=1)) == 1


def test_parse_filters_coerces_values():
    assert parse_filters(None) is None
    assert parse_filters(["source=a.pdf"]) == {"source": "a.pdf"}
    assert parse_filters(["page_number=3", "score=0.5", "draft=true", "label='3'"]) == {
        "$and": [{"page_number": 3}, {"score": 0.5}, {"draft": True}, {"label": "3"}]
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_filters(["no-equals-sign"])


def test_keyword_index_sync_follows_store_adds_and_deletes(store):
    kw = KeywordIndex(None)
    assert sync_keyword_index(kw, store) == 5
    assert sync_keyword_index(kw, store) == 0  # in step: nothing to do
    store.delete(["c1"])
    assert sync_keyword_index(kw, store) == 1
    assert kw.ids() == {"r1", "r2", "r3", "p1"}


def test_hybrid_needs_a_keyword_index(store):
    with pytest.raises(ConfigError, match="keyword index"):
        make_retriever(store, search="hybrid")
    with pytest.raises(ConfigError, match="unknown search"):
        make_retriever(store, search="fuzzy")  # type: ignore[arg-type]


def test_empty_store_returns_nothing(tmp_path):
    st = open_chroma(
        KeywordEmbeddings(), collection="empty-one", embedder_name="kw", persist_dir=tmp_path
    )
    assert make_retriever(st, search="similarity").invoke("revenue") == []
    assert make_retriever(st, search="hybrid", keyword_index=KeywordIndex(None)).invoke("x") == []
