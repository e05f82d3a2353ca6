"""The keyword (BM25) index on PostgreSQL, shared by every worker and host of a team.

Same interface as :class:`lcelkit.chains.keyword.KeywordIndex` (SQLite FTS5), same
terms (:func:`lcelkit.chains.keyword.tokenize`: lower-cased words without stop-words,
Korean as character bigrams or kiwi morphemes), and by default the same ranking:

* one row per chunk in ``lcelkit_keyword`` (namespace, chunk id, text, metadata as
  ``jsonb``, the term frequencies as ``jsonb``, the term count, and the chunk's terms as a
  ``tsvector`` under a GIN index for ``ts_rank_cd``); the **postings** in
  ``lcelkit_keyword_postings`` (term, chunk id, frequency, chunk length; primary key on
  namespace, term, chunk id); the statistics BM25 needs (chunks, terms, and per term
  how many chunks hold it) in ``lcelkit_keyword_stats`` / ``lcelkit_keyword_df``. All
  of it is updated in the same transaction as the rows (writes of one namespace take an
  advisory lock, so concurrent ingest workers queue for a moment instead of racing);
* ``ranking="bm25"`` (default): the BM25 that SQLite FTS5's ``bm25()`` computes
  (k1 = 1.2, b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)) floored at 1e-6, average
  length over the whole index), with the same pruning of very common query terms
  (:data:`~lcelkit.chains.keyword.PRUNE_DF_RATIO`), as **one SQL statement**: the
  statistics, then each query term's postings (a range of the primary key) summed per
  chunk in query-term order (FTS5's float result, so ties break alike), then the rows
  of the top ``k``. An embedded process and a team deployment thus rank alike
  (docs/DESIGN.md: measured). Scoring from the postings replaced a per-chunk score
  over the ``jsonb`` frequencies of every chunk the GIN index matched: query p50
  10.3 -> 1.4 ms on SQuAD, 38.7 -> 5.8 ms on KoBEST (bench/scale.py, loaded machine).
  An index written before the postings existed gets them built once, when it is opened;
* ``ranking="ts_rank_cd"``: PostgreSQL's cover density with length normalisation
  (``ts_rank_cd(tsv, query, 1)``), kept for the comparison in ``bench/scale.py``.

Every write is one transaction, committed before ``add_documents``/``delete``
return, and every query reads the tables themselves (statistics and rows in one
snapshot): a chunk the ingest wrote is what every worker's next query sees. No copy
is kept per process, so nothing has to be brought in step.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.documents import Document

from lcelkit.chains.keyword import PRUNE_DF_RATIO, PRUNE_MIN_DOCS, KoreanMode, tokenize
from lcelkit.chains.keyword_pg_sql import (
    SCHEMA,
    bm25_sql,
    filter_to_pg,
    pg_schema_lock,
    quote,
    tsvector_literal,
)
from lcelkit.errors import StoreError

__all__ = ["PgKeywordIndex", "Ranking", "filter_to_pg", "pg_schema_lock"]

logger = logging.getLogger(__name__)

Ranking = Literal["bm25", "ts_rank_cd"]


class PgKeywordIndex:
    """A BM25 index of chunks in PostgreSQL, one ``namespace`` per collection.

    ``url``: a SQLAlchemy URL (``postgresql+psycopg://...``) or an engine.
    Thread-safe (a connection pool); safe across processes and hosts.
    """

    def __init__(
        self,
        url: str | Any,
        namespace: str,
        *,
        korean: KoreanMode = "bigram",
        ranking: Ranking = "bm25",
    ) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import Engine

        self.namespace = namespace
        self.korean: KoreanMode = korean
        self.ranking: Ranking = ranking
        self.path = None  # no file: the SQLite index's attribute, for callers that log it
        self._engine: Engine = (
            url if isinstance(url, Engine) else create_engine(url, pool_pre_ping=True)
        )
        self._owns_engine = not isinstance(url, Engine)
        self._lock = threading.Lock()
        try:
            with self._engine.begin() as conn:
                pg_schema_lock(conn)
                for statement in filter(None, (s.strip() for s in SCHEMA.split(";"))):
                    conn.exec_driver_sql(statement)
                self._check_tokenizer(conn)
                self._check_postings(conn)
        except StoreError:
            raise
        except Exception as exc:
            raise self._error("cannot open the keyword index", exc) from None

    def _error(self, what: str, exc: BaseException) -> StoreError:
        url = self._engine.url.render_as_string(hide_password=True)
        return StoreError(
            f"{what} in {url}: {exc.__class__.__name__}: {str(exc).strip()}",
            hint="check database.url (LCELKIT_DATABASE_URL) and that the PostgreSQL "
            "server is running and reachable",
        )

    @property
    def tokenizer_name(self) -> str:
        """Name of the tokenizer that produced the stored terms (the SQLite index's)."""
        return f"v1-{self.korean}"

    def _check_tokenizer(self, conn: Any) -> None:
        row = conn.exec_driver_sql(
            "SELECT value FROM lcelkit_keyword_info WHERE namespace = %(ns)s AND key = "
            "'tokenizer' FOR UPDATE",
            {"ns": self.namespace},
        ).first()
        if row is None:
            conn.exec_driver_sql(
                "INSERT INTO lcelkit_keyword_info(namespace, key, value) "
                "VALUES (%(ns)s, 'tokenizer', %(v)s) ON CONFLICT DO NOTHING",
                {"ns": self.namespace, "v": self.tokenizer_name},
            )
        elif row[0] != self.tokenizer_name:
            logger.info(
                "keyword index %s was built with tokenizer %s; re-tokenizing with %s",
                self.namespace,
                row[0],
                self.tokenizer_name,
            )
            self._lock_namespace(conn)
            rows = conn.exec_driver_sql(
                "SELECT chunk_id, text, metadata::text FROM lcelkit_keyword "
                "WHERE namespace = %(ns)s ORDER BY chunk_id",
                {"ns": self.namespace},
            ).all()
            for start in range(0, len(rows), 1000):
                part = rows[start : start + 1000]
                self._write(conn, [r[0] for r in part], [r[1] for r in part], [r[2] for r in part])
            conn.exec_driver_sql(
                "UPDATE lcelkit_keyword_info SET value = %(v)s WHERE namespace = %(ns)s "
                "AND key = 'tokenizer'",
                {"ns": self.namespace, "v": self.tokenizer_name},
            )

    def _check_postings(self, conn: Any) -> None:
        """Build the postings of an index written before they existed (once, from the
        stored term frequencies)."""
        row = conn.exec_driver_sql(
            "SELECT value FROM lcelkit_keyword_info WHERE namespace = %(ns)s AND key = 'postings'",
            {"ns": self.namespace},
        ).first()
        if row is not None:
            return
        self._lock_namespace(conn)
        conn.exec_driver_sql(
            "DELETE FROM lcelkit_keyword_postings WHERE namespace = %(ns)s", {"ns": self.namespace}
        )
        added = conn.exec_driver_sql(
            "INSERT INTO lcelkit_keyword_postings(namespace, term, chunk_id, tf, len) "
            "SELECT c.namespace, t.key, c.chunk_id, t.value::int, c.len FROM lcelkit_keyword c, "
            "jsonb_each_text(c.tfs) AS t WHERE c.namespace = %(ns)s",
            {"ns": self.namespace},
        ).rowcount
        if added:
            logger.info("keyword index %s: %d postings built", self.namespace, added)
        conn.exec_driver_sql(
            "INSERT INTO lcelkit_keyword_info(namespace, key, value) "
            "VALUES (%(ns)s, 'postings', 'v1') ON CONFLICT DO NOTHING",
            {"ns": self.namespace},
        )

    # -- writes ----------------------------------------------------------------------
    def _lock_namespace(self, conn: Any) -> None:
        conn.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(hashtextextended('lcelkit_keyword:' || %(ns)s, 0))",
            {"ns": self.namespace},
        )

    def _remove(self, conn: Any, ids: list[str]) -> None:
        """Delete rows by id and take them out of the statistics (same transaction)."""
        conn.exec_driver_sql(
            "DELETE FROM lcelkit_keyword_postings WHERE namespace = %(ns)s "
            "AND chunk_id = ANY(%(ids)s::text[])",
            {"ns": self.namespace, "ids": ids},
        )
        gone = conn.exec_driver_sql(
            "DELETE FROM lcelkit_keyword WHERE namespace = %(ns)s "
            "AND chunk_id = ANY(%(ids)s::text[]) RETURNING tfs, len",
            {"ns": self.namespace, "ids": ids},
        ).all()
        if gone:
            df: Counter[str] = Counter()
            for tfs, _ in gone:
                df.update((json.loads(tfs) if isinstance(tfs, str) else tfs).keys())
            self._bump(conn, -len(gone), -sum(n for _, n in gone), {t: -d for t, d in df.items()})

    def _bump(self, conn: Any, n: int, tokens: int, df: dict[str, int]) -> None:
        conn.exec_driver_sql(
            "INSERT INTO lcelkit_keyword_stats(namespace, n, tokens) VALUES (%(ns)s, %(n)s, "
            "%(t)s) ON CONFLICT (namespace) DO UPDATE SET n = lcelkit_keyword_stats.n + "
            "EXCLUDED.n, tokens = lcelkit_keyword_stats.tokens + EXCLUDED.tokens",
            {"ns": self.namespace, "n": n, "t": tokens},
        )
        if not df:
            return
        terms = sorted(df)
        params = {"ns": self.namespace, "terms": terms, "df": [df[t] for t in terms]}
        conn.exec_driver_sql(
            "INSERT INTO lcelkit_keyword_df(namespace, term, df) SELECT %(ns)s, u.t, u.d "
            "FROM unnest(%(terms)s::text[], %(df)s::int[]) AS u(t, d) "
            "ON CONFLICT (namespace, term) DO UPDATE SET df = lcelkit_keyword_df.df + "
            "EXCLUDED.df",
            params,
        )
        conn.exec_driver_sql(
            "DELETE FROM lcelkit_keyword_df WHERE namespace = %(ns)s "
            "AND term = ANY(%(terms)s::text[]) AND df <= 0",
            params,
        )

    def _write(self, conn: Any, ids: list[str], texts: list[str], metas: list[str]) -> None:
        self._remove(conn, ids)
        terms = [tokenize(t, korean=self.korean) for t in texts]
        counts = [Counter(t) for t in terms]
        params = {
            "ns": self.namespace,
            "ids": ids,
            "texts": texts,
            "metas": metas,
            "tsv": [tsvector_literal(t) for t in terms],
            "tfs": [json.dumps(c, ensure_ascii=False) for c in counts],
            "len": [len(t) for t in terms],
        }
        conn.exec_driver_sql(
            "INSERT INTO lcelkit_keyword(namespace, chunk_id, text, metadata, tsv, tfs, len) "
            "SELECT %(ns)s, u.chunk_id, u.text, u.meta::jsonb, u.tsv::tsvector, u.tfs::jsonb, "
            "u.len FROM unnest(%(ids)s::text[], %(texts)s::text[], %(metas)s::text[], "
            "%(tsv)s::text[], %(tfs)s::text[], %(len)s::int[]) "
            "AS u(chunk_id, text, meta, tsv, tfs, len)",
            params,
        )
        post: dict[str, list[Any]] = {"cid": [], "term": [], "tf": [], "len": []}
        for cid, c, n in zip(ids, counts, params["len"], strict=True):
            for term, tf in c.items():
                post["cid"].append(cid)
                post["term"].append(term)
                post["tf"].append(tf)
                post["len"].append(n)
        conn.exec_driver_sql(
            "INSERT INTO lcelkit_keyword_postings(namespace, term, chunk_id, tf, len) "
            "SELECT %(ns)s, u.term, u.cid, u.tf, u.len FROM unnest(%(term)s::text[], "
            "%(cid)s::text[], %(tf)s::int[], %(len)s::int[]) AS u(term, cid, tf, len)",
            {"ns": self.namespace, **post},
        )
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        self._bump(conn, len(ids), sum(params["len"]), dict(df))

    def add_documents(self, documents: Sequence[Document], ids: Sequence[str]) -> None:
        """Insert or replace chunks by id (the same ids as in the vector store), in one
        committed transaction."""
        if len(documents) != len(ids):
            raise ValueError(f"{len(documents)} documents but {len(ids)} ids")
        if not documents:
            return
        latest = {cid: doc for doc, cid in zip(documents, ids, strict=True)}
        order = sorted(latest)
        texts = [latest[c].page_content.replace("\x00", "") for c in order]
        metas = [
            json.dumps(latest[c].metadata or {}, ensure_ascii=False, default=str).replace(
                "\\u0000", ""
            )
            for c in order
        ]
        try:
            with self._engine.begin() as conn:
                self._lock_namespace(conn)
                for start in range(0, len(order), 1000):
                    end = start + 1000
                    self._write(conn, order[start:end], texts[start:end], metas[start:end])
        except Exception as exc:
            raise self._error("writing to the keyword index failed", exc) from None

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id; unknown ids are ignored."""
        if not ids:
            return
        try:
            with self._engine.begin() as conn:
                self._lock_namespace(conn)
                self._remove(conn, sorted(set(ids)))
        except Exception as exc:
            raise self._error("deleting from the keyword index failed", exc) from None

    def clear(self) -> None:
        """Remove every chunk of this namespace."""
        with self._engine.begin() as conn:
            self._lock_namespace(conn)
            for table in (
                "lcelkit_keyword",
                "lcelkit_keyword_postings",
                "lcelkit_keyword_df",
                "lcelkit_keyword_stats",
            ):
                conn.exec_driver_sql(
                    f"DELETE FROM {table} WHERE namespace = %(ns)s", {"ns": self.namespace}
                )

    # -- reads -----------------------------------------------------------------------
    def _scalar(self, sql: str, params: dict[str, Any]) -> Any:
        try:
            with self._engine.connect() as conn:
                return conn.exec_driver_sql(sql, params).scalar()
        except Exception as exc:
            raise self._error("reading the keyword index failed", exc) from None

    def count(self) -> int:
        """Number of chunks in the index."""
        value = self._scalar(
            "SELECT n FROM lcelkit_keyword_stats WHERE namespace = %(ns)s",
            {"ns": self.namespace},
        )
        return int(value or 0)

    def __len__(self) -> int:
        return self.count()

    def cached_count(self) -> int:
        """The chunk count (read each time: other processes write here too)."""
        return self.count()

    def ids(self) -> set[str]:
        """Every chunk id in the index."""
        with self._engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT chunk_id FROM lcelkit_keyword WHERE namespace = %(ns)s",
                {"ns": self.namespace},
            )
            return {r[0] for r in rows}

    def sample_texts(self, n: int = 64) -> list[str]:
        """Up to ``n`` chunk texts, the same ones for every caller (ordered by chunk id)."""
        with self._engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT text FROM lcelkit_keyword WHERE namespace = %(ns)s "
                "ORDER BY chunk_id LIMIT %(n)s",
                {"ns": self.namespace, "n": int(n)},
            )
            return [r[0] for r in rows]

    def search(
        self, query: str, k: int = 4, *, filter: dict[str, Any] | None = None
    ) -> list[tuple[Document, float]]:
        """Top ``k`` chunks for ``query`` (OR of its terms), best first; scores are BM25
        (higher is better, as the SQLite index's ``-bm25()``). ``filter``: Chroma's
        ``where`` syntax on the chunks' metadata."""
        terms = list(dict.fromkeys(tokenize(query, korean=self.korean)))
        if not terms or k <= 0:
            return []
        params: dict[str, Any] = {"ns": self.namespace, "k": int(k), "terms": terms}
        cond = filter_to_pg(filter, params)
        try:
            if self.ranking == "bm25":
                # one statement: statistics and postings are read in one snapshot
                with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    rows = list(conn.exec_driver_sql(bm25_sql(filter, cond), params))
            else:
                snapshot = self._engine.connect().execution_options(
                    isolation_level="REPEATABLE READ"  # statistics and rows: one snapshot
                )
                with snapshot as conn, conn.begin():
                    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                    rows = self._search_cover_density(conn, terms, cond, params)
        except StoreError:
            raise
        except Exception as exc:
            raise self._error("keyword search failed", exc) from None
        out: list[tuple[Document, float]] = []
        for cid, text, meta, score in rows:
            metadata = dict(meta) if isinstance(meta, dict) else json.loads(meta)
            metadata.setdefault("chunk_id", cid)
            out.append((Document(id=cid, page_content=text, metadata=metadata), float(score)))
        return out

    def _search_cover_density(
        self, conn: Any, terms: list[str], cond: str, params: dict[str, Any]
    ) -> list[Any]:
        """``ranking="ts_rank_cd"``: PostgreSQL's cover density over the GIN index."""
        row = conn.exec_driver_sql(
            "SELECT (SELECT n FROM lcelkit_keyword_stats WHERE namespace = %(ns)s), "
            "ARRAY(SELECT coalesce(d.df, 0) FROM unnest(%(terms)s::text[]) WITH ORDINALITY "
            "AS u(t, i) LEFT JOIN lcelkit_keyword_df d ON d.namespace = %(ns)s AND d.term = u.t "
            "ORDER BY u.i)",
            {"ns": self.namespace, "terms": terms},
        ).one()
        total, df = int(row[0] or 0), [int(x) for x in row[1]]
        if total == 0:
            return []
        if len(terms) > 1 and total >= PRUNE_MIN_DOCS:
            keep = [i for i, n in enumerate(df) if n <= PRUNE_DF_RATIO * total]
            if keep:
                terms = [terms[i] for i in keep]
        params["tsq"] = " | ".join(quote(t) for t in terms)
        sql = (
            "SELECT c.chunk_id, c.text, c.metadata, ts_rank_cd(c.tsv, %(tsq)s::tsquery, 1) AS s "
            # "namespace || ''": never the primary key's index, always the GIN on tsv (a
            # fresh table has no statistics; the planner then scans the whole namespace)
            "FROM lcelkit_keyword c WHERE c.namespace || '' = %(ns)s "
            f"AND c.tsv @@ %(tsq)s::tsquery AND {cond} "
            'ORDER BY s DESC, c.chunk_id COLLATE "C" LIMIT %(k)s'
        )
        return list(conn.exec_driver_sql(sql, params))

    def close(self) -> None:
        """Release the connections (when this index created the engine)."""
        if self._owns_engine:
            self._engine.dispose()

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"PgKeywordIndex({url!r}, namespace={self.namespace!r})"
