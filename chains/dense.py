"""Nearest-neighbour queries on the Chroma collection, shared by the dense and hybrid
retrievers.

:func:`dense_passages` is what the retrievers ask for: the nearest chunks, one per
passage (a row unit counts as its table piece, ``chains.parents``), each as ``(doc,
cosine similarity in [0, 1], embedding | None)``. Without a filter it asks Chroma for
ids and distances only, then reads texts and metadata for as few of the nearest ids as
give the passages wanted (usually the first ``m``: one ``get``). Why: at 20,670 chunks,
an HNSW query returning 120 results with their metadata took ~3.5 ms more than one
returning distances only, and hybrid search keeps 20 of them (docs/DESIGN.md, "Store").
The result is the same list as reading all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from lcelkit.chains.dense_exact import exact_nearest
from lcelkit.chains.fusion import passage_key
from lcelkit.chains.keyword import match_filter
from lcelkit.chains.parents import UNIT_FANOUT, best_per_passage
from lcelkit.chains.store import cosine_relevance
from lcelkit.errors import EmbedderMismatchError, StoreError

if TYPE_CHECKING:
    from langchain_chroma import Chroma

__all__ = ["POSTFILTER_FETCH", "collection_of", "dense_passages", "dense_query"]

POSTFILTER_FETCH = 128  # unfiltered neighbours tried before Chroma's filtered search

Hit = tuple[Document, float, Any]


def collection_of(store: Chroma) -> Any:
    """The Chroma collection behind a langchain_chroma store (it exposes no public one)."""
    return store._collection


def dense_query(
    store: Chroma,
    vector: list[float],
    n: int,
    where: dict[str, Any] | None,
    *,
    with_embeddings: bool = False,
) -> list[Hit]:
    """Nearest ``n`` chunks as ``(doc, cosine similarity in [0,1], embedding|None)``.

    With a filter, the nearest :data:`POSTFILTER_FETCH` chunks are fetched unfiltered
    and filtered here first: when at least ``n`` of them pass, they are exactly the
    filtered top ``n`` (a chunk that passes further down is farther than all of
    them), at HNSW speed. Otherwise, when at most ``EXACT_FILTER_MAX`` chunks pass,
    they are ranked exactly (``chains.dense_exact``), else Chroma's own ``where``
    search runs (it pre-filters on metadata, then searches its graph).
    """
    if where and n <= POSTFILTER_FETCH // 4:
        near = _raw_dense_query(store, vector, POSTFILTER_FETCH, None, with_embeddings)
        passed = [hit for hit in near if match_filter(hit[0].metadata, where)]
        if len(passed) >= n or len(near) < POSTFILTER_FETCH:
            return passed[:n]
    return _raw_dense_query(store, vector, n, where, with_embeddings)


def dense_passages(
    store: Chroma,
    vector: list[float],
    m: int,
    where: dict[str, Any] | None,
    *,
    with_embeddings: bool = False,
    split_scan: bool = True,
) -> list[Hit]:
    """The best hit of each of the nearest ``m`` passages among the nearest
    ``m * UNIT_FANOUT`` chunks (``best_per_passage(dense_query(...))[:m]``).
    ``split_scan=False``: the exact search's scan stays on the calling thread
    (``chains.dense_exact``), for a caller with other work on the cores meanwhile.

    Without embeddings, and unless the filter is applied here (``dense_query``'s
    post-filter, which reads every neighbour's metadata), Chroma returns ids and
    distances only, and the texts and metadata of the nearest ids are read in growing
    batches until ``m`` passages are found: the same list, without reading the rest.
    """
    n = m * UNIT_FANOUT
    if with_embeddings or (where and n <= POSTFILTER_FETCH // 4):  # filtered here: metadata
        hits = dense_query(store, vector, n, where, with_embeddings=with_embeddings)
        return best_per_passage(hits)[:m]
    exact = exact_nearest(store._client, collection_of(store), vector, n, where, split=split_scan)
    if exact is not None:  # ranked exactly here (chains.dense_exact)
        ids, dists, _ = exact
        order = list(range(len(ids)))
    else:
        res = _query(store, vector, n, where, ["distances"])
        ids = list(res["ids"][0]) if res.get("ids") else []
        dists = list(res["distances"][0]) if res.get("distances") else []
        order = _tie_order(ids, dists)
    out: list[Hit] = []
    seen: set[str] = set()
    start, size = 0, max(1, m)
    while start < len(order) and len(out) < m:
        batch = order[start : start + size]
        docs = _read(store, [ids[i] for i in batch])
        for i in batch:
            doc = docs.get(ids[i])
            if doc is None:  # deleted since the query: as if it had not been found
                continue
            key = passage_key(doc)
            if key not in seen:
                seen.add(key)
                out.append((doc, cosine_relevance(dists[i]), None))
                if len(out) == m:
                    break
        start += size
        size *= 2
    return out


def _tie_order(ids: list[str], dists: list[float]) -> list[int]:
    # equal distances (the same text in two chunks) in id order, not in the order of
    # Chroma's graph, which differs between stores written in another order
    return sorted(range(len(ids)), key=lambda i: (dists[i], ids[i])) if dists else []


def _read(store: Chroma, ids: list[str]) -> dict[str, Document]:
    """``{id: Document}`` for the given ids (texts and metadata, as a query returns them)."""
    try:
        got = collection_of(store).get(ids=ids, include=["documents", "metadatas"])
    except Exception as exc:
        raise StoreError(
            f"reading the nearest chunks failed: {exc.__class__.__name__}: {exc}",
            hint="check that the store is reachable",
        ) from None
    texts = got.get("documents") or []
    metas = got.get("metadatas") or []
    out: dict[str, Document] = {}
    for j, cid in enumerate(got.get("ids") or []):
        metadata = dict(metas[j] or {}) if j < len(metas) else {}
        metadata.setdefault("chunk_id", cid)
        text = texts[j] if j < len(texts) else ""
        out[cid] = Document(id=cid, page_content=text or "", metadata=metadata)
    return out


def _query(
    store: Chroma, vector: list[float], n: int, where: dict[str, Any] | None, include: list[str]
) -> dict[str, Any]:
    try:
        return collection_of(store).query(
            query_embeddings=[vector], n_results=max(1, n), where=where or None, include=include
        )
    except Exception as exc:
        if "dimension" in str(exc).lower():  # vectors of another embedder than the query's
            raise EmbedderMismatchError(
                f"vector search failed: {exc} (the collection was built with another embedder)",
                hint="set LCELKIT_EMBEDDINGS_MODEL to the embedder the collection was built "
                "with, or re-index with this one: lcelkit ingest --rebuild PATH",
            ) from None
        hint = "check that the store is reachable"
        if where:
            hint = "check the --filter keys/values (Chroma where syntax) and " + hint[6:]
        raise StoreError(
            f"vector search failed: {exc.__class__.__name__}: {exc}", hint=hint
        ) from None


def _raw_dense_query(
    store: Chroma,
    vector: list[float],
    n: int,
    where: dict[str, Any] | None,
    with_embeddings: bool,
) -> list[Hit]:
    exact = exact_nearest(store._client, collection_of(store), vector, n, where)
    if exact is not None:  # ranked exactly here (chains.dense_exact)
        ids, dists, vecs = exact
        docs = _read(store, ids)
        return [
            (docs[cid], cosine_relevance(dists[i]), vecs[i].tolist() if with_embeddings else None)
            for i, cid in enumerate(ids)
            if cid in docs
        ]
    include = ["documents", "metadatas", "distances"]
    if with_embeddings:
        include.append("embeddings")
    res = _query(store, vector, n, where, include)
    ids = res["ids"][0] if res.get("ids") else []
    docs = res["documents"][0] if res.get("documents") else []
    metas = res["metadatas"][0] if res.get("metadatas") else []
    dists = res["distances"][0] if res.get("distances") else []
    embs = res["embeddings"][0] if with_embeddings and res.get("embeddings") is not None else None
    out: list[Hit] = []
    for i in _tie_order(ids, dists):
        cid = ids[i]
        metadata = dict(metas[i] or {}) if i < len(metas) else {}
        metadata.setdefault("chunk_id", cid)
        doc = Document(id=cid, page_content=docs[i] or "", metadata=metadata)
        out.append((doc, cosine_relevance(dists[i]), embs[i] if embs is not None else None))
    return out
