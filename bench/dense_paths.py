"""Hybrid and similarity latency by dense search path, the query embedding left out.

The 20,670-chunk store of ``bench/retrieval.py`` (the 2,067 SQuAD paragraphs + jittered
copies, vectors of the cached main embedder) is built twice, with Chroma's default HNSW
graph and with the wider one lcelkit used before its exact search (400 / 32 / 1000);
both are stamped as an ingest stamps. Three variants answer the same questions, in
turn, ``--rounds`` times:

* ``HNSW, default graph``: Chroma's query answers (the exact search turned off);
* ``HNSW, 400/32/1000``: the same on the wider graph (what lcelkit shipped before);
* ``exact`` (``chains.dense_exact``, on the default-graph store): what lcelkit does now.

The query vectors are computed once beforehand, so the embedder (the same in all three,
and the noisiest part on a shared machine) is left out. Per question the fastest of
``--passes`` passes counts; p50 / p95 over questions, per round. With ``--interleave``
the variants take turns per question rather than per round, so that a shared machine's
drift hits them alike, and the exact search's time minus Chroma's default graph's is
printed per question (its median over questions, per round). Also printed: how many
questions' hybrid top ``k`` differ between the variants (the exact one is exact).
The fastest pass hides what a process reads once (the exact search's copy of the
vectors, a filter's vectors the first time): ``bench/retrieval.py`` prints the first
query, and its single pass per question includes the first read of each filter's.

    python bench/dense_paths.py --cache DIR [--main-embedder multilingual-e5-small]
                                [--queries 200] [--passes 3] [--rounds 3] [--interleave]

``DIR`` is a ``bench/retrieval.py --cache`` folder whose ``main-<embedder>/q`` holds the
2,067 embedded paragraphs (``bench/retrieval.py`` builds it).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langchain_core.embeddings import Embeddings  # noqa: E402

from lcelkit.chains import dense  # noqa: E402
from lcelkit.chains.embeddings import load_embeddings  # noqa: E402
from lcelkit.chains.keyword import KeywordIndex  # noqa: E402
from lcelkit.chains.retrievers import make_retriever  # noqa: E402
from lcelkit.chains.store import open_chroma  # noqa: E402

BASE = "HNSW, default graph"  # what --interleave compares the exact search with, per question
WIDE = {"space": "cosine", "ef_construction": 400, "max_neighbors": 32, "ef_search": 1000}


def _retrieval_bench() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_retrieval", ROOT / "bench" / "retrieval.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Cached(Embeddings):
    """The query vectors computed beforehand (the embedder left out of the timings)."""

    def __init__(self, vectors: dict[str, list[float]], name: str) -> None:
        self.vectors, self.name = vectors, name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]


def build(rb: Any, q_store: Any, emb: Embeddings, name: str, work: Path, wide: bool) -> tuple:
    """A 20,670-chunk store (+ its keyword index) with the default or the wider graph."""
    store = open_chroma(emb, collection=name, embedder_name=emb.name, persist_dir=work / name)
    if wide:  # a collection the previous lcelkit built: re-create it with that graph
        client = store._client
        client.delete_collection(name)
        client.create_collection(name, configuration={"hnsw": WIDE}, embedding_function=None)
        store = open_chroma(emb, collection=name, embedder_name=emb.name, client=client)
    index = KeywordIndex(work / f"{name}.sqlite")
    rb.copy_store(q_store, store, index)
    rb.pad_with_copies(store, index, 20_000)
    rb.stamp(store)
    return store, index


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--main-embedder", default="multilingual-e5-small")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="time the variants in turn for each question (drift on a shared machine hits "
        "all alike) instead of one variant's 200 questions after another's",
    )
    args = parser.parse_args()
    rb = _retrieval_bench()
    passages = rb.load_jsonl(rb.DEFAULT_DATA / "passages.jsonl")
    questions = rb.load_jsonl(rb.DEFAULT_DATA / "questions_sample500_seed13.jsonl")
    questions = questions[: args.queries]
    titles = {p["_id"]: p["title"] for p in passages}
    embedder = load_embeddings(args.main_embedder)
    vectors = {q["question"]: embedder.embed_query(q["question"]) for q in questions}
    emb = Cached(vectors, embedder.name)
    cached = args.cache / f"main-{rb.embedder_tag(embedder.name)}"
    q_store = open_chroma(
        embedder, collection="squad-dev", embedder_name=embedder.name, persist_dir=cached / "q"
    )
    work = Path(tempfile.mkdtemp(prefix="lcelkit-bench-dense-"))
    default_store, index = build(rb, q_store, emb, "plain", work, wide=False)
    wide_store, wide_index = build(rb, q_store, emb, "wide", work, wide=True)
    real_exact = dense.exact_nearest

    def off(*_a: Any, **_k: Any) -> None:
        return None

    variants = {
        BASE: (default_store, index, off),
        "HNSW, 400/32/1000": (wide_store, wide_index, off),
        "exact": (default_store, index, real_exact),
    }
    kinds = ("hybrid", "similarity")
    figures: dict[tuple[str, str, bool], list[tuple[float, float]]] = {}
    tops: dict[tuple[str, bool], list[list[str]]] = {}
    paired: dict[tuple[str, bool], list[float]] = {}

    def timed(name: str, kind: str, q: dict, where: dict | None) -> tuple[float, list[str]]:
        store, kw, search = variants[name]
        dense.exact_nearest = search
        retriever = make_retriever(
            store, search=kind, k=4, fetch_k=20, filter=where, keyword_index=kw
        )
        times = []
        for _p in range(args.passes):
            started = time.perf_counter()
            docs = retriever.invoke(q["question"])
            times.append((time.perf_counter() - started) * 1000)
        return min(times), [d.id for d in docs]

    for _ in range(args.rounds):
        cells = [(kind, filtered) for kind in kinds for filtered in (False, True)]
        runs = (
            [(list(variants), cell) for cell in cells]
            if args.interleave
            else [([name], cell) for name in variants for cell in cells]
        )
        for names, (kind, filtered) in runs:
            best: dict[str, list[float]] = {name: [] for name in names}
            got: dict[str, list[list[str]]] = {name: [] for name in names}
            for q in questions:
                where = {"title": titles[q["passage_id"]]} if filtered else None
                for name in names:  # interleaved: the variants in turn per question
                    fastest, ids = timed(name, kind, q, where)
                    best[name].append(fastest)
                    got[name].append(ids)
            if args.interleave:  # the same question's times side by side
                pairs = zip(best["exact"], best[BASE], strict=True)
                paired.setdefault((kind, filtered), []).append(
                    statistics.median(a - b for a, b in pairs)
                )
            for name in names:
                ranked = sorted(best[name])
                figures.setdefault((name, kind, filtered), []).append(
                    (statistics.median(ranked), ranked[int(0.95 * (len(ranked) - 1))])
                )
                if kind == "hybrid":
                    tops[(name, filtered)] = got[name]
    dense.exact_nearest = real_exact
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"Dense search paths at {default_store._collection.count()} chunks, {len(questions)} "
        f"questions, k 4, fetch_k 20, query embedding left out; fastest of {args.passes} "
        f"passes per question; p50 / p95 ms per round ({args.rounds} rounds, variants in turn"
        f"{' per question' if args.interleave else ''})"
    )
    print("| variant | hybrid | hybrid, filtered | similarity | similarity, filtered |")
    print("|---|---|---|---|---|")
    for name in variants:
        cells = []
        for kind in kinds:
            for filtered in (False, True):
                rounds = figures[(name, kind, filtered)]
                cells.append(", ".join(f"{p50:.1f} / {p95:.1f}" for p50, p95 in rounds))
        print(f"| {name} | " + " | ".join(cells) + " |")
    for (kind, filtered), medians in paired.items():
        print(
            f"{kind}{', filtered' if filtered else ''}: exact minus {BASE}, the same "
            f"question's fastest passes, median over questions per round (ms): "
            + ", ".join(f"{m:+.2f}" for m in medians)
        )
    for filtered in (False, True):
        exact = tops[("exact", filtered)]
        for name in (BASE, "HNSW, 400/32/1000"):
            differ = sum(a != b for a, b in zip(tops[(name, filtered)], exact, strict=True))
            print(
                f"hybrid top 4{' (filtered)' if filtered else ''}: {name} differs from exact "
                f"for {differ} of {len(exact)} questions"
            )
    print(f"load average at the end (1/5/15 min): {' '.join(load)}")
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
