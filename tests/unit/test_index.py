"""The incremental indexer: what gets embedded, replaced, pruned and kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore

from lcelkit.errors import CorruptFileError
from lcelkit.loaders.ids import chunk_id
from lcelkit.loaders.index import FileManifest, Indexer, MirroredStore, make_record_manager


class CountingEmbeddings(DeterministicFakeEmbedding):
    """Fake embedder that counts how many texts it embedded."""

    calls: int = 0
    texts: int = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.texts += len(texts)
        return super().embed_documents(texts)


class RecordingSink:
    def __init__(self) -> None:
        self.ids: set[str] = set()

    def add_documents(self, documents: list[Document], ids: list[str]) -> None:
        self.ids.update(ids)

    def delete(self, ids: list[str]) -> None:
        self.ids.difference_update(ids)

    def clear(self) -> None:
        self.ids.clear()


def paragraph_parse(path: Path, source: str) -> list[Document]:
    """One chunk per blank-line separated paragraph; 'CORRUPT' files fail."""
    text = path.read_text(encoding="utf-8")
    if text.startswith("CORRUPT"):
        raise CorruptFileError(source, f"{source} is damaged")
    return [
        Document(
            page_content=para,
            metadata={"source": source, "chunk_id": chunk_id(source, para), "category": "Text"},
        )
        for para in text.split("\n\n")
        if para.strip()
    ]


@pytest.fixture
def setup(tmp_path: Path):
    embeddings = CountingEmbeddings(size=16)
    store = InMemoryVectorStore(embeddings)
    sink = RecordingSink()
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"

    def make() -> Indexer:
        # A fresh Indexer over the same database = a new process.
        return Indexer(
            MirroredStore(store, [sink], max_batch=3),
            make_record_manager("test/ns", db),
            FileManifest("test/ns", db),
            paragraph_parse,
            batch_size=4,
        )

    docs = tmp_path / "docs"
    docs.mkdir()
    return make, store, embeddings, sink, docs


def write(path: Path, *paras: str) -> Path:
    path.write_text("\n\n".join(paras), encoding="utf-8")
    return path


def store_texts(store: InMemoryVectorStore) -> set[str]:
    return {doc["text"] for doc in store.store.values()}


def test_first_ingest_adds_every_chunk(setup):
    make, store, _embeddings, sink, docs = setup
    a = write(docs / "a.txt", "alpha one", "alpha two")
    b = write(docs / "b.txt", "beta one")
    report = make().ingest([a, b])
    assert report.added == [str(a), str(b)]
    assert report.chunks_written == 3
    assert store_texts(store) == {"alpha one", "alpha two", "beta one"}
    assert sink.ids == set(store.store)


def test_unchanged_files_embed_nothing(setup):
    make, _store, embeddings, _sink, docs = setup
    files = [write(docs / f"{i}.txt", f"text {i}", f"more {i}") for i in range(5)]
    make().ingest(files)
    embedded = embeddings.texts
    report = make().ingest(files)
    assert embeddings.texts == embedded
    assert len(report.unchanged) == 5 and report.chunks_written == 0
    # A touched file with the same bytes is recognised by its hash.
    os.utime(files[0], ns=(1, 1))
    report = make().ingest(files)
    assert embeddings.texts == embedded and len(report.unchanged) == 5


def test_changed_file_replaces_its_chunks_and_embeds_only_new_ones(setup):
    make, store, embeddings, sink, docs = setup
    a = write(docs / "a.txt", "keep me", "old paragraph")
    make().ingest([a])
    before = embeddings.texts
    write(a, "keep me", "new paragraph")
    report = make().ingest([a])
    assert report.updated == [str(a)]
    assert store_texts(store) == {"keep me", "new paragraph"}
    assert embeddings.texts - before == 1  # only the new paragraph
    assert report.chunks_deleted == 1
    assert sink.ids == set(store.store)


def test_prune_removes_chunks_of_vanished_files_only_under_roots(setup, tmp_path):
    make, store, _embeddings, sink, docs = setup
    a = write(docs / "a.txt", "from a")
    b = write(docs / "b.txt", "from b")
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    c = write(other_dir / "c.txt", "from c")
    make().ingest([a, b, c])
    b.unlink()
    c.unlink()
    report = make().ingest([a], prune_roots=[docs])
    assert report.pruned == [str(b.resolve())]
    assert store_texts(store) == {"from a", "from c"}  # c is not under the pruned root
    assert sink.ids == set(store.store)


def test_bad_file_fails_alone_and_keeps_what_was_stored(setup):
    make, store, _embeddings, _sink, docs = setup
    a = write(docs / "a.txt", "good a")
    b = write(docs / "b.txt", "good b v1")
    make().ingest([a, b])
    write(b, "CORRUPT now")
    c = write(docs / "c.txt", "good c")
    missing = docs / "missing.txt"
    report = make().ingest([b, missing, c])
    assert [s for s, _ in report.failed] == [str(b), str(missing)]
    assert "damaged" in report.failed[0][1]
    assert "cannot read" in report.failed[1][1]
    assert report.added == [str(c)]
    # b's earlier chunks are still there: a failed re-parse never deletes.
    assert store_texts(store) == {"good a", "good b v1", "good c"}
    assert not report.ok
    assert report.to_json()["files"] == {
        "added": 1,
        "unchanged": 0,
        "updated": 0,
        "failed": 2,
        "pruned": 0,
    }


def test_mirrored_store_splits_writes_below_max_batch(tmp_path):
    class Recorder(InMemoryVectorStore):
        sizes: list[int]

        def add_documents(self, documents, **kwargs):
            self.sizes.append(len(documents))
            return super().add_documents(documents, **kwargs)

    inner = Recorder(DeterministicFakeEmbedding(size=4))
    inner.sizes = []
    store = MirroredStore(inner, max_batch=5)
    docs = [Document(page_content=f"d{i}") for i in range(12)]
    store.add_documents(docs, ids=[f"id{i}" for i in range(12)])
    assert inner.sizes == [5, 5, 2]
    assert len(inner.store) == 12


def test_folders_and_strings_are_accepted(setup):
    make, store, _embeddings, _sink, docs = setup
    write(docs / "a.txt", "from a")
    (docs / "sub").mkdir()
    write(docs / "sub" / "b.md", "from b")
    (docs / "notes.xyz").write_text("not a document type")
    report = make().ingest([str(docs)])
    assert sorted(Path(s).name for s in report.added) == ["a.txt", "b.md"]
    assert store_texts(store) == {"from a", "from b"}
