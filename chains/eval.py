"""Retrieval evaluation on BEIR-format folders: loading, indexing, nDCG/Recall/MRR@k.

A BEIR folder holds ``corpus.jsonl`` (``{"_id", "title", "text"}``), ``queries.jsonl``
(``{"_id", "text"}``) and ``qrels/<split>.tsv`` (``query-id corpus-id score`` with a
header line). Each corpus document is indexed as one chunk (``title`` + newline +
``text``; the embedder truncates past its maximum length) under a content-hash id,
so indexing a folder twice embeds nothing the second time.

Metrics follow BEIR / ``pytrec_eval``: nDCG with linear gain (``rel / log2(rank + 1)``,
ideal ranking from all judged documents), Recall = relevant retrieved in the top k /
all relevant, MRR = 1 / rank of the first relevant document in the top k (0 if
none). Relevant means a qrels score > 0; queries without any relevant document are
skipped; the figures are means over the evaluated queries.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from lcelkit.errors import LoaderError
from lcelkit.loaders.ids import chunk_id

if TYPE_CHECKING:
    from langchain_chroma import Chroma
    from langchain_core.retrievers import BaseRetriever

    from lcelkit.chains.keyword import KeywordIndex

__all__ = [
    "BeirData",
    "beir_documents",
    "evaluate_run",
    "index_corpus",
    "load_beir",
    "mrr_at_k",
    "ndcg_at_k",
    "recall_at_k",
    "retrieve_run",
]

logger = logging.getLogger(__name__)


@dataclass
class BeirData:
    """A loaded BEIR folder: corpus ``{id: (title, text)}``, queries, graded qrels."""

    name: str
    corpus: dict[str, tuple[str, str]] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise LoaderError(
            str(path),
            f"{path} is missing",
            hint="a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv",
        )
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or "_id" not in row:
                    raise ValueError("not an object with an _id")
            except ValueError as exc:
                raise LoaderError(
                    str(path),
                    f"{path}, line {lineno}: not a BEIR JSON line ({exc})",
                    hint='each line is a JSON object such as {"_id": "d1", "text": "..."}',
                ) from None
            rows.append(row)
    return rows


def load_beir(folder: str | Path, split: str = "test") -> BeirData:
    """Read a BEIR folder; raises LoaderError naming the file and line on bad input."""
    root = Path(folder)
    if not root.is_dir():
        raise LoaderError(str(root), f"{root} is not a folder", hint="pass a BEIR folder")
    data = BeirData(name=root.resolve().name)
    for row in _read_jsonl(root / "corpus.jsonl"):
        data.corpus[str(row["_id"])] = (str(row.get("title") or ""), str(row.get("text") or ""))
    for row in _read_jsonl(root / "queries.jsonl"):
        data.queries[str(row["_id"])] = str(row.get("text") or "")
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        found = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
        raise LoaderError(
            str(qrels_path),
            f"{qrels_path} is missing",
            hint=f"use --split with one of: {', '.join(found)}" if found else "add qrels",
        )
    with qrels_path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            parts = line.strip().split("\t") if "\t" in line else line.split()
            if not parts or parts == [""]:
                continue
            if len(parts) < 3:
                raise LoaderError(
                    str(qrels_path),
                    f"{qrels_path}, line {lineno}: expected query-id, corpus-id, score",
                    hint="qrels lines are tab separated: query-id corpus-id score",
                )
            try:
                score = int(float(parts[-1]))
            except ValueError:
                if lineno == 1:
                    continue  # the header line
                raise LoaderError(
                    str(qrels_path),
                    f"{qrels_path}, line {lineno}: score {parts[-1]!r} is not a number",
                    hint="qrels scores are integers",
                ) from None
            data.qrels.setdefault(parts[0], {})[parts[1]] = score
    return data


# -- metrics ---------------------------------------------------------------------------------
def ndcg_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with linear gain (as pytrec_eval / BEIR)."""
    dcg = sum(rels.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int = 10) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = {d for d, r in rels.items() if r > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(ranked[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int = 10) -> float:
    """1 / rank of the first relevant document in the top k (0 when none)."""
    for i, doc in enumerate(ranked[:k], 1):
        if rels.get(doc, 0) > 0:
            return 1.0 / i
    return 0.0


def evaluate_run(
    run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int = 10
) -> dict[str, float | int]:
    """Mean nDCG/Recall/MRR@k over the queries of ``qrels`` with a relevant document."""
    qids = [q for q, rels in qrels.items() if any(r > 0 for r in rels.values())]
    n = len(qids)
    if not n:
        return {f"ndcg@{k}": 0.0, f"recall@{k}": 0.0, f"mrr@{k}": 0.0, "queries": 0}
    totals = {"ndcg": 0.0, "recall": 0.0, "mrr": 0.0}
    for qid in qids:
        ranked = list(run.get(qid, []))
        totals["ndcg"] += ndcg_at_k(ranked, qrels[qid], k)
        totals["recall"] += recall_at_k(ranked, qrels[qid], k)
        totals["mrr"] += mrr_at_k(ranked, qrels[qid], k)
    return {
        f"ndcg@{k}": totals["ndcg"] / n,
        f"recall@{k}": totals["recall"] / n,
        f"mrr@{k}": totals["mrr"] / n,
        "queries": n,
    }


# -- indexing and running ------------------------------------------------------------------
def beir_documents(data: BeirData) -> tuple[list[Document], list[str]]:
    """One Document per corpus entry (``doc_id`` in metadata) and its content-hash id."""
    docs: list[Document] = []
    ids: list[str] = []
    source = f"beir:{data.name}"
    for doc_id, (title, text) in data.corpus.items():
        body = f"{title}\n{text}".strip() if title else text.strip()
        cid = chunk_id(f"{source}/{doc_id}", body)
        docs.append(
            Document(
                page_content=body,
                metadata={"source": source, "doc_id": doc_id, "title": title, "chunk_id": cid},
            )
        )
        ids.append(cid)
    return docs, ids


def index_corpus(
    store: Chroma,
    keyword_index: KeywordIndex | None,
    docs: Sequence[Document],
    ids: Sequence[str],
    *,
    batch_size: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Embed and store the documents the collection lacks; returns ``(added, reused)``.

    What is added to the store is mirrored into ``keyword_index``.
    """
    collection = store._collection  # langchain-chroma has no public handle
    added = reused = 0
    for start in range(0, len(ids), batch_size):
        batch_ids = list(ids[start : start + batch_size])
        have = set(collection.get(ids=batch_ids, include=[])["ids"])
        todo = [
            (d, i)
            for d, i in zip(docs[start : start + batch_size], batch_ids, strict=True)
            if i not in have
        ]
        reused += len(batch_ids) - len(todo)
        if todo:
            new_docs = [d for d, _ in todo]
            new_ids = [i for _, i in todo]
            store.add_documents(new_docs, ids=new_ids)
            if keyword_index is not None:
                keyword_index.add_documents(new_docs, new_ids)
            added += len(todo)
        if progress:
            progress(min(start + batch_size, len(ids)), len(ids))
    return added, reused


def retrieve_run(
    retriever: BaseRetriever, queries: Mapping[str, str], qids: Sequence[str]
) -> dict[str, list[str]]:
    """``{query id: [corpus ids, best first]}`` (chunks mapped back to their ``doc_id``)."""
    run: dict[str, list[str]] = {}
    for qid in qids:
        ranked: list[str] = []
        for doc in retriever.invoke(queries[qid]):
            doc_id = str(doc.metadata.get("doc_id", doc.id))
            if doc_id not in ranked:
                ranked.append(doc_id)
        run[qid] = ranked
    return run
