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
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document
from langchain_core.indexing import RecordManager, index
from langchain_core.vectorstores import VectorStore

from lcelkit.errors import LcelkitError, LoaderError, UnreadableFileError
from lcelkit.loaders.ids import file_digest
from lcelkit.loaders.mirrored import STORE_STAMP_KEY, MirroredStore
from lcelkit.loaders.records import FileManifest, make_record_manager
from lcelkit.loaders.scripts import count_letters

if TYPE_CHECKING:
    from lcelkit.loaders.ahead import ParseAhead
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

IDLE_FLUSH = 128  # chunks written while the next file is still being parsed (else it waits)


@dataclass
class Parsed:
    """What a parse function returns: the chunks, and warnings about the file (if any)."""

    chunks: list[Document]
    warnings: list[str] = field(default_factory=list)


ParseFn = Callable[[Path, str], "list[Document] | Parsed"]


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


@dataclass
class _Job:
    """One file of a run, from its check to its result (taken in file order)."""

    path: Path
    source: str
    abs_path: str
    again: bool  # revisited: it was busy with another worker
    status: str | None = None  # known without a parse: "unchanged" | "failed" | "busy"
    error: str | None = None
    chunks: int = 0  # unchanged: its chunks in the store
    stat: os.stat_result | None = None
    known: dict[str, Any] | None = None  # its manifest row
    digest: str | None = None
    claimed: bool = False
    size: int = 0  # bytes counted against the look-ahead
    future: Future | None = None  # the parse


@dataclass
class _Run:
    """The state of one ``ingest`` call."""

    report: IngestReport
    progress: Callable[[str, str], None] | None
    ahead: ParseAhead | None
    queue: deque[_Job] = field(default_factory=deque)
    pending: list[_Pending] = field(default_factory=list)
    busy: list[Path] = field(default_factory=list)  # held by another worker: come back
    warmed: bool = False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, LcelkitError):
        return str(exc)
    return f"unexpected {exc.__class__.__name__}: {exc}"


class Indexer:
    """Incremental ingestion of files into a vector store.

    ``parse(path, source)`` turns one file into chunks that carry ``source`` and
    ``chunk_id`` metadata and raises :class:`~lcelkit.errors.LoaderError` on bad
    input. One bad file never stops the batch; nothing stored is lost on failure.
    ``parse_ahead``: files parsed by a background thread while a batch is embedded (0:
    parse and embed take turns; use it with a ``parse`` that runs in a worker process).
    ``warm``: called once while the first parse is awaited (loads the embedder).
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
        parse_ahead: int = 0,
        warm: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self.parse_ahead = parse_ahead
        self.warm = warm
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
        ``prune_roots``. ``progress(source, status)`` is called once per file, in file
        order. Folders that cannot be listed are reported as failures.

        With ``parse_ahead`` the next files are parsed (``loaders/ahead.py``) while the
        current batch is embedded and written; results are still taken in file order.
        With ``claims`` (several workers on one database), each changed file is claimed
        first; a file another worker holds is left for later, then either found indexed
        by it (``report.others``) or, once its lease has run out, taken over."""
        from lcelkit.loaders.files import discover

        unlisted: list[LoaderError] = []
        files = discover(paths, failures=unlisted)
        started = time.perf_counter()
        report = IngestReport()
        report.failed += [(e.source, _describe(e)) for e in unlisted]
        run = _Run(report, progress, self._ahead())
        seen: set[str] = set()
        if self.claims is not None:
            report.worker = self.claims.worker
        try:
            for path in files:
                abs_path = os.path.abspath(path)
                if abs_path in seen:
                    continue
                seen.add(abs_path)
                self._enqueue(path, run)
            self._drain(run, final=True)
            self._flush(run.pending, report)
            while run.busy:
                waiting, run.busy = run.busy, []
                time.sleep(min(1.0, self.claims.lease / 10) if self.claims else 0)
                for path in waiting:
                    self._enqueue(path, run, again=True)
                self._drain(run, final=True)
                self._flush(run.pending, report)
        finally:
            if run.ahead is not None:
                run.ahead.close()
            if self.claims is not None:
                held = [p.path for p in run.pending] + [j.abs_path for j in run.queue if j.claimed]
                self.claims.release(held)
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
    def _ahead(self) -> ParseAhead | None:
        if self.parse_ahead <= 0:
            return None
        from lcelkit.loaders.ahead import ParseAhead

        return ParseAhead(self.parse, files=self.parse_ahead)

    def _enqueue(self, path: Path, run: _Run, *, again: bool = False) -> None:
        """Check one file (manifest, claim, hash); start its parse if it needs one; then
        take every result that is ready, in file order."""
        job = _Job(path, str(path), os.path.abspath(path), again)
        self._check(job)
        if job.status is None:  # changed: parse it
            if run.ahead is not None:
                job.size = job.stat.st_size if job.stat else 0
                job.future = run.ahead.submit(path, job.source, job.size)
            else:  # parse and embed take turns
                job.future = Future()
                try:
                    job.future.set_result(self.parse(path, job.source))
                except Exception as exc:  # one bad file never stops the batch
                    job.future.set_exception(exc)
        run.queue.append(job)
        self._drain(run, final=False)

    def _drain(self, run: _Run, *, final: bool) -> None:
        """Take the results at the head of the queue, in file order. While the head is
        still being parsed: go on submitting files (while the look-ahead has room), else
        embed and write what is pending (``IDLE_FLUSH`` chunks or more), else load the
        embedder (``warm``, once), else wait for it."""
        while run.queue:
            head = run.queue[0]
            if head.future is not None and not head.future.done():
                # before the embedder loads (``warm``), parse ahead as far as the byte
                # bound allows: nothing is embedded meanwhile and a core would sit idle.
                # Not with claims: a team worker takes no more files than it will soon
                # process, so the other workers get their share.
                loading = self.warm is not None and not run.warmed and self.claims is None
                if not final and run.ahead is not None and run.ahead.room(loading=loading):
                    return
                if sum(len(p.chunks) for p in run.pending) >= min(IDLE_FLUSH, self.batch_size):
                    self._flush(run.pending, run.report)
                    continue
                if self.warm is not None and not run.warmed:
                    run.warmed = True
                    try:
                        self.warm()
                    except Exception:  # the first write reports it, if anything is written
                        logger.debug("warming the embedder failed", exc_info=True)
                    continue
                wait([head.future])
            run.queue.popleft()
            if run.ahead is not None and head.future is not None:
                run.ahead.taken(head.size)
            self._finish(head, run)

    def _finish(self, job: _Job, run: _Run) -> None:
        report, source = run.report, job.source
        status = job.status
        if status is None:
            assert job.future is not None
            try:
                parsed = job.future.result()
            except Exception as exc:  # one bad file never stops the batch
                if not isinstance(exc, LcelkitError):
                    logger.debug("parsing %s failed", source, exc_info=True)
                job.error = _describe(exc)
                status = "failed"
                if job.claimed and self.claims is not None:
                    self.claims.release([job.abs_path])
            else:
                chunks = parsed.chunks if isinstance(parsed, Parsed) else parsed
                for warning in parsed.warnings if isinstance(parsed, Parsed) else ():
                    report.warn(source, warning)
                status = "updated" if job.known else "added"
                assert job.stat is not None and job.digest is not None
                run.pending.append(
                    _Pending(
                        job.abs_path,
                        source,
                        job.digest,
                        job.stat.st_size,
                        job.stat.st_mtime_ns,
                        chunks,
                        status,
                    )
                )
        if status == "busy":
            run.busy.append(job.path)
            return
        if status == "failed":
            report.failed.append((source, job.error or "failed"))
        elif status == "unchanged":
            if job.again:  # the other worker indexed it
                report.others.append(source)
                status = "other"
            else:
                report.unchanged.append(source)
            report.chunks_unchanged += job.chunks
        if run.progress:
            run.progress(source, status)
        if sum(len(p.chunks) for p in run.pending) >= self.batch_size:
            self._flush(run.pending, report)

    def _check(self, job: _Job) -> None:
        """Everything before the parse: sets ``job.status`` when the file needs none
        (unchanged, failed, busy with another worker), else its stat, hash and record."""
        path, source = job.path, job.source
        try:
            stat = path.stat()
            if path.is_dir():
                raise UnreadableFileError(source, f"{source} is a folder", hint="pass files")
        except LoaderError as exc:
            job.status, job.error = "failed", _describe(exc)
            return
        except OSError as exc:
            err = UnreadableFileError(
                source,
                f"cannot read {source}: {exc.strerror or exc}",
                hint="check that the file exists and is readable",
            )
            job.status, job.error = "failed", _describe(err)
            return
        job.stat = stat
        job.known = self.manifest.get(job.abs_path)
        if self._unchanged(job):
            return
        if self.claims is not None:
            if not self.claims.claim(job.abs_path):
                job.status = "busy"
                return
            job.claimed = True
            job.known = self.manifest.get(job.abs_path)  # again under the claim: done meanwhile?
            self._check_claimed(job)
            if job.status is not None:
                self.claims.release([job.abs_path])
                job.claimed = False
            return
        self._check_claimed(job)

    def _unchanged(self, job: _Job) -> bool:
        known, stat = job.known, job.stat
        assert stat is not None
        if known and known["size"] == stat.st_size and known["mtime_ns"] == stat.st_mtime_ns:
            job.status, job.chunks = "unchanged", known["chunks"]
            return True
        return False

    def _check_claimed(self, job: _Job) -> None:
        if self.claims is not None and self._unchanged(job):
            return
        source, known = job.source, job.known
        try:
            job.digest = file_digest(str(job.path))
        except OSError as exc:
            err = UnreadableFileError(source, f"cannot read {source}: {exc.strerror or exc}")
            job.status, job.error = "failed", _describe(err)
            return
        if known and known["digest"] == job.digest:
            assert job.stat is not None
            self.manifest.put([{**known, "mtime_ns": job.stat.st_mtime_ns, "source": source}])
            job.status, job.chunks = "unchanged", known["chunks"]

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
