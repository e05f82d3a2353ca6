"""Table answerability on ICDAR 2013 (human-annotated tables), with the set's own measure.

The measure is ``score.py`` of ``benchdata/tables/icdar2013_dev``, imported as it is:
a ground-truth data cell is answerable when ONE chunk holds the cell, its row label and
its column header (the topmost cell over its column). Compared on the same PDFs:

* lcelkit: ``loaders.load`` (rules) + ``Splitter`` with the MiniLM tokenizer, 256
  tokens, tables written as markdown under a header-path row (the default) or row by
  row (``table_format="rows"``);
* the naive recipe: PyPDFLoader + RecursiveCharacterTextSplitter at 1000/200 and
  2000/200 characters.

Also: parse seconds per page, the largest chunk in embedder tokens, the documents under
0.70, and (``retrieval``) table-cell retrieval hit@1/@5: for up to 15 cells per table the
query "<column header> of <row label>" is searched densely (bundled MiniLM) over every
chunk of every PDF plus the 2,067 SQuAD dev paragraphs; a hit is a chunk that answers
the cell by the measure above.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "icdar_report",
    "load_score_module",
    "load_structure_module",
    "print_hits",
    "print_worst",
]


def print_hits(title: str, scores: dict[str, dict[str, float]], distractors: int) -> None:
    """Print a retrieval table: one row per variant with hit@1 and hit@5."""
    print(
        f"\n## {title} ({scores['queries']['n']:.0f} queries, "
        f"{distractors} SQuAD paragraphs as distractors)"
    )
    print("| chunks | hit@1 | hit@5 |\n|---|---:|---:|")
    for name, row in scores.items():
        if name != "queries":
            print(f"| {name} | {row['hit@1']:.3f} | {row['hit@5']:.3f} |")


def load_score_module(data: Path) -> ModuleType:
    """The set's ``score.py``, imported from the benchmark data folder."""
    spec = importlib.util.spec_from_file_location("icdar_score", data / "score.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(data / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_structure_module(data: Path) -> ModuleType:
    """The set's ``structure.py`` (adjacency-relation structure F1), imported as it is."""
    spec = importlib.util.spec_from_file_location("icdar_structure", data / "structure.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(data / "structure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def print_worst(title: str, per_doc: dict[str, dict[str, float]], n: int = 8) -> None:
    """Print the ``n`` lowest documents by structure F1 (with answerability beside)."""
    worst = sorted(per_doc.items(), key=lambda kv: (kv[1]["f1"], kv[1].get("answerable", 1.0)))
    print(f"\n### {title}: lowest documents by structure F1")
    print("| document | structure P | R | F1 | answerable |\n|---|---:|---:|---:|---:|")
    for doc, v in worst[:n]:
        ans = v.get("answerable")
        print(
            f"| {doc} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | "
            f"{'-' if ans is None else f'{ans:.3f}'} |"
        )


def _lcelkit(table_format: str) -> tuple[Callable[[Path], tuple[list[str], list[str]]], Any]:
    """A recipe returning (chunk texts, whole tables' HTML) for one PDF, and its splitter."""
    from lcelkit.chains.embeddings import load_tokenizer
    from lcelkit.loaders import Splitter, load

    tokenizer = load_tokenizer()
    splitter = Splitter(tokenizer, chunk_size=256, chunk_overlap=32, table_format=table_format)

    def chunks(pdf: Path) -> tuple[list[str], list[str]]:
        docs = load(pdf, pdf_strategy="rules")
        tables = [str(d.metadata["text_as_html"]) for d in docs if d.metadata.get("text_as_html")]
        return [c.page_content for c in splitter.split(docs)], tables

    return chunks, splitter


def _score(
    score: ModuleType, data: Path, docs: list[dict], chunks: dict[str, list[str]]
) -> tuple[float, dict[str, float], int]:
    per: dict[str, tuple[int, int]] = {}
    for doc in docs:
        truth = json.loads((data / "ground_truth" / f"{doc['doc']}.json").read_text())
        questions = score.questions(truth)
        normed = [score.norm(t) for t in chunks.get(doc["doc"], [])]
        hits = sum(score.answerable(q, normed) for q in questions)
        per[doc["doc"]] = (hits, len(questions))
    total = sum(n for _, n in per.values())
    overall = sum(h for h, _ in per.values()) / total if total else 0.0
    shares = {k: h / n for k, (h, n) in per.items() if n}
    return overall, shares, total


def _retrieval(
    score: ModuleType,
    data: Path,
    docs: list[dict],
    variants: dict[str, tuple[dict[str, list[str]], Callable[[str], str]]],
    distractors: list[str],
    per_table: int = 15,
) -> dict[str, dict[str, float]]:
    import numpy as np

    from lcelkit.chains.embeddings import load_embeddings

    rng = random.Random(7)
    queries: list[tuple[str, tuple[int, str, str, str]]] = []
    for doc in docs:
        truth = json.loads((data / "ground_truth" / f"{doc['doc']}.json").read_text())
        for table in truth["tables"]:
            cells = score.questions({"tables": [table]})
            for q in rng.sample(cells, min(per_table, len(cells))):
                queries.append((f"{' '.join(q[3].split())} of {' '.join(q[2].split())}", q))
    embedder = load_embeddings(backend="torch", dtype="fp32")
    encode = embedder.model.encode
    vq = encode([text for text, _ in queries], normalize_embeddings=True, batch_size=32)
    out: dict[str, dict[str, float]] = {}
    for name, (by_doc, view) in variants.items():
        texts = [c for chunks in by_doc.values() for c in chunks] + distractors
        vectors = encode([view(t) for t in texts], normalize_embeddings=True, batch_size=16)
        top = np.argsort(-(vq @ vectors.T), axis=1)[:, :5]
        normed = [score.norm(t) for t in texts]
        hit1 = hit5 = 0
        for (_, q), ranked in zip(queries, top, strict=True):
            found = [score.answerable(q, [normed[i]]) for i in ranked]
            hit1 += found[0]
            hit5 += any(found)
        out[name] = {"hit@1": hit1 / len(queries), "hit@5": hit5 / len(queries)}
    out["queries"] = {"n": float(len(queries))}
    return out


def icdar_report(data: Path, squad: Path | None = None, *, retrieval: bool = False) -> dict:
    """Print the ICDAR 2013 tables and return the figures."""
    from pypdf import PdfReader

    score = load_score_module(data)
    structure = load_structure_module(data)
    docs = [d for d in json.loads((data / "index.json").read_text()) if d.get("pdf")]
    pdfs = {d["doc"]: data / d["pdf"] for d in docs}
    pages = sum(len(PdfReader(str(p)).pages) for p in pdfs.values())
    results: dict[str, Any] = {"documents": len(docs), "pages": pages}
    chunk_sets: dict[str, dict[str, list[str]]] = {}
    rows = []
    tables: dict[str, list[str]] = {}
    for name, fmt in (("lcelkit (markdown)", "markdown"), ("lcelkit (rows)", "rows")):
        recipe, splitter = _lcelkit(fmt)
        recipe(next(iter(pdfs.values())))  # warm: imports and tokenizer outside the timer
        start = time.perf_counter()
        made = {doc: recipe(pdf) for doc, pdf in pdfs.items()}
        seconds = time.perf_counter() - start
        chunk_sets[name] = {doc: c for doc, (c, _) in made.items()}
        tables = {doc: t for doc, (_, t) in made.items()}
        longest = max(splitter.count_tokens(c) for cs in chunk_sets[name].values() for c in cs)
        rows.append((name, seconds / pages, longest))
    for size in (1000, 2000):
        name = f"naive {size}/200"
        start = time.perf_counter()
        chunk_sets[name] = {doc: score.naive_chunks(pdf, size, 200) for doc, pdf in pdfs.items()}
        rows.append((name, (time.perf_counter() - start) / pages, None))
    print(f"\n## icdar2013_dev: {len(docs)} PDFs, {pages} pages, human-annotated tables")
    print("| chunks | answerable | docs < 0.70 | lowest doc | chunks | s/page | max tokens |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for name, per_page, longest in rows:
        overall, shares, cells = _score(score, data, docs, chunk_sets[name])
        low = min(shares.items(), key=lambda kv: kv[1])
        below = sum(1 for v in shares.values() if v < 0.70)
        n_chunks = sum(len(c) for c in chunk_sets[name].values())
        print(
            f"| {name} | {overall:.3f} | {below} | {low[0]} {low[1]:.2f} | {n_chunks} | "
            f"{per_page:.3f} | {longest if longest is not None else '-'} |"
        )
        results[name] = {
            "answerable": overall,
            "cells": cells,
            "docs_below_0.70": below,
            "lowest": low,
            "chunks": n_chunks,
            "s_per_page": per_page,
            "max_tokens": longest,
            "per_doc": shares,
        }
    struct = structure.score(tables)
    per_doc = {
        doc: {**v, "answerable": results["lcelkit (markdown)"]["per_doc"].get(doc)}
        for doc, v in struct["per_doc"].items()
    }
    below = sorted(d for d, v in per_doc.items() if v["f1"] < 0.80)
    print(
        f"\nstructure F1 (adjacency relations, whole tables, structure.py): micro "
        f"{struct['f1']:.3f} (P {struct['precision']:.3f}, R {struct['recall']:.3f}), "
        f"macro {struct['macro_f1']:.3f}; documents below 0.80: {len(below)}"
    )
    print_worst("icdar2013_dev", per_doc)
    results["structure"] = {
        "micro_f1": struct["f1"],
        "precision": struct["precision"],
        "recall": struct["recall"],
        "macro_f1": struct["macro_f1"],
        "docs_below_0.80": below,
        "per_doc": per_doc,
    }
    if retrieval and squad is not None:
        from lcelkit.chains.embeddings import embedding_text

        with open(squad, encoding="utf-8") as handle:
            distractors = [json.loads(line)["text"] for line in handle]
        scores = _retrieval(
            score,
            data,
            docs,
            {
                "naive 1000/200": (chunk_sets["naive 1000/200"], lambda t: t),
                "lcelkit (markdown, cells embedded)": (
                    chunk_sets["lcelkit (markdown)"],
                    embedding_text,
                ),
                "lcelkit (rows)": (chunk_sets["lcelkit (rows)"], lambda t: t),
            },
            distractors,
        )
        print_hits("icdar2013_dev table-cell retrieval", scores, len(distractors))
        results["retrieval"] = scores
    sys.stdout.flush()
    return results
