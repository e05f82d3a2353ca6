"""The write stamp read before each exact search (chains.store_stamp), on a real embedded
Chroma in tmp_path: a write is seen by the next query, whenever it comes, and a store
that has not changed is not asked again."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from lcelkit.chains import store_stamp
from lcelkit.chains.dense import dense_query
from lcelkit.chains.store import open_chroma
from lcelkit.loaders.mirrored import STORE_STAMP_KEY
from tests.support.vectors import NoEmbeddings, unit_rows

DIM = 64


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(3)
    vectors = unit_rows(rng.normal(size=(300, DIM)))
    st = open_chroma(
        NoEmbeddings(), collection="watched", embedder_name="none", persist_dir=tmp_path
    )
    col = st._collection
    col.add(
        ids=[f"c{i:03d}" for i in range(len(vectors))],
        embeddings=vectors,
        documents=[f"text {i}" for i in range(len(vectors))],
    )
    col.modify(metadata={**(col.metadata or {}), STORE_STAMP_KEY: "run-1"})
    return st, unit_rows(rng.normal(size=(3, DIM)))


def _settle() -> None:
    time.sleep(store_stamp.SETTLE_NS / 1e9 + 0.2)


def _write_with_another_client(folder, vector: list[float]) -> None:
    """What an ingest does in a process that also answers questions (an embedded Chroma
    is one process's: docs/DEPLOY.md): add a chunk through its own client, then stamp."""
    from lcelkit.chains.store import chroma_client

    col = chroma_client(persist_dir=folder).get_collection("watched")
    col.add(ids=["written-later"], embeddings=[vector], documents=["later"])
    col.modify(metadata={**(col.metadata or {}), STORE_STAMP_KEY: "run-2"})


def test_a_write_is_seen_by_the_next_query_after_the_store_settled(store, tmp_path):
    st, queries = store
    q = queries[0].tolist()
    _settle()
    before = [d.id for d, _, _ in dense_query(st, q, 5, None)]
    assert [d.id for d, _, _ in dense_query(st, q, 5, None)] == before  # the stamp as kept
    _write_with_another_client(tmp_path, q)
    after = [d.id for d, _, _ in dense_query(st, q, 5, None)]
    assert after[0] == "written-later" and after[1:] == before[:4]


def test_a_write_in_the_same_second_as_a_query_is_seen_by_the_next_one(store):
    """Files changed within the settle time are never trusted: queries right after an
    ingest (and writes right after a query) each ask Chroma."""
    st, queries = store
    q = queries[1].tolist()
    before = [d.id for d, _, _ in dense_query(st, q, 3, None)]
    col = st._collection
    col.add(ids=["quick"], embeddings=[q], documents=["quick"])
    col.modify(metadata={**(col.metadata or {}), STORE_STAMP_KEY: "run-quick"})
    assert [d.id for d, _, _ in dense_query(st, q, 3, None)] == ["quick", *before[:2]]


def test_a_settled_store_is_asked_for_its_stamp_once_until_it_changes(store, monkeypatch):
    st, queries = store
    asked: list[str] = []
    original = store_stamp._read

    def counted(client, collection):
        asked.append(collection.name)
        return original(client, collection)

    monkeypatch.setattr(store_stamp, "_read", counted)
    _settle()
    for q in queries:
        dense_query(st, q.tolist(), 3, None)
    assert len(asked) == 1
    col = st._collection
    col.modify(metadata={**(col.metadata or {}), STORE_STAMP_KEY: "run-3"})
    dense_query(st, queries[0].tolist(), 3, None)
    dense_query(st, queries[0].tolist(), 3, None)
    assert len(asked) == 3  # changed within the settle time: asked each time


def test_a_collection_rebuilt_under_its_name_by_another_client_is_not_mixed_up(store, tmp_path):
    """``ingest --rebuild`` elsewhere: the old collection object's queries no longer rank
    on the old vectors once its copy cannot be trusted (Chroma answers, and its error
    for a deleted collection is the one a user gets)."""
    from lcelkit.chains.store import chroma_client

    st, queries = store
    q = queries[2].tolist()
    _settle()
    dense_query(st, q, 3, None)
    other = chroma_client(persist_dir=tmp_path)
    other.delete_collection("watched")
    new = open_chroma(NoEmbeddings(), collection="watched", embedder_name="none", client=other)
    new._collection.add(ids=["only"], embeddings=[q], documents=["only"])
    new._collection.modify(metadata={**(new._collection.metadata or {}), STORE_STAMP_KEY: "r"})
    assert [d.id for d, _, _ in dense_query(new, q, 3, None)] == ["only"]
    with pytest.raises(Exception):  # noqa: B017 - Chroma's own error for a gone collection
        dense_query(st, q, 3, None)


def test_a_store_written_by_another_process_answers_and_says_to_restart(store, tmp_path, caplog):
    """An embedded Chroma cannot read the vectors another process wrote into its folder
    (an ``lcelkit ingest`` beside a running ``lcelkit serve``): queries go on answering,
    without the new chunk, and one warning says what to do."""
    st, queries = store
    q = queries[0].tolist()
    before = [d.id for d, _, _ in dense_query(st, q, 3, None)]
    code = textwrap.dedent(
        f"""
        import chromadb
        col = chromadb.PersistentClient(path={str(tmp_path)!r}).get_collection("watched")
        col.add(ids=["elsewhere"], embeddings=[{q!r}], documents=["written elsewhere"])
        col.modify(metadata={{**(col.metadata or {{}}), {STORE_STAMP_KEY!r}: "run-other"}})
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    with caplog.at_level(logging.WARNING, logger="lcelkit.chains.dense_exact"):
        first = [d.id for d, _, _ in dense_query(st, q, 3, None)]
        second = [d.id for d, _, _ in dense_query(st, q, 3, None)]
    assert first == second == before  # answered, from what this process can read
    warned = [r.getMessage() for r in caplog.records if "another process" in r.getMessage()]
    assert len(warned) == 1
    assert "'watched'" in warned[0] and "Restart it" in warned[0] and "store.url" in warned[0]
