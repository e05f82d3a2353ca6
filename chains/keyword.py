"""The keyword (BM25) side of hybrid retrieval: a persistent SQLite FTS5 index.

Why SQLite FTS5 and not ``rank_bm25``/``bm25s``: the index lives on disk next to
Chroma and is updated chunk by chunk (``add_documents`` / ``delete`` by chunk id),
so neither a query nor a process start ever rebuilds it, and ``bm25()`` ranking,
metadata filters (Chroma ``where`` syntax, translated to SQL over a JSON column)
and transactions come with the Python standard library.

Text is tokenized here, before it reaches FTS5 (which then only splits on the
spaces we put in):

* English and other scripts: Unicode letters/digits runs, lower-cased, a small
  stop-word list removed (punctuation never makes a token).
* Korean (Hangul words): character bigrams by default (``korean="bigram"``), or
  ``kiwipiepy`` content morphemes (``korean="kiwi"``: nouns, verb/adjective stems,
  roots, foreign words, numbers; particles and endings dropped, so "서울의",
  "서울에서" and "서울은" all index as "서울"). Measured on the Korean check in
  ``tests/unit/test_keyword_korean.py`` (40 passages incl. distractors, 34 queries
  that inflect words differently from the passages; ``bench/retrieval.py``
  prints it): MRR@10 1.000 for bigrams vs 0.985 for kiwi morphemes (kiwi missed a
  compound-noun/synonym case). As bigrams do at least as well, need no 105 MB
  analyser and no 1.1 s load, they are the default; kiwi stays available (it
  loads lazily, only when Hangul text is first seen, and caches each word).

The tokenizer's name is stored in the index; opening it with another tokenizer
re-tokenizes the stored texts once.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from langchain_core.documents import Document

from lcelkit.errors import StoreError

__all__ = [
    "ENGLISH_STOPWORDS",
    "KeywordIndex",
    "bigram_tokens",
    "filter_terms",
    "filter_to_sql",
    "korean_morphemes",
    "match_filter",
    "tokenize",
]

logger = logging.getLogger(__name__)

KoreanMode = Literal["kiwi", "bigram"]

_STOPWORDS_TEXT = """a an and are as at be been but by for from has have he her his how i if in
into is it its of on or she so than that the their them then there these they this to was were
what when where which who whom why will with would you your do does did can could"""
ENGLISH_STOPWORDS: frozenset[str] = frozenset(_STOPWORDS_TEXT.split())

_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
_HANGUL_RE = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_SCRIPT_RUN_RE = re.compile(
    r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+|[^\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+"
)
# Kiwi tags kept as index terms: nouns (not dependent nouns), numerals, pronouns,
# verb / adjective stems, roots, general adverbs, foreign words, numbers, hanja.
_KIWI_KEEP = ("NNG", "NNP", "NR", "NP", "VV", "VA", "XR", "MAG", "SL", "SN", "SH")

_kiwi_lock = threading.Lock()
_kiwi: Any = None


def _get_kiwi() -> Any:
    global _kiwi
    if _kiwi is None:
        with _kiwi_lock:
            if _kiwi is None:
                from kiwipiepy import Kiwi

                _kiwi = Kiwi()
                logger.info("kiwipiepy Korean analyser loaded")
    return _kiwi


@lru_cache(maxsize=200_000)
def korean_morphemes(word: str) -> tuple[str, ...]:
    """Content morphemes of one Hangul word (particles and endings dropped), lower-cased."""
    out: list[str] = []
    for token in _get_kiwi().tokenize(word):
        tag = token.tag.split("-")[0]  # kiwi marks irregular stems as "VV-I" etc.
        if tag in _KIWI_KEEP:
            form = token.form.lower()
            out.extend(_WORD_RE.findall(form))
    return tuple(out)


def bigram_tokens(word: str) -> list[str]:
    """Character bigrams of a word (the word itself when it has one character)."""
    if len(word) < 2:
        return [word]
    return [word[i : i + 2] for i in range(len(word) - 1)]


def tokenize(text: str, *, korean: KoreanMode = "bigram") -> list[str]:
    """Index terms of ``text``: lower-cased words, stop-words out, Korean per ``korean``."""
    tokens: list[str] = []
    for word in _WORD_RE.findall(text.lower()):
        if _HANGUL_RE.search(word):
            if korean == "kiwi":
                tokens.extend(korean_morphemes(word))
                continue
            for run in _SCRIPT_RUN_RE.findall(word):  # "langchain을" -> "langchain", "을"
                if _HANGUL_RE.match(run):
                    tokens.extend(bigram_tokens(run))
                elif run not in ENGLISH_STOPWORDS:
                    tokens.append(run)
        elif word not in ENGLISH_STOPWORDS:
            tokens.append(word)
    return tokens


# -- metadata filters (Chroma ``where`` syntax) -----------------------------------------
_OPS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str | int | float):
        return value
    raise StoreError(
        f"unsupported filter value {value!r}",
        hint="filter values are strings, numbers or booleans",
    )


def filter_terms(where: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """The terms of a Chroma ``where`` filter, checked, for the SQL dialects to render:
    ``("$and" | "$or", [sub-filters], None)`` or ``(key, operator, value)`` with the
    operator one of ``$eq $ne $gt $gte $lt $lte $in $nin`` (``{"key": v}`` is ``$eq``).
    Raises StoreError on an empty group, an unsafe key or an unknown operator."""
    for key, cond in where.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list) or not cond:
                raise StoreError(f"{key} needs a non-empty list of filters", hint="see Chroma docs")
            yield key, cond, None
            continue
        if not _KEY_RE.match(key):
            raise StoreError(
                f"unsupported metadata key {key!r} in filter",
                hint="metadata keys are letters, digits, '_', '-', '.'",
            )
        for op, value in (cond if isinstance(cond, dict) else {"$eq": cond}).items():
            if op not in _OPS and op not in ("$in", "$nin"):
                raise StoreError(
                    f"unsupported filter operator {op!r}",
                    hint="use $eq $ne $gt $gte $lt $lte $in $nin $and $or",
                )
            yield key, op, value


def filter_to_sql(where: dict[str, Any] | None, column: str = "metadata") -> tuple[str, list[Any]]:
    """Translate a Chroma ``where`` filter into an SQL condition on a JSON column.

    Supports ``{"key": value}``, ``$eq $ne $gt $gte $lt $lte $in $nin`` and ``$and``/``$or``.
    Returns ``("1", [])`` for no filter.
    """
    if not where:
        return "1", []
    parts: list[str] = []
    params: list[Any] = []
    for key, op, value in filter_terms(where):
        if key in ("$and", "$or"):
            subs = [filter_to_sql(c, column) for c in op]
            joiner = " AND " if key == "$and" else " OR "
            parts.append("(" + joiner.join(s for s, _ in subs) + ")")
            for _, p in subs:
                params.extend(p)
            continue
        ref = f"json_extract({column}, '$.\"{key}\"')"
        if op in _OPS:
            parts.append(f"{ref} {_OPS[op]} ?")
            params.append(_sql_value(value))
            continue
        values = [_sql_value(v) for v in value]
        if not values:
            parts.append("0" if op == "$in" else "1")
            continue
        marks = ",".join("?" * len(values))
        parts.append(f"{ref} {'IN' if op == '$in' else 'NOT IN'} ({marks})")
        params.extend(values)
    return "(" + " AND ".join(parts) + ")", params


def match_filter(metadata: dict[str, Any], where: dict[str, Any] | None) -> bool:
    """Whether ``metadata`` satisfies a Chroma ``where`` filter (same semantics, in Python)."""
    if not where:
        return True
    for key, cond in where.items():
        if key == "$and":
            if not all(match_filter(metadata, c) for c in cond):
                return False
            continue
        if key == "$or":
            if not any(match_filter(metadata, c) for c in cond):
                return False
            continue
        if not isinstance(cond, dict):
            cond = {"$eq": cond}
        value = metadata.get(key)
        for op, target in cond.items():
            if op == "$eq":
                ok = value == target
            elif op == "$ne":
                ok = value != target
            elif op == "$in":
                ok = value in target
            elif op == "$nin":
                ok = value not in target
            elif value is None:
                ok = False
            else:
                ok = {
                    "$gt": value > target,
                    "$gte": value >= target,
                    "$lt": value < target,
                    "$lte": value <= target,
                }[op]
            if not ok:
                return False
    return True


# -- the index -----------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS info(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs(
    rowid INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(tokens, tokenize='unicode61 remove_diacritics 0');
CREATE VIRTUAL TABLE IF NOT EXISTS fts_vocab USING fts5vocab('fts', 'row');
"""

# Query-term pruning: in an index of at least PRUNE_MIN_DOCS chunks, a query term found in
# more than PRUNE_DF_RATIO of them is left out of the MATCH (when a rarer term remains).
# Such terms weigh little in BM25 (idf <= ~1.4) but make FTS5 score a large share of the
# index. Measured on SQuAD dev at 20,670 chunks: BM25 p95 19.2 -> 12.5 ms, MRR@10
# 0.835 -> 0.836 (bench: see docs/DESIGN.md, "Retrieval").
PRUNE_MIN_DOCS = 1000
PRUNE_DF_RATIO = 0.2
_MAX_TOP_ROWS = 5000  # ties at the k-th score beyond which the joined query ranks


class KeywordIndex:
    """A persistent BM25 index of chunks, kept in step with the vector store by chunk id.

    ``path=None`` keeps it in memory. The lead's indexer mirrors every Chroma write
    and delete into it through :meth:`add_documents` / :meth:`delete`. Thread-safe.
    """

    def __init__(self, path: str | Path | None = None, *, korean: KoreanMode = "bigram") -> None:
        self.path = Path(path) if path is not None else None
        self.korean: KoreanMode = korean
        self._lock = threading.RLock()
        self._count_cache: int | None = None  # chunk count for pruning; reset on writes
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path) if self.path else ":memory:",
                check_same_thread=False,
                isolation_level=None,
            )
            if self.path is not None:
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open the keyword index {self.path or ':memory:'}: {exc}",
                hint="check that the folder is writable; deleting the file rebuilds it "
                "at the next `lcelkit ingest`",
            ) from None
        self._check_tokenizer()

    @property
    def tokenizer_name(self) -> str:
        """Name of the tokenizer that produced the stored terms."""
        return f"v1-{self.korean}"

    def _check_tokenizer(self) -> None:
        row = self._conn.execute("SELECT value FROM info WHERE key='tokenizer'").fetchone()
        if row is None:
            self._conn.execute(
                "INSERT INTO info(key, value) VALUES('tokenizer', ?)", (self.tokenizer_name,)
            )
        elif row[0] != self.tokenizer_name:
            logger.info(
                "keyword index %s was built with tokenizer %s; re-tokenizing with %s",
                self.path,
                row[0],
                self.tokenizer_name,
            )
            self._retokenize()

    def _retokenize(self) -> None:
        with self._lock:
            rows = self._conn.execute("SELECT rowid, text FROM docs").fetchall()
            self._conn.execute("BEGIN")
            try:
                self._conn.execute("DELETE FROM fts")
                self._conn.executemany(
                    "INSERT INTO fts(rowid, tokens) VALUES(?, ?)",
                    [(rowid, self._terms(text)) for rowid, text in rows],
                )
                self._conn.execute(
                    "UPDATE info SET value=? WHERE key='tokenizer'", (self.tokenizer_name,)
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _terms(self, text: str) -> str:
        return " ".join(tokenize(text, korean=self.korean))

    # -- writes ----------------------------------------------------------------------
    def add_documents(self, documents: Sequence[Document], ids: Sequence[str]) -> None:
        """Insert or replace chunks by id (the same ids as in the vector store)."""
        self._count_cache = None
        if len(documents) != len(ids):
            raise ValueError(f"{len(documents)} documents but {len(ids)} ids")
        if not documents:
            return
        rows = [
            (
                cid,
                doc.page_content,
                json.dumps(doc.metadata or {}, ensure_ascii=False, default=str),
                self._terms(doc.page_content),
            )
            for doc, cid in zip(documents, ids, strict=True)
        ]
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._delete_ids([r[0] for r in rows])
                for cid, text, meta, terms in rows:
                    cur = self._conn.execute(
                        "INSERT INTO docs(chunk_id, text, metadata) VALUES(?, ?, ?)",
                        (cid, text, meta),
                    )
                    self._conn.execute(
                        "INSERT INTO fts(rowid, tokens) VALUES(?, ?)", (cur.lastrowid, terms)
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _delete_ids(self, ids: Iterable[str]) -> int:
        deleted = 0
        ids = list(ids)
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            marks = ",".join("?" * len(batch))
            rowids = [
                r[0]
                for r in self._conn.execute(
                    f"SELECT rowid FROM docs WHERE chunk_id IN ({marks})", batch
                )
            ]
            if rowids:
                rmarks = ",".join("?" * len(rowids))
                self._conn.execute(f"DELETE FROM fts WHERE rowid IN ({rmarks})", rowids)
                self._conn.execute(f"DELETE FROM docs WHERE rowid IN ({rmarks})", rowids)
                deleted += len(rowids)
        return deleted

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id; unknown ids are ignored."""
        self._count_cache = None
        if not ids:
            return
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._delete_ids(ids)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def clear(self) -> None:
        """Remove every chunk."""
        self._count_cache = None
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.execute("DELETE FROM fts")
            self._conn.execute("DELETE FROM docs")
            self._conn.execute("COMMIT")

    # -- reads -----------------------------------------------------------------------
    def count(self) -> int:
        """Number of chunks in the index."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM docs").fetchone()[0])

    def __len__(self) -> int:
        return self.count()

    def sample_texts(self, n: int = 64) -> list[str]:
        """Up to ``n`` chunk texts spread evenly over the index (deterministic)."""
        with self._lock:
            top = self._conn.execute("SELECT max(rowid) FROM docs").fetchone()[0] or 0
            step = max(1, top // max(1, n))
            rows = self._conn.execute(
                "SELECT text FROM docs WHERE rowid % ? = 0 LIMIT ?", (step, n)
            ).fetchall()
            if not rows:
                rows = self._conn.execute("SELECT text FROM docs LIMIT ?", (n,)).fetchall()
        return [r[0] for r in rows]

    def synced_stamp(self) -> str | None:
        """The store's write stamp this index was last known to match (None: never)."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM info WHERE key='store_stamp'").fetchone()
        return row[0] if row else None

    def set_synced_stamp(self, stamp: str) -> None:
        """Record that this index matches the store as of its write stamp ``stamp``."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO info(key, value) VALUES('store_stamp', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (stamp,),
            )

    def ids(self) -> set[str]:
        """Every chunk id in the index."""
        with self._lock:
            return {r[0] for r in self._conn.execute("SELECT chunk_id FROM docs")}

    def search(
        self, query: str, k: int = 4, *, filter: dict[str, Any] | None = None
    ) -> list[tuple[Document, float]]:
        """Top ``k`` chunks by BM25 for ``query`` (OR of its terms), best first.

        The score is ``-bm25()`` (higher is better; unbounded). ``filter`` uses
        Chroma's ``where`` syntax on the chunks' metadata.
        """
        terms = list(dict.fromkeys(tokenize(query, korean=self.korean)))
        if not terms or k <= 0:
            return []
        terms = self._prune(terms)
        match = " OR ".join(f'"{t}"' for t in terms)
        cond, params = filter_to_sql(filter, "d.metadata")
        sql = (
            "SELECT d.chunk_id, d.text, d.metadata, bm25(fts) AS s FROM fts "
            "JOIN docs d ON d.rowid = fts.rowid "
            f"WHERE fts MATCH ? AND {cond} ORDER BY s, d.chunk_id LIMIT ?"  # ties: by id
        )
        with self._lock:
            try:
                rows = None if filter else self._top_unfiltered(match, int(k))
                if rows is None:
                    rows = self._conn.execute(sql, [match, *params, int(k)]).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(
                    f"keyword search failed on {self.path or ':memory:'}: {exc}",
                    hint="check the filter; delete the keyword index file to rebuild it",
                ) from None
        out: list[tuple[Document, float]] = []
        for cid, text, meta, score in rows:
            metadata = json.loads(meta)
            metadata.setdefault("chunk_id", cid)
            out.append((Document(id=cid, page_content=text, metadata=metadata), -float(score)))
        return out

    def _top_unfiltered(self, match: str, k: int) -> list[tuple[str, str, str, float]] | None:
        """The rows of the unfiltered search (``ORDER BY bm25, chunk_id LIMIT k``), ranked
        on the FTS table alone, reading ``docs`` only for the rows kept.

        Joining ``docs`` inside the ranking reads every matching chunk's row (2,355 per
        query at 20,670 SQuAD chunks), which made the search ~3 ms slower. The ranking
        here fetches more rows than ``k`` until the ``k``-th score's ties are all in,
        then orders by (score, chunk id) as the joined query does: the same rows.
        None when it cannot say (the joined query runs then).
        """
        self._conn.execute("BEGIN")  # one snapshot for the ranking and the rows read
        try:
            return self._top_unfiltered_in(match, k)
        finally:
            self._conn.execute("COMMIT")

    def _top_unfiltered_in(self, match: str, k: int) -> list[tuple[str, str, str, float]] | None:
        limit = 2 * k
        while True:
            ranked = self._conn.execute(
                "SELECT rowid, bm25(fts) AS s FROM fts WHERE fts MATCH ? ORDER BY s LIMIT ?",
                (match, limit),
            ).fetchall()
            if len(ranked) < limit or ranked[-1][1] != ranked[k - 1][1]:
                break
            if limit > 8 * _MAX_TOP_ROWS:
                return None
            limit *= 4
        cut = ranked[k - 1][1] if len(ranked) >= k else float("inf")
        kept = {rowid: score for rowid, score in ranked if score <= cut}
        if len(kept) > _MAX_TOP_ROWS:
            return None
        rows: list[tuple[str, str, str, float]] = []
        ids = list(kept)
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            marks = ",".join("?" * len(batch))
            for rowid, cid, text, meta in self._conn.execute(
                f"SELECT rowid, chunk_id, text, metadata FROM docs WHERE rowid IN ({marks})", batch
            ):
                rows.append((cid, text, meta, kept[rowid]))
        if len(rows) != len(kept):  # an FTS row without its chunk: leave it to the join
            return None
        rows.sort(key=lambda r: (r[3], r[0]))
        return rows[:k]

    def _prune(self, terms: list[str]) -> list[str]:
        """Drop very common terms from a query (see PRUNE_DF_RATIO); never all of them."""
        if len(terms) < 2:
            return terms
        with self._lock:
            total = self._doc_count()
            if total < PRUNE_MIN_DOCS:
                return terms
            marks = ",".join("?" * len(terms))
            df = dict(
                self._conn.execute(
                    f"SELECT term, doc FROM fts_vocab WHERE term IN ({marks})", terms
                ).fetchall()
            )
        keep = [t for t in terms if df.get(t, 0) <= PRUNE_DF_RATIO * total]
        return keep or terms

    def cached_count(self) -> int:
        """Chunk count, cached until this object writes (cheap enough for every query)."""
        with self._lock:
            return self._doc_count()

    def _doc_count(self) -> int:
        if self._count_cache is None:
            self._count_cache = int(self._conn.execute("SELECT count(*) FROM docs").fetchone()[0])
        return self._count_cache

    def close(self) -> None:
        """Close the SQLite connection."""
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"KeywordIndex(path={str(self.path) if self.path else ':memory:'!r})"
