"""Ingestion benchmark: lcelkit vs the naive LangChain recipe, on the same corpus and machine.

Corpus: the SQuAD v1.1 dev articles (one text file per article) plus every table PDF of
../shared/benchdata/tables. Each pipeline runs in its own process (peak RSS is per
process). Printed: seconds, chunks, chunks/s, corpus MB/s, peak RSS, dense hit@5 on 300
SQuAD questions (is an answer string inside one of the top 5 results of each pipeline's
dense search: the naive recipe's ``similarity_search``, Chroma's HNSW; lcelkit's
similarity retriever, as ``lcelkit ask --search similarity`` runs it, exact over a
collection of this size; Chroma's HNSW on lcelkit's collection is printed too), then lcelkit's
re-ingest of the unchanged corpus in a fresh process, a second ingest of a few new files
into the same home (its model set-up: the converted OpenVINO model comes from the cache),
then table answerability (see bench/tables.py). Every figure is printed beside the CPU's
features (bf16/AMX/VNNI) and the load average; ``LCELKIT_CPU_NO_BF16=1`` runs lcelkit as
on a CPU without bf16 (chains/openvino_cache.py). Time breakdown per pipeline: imports,
parse, model set-up, embed, write (lcelkit's parse and write are one figure: the indexer
interleaves them). ``--scale-20k`` also indexes a ≥20,000-chunk corpus with lcelkit and
reports its peak RSS.

    python bench/ingest.py [--benchdata ../shared/benchdata] [--scale-20k] [--questions 300]
                           [--subset N] [--warm-too]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROCESS_START = time.perf_counter()  # "cold" figures count every import from here
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BENCHDATA = ROOT.parent / "shared" / "benchdata"


# -- corpus ------------------------------------------------------------------------------
def build_corpus(benchdata: Path, out: Path, copies: int = 1) -> list[Path]:
    """SQuAD articles as .txt files (``copies`` times, distinct names) + the table PDFs."""
    out.mkdir(parents=True, exist_ok=True)
    articles: dict[str, list[str]] = {}
    with open(benchdata / "qa/squad_v1.1_dev/passages.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            articles.setdefault(row["title"], []).append(row["text"])
    files: list[Path] = []
    for copy in range(copies):
        for title, paras in articles.items():
            name = "".join(c if c.isalnum() else "_" for c in title)[:80]
            path = out / f"{name}__{copy}.txt"
            path.write_text(f"{title}\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")
            files.append(path)
    files += sorted((benchdata / "tables").glob("*/pdfs/*.pdf"))
    return files


def load_questions(benchdata: Path, n: int) -> list[dict]:
    with open(benchdata / "qa/squad_v1.1_dev/questions_sample500_seed13.jsonl") as fh:
        return [json.loads(line) for line in fh][:n]


def hit_at_5(search: Callable[[str], list], questions: list[dict]) -> float:
    hits = 0
    for q in questions:
        texts = [d.page_content.lower() for d in search(q["question"])]
        hits += any(a.lower() in t for a in q["answers"] for t in texts)
    return hits / max(1, len(questions))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- workers (each runs in its own process) ------------------------------------------------
def preload_shared_libraries() -> None:
    """Import what both pipelines share (torch, sentence-transformers, Chroma) before any
    timer starts, so that neither pipeline is charged for them; each pipeline's own
    imports are inside its timer."""
    import chromadb  # noqa: F401
    import langchain_chroma  # noqa: F401
    import sentence_transformers  # noqa: F401
    import torch  # noqa: F401


class EmbedClock:
    """Time spent inside ``embed_documents`` of an Embeddings class (bench instrumentation),
    less the model set-up ``setup`` timed during those calls (lazy loading)."""

    def __init__(self, cls: type, setup: SetupClock | None = None) -> None:
        self.seconds = 0.0
        original = cls.embed_documents

        def timed(this: Any, texts: list[str]) -> list[list[float]]:
            begun, loading = time.perf_counter(), setup.seconds if setup else 0.0
            try:
                return original(this, texts)
            finally:
                loaded = (setup.seconds if setup else 0.0) - loading
                self.seconds += time.perf_counter() - begun - loaded

        cls.embed_documents = timed


class SetupClock:
    """Time spent loading the embedder's model (``_load``: weights, OpenVINO set-up)."""

    def __init__(self, cls: type) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0  # the process's CPU time meanwhile (all its threads)
        original = cls._load

        def timed(this: Any) -> Any:
            begun, cpu = time.perf_counter(), time.process_time()
            try:
                return original(this)
            finally:
                self.seconds += time.perf_counter() - begun
                self.cpu_seconds += time.process_time() - cpu

        cls._load = timed


def cpu_line() -> str:
    """The CPU's features (bf16/AMX/VNNI), printed beside every figure."""
    from lcelkit.chains.openvino_cache import describe_cpu

    return f"CPU: {describe_cpu()}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def embedded_tokens(
    texts: list[str], view: Callable[[str], str] = lambda t: t, *, model: str | None = None
) -> int:
    """Word pieces the embedder (``model``'s tokenizer) actually reads of ``view(text)``
    (special tokens included, cut at 256)."""
    from lcelkit.chains.embeddings import load_tokenizer

    tokenizer = load_tokenizer(model)
    texts = [view(t) for t in texts]
    total = 0
    for start in range(0, len(texts), 512):  # in slices: 22k encodings at once take ~1 GB
        ids = tokenizer(texts[start : start + 512], verbose=False)["input_ids"]
        total += sum(min(256, len(piece)) for piece in ids)
    return total


def bench_embedder(workdir: Path) -> str:
    """The embedder both recipes use: lcelkit's choice for a new home (its default,
    multilingual-e5-small, unless LCELKIT_EMBEDDINGS_MODEL says otherwise)."""
    from lcelkit.factories import embedder_model

    return embedder_model(_lcelkit_settings(workdir))


def worker_naive(files: list[Path], workdir: Path, questions: list[dict]) -> dict:
    from lcelkit.chains.embeddings import resolve_model

    location = resolve_model(bench_embedder(workdir))[1]
    started = time.perf_counter()
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import PyPDFLoader, TextLoader
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    imports = time.perf_counter() - started
    clock = EmbedClock(HuggingFaceEmbeddings)
    docs = []
    for path in files:
        loader = PyPDFLoader(str(path)) if path.suffix == ".pdf" else TextLoader(str(path))
        docs += loader.load()
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    parsed = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(model_name=location)
    setup = time.perf_counter() - parsed
    store = Chroma.from_documents(chunks, embeddings, persist_directory=str(workdir / "naive"))
    seconds = time.perf_counter() - started
    cold = time.perf_counter() - PROCESS_START
    rss_mb = peak_rss_mb()  # before the measurements below add their own memory
    hit5 = hit_at_5(lambda q: store.similarity_search(q, k=5), questions)
    return {
        "seconds": seconds,
        "cold_seconds": cold,
        "embed_seconds": clock.seconds,
        "breakdown": {
            "imports": imports,
            "parse+split": parsed - started - imports,
            "model set-up": setup,
            "embed": clock.seconds,
            "write": seconds - (parsed - started) - setup - clock.seconds,
        },
        "tokens": embedded_tokens([c.page_content for c in chunks], model=location),
        "chunks": len(chunks),
        "rss_mb": rss_mb,
        "hit@5": hit5,
    }


def _lcelkit_settings(workdir: Path) -> Any:
    from lcelkit.settings import get_settings

    return get_settings(home=workdir / "lcelkit-home")


def worker_lcelkit(files: list[Path], workdir: Path, questions: list[dict]) -> dict:
    settings = _lcelkit_settings(workdir)
    started = time.perf_counter()
    from lcelkit.chains.embeddings import SentenceTransformerEmbeddings, embedding_text
    from lcelkit.factories import (
        embedder_model,
        make_embeddings,
        make_indexer,
        make_retriever,
        make_store,
    )

    imports = time.perf_counter() - started
    setup = SetupClock(SentenceTransformerEmbeddings)
    clock = EmbedClock(SentenceTransformerEmbeddings, setup)
    embeddings = make_embeddings(settings)
    report = make_indexer(settings, embeddings=embeddings).ingest(files)
    seconds = time.perf_counter() - started
    cold = time.perf_counter() - PROCESS_START
    rss_mb = peak_rss_mb()  # before the measurements below add their own memory
    store = make_store(settings, embeddings)
    hit5 = hnsw5 = None
    if questions:
        retriever = make_retriever(settings, store, search="similarity", k=5)
        hit5 = hit_at_5(retriever.invoke, questions)
        hnsw5 = hit_at_5(lambda q: store.similarity_search(q, k=5), questions)
    stored = store.get(include=["documents"])["documents"]
    return {
        "seconds": seconds,
        "cold_seconds": cold,
        "embed_seconds": clock.seconds,
        "breakdown": {
            "imports": imports,
            "model set-up": setup.seconds,
            "embed": clock.seconds,
            "parse+write": seconds - imports - setup.seconds - clock.seconds,
        },
        "tokens": embedded_tokens(stored, embedding_text, model=embedder_model(settings)),
        "chunks": report.chunks_written,
        "failed": report.failed,
        "rss_mb": rss_mb,
        "hit@5": hit5,
        "hit@5 hnsw": hnsw5,
        "dtype": f"{embeddings.backend} {embeddings.dtype}",
    }


def worker_reingest(files: list[Path], workdir: Path, questions: list[dict]) -> dict:
    from lcelkit.factories import make_indexer

    settings = _lcelkit_settings(workdir)
    started = time.perf_counter()
    report = make_indexer(settings).ingest(files)
    return {
        "seconds": time.perf_counter() - started,
        "cold_seconds": time.perf_counter() - PROCESS_START,
        "chunks": report.chunks_written,
        "unchanged": len(report.unchanged),
        "rss_mb": peak_rss_mb(),
    }


def worker_second(files: list[Path], workdir: Path, questions: list[dict]) -> dict:
    """A later ingest of new files into the same home (a few text files): how long the
    model takes to set up when the converted OpenVINO model is cached."""
    from lcelkit.chains.embeddings import SentenceTransformerEmbeddings
    from lcelkit.factories import make_embeddings, make_indexer

    settings = _lcelkit_settings(workdir)
    new = workdir / "second"
    new.mkdir(exist_ok=True)
    texts = [f for f in files if f.suffix == ".txt"][:3]
    for path in texts:
        (new / f"new_{path.name}").write_text(path.read_text(encoding="utf-8") + "\nNew copy.\n")
    setup = SetupClock(SentenceTransformerEmbeddings)
    embeddings = make_embeddings(settings)
    started = time.perf_counter()
    report = make_indexer(settings, embeddings=embeddings).ingest(sorted(new.iterdir()))
    cached = getattr(embeddings, "_pipeline", None) is not None
    how = "cached pipeline, no sentence-transformers" if cached else "sentence-transformers"
    return {
        "seconds": time.perf_counter() - started,
        "setup_seconds": setup.seconds,
        "setup_cpu_seconds": setup.cpu_seconds,
        "chunks": report.chunks_written,
        "dtype": f"{embeddings.backend} {embeddings.dtype}",
        "how": how,
    }


WORKERS = {
    "naive": worker_naive,
    "lcelkit": worker_lcelkit,
    "reingest": worker_reingest,
    "second": worker_second,
}


def run_worker(
    name: str, files: list[Path], workdir: Path, questions: int, benchdata: Path
) -> dict:
    spec = {
        "files": [str(f) for f in files],
        "workdir": str(workdir),
        "questions": questions,
        "benchdata": str(benchdata),
    }
    spec_path = workdir / f"{name}.json"
    spec_path.write_text(json.dumps(spec))
    wall = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", name, "--spec", str(spec_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name} worker failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - wall
    return result


def scale_run(benchdata: Path, work: Path) -> None:
    """lcelkit alone on the corpus 10 times over (about 22,000 chunks): time and peak RSS."""
    big = build_corpus(benchdata, work / "corpus20k", copies=10)
    (work / "big").mkdir()
    scaled = run_worker("lcelkit", big, work / "big", 0, benchdata)
    print(
        f"\nscale run: {len(big)} files, {scaled['chunks']} chunks in {scaled['seconds']:.0f} s "
        f"({scaled['chunks'] / scaled['seconds']:.1f} chunks/s), peak RSS "
        f"{scaled['rss_mb']:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchdata", type=Path, default=DEFAULT_BENCHDATA)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--scale-20k", action="store_true", help="also a >=20,000-chunk run")
    parser.add_argument(
        "--scale-only", action="store_true", help="only the >=20,000-chunk run (peak RSS)"
    )
    parser.add_argument("--skip-tables", action="store_true")
    parser.add_argument(
        "--warm-too",
        action="store_true",
        help="also a first ingest into a new home with the model cache already filled "
        "(a machine that ingested before); the ratio above stays the empty-cache one",
    )
    parser.add_argument(
        "--subset",
        type=int,
        default=0,
        help="every k-th file only, about N files (a loaded machine; say so beside figures)",
    )
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    if args.worker:
        import logging
        import warnings

        logging.disable(logging.WARNING)
        warnings.filterwarnings("ignore")
        spec = json.loads(args.spec.read_text())
        questions = load_questions(Path(spec["benchdata"]), spec["questions"])
        preload_shared_libraries()
        result = WORKERS[args.worker](
            [Path(f) for f in spec["files"]], Path(spec["workdir"]), questions
        )
        print(json.dumps(result, default=str))
        return

    with tempfile.TemporaryDirectory(prefix="lcelkit-bench-") as tmp:
        work = Path(tmp)
        if args.scale_only:
            scale_run(args.benchdata, work)
            return
        # an empty cache of converted OpenVINO models: the first ingest pays the conversion
        # as on a new machine; the second ingest reads it back
        os.environ["LCELKIT_OPENVINO_CACHE"] = str(work / "openvino-cache")
        files = build_corpus(args.benchdata, work / "corpus")
        if args.subset:
            files = files[:: max(1, len(files) // args.subset)]
        mb = sum(f.stat().st_size for f in files) / 2**20
        print(
            f"corpus: {len(files)} files, {mb:.1f} MB "
            f"({sum(f.suffix == '.pdf' for f in files)} PDFs), {args.questions} questions"
        )
        print(cpu_line())
        naive = run_worker("naive", files, work, args.questions, args.benchdata)
        ours = run_worker("lcelkit", files, work, args.questions, args.benchdata)
        again = run_worker("reingest", files, work, 0, args.benchdata)

        rows = [
            ("naive recipe (PyPDF + RCTS 1000/200 + fp32)", naive),
            (f"lcelkit first ingest ({ours['dtype']})", ours),
            ("lcelkit re-ingest, unchanged", again),
        ]
        print()
        print(
            f"| {'pipeline':46} | {'seconds':>8} | {'cold s':>7} | {'chunks':>7} | "
            f"{'chunks/s':>8} | {'MB/s':>6} | {'peak RSS MB':>11} | {'hit@5':>6} |"
        )
        print(
            f"|{'-' * 48}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 10}|{'-' * 8}|{'-' * 13}|{'-' * 8}|"
        )
        for label, r in rows:
            cps = r["chunks"] / r["seconds"] if r["seconds"] and r["chunks"] else 0.0
            hit = f"{r['hit@5']:.3f}" if r.get("hit@5") is not None else "-"
            print(
                f"| {label:46} | {r['seconds']:8.1f} | {r['cold_seconds']:7.1f} | "
                f"{r['chunks']:7d} | {cps:8.1f} | {mb / r['seconds']:6.3f} | "
                f"{r['rss_mb']:11.0f} | {hit:>6} |"
            )
        print()
        print(
            "seconds: the pipeline, with torch, sentence-transformers and Chroma already "
            "imported; cold s: from process start, every import included"
        )
        if ours.get("hit@5 hnsw") is not None:
            print(
                "hit@5: each pipeline's dense search; lcelkit's similarity retriever is "
                f"exact here, Chroma's HNSW on the same lcelkit collection: "
                f"{ours['hit@5 hnsw']:.3f}"
            )
        print(
            f"throughput vs naive (corpus MB/s): {naive['seconds'] / ours['seconds']:.2f}x "
            f"(cold: {naive['cold_seconds'] / ours['cold_seconds']:.2f}x)"
        )
        print("\nwhere the time goes:")
        for label, r in (("naive", naive), ("lcelkit", ours)):
            print(
                f"  {label:8} embedding {r['embed_seconds']:5.1f} s for {r['tokens']:,} word "
                f"pieces ({r['tokens'] / r['embed_seconds']:,.0f}/s), everything else "
                f"{r['seconds'] - r['embed_seconds']:5.1f} s"
            )
        rate = (ours["tokens"] / ours["embed_seconds"]) / (naive["tokens"] / naive["embed_seconds"])
        print(
            f"  per word piece, lcelkit embeds {rate:.2f}x "
            f"faster; it embeds {ours['tokens'] / naive['tokens']:.2f}x the word pieces "
            "(table pieces repeat caption and header rows; tables are read as cell text)"
        )
        print(
            f"re-ingest / first ingest time: {100 * again['seconds'] / ours['seconds']:.1f}% "
            f"({again['unchanged']} files unchanged, {again['chunks']} chunks written)"
        )
        for label, r in (("naive", naive), ("lcelkit", ours)):
            parts = ", ".join(f"{k} {v:.1f} s" for k, v in r["breakdown"].items())
            print(f"  {label:8} {parts}")
        second = run_worker("second", files, work, 0, args.benchdata)
        print(
            f"second ingest of new files in the same home: model set-up "
            f"{second['setup_seconds']:.2f} s, {second['setup_cpu_seconds']:.2f} s CPU "
            f"({second['dtype']}; {second['how']}), "
            f"{second['chunks']} chunks "
            f"in {second['seconds']:.1f} s"
        )
        print(cpu_line())
        if ours["failed"]:
            print(f"lcelkit failed files: {ours['failed']}")

        if args.warm_too:  # same corpus, new home, the OpenVINO cache the runs above filled
            (work / "warm").mkdir()
            warm = run_worker("lcelkit", files, work / "warm", 0, args.benchdata)
            parts = ", ".join(f"{k} {v:.1f} s" for k, v in warm["breakdown"].items())
            print(
                f"lcelkit first ingest into a new home, model cache filled: "
                f"{warm['seconds']:.1f} s (cold {warm['cold_seconds']:.1f} s), "
                f"{naive['seconds'] / warm['seconds']:.2f}x the naive recipe above; {parts}"
            )
            print(cpu_line())

        if args.scale_20k:
            scale_run(args.benchdata, work)

    if not args.skip_tables:
        print()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "tables.py"),
                "--data",
                str(args.benchdata / "tables"),
            ],
            check=False,
        )


if __name__ == "__main__":
    main()
