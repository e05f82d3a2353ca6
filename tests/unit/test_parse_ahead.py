"""Parse and embed at the same time (issue 23): the next files are parsed while a batch is
embedded, and nothing else about an ingest changes (order, failures, skips, budget)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

from lcelkit.errors import CorruptFileError, FileTimeoutError
from lcelkit.loaders.ids import chunk_id
from lcelkit.loaders.index import FileManifest, Indexer, MirroredStore, make_record_manager
from lcelkit.loaders.isolate import IsolatedRunner


def _chunks(path: Path, source: str) -> list[Document]:
    text = path.read_text(encoding="utf-8")
    if text.startswith("CORRUPT"):
        raise CorruptFileError(source, f"{source} is damaged")
    if text.startswith("SLEEP"):
        time.sleep(float(text.split()[1]))
    return [
        Document(page_content=para, metadata={"source": source, "chunk_id": chunk_id(source, para)})
        for para in text.split("\n\n")
        if para.strip()
    ]


class Overlap:
    """A parse and an embedder that notice when a parse runs during an embedding call."""

    def __init__(self) -> None:
        self.embedding = threading.Event()
        self.parsed_while_embedding = threading.Event()
        self.parsed: list[str] = []
        self.parse_threads: set[str] = set()

    def parse(self, path: Path, source: str) -> list[Document]:
        self.parsed.append(path.name)
        self.parse_threads.add(threading.current_thread().name)
        time.sleep(0.05)  # a parse takes a while: the files ahead are still in flight
        if self.embedding.is_set():
            self.parsed_while_embedding.set()
        return _chunks(path, source)


class WaitingEmbeddings(Embeddings):
    """Each embedding call waits (up to ``patience`` s) for a parse to happen meanwhile."""

    def __init__(self, overlap: Overlap, patience: float = 5.0) -> None:
        self.overlap = overlap
        self.patience = patience
        self.waited: list[bool] = []
        self.fake = DeterministicFakeEmbedding(size=8)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.overlap.embedding.set()
        try:
            self.waited.append(self.overlap.parsed_while_embedding.wait(self.patience))
        finally:
            self.overlap.embedding.clear()
        return self.fake.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.fake.embed_query(text)


def _indexer(
    tmp_path: Path, parse, embeddings=None, **kwargs
) -> tuple[Indexer, InMemoryVectorStore]:
    store = InMemoryVectorStore(embeddings or DeterministicFakeEmbedding(size=8))
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    indexer = Indexer(
        MirroredStore(store),
        make_record_manager("t", db),
        FileManifest("t", db),
        parse,
        **kwargs,
    )
    return indexer, store


def _files(folder: Path, texts: dict[str, str]) -> list[Path]:
    folder.mkdir(exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / name for name in texts]


def test_the_next_files_are_parsed_while_a_batch_is_embedded(tmp_path: Path):
    overlap = Overlap()
    embeddings = WaitingEmbeddings(overlap)
    files = _files(
        tmp_path / "docs", {f"f{i}.txt": f"file {i} one\n\nfile {i} two" for i in range(8)}
    )
    indexer, _ = _indexer(tmp_path, overlap.parse, embeddings, batch_size=4, parse_ahead=4)
    report = indexer.ingest(files)
    assert report.ok and len(report.added) == 8 and report.chunks_written == 16
    assert embeddings.waited[0] is True  # a later file was parsed during the first write
    assert overlap.parse_threads == {"lcelkit-parse-ahead"}


def test_without_look_ahead_parse_and_embed_take_turns(tmp_path: Path):
    overlap = Overlap()
    embeddings = WaitingEmbeddings(overlap, patience=0.5)
    files = _files(
        tmp_path / "docs", {f"f{i}.txt": f"file {i} one\n\nfile {i} two" for i in range(4)}
    )
    indexer, _ = _indexer(tmp_path, overlap.parse, embeddings, batch_size=4, parse_ahead=0)
    assert indexer.ingest(files).ok
    assert embeddings.waited == [False, False]
    assert overlap.parse_threads == {threading.current_thread().name}


def test_results_keep_file_order_with_failures_unchanged_files_and_slow_parses(tmp_path: Path):
    texts = {
        "a.txt": "SLEEP 0.3\n\nslow first file",
        "b.txt": "CORRUPT",
        "c.txt": "quick\n\nfile",
        "d.txt": "SLEEP 0.1\n\nsecond slow file",
        "e.txt": "CORRUPT again",
        "f.txt": "last file",
    }
    files = _files(tmp_path / "docs", texts)
    seen: list[tuple[str, str]] = []
    indexer, _ = _indexer(tmp_path, _chunks, batch_size=3, parse_ahead=3)
    indexer.ingest([files[2]])  # c.txt is unchanged in the run below
    report = indexer.ingest(files, progress=lambda s, st: seen.append((Path(s).name, st)))
    assert seen == [
        ("a.txt", "added"),
        ("b.txt", "failed"),
        ("c.txt", "unchanged"),
        ("d.txt", "added"),
        ("e.txt", "failed"),
        ("f.txt", "added"),
    ]
    assert [Path(s).name for s in report.added] == ["a.txt", "d.txt", "f.txt"]
    assert [Path(s).name for s, _ in report.failed] == ["b.txt", "e.txt"]
    assert report.unchanged == [str(files[2])]


def test_unchanged_files_are_not_parsed_and_the_embedder_is_not_warmed(tmp_path: Path):
    overlap = Overlap()
    files = _files(tmp_path / "docs", {f"f{i}.txt": f"file {i}" for i in range(5)})
    warmed: list[int] = []
    indexer, _ = _indexer(tmp_path, overlap.parse, parse_ahead=4, warm=lambda: warmed.append(1))
    assert len(indexer.ingest(files).added) == 5
    assert warmed == [1]  # once, while the first parse was awaited
    overlap.parsed.clear()
    again, _ = _indexer(tmp_path, overlap.parse, parse_ahead=4, warm=lambda: warmed.append(2))
    report = again.ingest(files)
    assert len(report.unchanged) == 5 and overlap.parsed == [] and warmed == [1]


def test_look_ahead_is_bounded(tmp_path: Path):
    in_flight: list[int] = []
    indexer: Indexer

    files = _files(tmp_path / "docs", {f"f{i:02d}.txt": f"file {i}" for i in range(20)})
    consumed: list[str] = []

    def parse(path: Path, source: str) -> list[Document]:
        # files submitted but not yet taken by the indexer, when this one is parsed
        in_flight.append(int(path.stem[1:]) - len(consumed))
        time.sleep(0.01)
        return _chunks(path, source)

    indexer, _ = _indexer(tmp_path, parse, parse_ahead=3)
    report = indexer.ingest(files, progress=lambda s, st: consumed.append(s))
    assert len(report.added) == 20
    assert max(in_flight) <= 2  # this file and at most 2 more submitted, none taken


def _hang_or_parse(path: Path, source: str) -> list[Document]:
    if path.name.startswith("hang"):
        time.sleep(60)
    return _chunks(path, source)


def test_a_hanging_file_fails_alone_under_its_budget_while_others_are_parsed_ahead(
    tmp_path: Path,
):
    # as ingest does for its parsers, the worker imports the parse function's module
    # before it reports ready (a restarted worker too), so no budget pays for imports
    runner = IsolatedRunner(preload=[_hang_or_parse.__module__])
    try:
        runner.call(time.sleep, 0, source="start", timeout=120)  # worker start-up

        def parse(path: Path, source: str) -> list[Document]:
            return runner.call(_hang_or_parse, path, source, source=source, timeout=1.5)

        names = {"a.txt": "first", "hang.txt": "never read", "c.txt": "third", "d.txt": "fourth"}
        files = _files(tmp_path / "docs", names)
        indexer, store = _indexer(tmp_path, parse, batch_size=2, parse_ahead=2)
        started = time.monotonic()
        report = indexer.ingest(files)
        assert time.monotonic() - started < 30
        assert [Path(s).name for s in report.added] == ["a.txt", "c.txt", "d.txt"]
        assert [Path(s).name for s, _ in report.failed] == ["hang.txt"]
        assert "longer than 1.5 s" in report.failed[0][1]
        assert {d.page_content for d in store.similarity_search("x", k=10)} == {
            "first",
            "third",
            "fourth",
        }
    finally:
        runner.close()


def test_a_write_error_stops_the_run_and_cancels_the_files_ahead(tmp_path: Path):
    class Broken(DeterministicFakeEmbedding):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            raise RuntimeError("disk full")

    parsed: list[str] = []

    def parse(path: Path, source: str) -> list[Document]:
        parsed.append(path.name)
        time.sleep(0.05)
        return _chunks(path, source)

    files = _files(tmp_path / "docs", {f"f{i:02d}.txt": f"file {i}" for i in range(30)})
    indexer, _ = _indexer(tmp_path, parse, Broken(size=8), batch_size=2, parse_ahead=4)
    with pytest.raises(RuntimeError, match="disk full"):
        indexer.ingest(files)
    time.sleep(0.2)  # the parse in progress, if any, ends
    assert len(parsed) < 30  # the files ahead were cancelled, not all parsed


def test_timeouts_raised_in_the_parse_thread_come_back_as_themselves(tmp_path: Path):
    def parse(path: Path, source: str) -> list[Document]:
        raise FileTimeoutError(source, f"{source}: parsing took longer than 1 s")

    files = _files(tmp_path / "docs", {"a.txt": "x"})
    indexer, _ = _indexer(tmp_path, parse, parse_ahead=2)
    report = indexer.ingest(files)
    assert report.failed == [(str(files[0]), f"{files[0]}: parsing took longer than 1 s")]


def test_claimed_files_are_parsed_ahead_and_a_held_file_is_taken_over_after_its_lease(
    tmp_path: Path,
):
    from lcelkit.loaders.claims import FileClaims

    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    files = _files(tmp_path / "docs", {f"f{i}.txt": f"file {i}\n\nmore {i}" for i in range(6)})
    other = FileClaims("t", db, lease=1.0, worker="other")
    assert other.claim(os.path.abspath(files[2]))  # held, never renewed: lapses after 1 s
    other._stop.set()  # a worker that died holding it
    mine = FileClaims("t", db, lease=30.0, worker="me")
    seen: list[tuple[str, str]] = []
    try:
        indexer, store = _indexer(tmp_path, _chunks, batch_size=4, parse_ahead=3, claims=mine)
        report = indexer.ingest(files, progress=lambda s, st: seen.append((Path(s).name, st)))
        assert report.ok and report.worker == "me"
        assert sorted(Path(s).name for s in report.added) == [f"f{i}.txt" for i in range(6)]
        assert [name for name, _ in seen] == ["f0.txt", "f1.txt", "f3.txt", "f4.txt", "f5.txt",
                                              "f2.txt"]  # fmt: skip
        assert report.chunks_written == 12 and len(store.store) == 12
        assert all(mine.holder(os.path.abspath(f)) is None for f in files)  # all released
    finally:
        mine.close()
        other.close()


def test_files_are_parsed_past_the_look_ahead_while_the_embedder_loads(tmp_path: Path):
    # loading a model takes seconds and embeds nothing: the parse worker goes on parsing
    # instead of stopping after ``parse_ahead`` files and leaving its core idle
    files = _files(tmp_path / "docs", {f"f{i:02d}.txt": f"file {i}" for i in range(10)})
    parsed: list[str] = []
    during_load: list[int] = []

    def parse(path: Path, source: str) -> list[Document]:
        time.sleep(0.02)
        parsed.append(path.name)
        return _chunks(path, source)

    def warm() -> None:  # a slow model load: how far did parsing get meanwhile?
        deadline = time.monotonic() + 5
        while len(parsed) < len(files) and time.monotonic() < deadline:
            time.sleep(0.01)
        during_load.append(len(parsed))

    indexer, _ = _indexer(tmp_path, parse, parse_ahead=2, warm=warm)
    report = indexer.ingest(files)
    assert len(report.added) == 10 and report.chunks_written == 10
    assert during_load == [10]  # every file, not 2: only the byte bound holds while loading


def test_the_byte_bound_holds_while_the_embedder_loads():
    from lcelkit.loaders.ahead import ParseAhead

    ahead = ParseAhead(lambda path, source: [], files=2, max_bytes=100)
    for _ in range(3):
        ahead.submit(Path("x"), "x", 10)
    assert not ahead.room() and ahead.room(loading=True)
    ahead.submit(Path("big"), "big", 90)
    assert not ahead.room(loading=True)  # 120 bytes ahead: over the bound
    ahead.close()
