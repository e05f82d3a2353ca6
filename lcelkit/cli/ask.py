"""``lcelkit ask``: a cited answer from the indexed documents (or the sources only).

Exit codes: 0 answered; 2 bad input or an empty index (run ``lcelkit ingest``
first); 3 the LLM backend is unreachable or lacks the model (with provider ``auto``:
no model at all): the retrieved sources are printed anyway, and stderr says which
backend, which URL and what to do.

After the answer, ``Answered by:`` names the model that answered; when provider
``auto`` fell back to the small SmolLM2 model, a ``Note:`` says so and how to use a
stronger one (``"model"`` and ``"note"`` in ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lcelkit.cli import EXIT_BACKEND_DOWN, EXIT_ERROR, EXIT_OK
from lcelkit.errors import BackendError, LcelkitError, StoreError
from lcelkit.settings import Settings, get_settings

__all__ = ["EmptyIndexError", "register", "run_ask"]

SEARCH_CHOICES = ("similarity", "mmr", "threshold", "hybrid", "bm25")


class EmptyIndexError(StoreError):
    """The collection has no chunks yet."""

    exit_code = EXIT_ERROR


def register(subparsers: Any) -> None:
    """Add the ``ask`` subcommand."""
    parser = subparsers.add_parser(
        "ask",
        help="answer a question from the indexed documents, with numbered citations",
        description="Retrieve passages from the index and answer with citations [n]. "
        "Exit code 3 when the LLM backend is down (the sources are still printed).",
    )
    parser.add_argument("question", metavar="QUESTION", help="the question, quoted")
    parser.add_argument(
        "--search",
        choices=SEARCH_CHOICES,
        default=None,
        help="retrieval strategy (default: retrieval.search in settings, hybrid)",
    )
    parser.add_argument("-k", type=int, default=None, help="passages to retrieve (default 4)")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metadata filter, repeatable (ANDed), e.g. --filter source=a.pdf "
        "--filter page_number=3",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"answer": str|null, "sources": [{"source", "page", "chunk_id", '
        '"score", "text"}], "cited": [n, ...]} ("cited": the source numbers the answer '
        "cites; only when there is an answer)",
    )
    parser.add_argument(
        "--no-llm", action="store_true", help="retrieve only; print the sources (answer null)"
    )
    parser.set_defaults(func=run_ask)


def _open_store(settings: Settings) -> tuple[Any, Any]:
    from lcelkit.factories import make_embeddings, make_store

    where = settings.store.url or str(settings.home)
    if not settings.store.url and not settings.chroma_dir.exists():
        raise EmptyIndexError(
            f"there is no index under {settings.home} (collection {settings.store.collection!r})",
            hint="run `lcelkit ingest PATH...` first, or set LCELKIT_HOME to where you ingested",
        )
    embeddings = make_embeddings(settings)
    store = make_store(settings, embeddings, check_dimension=False)
    if store._collection.count() == 0:
        raise EmptyIndexError(
            f"the index is empty: collection {settings.store.collection!r} at {where} "
            "has no chunks",
            hint="run `lcelkit ingest PATH...` first (or check LCELKIT_HOME / LCELKIT_COLLECTION)",
        )
    return store, embeddings


def _json_source(src: dict[str, Any]) -> dict[str, Any]:
    return {key: src.get(key) for key in ("source", "page", "chunk_id", "score", "text")}


def _print_source_lines(sources: list[dict[str, Any]]) -> None:
    for src in sources:
        page = f" p.{src['page']}" if src.get("page") is not None else ""
        score = f" ({src['score']:.3f})" if src.get("score") is not None else ""
        print(f"[{src['index']}] {src.get('source') or 'unknown source'}{page}{score}")


def _print_cited(sources: list[dict[str, Any]], cited: list[int]) -> None:
    """The sources the answer cites, then (apart) the other passages the model was given."""
    by_index = {src["index"]: src for src in sources}
    used = [by_index[n] for n in cited if n in by_index]
    if not used:
        _print_sources(sources)
        return
    print("Sources:")
    _print_source_lines(used)
    others = [src for src in sources if src["index"] not in cited]
    if others:
        print("Also in the context, not cited:")
        _print_source_lines(others)


def _print_sources(sources: list[dict[str, Any]], *, with_text: bool = False) -> None:
    if not sources:
        print("No passages found.")
        return
    print("Sources:")
    for src in sources:
        page = f" p.{src['page']}" if src.get("page") is not None else ""
        score = f" ({src['score']:.3f})" if src.get("score") is not None else ""
        print(f"[{src['index']}] {src.get('source') or 'unknown source'}{page}{score}")
        if with_text and src.get("text"):
            # No answer to read: show what each passage says (table rows kept as lines).
            lines = [line.strip() for line in str(src["text"]).splitlines() if line.strip()]
            for line in lines[:8]:
                print(f"    {line[:160]}")
            if len(lines) > 8:
                print(f"    ... ({len(lines) - 8} more lines)")


def _backend_failure(exc: Exception, settings: Settings) -> LcelkitError | None:
    if isinstance(exc, BackendError):
        return exc
    try:
        from lcelkit.chains.llms import backend_error
    except ImportError:  # pragma: no cover
        return None
    cfg = settings.llm
    return backend_error(exc, provider=cfg.provider, model=cfg.model_name, base_url=cfg.base_url)


def _who_answers(settings: Settings) -> tuple[str, str]:
    """``(label, note)``: the model that will answer and, when provider ``auto`` fell back
    to the small local model, how to use a stronger one (else "")."""
    cfg = settings.llm
    if cfg.provider == "auto":
        from lcelkit.chains.llms import resolve_backend

        chosen = resolve_backend(cfg.model or None, base_url=cfg.base_url)
        return chosen.label, chosen.advice
    if cfg.provider == "ollama":
        return f"{cfg.model_name} (Ollama at {cfg.base_url})", ""
    from pathlib import Path

    return f"{Path(cfg.model_name).name} (local: {cfg.model_name})", ""


def _answer(
    settings: Settings, question: str, docs: list[Any], *, stream_to_terminal: bool
) -> tuple[str, list[dict[str, Any]]]:
    from langchain_core.runnables import RunnableLambda

    from lcelkit.chains.llms import check_backend
    from lcelkit.chains.rag import make_rag_chain
    from lcelkit.factories import llm_settings, make_llm, make_token_counter, resolve_context_window

    cfg = llm_settings(settings)  # provider auto: the backend that answers (else exit 3)
    check_backend(cfg.provider, cfg.model_name, base_url=cfg.base_url, timeout=5.0)
    llm = make_llm(settings)
    chain = make_rag_chain(
        RunnableLambda(lambda _question: docs, name="retrieved"),
        llm,
        counter=make_token_counter(settings, llm),
        context_window=resolve_context_window(settings, llm),
        max_new_tokens=cfg.max_new_tokens,
        name_cells=settings.retrieval.table_cells,
        min_relative_score=settings.retrieval.min_relative_score,
    )
    answer: list[str] = []
    sources: list[dict[str, Any]] = []
    for chunk in chain.stream({"question": question}):
        if "sources" in chunk:
            sources = chunk["sources"]
        if "answer" in chunk:
            answer.append(chunk["answer"])
            if stream_to_terminal:
                sys.stdout.write(chunk["answer"])
                sys.stdout.flush()
    if stream_to_terminal:
        print("\n")
    return "".join(answer), sources


def run_ask(args: argparse.Namespace) -> int:
    """Handler of ``lcelkit ask``."""
    from lcelkit.chains.rag import source_of
    from lcelkit.chains.retrievers import parse_filters
    from lcelkit.factories import make_retriever

    question = args.question.strip()
    if not question:
        raise LcelkitError("the question is empty", hint='lcelkit ask "your question"')
    if args.k is not None and args.k < 1:
        raise LcelkitError(f"-k must be at least 1, not {args.k}", hint="use -k 4")
    settings = get_settings()
    where = parse_filters(args.filter)
    store, embeddings = _open_store(settings)
    retriever = make_retriever(
        settings, store, embeddings=embeddings, search=args.search, k=args.k, filter=where
    )
    docs = retriever.invoke(question)
    retrieved = [source_of(doc, i) for i, doc in enumerate(docs, 1)]

    if args.no_llm:
        if args.json:
            payload = {"answer": None, "sources": [_json_source(s) for s in retrieved]}
            print(json.dumps(payload, ensure_ascii=False))
        else:
            _print_sources(retrieved, with_text=True)
        return EXIT_OK

    try:
        if not args.json:
            label, note = _who_answers(settings)
            if note:  # said before the answer, so nobody takes it for a strong model's
                print(f"Note: {note}", file=sys.stderr)
        answer, sources = _answer(settings, question, docs, stream_to_terminal=not args.json)
    except Exception as exc:
        failure = _backend_failure(exc, settings)
        if failure is None:
            raise
        print(f"error: {failure.message}", file=sys.stderr)
        if failure.hint:
            print(f"  what to do: {failure.hint}", file=sys.stderr)
        if args.json:
            payload = {
                "answer": None,
                "sources": [_json_source(s) for s in retrieved],
                "error": failure.message,
            }
            print(json.dumps(payload, ensure_ascii=False))
        else:
            print("The retrieved passages (no answer: the LLM backend is unavailable):")
            _print_sources(retrieved, with_text=True)
        return EXIT_BACKEND_DOWN

    from lcelkit.chains.rag import cited_indices

    cited = [n for n in cited_indices(answer) if any(s["index"] == n for s in sources)]
    label, note = _who_answers(settings)
    if args.json:
        payload = {
            "answer": answer,
            "sources": [_json_source(s) for s in sources],
            "cited": cited,
            "model": label,
        }
        if note:
            payload["note"] = note
        print(json.dumps(payload, ensure_ascii=False))
    else:
        _print_cited(sources, cited)
        print(f"Answered by: {label}")
    return EXIT_OK
