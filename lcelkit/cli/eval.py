"""``lcelkit eval retrieval BEIR_DIR``: nDCG@10, Recall@10 and MRR@10 of a retriever.

The folder is indexed into its own collection, ``beir-<folder name>`` (and its own
keyword index), next to the configured store; a second run reuses it and embeds
nothing new.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from lcelkit.cli import EXIT_OK
from lcelkit.settings import Settings, get_settings

__all__ = ["beir_collection", "register", "run_eval_retrieval"]

SEARCH_CHOICES = ("similarity", "mmr", "threshold", "hybrid", "bm25")
CUTOFF = 10


def register(subparsers: Any) -> None:
    """Add the ``eval`` subcommand (with ``retrieval``)."""
    parser = subparsers.add_parser("eval", help="evaluate lcelkit's parts on benchmarks")
    kinds = parser.add_subparsers(dest="eval_kind", metavar="KIND", required=True)
    retrieval = kinds.add_parser(
        "retrieval",
        help="nDCG@10, Recall@10 and MRR@10 on a BEIR-format folder",
        description="Index a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) "
        "into its own collection (beir-<folder>) and score the retriever on it.",
    )
    retrieval.add_argument("folder", metavar="BEIR_DIR", help="BEIR-format folder")
    retrieval.add_argument("--split", default="test", help="qrels split (default test)")
    retrieval.add_argument(
        "--search",
        choices=SEARCH_CHOICES,
        default=None,
        help="retrieval strategy (default: retrieval.search in settings, hybrid)",
    )
    retrieval.add_argument(
        "-k", type=int, default=CUTOFF, help="documents retrieved per query (default 10)"
    )
    retrieval.add_argument(
        "--json",
        action="store_true",
        help='print {"ndcg@10", "recall@10", "mrr@10", "queries"} as one JSON object',
    )
    retrieval.set_defaults(func=run_eval_retrieval)


def beir_collection(folder: str | Path) -> str:
    """Collection name for a BEIR folder: ``beir-<name>`` in Chroma's allowed characters."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(folder).resolve().name).strip("-._")
    return f"beir-{name or 'data'}"[:200]


def _settings_for(settings: Settings, collection: str) -> Settings:
    store = settings.store.model_copy(update={"collection": collection})
    return settings.model_copy(update={"store": store})


def run_eval_retrieval(args: argparse.Namespace) -> int:
    """Handler of ``lcelkit eval retrieval``."""
    from lcelkit.chains.eval import (
        beir_documents,
        evaluate_run,
        index_corpus,
        load_beir,
        retrieve_run,
    )
    from lcelkit.errors import LcelkitError
    from lcelkit.factories import make_embeddings, make_keyword_index, make_retriever, make_store

    if args.k < 1:
        raise LcelkitError(f"-k must be at least 1, not {args.k}", hint="use -k 10")
    data = load_beir(args.folder, split=args.split)
    settings = _settings_for(get_settings(), beir_collection(args.folder))
    embeddings = make_embeddings(settings, show_progress=not args.json)
    store = make_store(settings, embeddings)
    keyword_index = make_keyword_index(settings)
    docs, ids = beir_documents(data)
    added, reused = index_corpus(store, keyword_index, docs, ids)
    print(
        f"collection {settings.store.collection}: {added} documents indexed, {reused} reused",
        file=sys.stderr,
    )
    retriever = make_retriever(
        settings,
        store,
        embeddings=embeddings,
        search=args.search,
        k=args.k,
        keyword_index=keyword_index,
    )
    qids = [q for q, rels in data.qrels.items() if q in data.queries and any(rels.values())]
    missing = sum(1 for q in data.qrels if q not in data.queries)
    if missing:
        print(f"warning: {missing} qrels queries are not in queries.jsonl", file=sys.stderr)
    run = retrieve_run(retriever, data.queries, qids)
    metrics = evaluate_run(run, {q: data.qrels[q] for q in qids}, k=CUTOFF)
    if args.json:
        print(json.dumps(metrics))
        return EXIT_OK
    search = args.search or settings.retrieval.search
    print(f"BEIR {data.name} (split {args.split}, search {search}, k={args.k})")
    print(f"  queries    {metrics['queries']}")
    print(f"  nDCG@10    {metrics['ndcg@10']:.4f}")
    print(f"  Recall@10  {metrics['recall@10']:.4f}")
    print(f"  MRR@10     {metrics['mrr@10']:.4f}")
    return EXIT_OK
