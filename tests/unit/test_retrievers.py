"""Retrievers on a real Chroma in tmp_path with a fake, deterministic keyword embedder."""

from __future__ import annotations

import math
import re

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from lcelkit.chains.keyword import KeywordIndex
from lcelkit.chains.retrievers import (
    RRF_K,
    make_retriever,
    parse_filters,
    relative_fuse,
    rrf_fuse,
    sync_keyword_index,
)
from lcelkit.chains.store import open_chroma
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

    def normalized(scores):
        # Both lists ran out before fetch_k (5 chunks < 20): the floor is 0 and the
        # confidence is (top - mean over the 20 slots) / top.
        top = max(scores.values())
        conf = (top - sum(scores.values()) / 20) / top
        return {key: value / top for key, value in scores.items()}, conf

    (nd, cd), (nb, cb) = normalized(dense), normalized(bm25)
    wd, wb = cd**2 / (cd**2 + cb**2), cb**2 / (cd**2 + cb**2)
    assert _ids(docs)[0] == "r3"
    for doc in docs:
        cid = doc.metadata["chunk_id"]
        expected = wd * nd.get(cid, 0.0) + wb * nb.get(cid, 0.0)
        assert doc.metadata["score"] == pytest.approx(expected, abs=1e-6)
        assert 0.0 <= doc.metadata["score"] <= 1.0
        assert doc.metadata["fusion_weights"] == pytest.approx([wd, wb], abs=1e-4)
        assert "bm25_lean" not in doc.metadata  # English text: no leaning
    assert docs[0].metadata["score"] == pytest.approx(1.0)  # best in both lists
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_relative_fuse_hand_computed():
    a, b, c, d = (Document(id=x, page_content=x) for x in "abcd")
    dense = [(a, 0.9), (b, 0.5), (c, 0.3)]
    keyword = [(c, 8.0), (b, 3.0), (d, 2.0)]
    # Full lists (depth 3): min-max between the last and the top score; confidence
    # (top - mean) / (top - floor): dense (0.9 - 0.5667) / 0.6, BM25 (8 - 4.3333) / 6.
    cd, cb = (0.9 - 1.7 / 3) / 0.6, (8 - 13 / 3) / 6
    wd, wb = cd**2 / (cd**2 + cb**2), cb**2 / (cd**2 + cb**2)
    used: list[float] = []
    fused = relative_fuse([dense, keyword], [0.5, 0.5], k=4, depth=3, weights_out=used)
    assert used == [pytest.approx(wd), pytest.approx(wb)]
    got = {doc.id: (score, ranks) for doc, score, ranks in fused}
    assert got["a"] == (pytest.approx(wd), [1, None])
    assert got["b"] == (pytest.approx(wd * 0.2 / 0.6 + wb * 1 / 6), [2, 2])
    assert got["c"] == (pytest.approx(wb), [3, 1])
    assert got["d"] == (pytest.approx(0.0), [None, 3])
    assert [doc.id for doc, _, _ in fused] == ["c", "a", "b", "d"]
    # A list shorter than depth ran out: its floor is 0 and its empty slots count as 0,
    # so a lone keyword match is a confident one.
    lone = relative_fuse([dense, [(d, 2.0)]], [0.5, 0.5], k=4, depth=20, weights_out=used)
    assert {doc.id: s for doc, s, _ in lone}["d"] == pytest.approx(used[1])
    assert used[1] > used[0]


def test_relative_fuse_flat_list_does_not_outvote_a_decisive_one():
    """A dense model that cannot tell documents apart (cosines falling smoothly) must
    not displace the clear BM25 winner, whatever order the lists come in."""
    docs = {x: Document(id=x, page_content=x) for x in ["gold", *"bcdefghij", *"vwxyz"]}
    flat = [(docs[x], 0.41 - 0.0025 * i) for i, x in enumerate("vwxyzbcde")]
    decisive = [(docs["gold"], 30.0)] + [(docs[x], 9.0 - 0.2 * i) for i, x in enumerate("fghij")]
    for lists in ([flat, decisive], [decisive, flat]):
        used: list[float] = []
        fused = relative_fuse(lists, [0.5, 0.5], k=3, depth=5, weights_out=used)
        assert fused[0][0].id == "gold"
        assert max(used) > 0.7  # the decisive list carries the fusion
    # Plain min-max fusion would have tied "v" and "gold" at 0.5.
    scores = {d.id: s for d, s, _ in relative_fuse([flat, decisive], [0.5, 0.5], k=20, depth=5)}
    assert scores["gold"] > scores["v"] + 0.3


def test_fusion_ties_do_not_depend_on_list_order():
    a, b, c = (Document(id=x, page_content=x) for x in "abc")
    one, two = [(a, 1.0), (c, 0.5)], [(b, 1.0), (c, 0.5)]
    first = relative_fuse([one, two], [0.5, 0.5], k=3, depth=2)
    second = relative_fuse([two, one], [0.5, 0.5], k=3, depth=2)
    assert [d.id for d, _, _ in first] == [d.id for d, _, _ in second] == ["a", "b", "c"]
    rrf1 = [d.id for d, _, _ in rrf_fuse([[b, a], [a, b]], k=2)]
    rrf2 = [d.id for d, _, _ in rrf_fuse([[a, b], [b, a]], k=2)]
    assert rrf1 == rrf2 == ["a", "b"]


def test_filtered_dense_search_post_filters_exactly(store, monkeypatch):
    import lcelkit.chains.dense as dense

    where = parse_filters(["source=b.pdf"])
    fast = make_retriever(store, search="similarity", k=2, filter=where).invoke("revenue")
    monkeypatch.setattr(dense, "POSTFILTER_FETCH", 0)  # force Chroma's where search
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


@pytest.mark.parametrize("search", ["similarity", "mmr", "threshold", "bm25", "hybrid"])
def test_k_and_filter_given_at_call_time_win_sync_and_async(store, index, search):
    import asyncio

    retriever = make_retriever(store, search=search, k=4, keyword_index=index, score_threshold=0.0)
    query = "revenue grew region"
    assert len(retriever.invoke(query, k=1)) == 1
    assert len(asyncio.run(retriever.ainvoke(query, k=1))) == 1
    only_b = retriever.invoke(query, filter={"source": "b.pdf"})
    assert only_b and {d.metadata["source"] for d in only_b} == {"b.pdf"}
    only_a = asyncio.run(retriever.ainvoke(query, filter={"source": "a.pdf"}))
    assert only_a and {d.metadata["source"] for d in only_a} == {"a.pdf"}
    assert len(retriever.invoke(query)) > 1  # the retriever's own k again


PIECE = "| Region | Revenue |\n|---|---|\n| North | 63 |\n| South | 41 |\n| cafeteria | 0 |"


@pytest.fixture
def unit_store(tmp_path):
    """A table piece that matches nothing by itself, and its row units that do."""
    emb = KeywordEmbeddings()
    st = open_chroma(emb, collection="unit-rows", embedder_name="kw", persist_dir=tmp_path / "u")
    piece = Document(page_content=PIECE, metadata={"source": "t.pdf", "category": "Table",
                                                   "chunk_id": "piece"})  # fmt: skip
    rows = [("u1", "Sales\nNorth | Revenue: 63 grew region"),
            ("u2", "Sales\nSouth | Revenue: 41 grew region"),
            ("u3", "Sales\ncafeteria | Revenue: 0")]  # fmt: skip
    units = [
        Document(page_content=text, metadata={"source": "t.pdf", "category": "TableRow",
                                              "parent_id": "piece", "chunk_id": cid})
        for cid, text in rows
    ]  # fmt: skip
    other = Document(page_content="login reset password", metadata={"source": "x.md",
                                                                    "chunk_id": "x"})  # fmt: skip
    docs = [piece, *units, other]
    st.add_documents(docs, ids=[d.metadata["chunk_id"] for d in docs])
    kw = KeywordIndex(None)
    sync_keyword_index(kw, st)
    return st, kw


@pytest.mark.parametrize("search", ["similarity", "mmr", "threshold", "bm25", "hybrid"])
def test_a_matched_row_unit_hands_back_its_table_piece_once(unit_store, search):
    st, kw = unit_store
    retriever = make_retriever(st, search=search, k=3, keyword_index=kw, score_threshold=0.0)
    docs = retriever.invoke("revenue grew in the north region")
    assert docs[0].page_content == PIECE  # the piece the model reads, not the unit
    assert docs[0].metadata["category"] == "Table" and "parent_id" not in docs[0].metadata
    assert docs[0].metadata["matched_row"].startswith("Sales\nNorth")
    assert docs[0].metadata["score"] > 0
    assert [d.page_content for d in docs].count(PIECE) == 1  # two matching rows, one piece
    assert all(d.metadata.get("category") != "TableRow" for d in docs)


def test_keyword_index_sync_sees_a_rewrite_with_the_same_chunk_count(store):
    """A file rewritten with as many chunks: new ids, same count; the index follows."""
    kw = KeywordIndex(None)
    sync_keyword_index(kw, store)
    store.delete(["c1"])
    new = Document(page_content="cafeteria closes early", metadata={"chunk_id": "c2"})
    store.add_documents([new], ids=["c2"])
    assert sync_keyword_index(kw, store) == 2
    assert [d.id for d, _ in kw.search("closes", 3)] == ["c2"]
    assert kw.search("opens", 3) == []


def test_keyword_index_sync_reads_nothing_when_the_write_stamps_agree(store, monkeypatch):
    """An ingest stamps the collection and the index it mirrored into: a reader whose
    index carries the collection's stamp does not list the store's ids."""
    from lcelkit.loaders.index import MirroredStore

    kw = KeywordIndex(None)
    sync_keyword_index(kw, store)
    mirrored = MirroredStore(store, [kw])
    mirrored.delete(["c1"])  # the file rewritten: one chunk out, one in (same count)
    new = Document(page_content="cafeteria closes early", metadata={"chunk_id": "c2"})
    mirrored.add_documents([new], ids=["c2"])
    mirrored.stamp()
    collection = store._collection
    listed = []
    real_get = type(collection).get
    monkeypatch.setattr(
        type(collection), "get", lambda self, *a, **k: listed.append(k) or real_get(self, *a, **k)
    )
    assert sync_keyword_index(kw, store) == 0
    assert listed == []  # in step by its stamp: no listing of ids
    other = KeywordIndex(None)  # another process's index, never stamped: compared by ids
    assert sync_keyword_index(other, store) == 5
    assert listed and [d.id for d, _ in other.search("closes", 3)] == ["c2"]


@pytest.mark.parametrize("search", ["similarity", "hybrid"])
def test_duplicate_chunks_come_back_in_the_same_order_whatever_the_write_order(tmp_path, search):
    """Two stores holding the same chunks, written in other orders (two ingest workers
    against a Chroma server, one embedded process): equal distances are ordered by chunk
    id, so both return the same list."""
    dups = [(f"d{i}", "revenue grew in the region table", {"source": f"s{i}.md"}) for i in range(6)]
    chunks = [*CHUNKS, *dups]
    got = []
    for name, order in (("forward", chunks), ("backward", chunks[::-1])):
        st = open_chroma(
            KeywordEmbeddings(), collection=name, embedder_name="kw", persist_dir=tmp_path / name
        )
        for i, t, m in order:  # one write per chunk: the graph's order is the write order
            st.add_documents([Document(page_content=t, metadata={**m, "chunk_id": i})], ids=[i])
        kw = KeywordIndex(None)
        sync_keyword_index(kw, st)
        retriever = make_retriever(st, search=search, k=4, fetch_k=4, keyword_index=kw)
        got.append(_ids(retriever.invoke("revenue region table")))
    assert got[0] == got[1] == ["r3", "d0", "d1", "d2"]  # the tie among the d*: by id


def test_a_korean_question_sharing_only_numbers_with_english_text_gets_no_bm25_list(tmp_path):
    emb = KeywordEmbeddings()
    st = open_chroma(emb, collection="cross", embedder_name="kw", persist_dir=tmp_path / "db")
    texts = {
        "y1": "cafeteria menu 2007 2007 2007",
        "r1": "revenue grew by region in 2007",
        "t1": "CDS spread table for 2007",
    }
    st.add_documents(
        [Document(page_content=t, metadata={"chunk_id": i}) for i, t in texts.items()],
        ids=list(texts),
    )
    kw = KeywordIndex(None)
    sync_keyword_index(kw, st)
    hybrid = make_retriever(st, search="hybrid", k=3, keyword_index=kw)
    # "2007" is all BM25 could match of this question: years alone say nothing of the topic
    numbers_only = hybrid.invoke("2007년 지역별 매출은 얼마나 늘었나요?")
    assert numbers_only and all(d.metadata["bm25_rank"] is None for d in numbers_only)
    assert all(d.metadata["bm25_score"] is None for d in numbers_only)
    # a Latin-script name it shares with the text keeps the keyword side ("CDS")
    with_name = hybrid.invoke("2007년 CDS 스프레드는 얼마였나요?")
    assert with_name[0].metadata["chunk_id"] == "t1"
    assert with_name[0].metadata["bm25_rank"] == 1
    # an English question is untouched
    assert any(d.metadata["bm25_rank"] for d in hybrid.invoke("revenue in 2007"))


@pytest.mark.parametrize(
    ("m", "where"),
    [(1, None), (2, None), (3, None), (4, None), (6, {"source": {"$in": ["t.pdf", "f.md"]}})],
)
def test_dense_passages_reads_few_chunks_and_equals_reading_them_all(
    unit_store, m, where, monkeypatch
):
    """Chroma returns ids and distances only and texts are read for the nearest ids
    until ``m`` passages are found (row units of one piece collapse, so more than ``m``
    ids may be needed): the same hits as reading all ``m * 6``. Also with a filter that
    Chroma applies (``m * 6`` above the post-filter's reach)."""
    from lcelkit.chains.dense import POSTFILTER_FETCH, dense_passages, dense_query
    from lcelkit.chains.parents import UNIT_FANOUT, best_per_passage

    st, _ = unit_store
    fillers = [f"f{i:02d}" for i in range(30)]  # equal vectors: ordered by id
    st.add_documents(
        [Document(page_content=f"login notes {i}", metadata={"source": "f.md"}) for i in fillers],
        ids=fillers,
    )
    vector = KeywordEmbeddings().embed_query("revenue grew in the north region")
    assert where is None or m * UNIT_FANOUT > POSTFILTER_FETCH // 4
    full = best_per_passage(dense_query(st, vector, m * UNIT_FANOUT, where))[:m]
    collection = st._collection
    calls: list[dict] = []
    for name in ("query", "get"):
        real = getattr(type(collection), name)
        monkeypatch.setattr(
            type(collection),
            name,
            lambda self, *a, _real=real, _name=name, **kw: (
                calls.append({_name: kw}) or _real(self, *a, **kw)
            ),
        )
    lazy = dense_passages(st, vector, m, where)
    assert [(d.id, d.page_content, d.metadata, s) for d, s, _ in lazy] == [
        (d.id, d.page_content, d.metadata, s) for d, s, _ in full
    ]
    assert [d.metadata.get("parent_id") or d.id for d, _, _ in lazy][:1] == ["piece"]
    if where is None:
        assert calls[0]["query"]["include"] == ["distances"]
    else:  # few chunks pass the filter: their ids from Chroma, ranked exactly here
        assert not any("query" in c for c in calls)
        assert calls[0]["get"]["where"] == where and calls[0]["get"]["include"] == []
    assert where is None or {d.metadata["source"] for d, _, _ in lazy} == {"t.pdf", "f.md"}
    reads = [c["get"] for c in calls if "documents" in (c.get("get") or {}).get("include", [])]
    read = sum(len(c["ids"]) for c in reads)
    assert m <= read < m * UNIT_FANOUT  # not the texts of all the neighbours


def test_hybrid_runs_its_dense_side_beside_the_keyword_query_and_raises_either_error(
    store, index, monkeypatch
):
    import threading

    from lcelkit.chains import retrievers
    from lcelkit.errors import StoreError

    threads: list[str] = []
    real = retrievers.dense_passages

    def noted(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(retrievers, "dense_passages", noted)
    hybrid = make_retriever(store, search="hybrid", k=3, keyword_index=index)
    assert _ids(hybrid.invoke("revenue region table"))[0] == "r3"
    assert threads and threads[0].startswith("lcelkit-dense")  # not this thread

    def dead(*args, **kwargs):
        raise StoreError("the Chroma server at http://x is not answering", hint="start it")

    monkeypatch.setattr(retrievers, "dense_passages", dead)
    with pytest.raises(StoreError, match="not answering"):
        hybrid.invoke("revenue")
    monkeypatch.setattr(retrievers, "dense_passages", real)

    def broken(*args, **kwargs):
        raise StoreError("the keyword index is unreadable", hint="run lcelkit ingest")

    monkeypatch.setattr(index, "search", broken)
    with pytest.raises(StoreError, match="keyword index is unreadable"):
        hybrid.invoke("revenue")
