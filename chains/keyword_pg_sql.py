"""The SQL of the PostgreSQL keyword index (:mod:`lcelkit.chains.keyword_pg`): its
tables, the BM25 statement over the postings, and Chroma ``where`` filters as conditions
on a ``jsonb`` column."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lcelkit.chains.keyword import PRUNE_DF_RATIO, PRUNE_MIN_DOCS, filter_terms
from lcelkit.errors import StoreError

__all__ = ["SCHEMA", "bm25_sql", "filter_to_pg", "pg_schema_lock", "quote", "tsvector_literal"]

_MAX_POSITIONS = 256  # PostgreSQL keeps at most 256 positions per lexeme
_MAX_POSITION = 16383
_SCHEMA_LOCK = 7_220_020  # pg_advisory_xact_lock key for lcelkit's CREATE TABLEs

SCHEMA = """
CREATE TABLE IF NOT EXISTS lcelkit_keyword (
    namespace text NOT NULL,
    chunk_id text NOT NULL,
    text text NOT NULL,
    metadata jsonb NOT NULL,
    tsv tsvector NOT NULL,
    tfs jsonb NOT NULL,
    len integer NOT NULL,
    PRIMARY KEY (namespace, chunk_id)
);
CREATE INDEX IF NOT EXISTS lcelkit_keyword_tsv ON lcelkit_keyword USING gin (tsv);
CREATE TABLE IF NOT EXISTS lcelkit_keyword_df (
    namespace text NOT NULL,
    term text NOT NULL,
    df integer NOT NULL,
    PRIMARY KEY (namespace, term)
);
CREATE TABLE IF NOT EXISTS lcelkit_keyword_stats (
    namespace text PRIMARY KEY,
    n bigint NOT NULL,
    tokens bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS lcelkit_keyword_postings (
    namespace text NOT NULL,
    term text NOT NULL,
    chunk_id text NOT NULL,
    tf integer NOT NULL,
    len integer NOT NULL,
    PRIMARY KEY (namespace, term, chunk_id) INCLUDE (tf, len)
);
CREATE INDEX IF NOT EXISTS lcelkit_keyword_postings_chunk
    ON lcelkit_keyword_postings (namespace, chunk_id);
CREATE TABLE IF NOT EXISTS lcelkit_keyword_info (
    namespace text NOT NULL,
    key text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (namespace, key)
);
"""

_OPS = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def pg_schema_lock(conn: Any) -> None:
    """Take lcelkit's schema lock for the rest of ``conn``'s transaction (PostgreSQL):
    two processes creating the same tables at once wait for each other instead of
    failing on PostgreSQL's catalog constraints."""
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")


def quote(term: str) -> str:
    """``term`` as a quoted lexeme of a tsvector/tsquery literal."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(terms: Sequence[str]) -> str:
    """A ``tsvector`` literal of ``terms`` with their positions (as PostgreSQL caps them)."""
    positions: dict[str, list[int]] = {}
    for pos, term in enumerate(terms, start=1):
        got = positions.setdefault(term, [])
        if len(got) < _MAX_POSITIONS:
            got.append(min(pos, _MAX_POSITION))
    return " ".join(f"{quote(t)}:{','.join(map(str, p))}" for t, p in positions.items())


def _json_value(value: Any) -> str:
    if isinstance(value, bool | str | int | float):
        return json.dumps(value)
    raise StoreError(
        f"unsupported filter value {value!r}",
        hint="filter values are strings, numbers or booleans",
    )


def filter_to_pg(
    where: dict[str, Any] | None, params: dict[str, Any], column: str = "c.metadata"
) -> str:
    """Translate a Chroma ``where`` filter into a condition on a ``jsonb`` column.

    The same operators as :func:`lcelkit.chains.keyword.filter_to_sql` (``$eq $ne $gt
    $gte $lt $lte $in $nin $and $or``); values are bound into ``params`` (psycopg's
    ``%(name)s`` style). A missing key matches no comparison, as on SQLite.
    """
    if not where:
        return "TRUE"

    def bind(value: Any) -> str:
        name = f"f{len(params)}"
        params[name] = value
        return f"%({name})s"

    parts: list[str] = []
    for key, op, value in filter_terms(where):
        if key in ("$and", "$or"):
            joiner = " AND " if key == "$and" else " OR "
            parts.append("(" + joiner.join(filter_to_pg(c, params, column) for c in op) + ")")
            continue
        ref = f"({column} -> {bind(key)})"
        if op in _OPS:
            parts.append(f"{ref} {_OPS[op]} {bind(_json_value(value))}::jsonb")
            continue
        values = [_json_value(v) for v in value]
        if not values:
            parts.append("FALSE" if op == "$in" else "TRUE")
            continue
        test = f"{ref} = ANY({bind(values)}::jsonb[])"
        parts.append(test if op == "$in" else f"{ref} IS NOT NULL AND NOT ({test})")
    return "(" + " AND ".join(parts) + ")"


def bm25_sql(filter: dict[str, Any] | None, cond: str) -> str:
    """FTS5's ``bm25()`` from the postings, in one statement: the statistics (N,
    average length, each query term's chunk count), the pruning of very common terms
    (as ``KeywordIndex._prune``), then per query term its postings (primary-key
    range) summed per chunk; only the top ``k`` chunks' rows are read (with a filter:
    the matching chunks' rows, filtered before the limit). Ties: by chunk id, bytewise
    (SQLite's order)."""
    stats = (
        "WITH st AS (SELECT n::float8 AS n, tokens::float8 / n::float8 AS avgdl "
        "FROM lcelkit_keyword_stats WHERE namespace = %(ns)s AND n > 0), "
        "qt AS (SELECT u.t AS term, u.i, coalesce(d.df, 0) AS df "
        "FROM unnest(%(terms)s::text[]) WITH ORDINALITY AS u(t, i) "
        "LEFT JOIN lcelkit_keyword_df d ON d.namespace = %(ns)s AND d.term = u.t), "
        # pruning: with >= 2 terms and >= PRUNE_MIN_DOCS chunks, drop terms in more
        # than PRUNE_DF_RATIO of the chunks unless that would drop them all
        "q AS (SELECT qt.term, qt.i, CASE WHEN x.idf > 0 THEN x.idf ELSE 1e-6 END AS idf "
        "FROM qt CROSS JOIN st CROSS JOIN LATERAL (SELECT ln((st.n - qt.df + 0.5::float8) "
        "/ (qt.df + 0.5::float8)) AS idf) x "
        f"WHERE cardinality(%(terms)s::text[]) < 2 OR st.n < {PRUNE_MIN_DOCS} "
        f"OR qt.df <= {PRUNE_DF_RATIO!r}::float8 * st.n "
        f"OR NOT EXISTS (SELECT 1 FROM qt q2 WHERE q2.df <= {PRUNE_DF_RATIO!r}::float8 "
        "* st.n)), "
        # FTS5's bm25(): idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * D / avgdl))
        # summed per chunk in query-term order, as FTS5 adds them (the same float
        # result, so exact ties break alike): the aggregate reads its rows sorted
        "hits AS (SELECT chunk_id, sum(v) AS s FROM (SELECT p.chunk_id, q.i, "
        "q.idf * ((p.tf::float8 * (1.2 + 1.0)) / (p.tf::float8 + 1.2 * "
        "(1 - 0.75 + 0.75 * p.len / st.avgdl))) AS v "
        "FROM q CROSS JOIN st CROSS JOIN LATERAL (SELECT chunk_id, tf, len "
        "FROM lcelkit_keyword_postings WHERE namespace = %(ns)s AND term = q.term) p "
        'ORDER BY p.chunk_id COLLATE "C", q.i) o GROUP BY chunk_id) '
    )
    if not filter:
        return stats + (
            "SELECT c.chunk_id, c.text, c.metadata, h.s FROM (SELECT chunk_id, s FROM hits "
            'ORDER BY s DESC, chunk_id COLLATE "C" LIMIT %(k)s) h JOIN lcelkit_keyword c '
            "ON c.namespace = %(ns)s AND c.chunk_id = h.chunk_id "
            'ORDER BY h.s DESC, h.chunk_id COLLATE "C"'
        )
    return stats + (
        "SELECT c.chunk_id, c.text, c.metadata, h.s FROM hits h JOIN lcelkit_keyword c "
        f"ON c.namespace = %(ns)s AND c.chunk_id = h.chunk_id WHERE {cond} "
        'ORDER BY h.s DESC, h.chunk_id COLLATE "C" LIMIT %(k)s'
    )
