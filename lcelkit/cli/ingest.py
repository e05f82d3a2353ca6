"""``lcelkit ingest`` and ``lcelkit parse``: files -> chunks -> the index."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

from lcelkit.errors import LcelkitError
from lcelkit.settings import get_settings

__all__ = ["register", "run_ingest", "run_parse", "shown"]


def shown(text: str) -> str:
    """``text`` safe to print on a terminal: control characters (newlines, ANSI escapes,
    bidi overrides) are written as escapes, so a file name cannot forge summary lines."""
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch != "\u200d":
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


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


def _progress_bar(total: int, enabled: bool, worker: str | None = None) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="file",
        desc=f"ingest [{shown(worker)}]" if worker else "ingest",
        disable=not enabled or None,  # None: tqdm switches itself off when stderr is no tty
        file=sys.stderr,
        dynamic_ncols=True,
    )


def run_ingest(args: argparse.Namespace) -> int:
    """Handler of ``lcelkit ingest``: exit 0 all ok, 1 when some files failed."""
    if not args.rebuild and _noop_ingest(args):
        return 0  # nothing changed: answered from the manifest, nothing heavy imported
    from lcelkit.homelock import home_lock

    settings = get_settings()

    def waiting(lock: Path) -> None:
        print(
            f"another `lcelkit ingest` is running on {shown(str(settings.home))}; waiting for it "
            f"to finish (lock: {shown(str(lock))})",
            file=sys.stderr,
            flush=True,
        )

    from lcelkit.factories import shared_ingest

    if shared_ingest(settings):  # several workers: files are claimed in the database
        return _ingest(args, settings)
    with home_lock(settings.home, on_wait=waiting):
        return _ingest(args, settings)


def _ingest(args: argparse.Namespace, settings: Any) -> int:
    from lcelkit.factories import make_indexer
    from lcelkit.loaders import discover

    unlisted: list[Any] = []
    files = discover(args.paths, failures=unlisted)
    indexer = make_indexer(settings, rebuild=args.rebuild)
    worker = indexer.claims.worker if indexer.claims is not None else None
    bar = _progress_bar(len(files), enabled=not args.json, worker=worker)
    log_each = worker is not None and not args.json and not sys.stderr.isatty()

    def progress(source: str, status: str) -> None:
        bar.set_postfix_str(shown(f"{status}: {Path(source).name}")[:60], refresh=False)
        bar.update(1)
        if log_each:  # several workers writing to logs: one line per file, named
            print(f"[{worker}] {status}: {shown(source)}", file=sys.stderr, flush=True)

    try:
        report = indexer.ingest(
            files,
            prune_roots=[Path(p) for p in args.paths] if args.prune else None,
            progress=progress,
        )
    finally:
        bar.close()
        if indexer.claims is not None:
            indexer.claims.close()
    report.failed[:0] = [(e.source, str(e)) for e in unlisted]
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        summary = report.to_json()
        f, c = summary["files"], summary["chunks"]
        print(
            (f"worker {shown(worker)}: " if worker else "")
            + f"{len(files)} files in {report.seconds:.1f} s: {f['added']} added, "
            f"{f['unchanged']} unchanged, {f['updated']} updated, {f['failed']} failed"
            + (f", {f['pruned']} pruned" if args.prune else "")
            + (f", {summary['files']['others']} by other workers" if worker else "")
            + f"; chunks: {c['written']} written, {c['deleted']} deleted "
            f"(collection {settings.store.collection!r})"
        )
        for source, error in report.failed:
            print(f"  FAILED {shown(source)}: {shown(error.removeprefix(source + ': '))}")
        for source, warnings in report.warnings.items():
            for warning in warnings:
                print(f"  WARNING {shown(source)}: {shown(warning)}")
        for note in report.notes:
            print(f"  WARNING {note}")
    return 0 if report.ok else 1


def run_parse(args: argparse.Namespace) -> int:
    """Handler of ``lcelkit parse``: chunks as JSON lines (or a readable preview)."""
    from lcelkit.factories import make_splitter, parse_file
    from lcelkit.loaders import discover

    settings = get_settings()
    splitter = make_splitter(settings)
    unlisted: list[Any] = []
    files = discover(args.paths, failures=unlisted)
    for error in unlisted:
        print(f"FAILED {shown(error.source)}: {shown(str(error))}", file=sys.stderr)
    failed = len(unlisted)
    for path in files:
        warnings: list[str] = []
        try:
            chunks = parse_file(settings, path, str(path), splitter, warnings)
        except LcelkitError as exc:
            failed += 1
            print(f"FAILED {shown(str(path))}: {shown(str(exc))}", file=sys.stderr)
            continue
        for warning in warnings:
            print(f"WARNING {shown(str(path))}: {shown(warning)}", file=sys.stderr)
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
    from lcelkit.loaders.noop import noop_ingest

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
            "warnings": [],
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
