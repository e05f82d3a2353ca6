"""``lcelkit ingest`` and ``lcelkit parse``: files -> chunks -> the index."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lcelkit.errors import LcelkitError
from lcelkit.settings import get_settings

__all__ = ["register", "run_ingest", "run_parse"]


def register(subparsers: Any) -> None:
    """Add the ``ingest`` and ``parse`` subcommands."""
    ingest = subparsers.add_parser(
        "ingest",
        help="parse, split, embed and store files or folders (incremental)",
        description="Index files or folders (recursively). Unchanged files are skipped; "
        "changed files replace their chunks.",
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    ingest.add_argument(
        "--prune", action="store_true", help="delete the chunks of files under PATH that are gone"
    )
    ingest.add_argument(
        "--rebuild",
        action="store_true",
        help="drop the collection and its records first, then index from scratch "
        "(use after changing the embedder)",
    )
    ingest.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    ingest.set_defaults(func=run_ingest)

    parse = subparsers.add_parser(
        "parse",
        help="print the chunks ingest would store (writes nothing, loads no embedder)",
    )
    parse.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    parse.add_argument(
        "--json", action="store_true", help='JSON lines: {"text": ..., "metadata": {...}}'
    )
    parse.set_defaults(func=run_parse)


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="file",
        desc="ingest",
        disable=not enabled or None,  # None: tqdm switches itself off when stderr is no tty
        file=sys.stderr,
        dynamic_ncols=True,
    )


def run_ingest(args: argparse.Namespace) -> int:
    """Handler of ``lcelkit ingest``: exit 0 all ok, 1 when some files failed."""
    if not args.rebuild and _noop_ingest(args):
        return 0
    from lcelkit.factories import make_indexer
    from loaders import discover

    settings = get_settings()
    files = discover(args.paths)
    indexer = make_indexer(settings, rebuild=args.rebuild)
    bar = _progress_bar(len(files), enabled=not args.json)

    def progress(source: str, status: str) -> None:
        bar.set_postfix_str(f"{status}: {Path(source).name}"[:60], refresh=False)
        bar.update(1)

    try:
        report = indexer.ingest(
            files,
            prune_roots=[Path(p) for p in args.paths] if args.prune else None,
            progress=progress,
        )
    finally:
        bar.close()
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        summary = report.to_json()
        f, c = summary["files"], summary["chunks"]
        print(
            f"{len(files)} files in {report.seconds:.1f} s: {f['added']} added, "
            f"{f['unchanged']} unchanged, {f['updated']} updated, {f['failed']} failed"
            + (f", {f['pruned']} pruned" if args.prune else "")
            + f"; chunks: {c['written']} written, {c['deleted']} deleted "
            f"(collection {settings.store.collection!r})"
        )
        for source, error in report.failed:
            print(f"  FAILED {source}: {error.removeprefix(source + ': ')}")
    return 0 if report.ok else 1


def run_parse(args: argparse.Namespace) -> int:
    """Handler of ``lcelkit parse``: chunks as JSON lines (or a readable preview)."""
    from lcelkit.factories import make_splitter, parse_file
    from loaders import discover

    settings = get_settings()
    splitter = make_splitter(settings)
    failed = 0
    for path in discover(args.paths):
        try:
            chunks = parse_file(settings, path, str(path), splitter)
        except LcelkitError as exc:
            failed += 1
            print(f"FAILED {path}: {exc}", file=sys.stderr)
            continue
        for chunk in chunks:
            if args.json:
                record = {"text": chunk.page_content, "metadata": chunk.metadata}
                print(json.dumps(record, ensure_ascii=False))
            else:
                meta = chunk.metadata
                page = f" p.{meta['page_number']}" if "page_number" in meta else ""
                preview = " ".join(chunk.page_content.split())[:100]
                print(f"{meta.get('source')}{page} [{meta.get('category')}] {preview}")
    return 1 if failed else 0


def _noop_ingest(args: argparse.Namespace) -> bool:
    """Nothing changed and nothing to prune: print the summary ``run_ingest`` would print,
    from the manifest alone, without importing Chroma, LangChain indexing or the
    embedder (``loaders.noop``), and return True. Otherwise False (run the indexer)."""
    import time

    from lcelkit.factories import store_namespace
    from loaders.noop import noop_ingest

    settings = get_settings()
    started = time.perf_counter()
    noop = noop_ingest(
        args.paths,
        namespace=store_namespace(settings),
        db_url=settings.record_db_url,
        prune_roots=args.paths if args.prune else None,
    )
    if noop is None:
        return False
    seconds = time.perf_counter() - started
    n = len(noop.sources)
    if args.json:
        files = {"added": 0, "unchanged": n, "updated": 0, "failed": 0, "pruned": 0}
        summary = {
            "files": files,
            "chunks": {"written": 0, "deleted": 0},
            "errors": [],
            "seconds": round(seconds, 3),
        }
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print(
            f"{noop.listed} files in {seconds:.1f} s: 0 added, {n} unchanged, 0 updated, 0 failed"
            + (", 0 pruned" if args.prune else "")
            + f"; chunks: 0 written, 0 deleted (collection {settings.store.collection!r})"
        )
    return True
