"""Table answerability: can one chunk answer "what is <column> of <row>"?

First, and the figure that counts: **icdar2013_dev**, real government reports whose
tables people annotated, scored with that set's own ``score.py`` (answerability) and
``structure.py`` (structure F1 with adjacency relations, the competition's measure: micro
and macro, and the lowest documents) (see ``bench/icdar.py``:
lcelkit markdown and row-wise chunks, the naive recipe at 1000/200 and 2000/200, parse
seconds per page, the largest chunk in tokens, and with ``--retrieval`` table-cell
retrieval hit@5 with SQuAD distractors).

Second, the test suites of camelot, tabula and pdfplumber, whose expected outputs those
tools produced themselves. For every ground-truth data cell (not in the top row, not in
the first column, not empty) of the tables in ``/work/shared/benchdata/tables`` (camelot, tabula and
pdfplumber test PDFs), the cell is *answerable* when ONE chunk of its PDF holds the
cell's text together with its row label (first column) and its column header (top
row). Texts are compared with all whitespace removed, case-insensitively. Empty row
labels / headers are not required. Beside it, structure F1 of each expected grid
(camelot, tabula) against the best-matching lcelkit table of its PDF (``grid_structure``).

Compared: lcelkit (``loaders.load`` + ``Splitter`` with the MiniLM tokenizer,
chunk_size 256) and the naive recipe (``PyPDFLoader`` + ``RecursiveCharacterTextSplitter(
chunk_size=1000, chunk_overlap=200)``). Prints one table per dataset plus overall,
and the parse time per page.

``--retrieval`` adds **table-cell retrieval**: for up to 15 cells per table (seeded
sample, cells with both a row label and a column header), the query "<column header>
of <row label>" is searched densely (bundled MiniLM, cosine) over every chunk of every
PDF plus the 2,067 SQuAD dev paragraphs as distractors; hit@5 = one of the top 5
chunks answers the cell (the test above). Compared: the naive chunks, lcelkit's chunks
embedded as stored (markdown), and as lcelkit embeds them (``embedding_text``: cells
without pipes and separator rows).

Usage: python bench/tables.py [--data DIR] [--json] [--retrieval] [--icdar-only]

The functions ``load_expected``, ``answerable_cells`` and ``answerability`` are
reusable (``bench/ingest.py`` imports them).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

__all__ = [
    "DEFAULT_DATA",
    "ExpectedTable",
    "answerability",
    "answerable_cells",
    "grid_structure",
    "lcelkit_chunks",
    "lcelkit_chunks_and_tables",
    "load_expected",
    "logical_order",
    "naive_chunks",
    "normalize",
]

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "benchdata" / "tables"

_WS = re.compile(r"\s+")
_LEADER = re.compile(r"(?:\.|\u2026){3,}")  # the same pattern as score.py


def normalize(text: str) -> str:
    """Whitespace and dot leaders removed, case-folded, as icdar2013_dev's score.py does.

    Removing (not just collapsing) whitespace makes the check blind to line-wrap
    artifacts of the ground truths ("N\\net Asset Value", "Parastratiosph\\necomyioides")
    and of extractors ("CITIBANK-TRAVELCBACARD"); dot leaders (". . . .") are layout, and
    the tools' own outputs keep them in row labels. Both recipes are scored the same way.
    """
    return _LEADER.sub("", _WS.sub("", text).casefold())


@dataclass
class ExpectedTable:
    """One ground-truth table: its PDF and (row label, column header, cell) triples."""

    dataset: str
    pdf: Path
    name: str
    cells: list[tuple[str, str, str]] = field(default_factory=list)
    grid: list[list[str]] | None = None  # the expected grid (camelot, tabula), for structure


def _triples(rows: list[list[str]]) -> list[tuple[str, str, str]]:
    if not rows:
        return []
    header = rows[0]
    out = []
    for row in rows[1:]:
        for j in range(1, len(row)):
            cell = row[j].strip()
            if not cell:
                continue
            out.append((row[0], header[j] if j < len(header) else "", cell))
    return out


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def load_expected(data: Path = DEFAULT_DATA) -> list[ExpectedTable]:
    """All ground-truth tables of the three datasets."""
    tables: list[ExpectedTable] = []
    base = data / "camelot_tests"
    for entry in json.loads((base / "manifest.json").read_text()):
        rows = _read_csv(base / entry["expected_csv"])
        tables.append(
            ExpectedTable(
                "camelot",
                base / entry["pdf"],
                Path(entry["expected_csv"]).stem,
                _triples(rows),
                rows,
            )
        )
    base = data / "tabula_tests"
    for entry in json.loads((base / "manifest.json").read_text()):
        rows = _read_csv(base / entry["expected_csv"])
        tables.append(
            ExpectedTable(
                "tabula",
                base / entry["pdf"],
                Path(entry["expected_csv"]).stem,
                _triples(rows),
                rows,
            )
        )
    base = data / "pdfplumber_tests"
    for entry in json.loads((base / "assertions.json").read_text()):
        facts = entry["facts"]
        pdf = base / entry["pdf"]
        cells: list[tuple[str, str, str]] = []
        if "Alabama_col22_value" in facts:  # column names are the test's own, not the PDF's
            cells += [
                ("Alabama", "", facts["Alabama_col22_value"]),
                ("Wyoming", "", facts["Wyoming_col22_value"]),
            ]
        if "first_data_row" in facts:
            header, row = facts["header_row_spaces_removed_in_first3"], facts["first_data_row"]
            cells += [(row[0], header[j], row[j]) for j in range(1, len(row)) if row[j]]
        if "last_row_with_correct_spacing" in facts:
            row = facts["last_row_with_correct_spacing"]
            cells += [(row[0], "", cell) for cell in row[1:] if cell]
        tables.append(ExpectedTable("pdfplumber", pdf, pdf.stem, cells))
    return tables


_RTL = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


def logical_order(text: str) -> str:
    """Visual-order right-to-left text (as camelot's ground truth stores Arabic) in
    logical order: RTL words reversed, and the word order of a mostly-RTL line too."""
    lines = []
    for line in text.split("\n"):
        words = [w[::-1] if _RTL.search(w) else w for w in line.split()]
        if sum(1 for w in words if _RTL.search(w)) * 2 > len(words):
            words.reverse()
        lines.append(" ".join(words))
    return "\n".join(lines)


def answerable_cells(chunks: Iterable[str], cells: list[tuple[str, str, str]]) -> int:
    """How many (row label, header, cell) triples sit together in at least one chunk.

    Ground-truth strings with right-to-left script match in visual or logical order.
    """
    texts = [normalize(c) for c in chunks]
    hits = 0
    for triple in cells:
        variants = [triple]
        if any(_RTL.search(x) for x in triple):
            variants.append(tuple(logical_order(x) for x in triple))  # type: ignore[arg-type]
        for variant in variants:
            needles = [normalize(x) for x in variant if normalize(x)]
            if any(all(n in text for n in needles) for text in texts):
                hits += 1
                break
    return hits


def answerability(chunks_by_pdf: dict[str, list[str]], expected: list[ExpectedTable]) -> float:
    """Share of answerable cells over ``expected`` (chunks keyed by ``str(pdf)``)."""
    total = sum(len(t.cells) for t in expected)
    if total == 0:
        return 0.0
    hits = sum(answerable_cells(chunks_by_pdf.get(str(t.pdf), []), t.cells) for t in expected)
    return hits / total


def lcelkit_chunks(pdf: Path, chunk_size: int = 256) -> list[str]:
    """Chunks of one PDF by lcelkit: rules strategy, MiniLM token limit."""
    from lcelkit.chains.embeddings import load_tokenizer
    from lcelkit.loaders import Splitter, load

    splitter = Splitter(load_tokenizer(), chunk_size=chunk_size, chunk_overlap=32)
    return [c.page_content for c in splitter.split(load(pdf, pdf_strategy="rules"))]


def lcelkit_chunks_and_tables(pdf: Path, chunk_size: int = 256) -> tuple[list[str], list[str]]:
    """Chunks of one PDF (as :func:`lcelkit_chunks`) and its whole tables' ``text_as_html``."""
    from lcelkit.chains.embeddings import load_tokenizer
    from lcelkit.loaders import Splitter, load

    splitter = Splitter(load_tokenizer(), chunk_size=chunk_size, chunk_overlap=32)
    docs = load(pdf, pdf_strategy="rules")
    tables = [str(d.metadata["text_as_html"]) for d in docs if d.metadata.get("text_as_html")]
    return [c.page_content for c in splitter.split(docs)], tables


def grid_structure(
    structure: Any, expected: list[ExpectedTable], tables_by_pdf: dict[str, list[str]]
) -> dict[str, Any]:
    """Structure F1 (adjacency relations, ``structure.py``) of each expected grid against
    the best-matching predicted table of its PDF; micro and macro over the tables.

    The tools' grids keep each line of a multi-line header cell as a row of its own, so a
    header read as one cell per column loses a few relations here that ICDAR's human
    ground truth would count as right: a secondary measure, beside answerability.
    """
    per: dict[str, dict[str, float]] = {}
    hit = n_pred = n_true = 0
    cache: dict[str, list[Any]] = {}
    for table in expected:
        if not table.grid:
            continue
        truth = structure.relations(
            [(i, j, i, j, text) for i, row in enumerate(table.grid) for j, text in enumerate(row)]
        )
        key = str(table.pdf)
        if key not in cache:
            cache[key] = [
                structure.relations(structure.html_cells(h)) for h in tables_by_pdf.get(key, [])
            ]
        best = (0, 0, sum(truth.values()), 0.0)
        for pred in cache[key]:
            h, p, g = sum((truth & pred).values()), sum(pred.values()), sum(truth.values())
            f1 = 2 * h / (p + g) if p + g else 0.0
            if f1 > best[3]:
                best = (h, p, g, f1)
        h, p, g, f1 = best
        per[f"{table.dataset}/{table.name}"] = {
            "precision": h / p if p else 0.0,
            "recall": h / g if g else 0.0,
            "f1": f1,
        }
        hit, n_pred, n_true = hit + h, n_pred + p, n_true + g
    prec, rec = (hit / n_pred if n_pred else 0.0), (hit / n_true if n_true else 0.0)
    return {
        "tables": len(per),
        "micro_f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        "macro_f1": sum(v["f1"] for v in per.values()) / len(per) if per else 0.0,
        "per_table": per,
    }


def naive_chunks(pdf: Path) -> list[str]:
    """Chunks of one PDF by the common tutorial recipe (PyPDFLoader + 1000/200 characters)."""
    from langchain_community.document_loaders import PyPDFLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = PyPDFLoader(str(pdf)).load()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    return [c.page_content for c in splitter.split_documents(docs)]


def _page_count(pdf: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(str(pdf)).pages)


def _run(
    recipe: Callable[[Path], list[str]], pdfs: list[Path]
) -> tuple[dict[str, list[str]], dict[str, float]]:
    chunks: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    for pdf in pdfs:
        start = time.perf_counter()
        try:
            chunks[str(pdf)] = recipe(pdf)
        except Exception as exc:  # a failure scores 0 for that PDF, and is reported
            print(f"  {pdf.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            chunks[str(pdf)] = []
        seconds[str(pdf)] = time.perf_counter() - start
    return chunks, seconds


def cell_retrieval(
    variants: dict[str, tuple[dict[str, list[str]], Callable[[str], str]]],
    expected: list[ExpectedTable],
    distractors: list[str],
    per_table: int = 15,
) -> dict[str, dict[str, float]]:
    """hit@1 and hit@5 of "<header> of <row>" queries per variant (chunks, embed view)."""
    import random

    import numpy as np

    from lcelkit.chains.embeddings import load_embeddings

    rng = random.Random(7)
    queries: list[tuple[str, str, tuple[str, str, str]]] = []
    for table in expected:
        cells = [c for c in table.cells if c[0].strip() and c[1].strip()]
        for row, header, cell in rng.sample(cells, min(per_table, len(cells))):
            queries.append((str(table.pdf), f"{header} of {row}", (row, header, cell)))
    embedder = load_embeddings(backend="torch", dtype="fp32")  # the view alone varies
    encode = embedder.model.encode
    vectors_q = encode([q for _, q, _ in queries], normalize_embeddings=True)
    out: dict[str, dict[str, float]] = {}
    for name, (chunks_by_pdf, view) in variants.items():
        texts = [c for chunks in chunks_by_pdf.values() for c in chunks] + distractors
        vectors = encode([view(t) for t in texts], normalize_embeddings=True, batch_size=16)
        top = np.argsort(-(vectors_q @ vectors.T), axis=1)[:, :5]
        hit1 = hit5 = 0
        for (_, _, triple), ranked in zip(queries, top, strict=True):
            found = [answerable_cells([texts[i]], [triple]) > 0 for i in ranked]
            hit1 += found[0]
            hit5 += any(found)
        out[name] = {"hit@1": hit1 / len(queries), "hit@5": hit5 / len(queries)}
    out["queries"] = {"n": len(queries)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--details", action="store_true", help="per-table scores")
    parser.add_argument(
        "--retrieval", action="store_true", help="also table-cell retrieval hit@5 (~3 min)"
    )
    parser.add_argument("--icdar-only", action="store_true", help="only the icdar2013_dev set")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    from icdar import icdar_report, load_structure_module, print_hits, print_worst

    squad = args.data.parent / "qa" / "squad_v1.1_dev" / "passages.jsonl"
    icdar = icdar_report(args.data / "icdar2013_dev", squad, retrieval=args.retrieval)
    if args.icdar_only:
        if args.json:
            print(json.dumps({"icdar2013_dev": icdar}, indent=1))
        return 0

    expected = load_expected(args.data)
    pdfs = sorted({t.pdf for t in expected})
    pages = {str(p): _page_count(p) for p in pdfs}
    lc_tables: dict[str, list[str]] = {}

    def lcelkit_recipe(pdf: Path) -> list[str]:
        chunks, lc_tables[str(pdf)] = lcelkit_chunks_and_tables(pdf)
        return chunks

    lc_chunks, lc_time = _run(lcelkit_recipe, pdfs)
    structure = load_structure_module(args.data / "icdar2013_dev")
    nv_chunks, nv_time = _run(naive_chunks, pdfs)

    results: dict[str, Any] = {"icdar2013_dev": icdar}
    print("\n# The tool-generated sets (camelot, tabula, pdfplumber)")
    groups = [
        (d, [t for t in expected if t.dataset == d]) for d in ("camelot", "tabula", "pdfplumber")
    ]
    groups.append(("overall", expected))
    for name, tables in groups:
        files = sorted({str(t.pdf) for t in tables})
        n_pages = sum(pages[f] for f in files)
        results[name] = {
            "tables": len(tables),
            "cells": sum(len(t.cells) for t in tables),
            "lcelkit": answerability(lc_chunks, tables),
            "naive": answerability(nv_chunks, tables),
            "lcelkit_s_per_page": sum(lc_time[f] for f in files) / max(1, n_pages),
            "naive_s_per_page": sum(nv_time[f] for f in files) / max(1, n_pages),
            "pages": n_pages,
        }
        struct = grid_structure(structure, tables, lc_tables)
        results[name]["structure"] = struct
    for name, row in results.items():
        if name == "icdar2013_dev":
            continue
        struct = row["structure"]
        print(f"\n## {name}")
        print(
            "| tables | cells | pages | lcelkit | naive | structure F1 micro | macro "
            "| lcelkit s/page | naive s/page |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        micro, macro = (
            (f"{struct['micro_f1']:.3f}", f"{struct['macro_f1']:.3f}")
            if struct["tables"]
            else ("-", "-")
        )
        print(
            f"| {row['tables']} | {row['cells']} | {row['pages']} | {row['lcelkit']:.3f} | "
            f"{row['naive']:.3f} | {micro} | {macro} | {row['lcelkit_s_per_page']:.3f} | "
            f"{row['naive_s_per_page']:.3f} |"
        )
    print(
        "\n(structure F1 on the tool sets: each expected grid against the best-matching "
        "lcelkit table of its PDF; pdfplumber's set has facts, not grids)"
    )
    print_worst("tool-generated sets", results["overall"]["structure"]["per_table"])
    if args.details:
        print("\n| dataset | table | cells | lcelkit | naive |")
        print("|---|---|---:|---:|---:|")
        for t in expected:
            print(
                f"| {t.dataset} | {t.name} | {len(t.cells)} | "
                f"{answerability(lc_chunks, [t]):.2f} | {answerability(nv_chunks, [t]):.2f} |"
            )
    if args.retrieval:
        from lcelkit.chains.embeddings import embedding_text

        squad = args.data.parent / "qa" / "squad_v1.1_dev" / "passages.jsonl"
        with open(squad, encoding="utf-8") as handle:
            distractors = [json.loads(line)["text"] for line in handle]
        scores = cell_retrieval(
            {
                "naive": (nv_chunks, lambda t: t),
                "lcelkit, markdown embedded": (lc_chunks, lambda t: t),
                "lcelkit (cells embedded)": (lc_chunks, embedding_text),
            },
            expected,
            distractors,
        )
        print_hits("table-cell retrieval", scores, len(distractors))
        results["retrieval"] = scores
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
