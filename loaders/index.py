"""Incremental indexing: files -> chunks -> vector store, embedding only what changed.

Two layers of bookkeeping, both in one SQL database (SQLite under ``home`` by default):

* a **file manifest** (path, size, mtime, SHA-256): an unchanged file is recognised
  from its size and mtime (or, if those moved, its hash) and is neither parsed nor
  embedded again;
* LangChain's **record manager** (``index()`` with ``cleanup="scoped_full"``): which
  chunk ids each file produced. Chunk ids are content hashes, so a changed file
  re-embeds only its new chunks and its stale chunks are deleted at the end of
  the batch.

Crash safety: vectors are upserted under content-hash ids, the record manager is
updated after the write, stale chunks are deleted after that, and the manifest is
written last. A run killed at any point (SIGKILL included) and started again
converges on the same store as one clean run: no duplicates, nothing missing.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document
from langchain_core.indexing import RecordManager, index
from langchain_core.vectorstores import VectorStore

from lcelkit.errors import LcelkitError, LoaderError, UnreadableFileError
from lcelkit.loaders.ids import file_digest
from lcelkit.loaders.records import FileManifest, make_record_manager
from lcelkit.loaders.scripts import count_letters

if TYPE_CHECKING:
    from lcelkit.loaders.claims import FileClaims

__all__ = [
    "STORE_STAMP_KEY",
    "FileManifest",
    "Indexer",
    "IngestReport",
    "MirroredStore",
    "Parsed",
    "make_record_manager",
]

logger = logging.getLogger(__name__)

STORE_STAMP_KEY = "lcelkit:write_stamp"  # collection metadata: changes with every write run


@dataclass
class Parsed:
    """What a parse function returns: the chunks, and warnings about the file (if any)."""

    chunks: list[Document]
    warnings: list[str] = field(default_factory=list)


ParseFn = Callable[[Path, str], "list[Document] | Parsed"]


class MirroredStore(VectorStore):
    """A vector store that mirrors every write and delete into extra sinks.

    The hybrid retriever's keyword (BM25) index is such a sink: it stays in step
    with incremental ingest without any rebuild. ``before_write`` runs once, before
    the first write (used to check the embedder's dimension lazily).
    """

    def __init__(
        self,
        store: VectorStore,
        sinks: Sequence[Any] = (),
        *,
        max_batch: int = 5000,
        before_write: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.sinks = list(sinks)
        self.max_batch = max_batch
        self._before_write = before_write
        self.wrote = False  # since the last stamp()

    def stamp(self) -> None:
        """After a write run: a new write stamp in the collection's metadata and in every
        sink that keeps one, so a reader sees at once that its index is in step (see
        ``chains.retrievers.sync_keyword_index``). Nothing is done when nothing changed."""
        if not self.wrote:
            return
        import uuid

        collection = getattr(self.store, "_collection", None)
        if collection is None:
            return
        value = uuid.uuid4().hex
        collection.modify(metadata={**(collection.metadata or {}), STORE_STAMP_KEY: value})
        for sink in self.sinks:
            if hasattr(sink, "set_synced_stamp"):
                sink.set_synced_stamp(value)
        self.wrote = False

    @property
    def embeddings(self) -> Any:
        """The wrapped store's embeddings."""
        return self.store.embeddings

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Write in batches below the store's maximum, then mirror into the sinks."""
        if self._before_write is not None:
            self._before_write()
            self._before_write = None
        ids = kwargs.pop("ids", None) or [d.id for d in documents]
        written: list[str] = []
        for start in range(0, len(documents), self.max_batch):
            part = documents[start : start + self.max_batch]
            part_ids = ids[start : start + self.max_batch]
            self.wrote = True
            written += self.store.add_documents(part, ids=part_ids, **kwargs)
            for sink in self.sinks:
                sink.add_documents(part, ids=part_ids)
        return written

    def add_texts(
        self, texts: Iterable[str], metadatas: list[dict] | None = None, **kwargs: Any
    ) -> list[str]:
        """Add raw texts (wrapped into Documents)."""
        texts = list(texts)
        metadatas = metadatas or [{} for _ in texts]
        docs = [Document(page_content=t, metadata=m) for t, m in zip(texts, metadatas, strict=True)]
        return self.add_documents(docs, **kwargs)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete from the store and every sink."""
        if not ids:
            return True
        self.wrote = True
        for start in range(0, len(ids), self.max_batch):
            self.store.delete(ids[start : start + self.max_batch], **kwargs)
        for sink in self.sinks:
            sink.delete(list(ids))
        return True

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Delegates to the wrapped store."""
        return self.store.similarity_search(query, k=k, **kwargs)

    @classmethod
    def from_texts(cls, *args: Any, **kwargs: Any) -> MirroredStore:
        """Not supported: wrap an existing store instead."""
        raise NotImplementedError("wrap an existing store: MirroredStore(store, sinks)")


@dataclass
class IngestReport:
    """What one ``ingest`` run did; ``to_json()`` is the CLI's ``--json`` shape."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    chunks_written: int = 0
    chunks_deleted: int = 0
    chunks_unchanged: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # about the collection, not one file
    letters: tuple[int, int] = (0, 0)  # (Hangul, all) letters of the chunks written
    others: list[str] = field(default_factory=list)  # indexed meanwhile by another worker
    worker: str | None = None  # this worker's name when files are claimed (several workers)

    @property
    def ok(self) -> bool:
        """True when no file failed (warnings do not count)."""
        return not self.failed

    def warn(self, source: str, message: str) -> None:
        """Record a warning about ``source`` (indexed, but the user should know)."""
        self.warnings.setdefault(source, []).append(message)

    def to_json(self) -> dict[str, Any]:
        """``{"files": {...}, "chunks": {...}, "errors": [...]}`` as in docs/DESIGN.md;
        with several workers also ``"worker"`` and ``files.others`` (indexed by others)."""
        files = {
            "added": len(self.added),
            "unchanged": len(self.unchanged),
            "updated": len(self.updated),
            "failed": len(self.failed),
            "pruned": len(self.pruned),
        }
        out: dict[str, Any] = {
            "files": files,
            "chunks": {"written": self.chunks_written, "deleted": self.chunks_deleted},
            "errors": [{"source": s, "error": e} for s, e in self.failed],
            "warnings": [{"source": s, "warnings": list(w)} for s, w in self.warnings.items()],
            "seconds": round(self.seconds, 3),
        }
        if self.notes:
            out["notes"] = list(self.notes)
        if self.worker is not None:
            files["others"] = len(self.others)
            out["worker"] = self.worker
        return out


@dataclass
class _Pending:
    path: str
    source: str
    digest: str
    size: int
    mtime_ns: int
    chunks: list[Document]
    status: str  # "added" | "updated"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, LcelkitError):
        return str(exc)
    return f"unexpected {exc.__class__.__name__}: {exc}"


class Indexer:
    """Incremental ingestion of files into a vector store.

    ``parse(path, source)`` turns one file into chunks that carry ``source`` and
    ``chunk_id`` metadata and raises :class:`~lcelkit.errors.LoaderError` on bad
    input. One bad file never stops the batch; nothing stored is lost on failure.
    """

    def __init__(
        self,
        store: VectorStore,
        record_manager: RecordManager,
        manifest: FileManifest,
        parse: ParseFn,
        *,
        batch_size: int = 1024,
        claims: FileClaims | None = None,
        notes: Callable[[tuple[int, int], Any], list[str]] | None = None,
    ) -> None:
        self.store = store
        self.notes = notes  # (Hangul, all) letters written, store -> notes on the collection
        self.record_manager = record_manager
        self.manifest = manifest
        self.parse = parse
        self.batch_size = batch_size
        self.claims = claims

    # -- public ----------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        prune_roots: Sequence[str | Path] | None = None,
        progress: Callable[[str, str], None] | None = None,
    ) -> IngestReport:
        """Index files and folders (walked recursively); prune vanished files under
        ``prune_roots``. ``progress(source, status)`` is called once per file. Folders
        that cannot be listed are reported as failures.

        With ``claims`` (several workers on one database), each changed file is claimed
        first; a file another worker holds is left for later, then either found indexed
        by it (``report.others``) or, once its lease has run out, taken over."""
        from lcelkit.loaders.files import discover

        unlisted: list[LoaderError] = []
        files = discover(paths, failures=unlisted)
        started = time.perf_counter()
        report = IngestReport()
        report.failed += [(e.source, _describe(e)) for e in unlisted]
        pending: list[_Pending] = []
        seen: set[str] = set()
        busy: list[Path] = []  # held by another worker: come back to them
        if self.claims is not None:
            report.worker = self.claims.worker
        try:
            for path in files:
                abs_path = os.path.abspath(path)
                if abs_path in seen:
                    continue
                seen.add(abs_path)
                self._step(path, report, pending, busy, progress)
            self._flush(pending, report)
            while busy:
                waiting, busy = busy, []
                time.sleep(min(1.0, self.claims.lease / 10) if self.claims else 0)
                for path in waiting:
                    self._step(path, report, pending, busy, progress, again=True)
                self._flush(pending, report)
        finally:
            if self.claims is not None:
                self.claims.release([p.path for p in pending])
        if prune_roots is not None:
            self._prune([Path(p) for p in prune_roots], report)
        if hasattr(self.store, "stamp"):
            self.store.stamp()  # every write of this run is in the store and the sinks
        if self.notes is not None:
            report.notes += self.notes(report.letters, self.store)
        report.seconds = time.perf_counter() - started
        return report

    def forget_all(self) -> None:
        """Drop every record of this namespace (used when rebuilding a collection)."""
        keys = self.record_manager.list_keys()
        if keys:
            self.record_manager.delete_keys(keys)
        self.manifest.clear()

    # -- steps -------------------------------------------------------------------------
    def _step(
        self,
        path: Path,
        report: IngestReport,
        pending: list[_Pending],
        busy: list[Path],
        progress: Callable[[str, str], None] | None,
        *,
        again: bool = False,
    ) -> None:
        source = str(path)
        status = self._prepare(path, source, os.path.abspath(path), report, pending)
        if status == "busy":
            busy.append(path)
            return
        if again and status == "unchanged":  # the other worker indexed it
            report.unchanged.remove(source)
            report.others.append(source)
            status = "other"
        if progress:
            progress(source, status)
        if sum(len(p.chunks) for p in pending) >= self.batch_size:
            self._flush(pending, report)

    def _prepare(
        self,
        path: Path,
        source: str,
        abs_path: str,
        report: IngestReport,
        pending: list[_Pending],
    ) -> str:
        try:
            stat = path.stat()
            if path.is_dir():
                raise UnreadableFileError(source, f"{source} is a folder", hint="pass files")
        except LoaderError as exc:
            report.failed.append((source, _describe(exc)))
            return "failed"
        except OSError as exc:
            err = UnreadableFileError(
                source,
                f"cannot read {source}: {exc.strerror or exc}",
                hint="check that the file exists and is readable",
            )
            report.failed.append((source, _describe(err)))
            return "failed"
        known = self.manifest.get(abs_path)
        if known and known["size"] == stat.st_size and known["mtime_ns"] == stat.st_mtime_ns:
            report.unchanged.append(source)
            report.chunks_unchanged += known["chunks"]
            return "unchanged"
        if self.claims is not None:
            if not self.claims.claim(abs_path):
                return "busy"
            status = self._prepare_claimed(path, source, abs_path, stat, report, pending)
            if status not in ("added", "updated"):
                self.claims.release([abs_path])
            return status
        return self._prepare_claimed(path, source, abs_path, stat, report, pending, known)

    def _prepare_claimed(
        self,
        path: Path,
        source: str,
        abs_path: str,
        stat: os.stat_result,
        report: IngestReport,
        pending: list[_Pending],
        known: dict[str, Any] | None = None,
    ) -> str:
        if self.claims is not None:  # read again under the claim: another worker may be done
            known = self.manifest.get(abs_path)
            if known and known["size"] == stat.st_size and known["mtime_ns"] == stat.st_mtime_ns:
                report.unchanged.append(source)
                report.chunks_unchanged += known["chunks"]
                return "unchanged"
        try:
            digest = file_digest(str(path))
        except OSError as exc:
            err = UnreadableFileError(source, f"cannot read {source}: {exc.strerror or exc}")
            report.failed.append((source, _describe(err)))
            return "failed"
        if known and known["digest"] == digest:
            self.manifest.put([{**known, "mtime_ns": stat.st_mtime_ns, "source": source}])
            report.unchanged.append(source)
            report.chunks_unchanged += known["chunks"]
            return "unchanged"
        try:
            parsed = self.parse(path, source)
        except Exception as exc:  # one bad file never stops the batch
            if not isinstance(exc, LcelkitError):
                logger.debug("parsing %s failed", source, exc_info=True)
            report.failed.append((source, _describe(exc)))
            return "failed"
        chunks = parsed.chunks if isinstance(parsed, Parsed) else parsed
        for warning in parsed.warnings if isinstance(parsed, Parsed) else ():
            report.warn(source, warning)
        status = "updated" if known else "added"
        pending.append(
            _Pending(abs_path, source, digest, stat.st_size, stat.st_mtime_ns, chunks, status)
        )
        return status

    def _flush(self, pending: list[_Pending], report: IngestReport) -> None:
        if not pending:
            return
        group_of = {}
        docs: list[Document] = []
        for item in pending:
            for doc in item.chunks:
                group_of[doc.metadata["source"]] = item.path
                docs.append(doc)
        report.letters = count_letters(docs, report.letters)
        result = index(
            docs,
            self.record_manager,
            self.store,
            cleanup="scoped_full",
            source_id_key=lambda d: group_of[d.metadata["source"]],
            key_encoder=lambda d: d.metadata["chunk_id"],
            batch_size=self.batch_size,
        )
        report.chunks_written += result["num_added"] + result["num_updated"]
        report.chunks_deleted += result["num_deleted"]
        report.chunks_unchanged += result["num_skipped"]
        self.manifest.put(
            {
                "path": p.path,
                "source": p.source,
                "digest": p.digest,
                "size": p.size,
                "mtime_ns": p.mtime_ns,
                "chunks": len(p.chunks),
            }
            for p in pending
        )
        for item in pending:
            (report.added if item.status == "added" else report.updated).append(item.source)
        if self.claims is not None:
            self.claims.release([p.path for p in pending])
        pending.clear()

    def _prune(self, roots: Sequence[Path], report: IngestReport) -> None:
        prefixes = [os.path.abspath(r) for r in roots]
        for path in self.manifest.paths():
            under = any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in prefixes)
            if not under or os.path.exists(path):
                continue
            keys = self.record_manager.list_keys(group_ids=[path])
            if keys:
                self.store.delete(keys)
                self.record_manager.delete_keys(keys)
            report.chunks_deleted += len(keys)
            self.manifest.remove(path)
            report.pruned.append(path)
            logger.info("pruned %s (%d chunks)", path, len(keys))
