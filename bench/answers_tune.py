"""Try answer prompts on questions that ``bench/answers.py`` does not report.

Prompts are chosen here and measured there, so that the reported figures are not tuned
on. Same model, retrieval and scoring as ``bench/answers.py``; other questions:

* **squad**: SQuAD v1.1 dev sample lines 300.. (the bench reports the first 100); corpus
  their gold paragraphs + 300 others (seed 7);
* **tables**: "What is <header> for <row label>?" from 10 ICDAR 2013 dev documents that
  are not among the bench's 10 (seed 7).

``--system`` replaces the system message of ``rag.answer`` (default: the current one);
``--example`` puts one worked example (a question on a short passage and its cited
answer) before the question, as a user/assistant exchange; ``--recipe naive`` runs the
naive recipe instead.

    python bench/answers_tune.py [--n 60] [--system "Answer ..."] [--recipe naive]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import answers as bench  # noqa: E402  (bench/answers.py)

__all__ = ["main", "squad_tuning_set", "table_tuning_set"]

EXAMPLE_HUMAN = """Passages:
[1] (tower.txt)
The Eiffel Tower is 330 metres tall. It was built for the 1889 World's Fair in Paris.

Question: When was the Eiffel Tower built?
Answer:"""
EXAMPLE_ANSWER = "It was built for the 1889 World's Fair [1]."


def squad_tuning_set(n: int, work: Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """``n`` SQuAD questions from sample line 300 on, and their corpus files (seed 7)."""
    return bench.squad_set(n, work, start=300, seed=7)


def table_tuning_set(n: int) -> tuple[list[dict[str, Any]], list[Path]]:
    """``n`` table questions from 10 documents outside ``bench/answers.py``'s."""
    data = bench.DATA / "tables" / "icdar2013_dev"
    reported = {q["doc"] for q in bench.table_questions(100)}
    by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted((data / "ground_truth" / "csv").glob("*.csv")):
        by_doc[path.name.split("_table")[0]] += bench._csv_questions(path)
    rng = random.Random(7)
    eligible = sorted(d for d, qs in by_doc.items() if len(qs) >= 5 and d not in reported)
    chosen: list[dict[str, Any]] = []
    for doc in rng.sample(eligible, 10):
        picks = rng.sample(by_doc[doc], min(12, len(by_doc[doc])))
        chosen += [{**q, "pdf": str(data / "pdfs" / f"{doc}.pdf")} for q in picks]
    rng.shuffle(chosen)
    chosen = chosen[:n]
    return chosen, sorted({Path(q["pdf"]) for q in chosen})


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--system", default=None, help="system message of rag.answer")
    parser.add_argument("--example", action="store_true", help="one worked example first")
    parser.add_argument("--recipe", choices=["lcelkit", "naive"], default="lcelkit")
    args = parser.parse_args(argv)

    from langchain_core.prompts import ChatPromptTemplate

    import lcelkit.prompts.rag as rag_prompts
    from lcelkit.chains.llms import make_chat_model
    from lcelkit.factories import make_indexer, make_rag_chain
    from lcelkit.settings import Settings

    if args.system is not None or args.example:
        example = [
            ("human", EXAMPLE_HUMAN.replace("{", "{{").replace("}", "}}")),
            ("ai", EXAMPLE_ANSWER),
        ]
        rag_prompts.PROMPTS["rag.answer"] = ChatPromptTemplate.from_messages(
            [
                ("system", rag_prompts.ANSWER_SYSTEM if args.system is None else args.system),
                *(example if args.example else []),
                ("human", rag_prompts.ANSWER_HUMAN),
            ]
        ).partial(table_cells="")
    model = str(bench.smollm2_path())
    llm = make_chat_model(
        "huggingface", model, temperature=0.0, max_new_tokens=48, request_timeout=600
    )
    work = Path(tempfile.mkdtemp(prefix="bench-answers-tune-"))
    scores = {}
    for name in ("squad", "tables"):
        questions, files = (
            squad_tuning_set(args.n, work) if name == "squad" else table_tuning_set(args.n)
        )
        settings = Settings(
            home=work / name,
            llm={"provider": "huggingface", "model": model, "max_new_tokens": 48},
        )
        if args.recipe == "naive":
            answer = bench.naive_recipe(settings, files, llm, settings.retrieval.k, [])
        else:
            make_indexer(settings).ingest(files)
            chain = make_rag_chain(settings, llm=llm)

            def answer(question: str, chain: Any = chain) -> str:
                return chain.invoke({"question": question})["answer"]

        hits = 0
        for q in questions:
            text = answer(q["question"])
            hit = bench.contains_gold(text, q["answers"])
            hits += hit
            print(f"  {name} {'OK ' if hit else '-- '}{q['question'][:50]!r} -> {text[:60]!r}",
                  file=sys.stderr)  # fmt: skip
        scores[name] = round(hits / len(questions), 3)
    print(json.dumps({"recipe": args.recipe, "example": args.example, "n": args.n, **scores}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
