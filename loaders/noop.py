"""Would an ingest change nothing? Answered from the file manifest alone.

``lcelkit ingest`` on files that are all unchanged (and, with ``--prune``, none gone)
embeds nothing, writes nothing and deletes nothing. Finding that out needs only the
manifest that :class:`loaders.index.FileManifest` keeps (path, size, mtime per file),
so this module answers it with the standard library's ``sqlite3``, read-only, before
Chroma, LangChain's indexing API, SQLAlchemy or the embedder are imported: those
imports are what made a no-op ingest take seconds.

The test is the one :meth:`loaders.index.Indexer.ingest` applies first (same size and
mtime as recorded); anything else (a new, changed, touched, unreadable or vanished
file, no manifest yet, another database) answers ``None``, and the caller runs the
real indexer, which decides and reports as always.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MANIFEST_TABLE", "NoopIngest", "noop_ingest"]

MANIFEST_TABLE = "lcelkit_files"  # the table of loaders.index.FileManifest
_SQLITE_PREFIX = "sqlite:///"


@dataclass
class NoopIngest:
    """An ingest that would change nothing: the files found (``listed``, as the indexer
    counts them), the distinct ones (as given) and their recorded chunk count."""

    listed: int = 0
    sources: list[str] = field(default_factory=list)
    chunks: int = 0


def _manifest_rows(db_url: str, namespace: str) -> dict[str, tuple[int, int, int]] | None:
    """``{path: (size, mtime_ns, chunks)}`` of ``namespace``; None if it cannot be read."""
    if not db_url.startswith(_SQLITE_PREFIX):
        return None
    db_path = db_url[len(_SQLITE_PREFIX) :]
    if not db_path or not os.path.isfile(db_path):
        return None
    try:
        uri = Path(db_path).resolve().as_uri() + "?mode=ro"
        with sqlite3.connect(uri, uri=True) as conn:
            rows = conn.execute(
                f"SELECT path, size, mtime_ns, chunks FROM {MANIFEST_TABLE} WHERE namespace = ?",
                (namespace,),
            ).fetchall()
    except sqlite3.Error:  # no table yet, locked, damaged: let the indexer deal with it
        return None
    return {path: (size, mtime_ns, chunks) for path, size, mtime_ns, chunks in rows}


def noop_ingest(
    paths: Sequence[str | Path],
    *,
    namespace: str,
    db_url: str,
    prune_roots: Sequence[str | Path] | None = None,
) -> NoopIngest | None:
    """The unchanged files, when ingesting ``paths`` would change nothing; else None.

    ``namespace`` and ``db_url``: those of the indexer's manifest (``db_url`` must be a
    ``sqlite:///`` URL; any other answers None). ``prune_roots``: as for
    :meth:`loaders.index.Indexer.ingest`; a recorded file under them that is gone
    means there is something to prune (None).
    """
    from lcelkit.loaders.files import discover

    failures: list = []
    files = discover(paths, failures=failures)
    if failures:  # an unreadable folder is a failure the indexer reports
        return None
    if not files:
        return None
    rows = _manifest_rows(db_url, namespace)
    if not rows:
        return None
    result = NoopIngest(listed=len(files))
    seen: set[str] = set()
    for path in files:
        abs_path = os.path.abspath(path)
        if abs_path in seen:
            continue
        seen.add(abs_path)
        known = rows.get(abs_path)
        try:
            stat = path.stat()
            if known is None or path.is_dir():
                return None
        except OSError:
            return None
        size, mtime_ns, chunks = known
        if size != stat.st_size or mtime_ns != stat.st_mtime_ns:
            return None
        result.sources.append(str(path))
        result.chunks += chunks
    if prune_roots is not None:
        prefixes = [os.path.abspath(r).rstrip(os.sep) for r in prune_roots]
        for recorded in rows:
            under = any(recorded == p or recorded.startswith(p + os.sep) for p in prefixes)
            if under and not os.path.exists(recorded):
                return None
    return result
