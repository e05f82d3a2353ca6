"""The BM25 keyword index: incremental add/delete by chunk id, filters, persistence."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document

from lcelkit.chains.keyword import KeywordIndex, filter_to_sql, match_filter, tokenize
from lcelkit.errors import StoreError

DOCS = {
    "c1": ("The quarterly revenue grew by 12 percent.", {"source": "a.pdf", "page_number": 1}),
    "c2": ("Reset your password from the login screen.", {"source": "a.pdf", "page_number": 2}),
    "c3": ("Revenue by region: North 10, South 12.", {"source": "b.pdf", "page_number": 1}),
    "c4": ("The cafeteria opens at eight.", {"source": "c.md", "draft": True}),
}


def _add(index: KeywordIndex, ids=None) -> None:
    ids = ids or list(DOCS)
    index.add_documents([Document(page_content=DOCS[i][0], metadata=DOCS[i][1]) for i in ids], ids)


def _ids(hits) -> list[str]:
    return [doc.id for doc, _ in hits]


def test_english_tokens_are_lowercased_without_punctuation_or_stopwords():
    assert tokenize("The Revenue, grew!") == ["revenue", "grew"]


def test_search_ranks_by_bm25_and_returns_metadata():
    index = KeywordIndex(None)
    _add(index)
    hits = index.search("revenue growth quarterly", k=3)
    assert _ids(hits)[0] == "c1"
    assert set(_ids(hits)) == {"c1", "c3"}  # only chunks sharing a term match
    doc, score = hits[0]
    assert doc.metadata["source"] == "a.pdf" and doc.metadata["chunk_id"] == "c1"
    assert score > hits[1][1] > 0


def test_incremental_add_replace_delete():
    index = KeywordIndex(None)
    _add(index, ["c1", "c2"])
    assert index.count() == 2
    _add(index, ["c3"])
    assert index.count() == 3 and "c3" in _ids(index.search("region", k=5))
    # Same id again replaces the row (no duplicate hit).
    index.add_documents([Document(page_content="Region table moved")], ["c3"])
    assert index.count() == 3
    assert _ids(index.search("region", k=5)) == ["c3"]
    assert index.search("region", k=5)[0][0].page_content == "Region table moved"
    index.delete(["c3", "unknown-id"])
    assert index.count() == 2 and index.search("region", k=5) == []
    index.clear()
    assert index.count() == 0 and index.search("password", k=5) == []


def test_persistent_index_survives_reopen(tmp_path):
    path = tmp_path / "kw" / "index.sqlite"
    index = KeywordIndex(path)
    _add(index)
    index.close()
    again = KeywordIndex(path)
    assert again.count() == 4
    assert _ids(again.search("password", k=1)) == ["c2"]


def test_reopening_with_another_tokenizer_retokenizes(tmp_path):
    path = tmp_path / "index.sqlite"
    index = KeywordIndex(path, korean="bigram")
    index.add_documents([Document(page_content="서울특별시는 대한민국의 수도이다")], ["k1"])
    index.close()
    kiwi = KeywordIndex(path, korean="kiwi")
    assert _ids(kiwi.search("서울의 인구", k=1)) == ["k1"]
    assert kiwi.tokenizer_name == "v1-kiwi"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"source": "a.pdf"}, {"c1"}),
        ({"$and": [{"source": "a.pdf"}, {"page_number": 1}]}, {"c1"}),
        ({"$or": [{"source": "b.pdf"}, {"page_number": {"$gte": 1}}]}, {"c1", "c3"}),
        ({"source": {"$in": ["b.pdf", "c.md"]}}, {"c3"}),
        ({"source": {"$ne": "a.pdf"}}, {"c3"}),
        ({"page_number": {"$lt": 1}}, set()),
    ],
)
def test_filters_use_chroma_where_syntax(where, expected):
    index = KeywordIndex(None)
    _add(index)
    assert set(_ids(index.search("revenue", k=10, filter=where))) == expected


def test_bool_filter():
    index = KeywordIndex(None)
    _add(index)
    assert _ids(index.search("cafeteria", k=5, filter={"draft": True})) == ["c4"]
    assert _ids(index.search("cafeteria", k=5, filter={"draft": False})) == []


def test_python_and_sql_filters_agree():
    metas = [m for _, m in DOCS.values()]
    where = {"$and": [{"source": {"$in": ["a.pdf", "b.pdf"]}}, {"page_number": {"$gt": 1}}]}
    assert [match_filter(m, where) for m in metas] == [False, True, False, False]
    sql, params = filter_to_sql(where)
    assert sql.count("?") == len(params) == 3


def test_bad_filter_is_a_clear_error():
    index = KeywordIndex(None)
    with pytest.raises(StoreError, match="operator"):
        index.search("x", k=1, filter={"source": {"$regex": "a"}})
    with pytest.raises(StoreError, match="key"):
        index.search("x", k=1, filter={"bad key'); drop table docs; --": 1})


def test_query_without_terms_returns_nothing():
    index = KeywordIndex(None)
    _add(index)
    assert index.search("the of and ?!", k=5) == []


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        KeywordIndex(None).add_documents([Document(page_content="x")], ["a", "b"])


def test_very_common_query_terms_are_pruned_only_in_large_indexes():
    from langchain_core.documents import Document

    from lcelkit.chains.keyword import PRUNE_MIN_DOCS, KeywordIndex

    index = KeywordIndex()
    n = PRUNE_MIN_DOCS + 200
    docs = [Document(page_content=f"quarterly report filler {i}") for i in range(n)]
    docs.append(Document(page_content="quarterly report about zebras in Kenya"))
    index.add_documents(docs, [f"d{i}" for i in range(len(docs))])
    assert index._prune(["quarterly", "zebras"]) == ["zebras"]
    top = index.search("quarterly zebras", k=3)
    assert top[0][0].id == f"d{n}"
    # A query of common terms only keeps them (never an empty query).
    assert len(index.search("quarterly report", k=5)) == 5
    small = KeywordIndex()
    small.add_documents(docs[:50], [f"s{i}" for i in range(50)])
    assert small._prune(["quarterly", "zebras"]) == ["quarterly", "zebras"]


def test_unfiltered_search_breaks_ties_by_id_like_the_joined_query():
    """The unfiltered search ranks on the FTS table alone and reads only the rows it
    keeps; ties at the k-th score (duplicate chunks, here 40 of them in ids written out
    of order) must still come back by chunk id, as the filtered (joined) query orders."""
    import random

    index = KeywordIndex(None)
    ids = [f"dup{i:02d}" for i in range(40)]
    random.Random(7).shuffle(ids)
    docs = [Document(page_content="revenue grew in the north", metadata={"s": 1}) for _ in ids]
    docs += [Document(page_content="revenue grew", metadata={"s": 1})]  # two terms of three
    docs += [Document(page_content=f"revenue note {i} and more words", metadata={"s": 1})
             for i in range(30)]  # fmt: skip
    index.add_documents(docs, [*ids, "best", *(f"other{i:02d}" for i in range(30))])
    everything = {"s": {"$ne": 0}}  # a filter every chunk passes: the joined query
    for k in (1, 3, 10, 41, 45, 100):
        fast = index.search("revenue grew north", k)
        joined = index.search("revenue grew north", k, filter=everything)
        assert [(d.id, s, d.page_content, d.metadata) for d, s in fast] == [
            (d.id, s, d.page_content, d.metadata) for d, s in joined
        ]
        assert len(fast) == min(k, 71)
    top = _ids(index.search("revenue grew north", 5))
    assert top == ["dup00", "dup01", "dup02", "dup03", "dup04"]  # the tie: by id
