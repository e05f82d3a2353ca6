"""Retrievers over the Chroma store: similarity, MMR, threshold, BM25 and hybrid.

Every Document a retriever returns carries ``metadata["score"]``:

* dense kinds (``similarity``, ``mmr``, ``threshold``): the cosine similarity of
  query and chunk in [0, 1] (``chains.store.cosine_relevance``: 1 - cosine
  distance, negatives clamped to 0). ``threshold`` keeps chunks whose similarity
  is at least ``score_threshold`` (never Chroma's raw distance).
* ``bm25``: ``-bm25()`` from SQLite FTS5 (higher is better, unbounded).
* ``hybrid``: BM25 and dense lists (``fetch_k`` each) fused. Default
  ``fusion="relative"`` (:func:`relative_fuse`): each list is min-max normalized
  (its ``fetch_k``-th score is 0; 0 itself when the list ran out) and weighted by
  ``alpha`` (BM25, 0.5) and ``1 - alpha`` (dense) times its squared *confidence*
  (how far its best hit stands above its average), rescaled to sum to 1; ``score``
  is the fused value in [0, 1] and ``fusion_weights`` the ``[dense, bm25]`` weights
  used for that query. ``fusion="rrf"``: reciprocal rank fusion
  ``sum 1 / (rrf_k + rank)`` with ``rrf_k = 60``. Both add ``dense_rank`` /
  ``bm25_rank`` (1-based, ``None`` when the chunk was not in that list) and
  ``dense_score`` / ``bm25_score``; ties go to the chunk in more lists, then to the
  smaller id, never to the list that arrived first. When the embedder cannot read
  Korean (``chains.coverage``) and the query or the collection is mostly Hangul,
  hybrid leans on BM25 (``alpha = 0.9``, relative fusion) and marks
  ``bm25_lean=True``. When the embedder reads it and a mostly-Korean query over a
  collection that is not mostly Korean shares only numbers with it ("2007년",
  "15세"), the BM25 list is left out: it would rank by years and counts alone (a
  shared Latin-script name such as "CDS" or "E-PRTR" keeps it).
  Why: plain min-max fusion gave the top dense hit and the top BM25 hit the same 0.5
  whenever neither was in the other list (the tie went to the dense list, which
  arrived first), and stretched a model's near-flat scores over [0, 1]. nDCG@10 on
  KoBEST BoolQ (Korean, all-MiniLM-L6-v2, which cannot read it): BM25 0.963, dense
  0.024, min-max 0.625, confidence-weighted 0.948, leaning on BM25 0.963; with
  multilingual-e5-small: dense 0.968, min-max 0.982, confidence-weighted 0.982.
  MRR@10 on the 500 SQuAD dev questions: BM25 0.853, dense 0.759, min-max 0.870,
  confidence-weighted 0.884 (docs/DESIGN.md, "Hybrid fusion").

``filter`` is a Chroma ``where`` filter (``parse_filters`` builds one from
``KEY=VALUE`` strings); it applies to every kind, to both sides of hybrid.
Every Document also carries ``metadata["chunk_id"]`` (the store id).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from concurrent.futures import wait
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, PrivateAttr

from lcelkit.chains.coverage import (
    HANGUL_MAJORITY,
    KOREAN_EMBEDDER_HINT,
    embedder_reads_hangul,
    hangul_share,
)
from lcelkit.chains.dense import collection_of as _collection
from lcelkit.chains.dense import dense_passages
from lcelkit.chains.fusion import RRF_K, passage_key, relative_fuse, rrf_fuse
from lcelkit.chains.keyword import KeywordIndex
from lcelkit.chains.keyword import tokenize as keyword_tokenize
from lcelkit.chains.parents import UNIT_FANOUT, best_per_passage, resolve_parents, store_fetcher
from lcelkit.chains.pools import LazyPool
from lcelkit.errors import ConfigError

if TYPE_CHECKING:
    from langchain_chroma import Chroma

__all__ = [
    "HYBRID_ALPHA",
    "LEAN_ALPHA",
    "RRF_K",
    "SEARCH_KINDS",
    "DenseRetriever",
    "HybridRetriever",
    "KeywordRetriever",
    "SearchKind",
    "make_retriever",
    "parse_filters",
    "relative_fuse",
    "resolve_parents",
    "rrf_fuse",
    "sync_keyword_index",
]

logger = logging.getLogger(__name__)

SearchKind = Literal["similarity", "mmr", "threshold", "hybrid", "bm25"]
SEARCH_KINDS: tuple[str, ...] = ("similarity", "mmr", "threshold", "hybrid", "bm25")
HYBRID_ALPHA = 0.5
_HANGUL_TOKEN = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
LEAN_ALPHA = 0.9  # BM25's weight when the embedder cannot read the text (HybridRetriever)
Fusion = Literal["relative", "rrf"]


# -- filters ---------------------------------------------------------------------------
def _coerce(raw: str) -> str | int | float | bool:
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]  # quoted: always a string
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_filters(items: Sequence[str] | None) -> dict[str, Any] | None:
    """``["source=a.pdf", "page_number=3"]`` -> ``{"$and": [{"source": "a.pdf"}, ...]}``.

    Values become int, float or bool when they look like one (quote them to keep a
    string: ``page_label='3'``). One item gives a plain ``{key: value}``; none, None.
    """
    if not items:
        return None
    clauses: list[dict[str, Any]] = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"invalid filter {item!r}",
                hint="write filters as KEY=VALUE, e.g. --filter source=report.pdf "
                "--filter page_number=3",
            )
        clauses.append({key: _coerce(value)})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _with_score(doc: Document, **extra: Any) -> Document:
    return Document(id=doc.id, page_content=doc.page_content, metadata={**doc.metadata, **extra})


class _CallTimeArgs(BaseRetriever):
    """Shared by lcelkit's retrievers: ``k`` and ``filter`` may be given per call
    (``retriever.invoke(query, k=1, filter={...})``, sync or async); the async path runs
    the same search in a worker thread."""

    def _search(self, query: str, k: int | None, where: dict[str, Any] | None) -> list[Document]:
        raise NotImplementedError

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: dict[str, Any] | None = None,
    ) -> list[Document]:
        return self._search(query, k, filter)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: dict[str, Any] | None = None,
    ) -> list[Document]:
        return await run_in_executor(None, self._search, query, k, filter)


class DenseRetriever(_CallTimeArgs):
    """Similarity, MMR or threshold search on a Chroma store (cosine similarity scores)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any = Field(description="a langchain_chroma.Chroma vector store")
    embeddings: Any = Field(default=None, description="query embedder; default: the store's")
    search: Literal["similarity", "mmr", "threshold"] = "similarity"
    k: int = 4
    fetch_k: int = 20
    lambda_mult: float = 0.5
    score_threshold: float = 0.3
    filter: dict[str, Any] | None = None

    def _embedder(self) -> Embeddings:
        emb = self.embeddings or self.store.embeddings
        if emb is None:
            raise ConfigError("the store has no embedding function", hint="pass embeddings=")
        return emb

    def search_vector(
        self, vector: list[float], *, k: int | None = None, filter: dict[str, Any] | None = None
    ) -> list[Document]:
        """Run the search for an already embedded query (``k``/``filter`` override the
        retriever's own for this call)."""
        k = k or self.k
        where = filter if filter is not None else self.filter
        fetch = store_fetcher(self.store)
        if self.search == "mmr":
            import numpy as np
            from langchain_core.vectorstores.utils import maximal_marginal_relevance

            hits = dense_passages(
                self.store, vector, max(self.fetch_k, k), where, with_embeddings=True
            )
            if not hits:
                return []
            chosen = maximal_marginal_relevance(
                np.array(vector, dtype=np.float32),
                [h[2] for h in hits],
                lambda_mult=self.lambda_mult,
                k=k,
            )
            return resolve_parents(
                [_with_score(hits[i][0], score=hits[i][1]) for i in chosen], k, fetch
            )
        hits = dense_passages(self.store, vector, k, where)  # one hit per passage, best first
        if self.search == "threshold":
            hits = [h for h in hits if h[1] >= self.score_threshold]
        return resolve_parents([_with_score(doc, score=score) for doc, score, _ in hits], k, fetch)

    def _search(self, query: str, k: int | None, where: dict[str, Any] | None) -> list[Document]:
        return self.search_vector(self._embedder().embed_query(query), k=k, filter=where)


class KeywordRetriever(_CallTimeArgs):
    """BM25 search on a :class:`chains.keyword.KeywordIndex`.

    With ``store`` (the Chroma store the index mirrors), a matched row unit is handed
    back as its table piece (:func:`resolve_parents`).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any = Field(description="a chains.keyword.KeywordIndex")
    store: Any = Field(default=None, description="the store, to read row units' pieces")
    k: int = 4
    filter: dict[str, Any] | None = None

    def _search(self, query: str, k: int | None, where: dict[str, Any] | None) -> list[Document]:
        k = k or self.k
        where = where if where is not None else self.filter
        hits = [
            _with_score(doc, score=score)
            for doc, score in self.index.search(query, k * UNIT_FANOUT, filter=where)
        ]
        fetch = store_fetcher(self.store) if self.store is not None else None
        return resolve_parents(hits, k, fetch)


class HybridRetriever(_CallTimeArgs):
    """BM25 + dense, fused (relative score fusion or RRF); both sides see the same filter.

    ``lean="auto"``: when the embedder cannot read Korean (``chains.coverage``) and the
    query or the collection is mostly Hangul, the fusion leans on BM25 (``alpha`` is
    :data:`LEAN_ALPHA`); every Document then carries ``metadata["bm25_lean"] = True``
    and the first such query is logged. ``lean="off"`` never leans.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any = Field(description="a langchain_chroma.Chroma vector store")
    index: Any = Field(description="a chains.keyword.KeywordIndex kept in step with the store")
    embeddings: Any = None
    k: int = 4
    fetch_k: int = 20
    filter: dict[str, Any] | None = None
    fusion: Fusion = "relative"
    alpha: float = HYBRID_ALPHA
    rrf_k: int = RRF_K
    lean: Literal["auto", "off"] = "auto"
    _collection_share: tuple[int, float] | None = PrivateAttr(default=None)
    _reads_hangul: bool | None = PrivateAttr(default=None)
    _lean_logged: bool = PrivateAttr(default=False)

    def _lean_reason(self, query: str, embedder: Any) -> str | None:
        """Why to lean on BM25 for this query (None: fuse as configured)."""
        if self.lean == "off":
            return None
        if self._reads_hangul is None:
            self._reads_hangul = embedder_reads_hangul(embedder)
        if self._reads_hangul:
            return None
        if hangul_share(query) > HANGUL_MAJORITY:
            return "the query is mostly Korean"
        if self._collection_hangul() > HANGUL_MAJORITY:
            return "the collection is mostly Korean"
        return None

    def _collection_hangul(self) -> float:
        count = self.index.cached_count()
        if self._collection_share in (None, (0, 0.0)) or self._collection_share[0] != count:
            self._collection_share = (count, hangul_share(self.index.sample_texts()))
        return self._collection_share[1]

    def _numbers_only(self, query: str) -> bool:
        """A mostly-Korean query over a collection that is not: BM25 can only match the
        query's other tokens, and when those are all numbers ("2007년", "15세") it ranks
        by years and counts alone."""
        if self.lean == "off" or hangul_share(query) <= HANGUL_MAJORITY:
            return False
        if self._collection_hangul() > HANGUL_MAJORITY:
            return False
        other = [t for t in keyword_tokenize(query) if not _HANGUL_TOKEN.search(t)]
        return not any(ch.isalpha() for t in other for ch in t)

    def _search(self, query: str, k: int | None, where: dict[str, Any] | None) -> list[Document]:
        embedder = self.embeddings or self.store.embeddings
        k = k or self.k
        where = where if where is not None else self.filter
        n = max(self.fetch_k, k)
        # The query is embedded first, alone: run beside the embedding (every core), the
        # keyword query only contended for the CPU (p95 28.7 ms in a thread vs 23.8 ms in
        # sequence at 20,670 chunks on 2 cores). The dense search then runs on a worker
        # thread while this one runs the keyword query: both wait mostly outside the GIL
        # (SQLite or PostgreSQL; numpy's scan of the exact search).
        vector = embedder.embed_query(query)
        # its exact scan on that one thread: a second scan thread beside the keyword
        # query only contended for the cores (chains.dense_exact._scan)
        dense_side = _SIDE_POOL.submit(
            dense_passages, self.store, vector, n, where, split_scan=False
        )
        try:  # row units collapse into their pieces: each side keeps the best per passage
            keyword = best_per_passage(self.index.search(query, n * UNIT_FANOUT, filter=where))
        except BaseException:
            dense_side.cancel()
            wait([dense_side])
            raise
        keyword = keyword[:n]
        dense = dense_side.result()
        reason = self._lean_reason(query, embedder)
        if keyword and not reason and self._numbers_only(query):
            keyword = []  # only numbers to match across scripts: no evidence of the topic
        dense_score = {passage_key(d): s for d, s, _ in dense}
        bm25_score = {passage_key(d): s for d, s in keyword}
        alpha = LEAN_ALPHA if reason else self.alpha
        if reason and not self._lean_logged:
            self._lean_logged = True
            logger.info(
                "hybrid search leans on BM25 (alpha %.2f): %s and the embedder %s cannot "
                "read Korean; %s",
                alpha,
                reason,
                getattr(embedder, "name", type(embedder).__name__),
                KOREAN_EMBEDDER_HINT,
            )
        extra: dict[str, Any] = {"bm25_lean": True} if reason else {}
        if self.fusion == "rrf" and not reason:
            fused = rrf_fuse(
                [[d for d, _, _ in dense], [d for d, _ in keyword]], k=2 * n, rrf_k=self.rrf_k
            )
        else:
            used: list[float] = []
            fused = relative_fuse(
                [[(d, s) for d, s, _ in dense], keyword],
                [1.0 - alpha, alpha],
                k=2 * n,
                depth=n,
                weights_out=used,
            )
            extra["fusion_weights"] = [round(w, 4) for w in used]
        ranked = [
            _with_score(
                doc,
                score=score,
                dense_rank=ranks[0],
                bm25_rank=ranks[1],
                dense_score=dense_score.get(passage_key(doc)),
                bm25_score=bm25_score.get(passage_key(doc)),
                **extra,
            )
            for doc, score, ranks in fused[:k]  # one per passage already: the first k stay
        ]
        return resolve_parents(ranked, k, store_fetcher(self.store))


_SIDE_POOL = LazyPool(8, "lcelkit-dense")  # hybrid searches' dense sides, one per query


def sync_keyword_index(index: KeywordIndex, store: Chroma, *, batch_size: int = 2000) -> int:
    """Bring the keyword index in step with the store, chunk id by chunk id.

    Every lcelkit write run stamps the collection (``loaders.index.STORE_STAMP_KEY`` in
    its metadata, a new value per run) and the keyword indexes it mirrored into; when
    the index carries the collection's stamp it is in step and nothing is read.
    Otherwise the two sets of chunk ids are compared (never their counts: a file
    rewritten with as many chunks has new ids, as ids are content hashes), the chunks
    the index lacks are added and the ones the store no longer has deleted; returns how
    many rows changed. The PostgreSQL index (``chains.keyword_pg``) is shared by every
    process and written by every ingest directly, so it is never synced.
    """
    collection = _collection(store)
    stamp = (collection.metadata or {}).get("lcelkit:write_stamp")
    if stamp is not None and stamp == index.synced_stamp():
        return 0
    store_ids = set(collection.get(include=[])["ids"])
    have = index.ids()
    missing = sorted(store_ids - have)
    extra = sorted(have - store_ids)
    index.delete(extra)
    for start in range(0, len(missing), batch_size):
        got = collection.get(
            ids=missing[start : start + batch_size], include=["documents", "metadatas"]
        )
        docs = [
            Document(page_content=text or "", metadata=dict(meta or {}))
            for text, meta in zip(got["documents"], got["metadatas"], strict=True)
        ]
        index.add_documents(docs, list(got["ids"]))
    if missing or extra:
        logger.info("keyword index synced with the store: +%d -%d chunks", len(missing), len(extra))
    if stamp is not None:
        index.set_synced_stamp(stamp)
    return len(missing) + len(extra)


def make_retriever(
    store: Chroma,
    *,
    search: SearchKind = "similarity",
    k: int = 4,
    fetch_k: int = 20,
    lambda_mult: float = 0.5,
    score_threshold: float = 0.3,
    filter: dict[str, Any] | None = None,
    keyword_index: KeywordIndex | None = None,
    embeddings: Embeddings | None = None,
    fusion: Fusion = "relative",
    alpha: float = HYBRID_ALPHA,
) -> BaseRetriever:
    """A retriever of the given kind; see the module docstring for ``metadata["score"]``.

    ``hybrid`` and ``bm25`` need ``keyword_index``. ``filter`` (Chroma ``where``
    syntax) applies to every kind. ``fusion``/``alpha``: how hybrid fuses (module doc).
    """
    if k < 1:
        raise ConfigError(f"k must be at least 1, not {k}", hint="pass -k 1 or more")
    if search in ("similarity", "mmr", "threshold"):
        return DenseRetriever(
            store=store,
            embeddings=embeddings,
            search=search,
            k=k,
            fetch_k=fetch_k,
            lambda_mult=lambda_mult,
            score_threshold=score_threshold,
            filter=filter,
        )
    if search in ("hybrid", "bm25"):
        if keyword_index is None:
            raise ConfigError(
                f"{search} search needs a keyword index",
                hint="pass keyword_index= (lcelkit.factories.make_keyword_index)",
            )
        if search == "bm25":
            return KeywordRetriever(index=keyword_index, store=store, k=k, filter=filter)
        return HybridRetriever(
            store=store,
            index=keyword_index,
            embeddings=embeddings,
            k=k,
            fetch_k=fetch_k,
            filter=filter,
            fusion=fusion,
            alpha=alpha,
        )
    raise ConfigError(
        f"unknown search kind {search!r}", hint=f"use one of {', '.join(SEARCH_KINDS)}"
    )
