"""Exact vector search (chains.dense_exact) on a real embedded Chroma in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest

from lcelkit.chains import dense_exact
from lcelkit.chains.dense import dense_passages, dense_query
from lcelkit.chains.store import open_chroma
from lcelkit.loaders.mirrored import STORE_STAMP_KEY, MirroredStore
from tests.support.vectors import NoEmbeddings, unit_rows

DIM = 384


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    vectors = unit_rows(rng.normal(size=(1500, DIM)))
    ids = [f"c{i:05d}" for i in range(len(vectors))]
    groups = [f"g{i % 50}" for i in range(len(vectors))]
    queries = unit_rows(rng.normal(size=(8, DIM)))
    return ids, vectors, groups, queries


def _store(path, name, ids, vectors, groups, order, *, stamp=True):
    st = open_chroma(NoEmbeddings(), collection=name, embedder_name="none", persist_dir=path)
    col = st._collection
    for start in range(0, len(order), 100):  # the graph is built in the write order
        part = order[start : start + 100]
        col.add(
            ids=[ids[i] for i in part],
            embeddings=vectors[part],
            documents=[f"text {ids[i]}" for i in part],
            metadatas=[{"group": groups[i]} for i in part],
        )
    if stamp:  # as every lcelkit write run does when it ends
        col.modify(metadata={**(col.metadata or {}), STORE_STAMP_KEY: f"run-{name}"})
    return st


def _brute(ids, vectors, query, n, keep=None):
    dist = 1.0 - vectors.astype(np.float64) @ query.astype(np.float64)
    rows = [i for i in range(len(ids)) if keep is None or keep(i)]
    return [ids[i] for i in sorted(rows, key=lambda i: (dist[i], ids[i]))][:n]


def test_two_stores_written_in_other_orders_return_the_exact_nearest_120(tmp_path, data):
    """Chroma's default HNSW graph misses some of the nearest 120 of random vectors in
    most queries, differently per write order; ranked exactly, both stores return the
    brute-force list, ids and order (what makes a team's top 10 the embedded one's)."""
    ids, vectors, groups, queries = data
    forward = _store(tmp_path / "f", "forward", ids, vectors, groups, list(range(len(ids))))
    backward = _store(tmp_path / "b", "backward", ids, vectors, groups, list(range(len(ids)))[::-1])
    hnsw_missed = 0
    for q in queries:
        want = _brute(ids, vectors, q, 120)
        hits = [dense_query(st, q.tolist(), 120, None) for st in (forward, backward)]
        got = [[d.id for d, _, _ in h] for h in hits]
        assert got[0] == got[1] == want
        # bit for bit: a row's score does not depend on where the store keeps it
        assert [s for _, s, _ in hits[0]] == [s for _, s, _ in hits[1]]
        passages = dense_passages(forward, q.tolist(), 20, None)
        assert [d.id for d, _, _ in passages] == want[:20]
        raw = forward._collection.query(query_embeddings=[q.tolist()], n_results=120, include=[])
        hnsw_missed += set(raw["ids"][0]) != set(want)
    assert hnsw_missed  # the graph alone is approximate here: the test can tell


def test_a_scan_split_over_two_threads_ranks_and_scores_the_same(tmp_path, data, monkeypatch):
    """A big collection's scan runs in two halves on two threads: the same scores and
    the same exact lists as one pass (here forced on 1,500 chunks)."""
    ids, vectors, groups, queries = data
    st = _store(tmp_path / "s", "split", ids, vectors, groups, list(range(len(ids))))
    one = [dense_query(st, q.tolist(), 50, None) for q in queries]
    monkeypatch.setattr(dense_exact, "SCAN_SPLIT_MIN", 64)
    monkeypatch.setattr(dense_exact, "_cores", lambda: 2)
    two = [dense_query(st, q.tolist(), 50, None) for q in queries]
    assert dense_exact._SCAN_POOL.started  # the second half ran on the worker
    for q, a, b in zip(queries, one, two, strict=True):
        assert [d.id for d, _, _ in a] == [d.id for d, _, _ in b] == _brute(ids, vectors, q, 50)
        assert [s for _, s, _ in a] == [s for _, s, _ in b]
    rough = dense_exact._scan(vectors, queries[0])
    assert np.array_equal(rough, np.einsum("ij,j->i", vectors, queries[0]))


def test_a_hybrid_searchs_dense_side_scans_on_its_own_thread(tmp_path, data, monkeypatch):
    """Hybrid runs its keyword query beside the dense side, so the dense side's scan
    does not take the other core too: the same passages, no scan worker."""
    from lcelkit.chains.dense import dense_passages
    from lcelkit.chains.keyword import KeywordIndex
    from lcelkit.chains.retrievers import make_retriever, sync_keyword_index

    ids, vectors, groups, queries = data
    st = _store(tmp_path / "h", "hybrid", ids, vectors, groups, list(range(len(ids))))
    index = KeywordIndex(tmp_path / "kw.sqlite")
    sync_keyword_index(index, st)
    monkeypatch.setattr(dense_exact, "SCAN_SPLIT_MIN", 64)
    monkeypatch.setattr(dense_exact, "_cores", lambda: 2)
    split = [dense_passages(st, q.tolist(), 10, None) for q in queries]

    def refuse(*_a, **_k):
        raise AssertionError("hybrid's dense side split its scan")

    monkeypatch.setattr(dense_exact._SCAN_POOL, "submit", refuse)
    alone = [dense_passages(st, q.tolist(), 10, None, split_scan=False) for q in queries]
    assert [[d.id for d, _, _ in a] for a in alone] == [[d.id for d, _, _ in b] for b in split]

    class Vectors(NoEmbeddings):
        def embed_query(self, text: str) -> list[float]:
            return queries[int(text.split()[-1])].tolist()

    retriever = make_retriever(st, search="hybrid", k=4, keyword_index=index, embeddings=Vectors())
    for i in range(len(queries)):
        assert len(retriever.invoke(f"text query {i}")) == 4


def test_a_filtered_search_ranks_the_passing_chunks_exactly(tmp_path, data, monkeypatch):
    ids, vectors, groups, queries = data
    st = _store(tmp_path, "filtered", ids, vectors, groups, list(range(len(ids))))
    where = {"group": {"$in": ["g1", "g2", "g3"]}}
    q = queries[0]
    want = _brute(ids, vectors, q, 40, keep=lambda i: groups[i] in ("g1", "g2", "g3"))
    hits = dense_query(st, q.tolist(), 40, where)
    assert [d.id for d, _, _ in hits] == want
    assert all(d.metadata["group"] in ("g1", "g2", "g3") for d, _, _ in hits)
    scores = [s for _, s, _ in hits]
    assert scores == sorted(scores, reverse=True) and 0.0 <= scores[-1] <= scores[0] <= 1.0
    # more chunks pass than are ranked here: Chroma's filtered query, the same chunks
    monkeypatch.setattr(dense_exact, "EXACT_FILTER_MAX", 10)
    few = {"group": "g4"}  # 30 chunks: HNSW finds them all
    fallback = [d.id for d, _, _ in dense_query(st, q.tolist(), 30, few)]
    assert sorted(fallback) == sorted(i for i, g in zip(ids, groups, strict=True) if g == "g4")


def test_the_first_query_after_a_write_run_sees_its_chunks(tmp_path, data):
    """A long-running process keeps its copy of the vectors; an ingest in another
    process (here: another store object on the same folder) writes and stamps, and the
    next query sees the new chunk and no longer the deleted one."""
    ids, vectors, groups, queries = data
    reader = _store(tmp_path, "live", ids, vectors, groups, list(range(len(ids))))
    q = queries[1]
    first = dense_query(reader, q.tolist(), 5, None)
    gone = first[0][0].id
    writer = open_chroma(
        NoEmbeddings(), collection="live", embedder_name="none", persist_dir=tmp_path
    )
    mirrored = MirroredStore(writer, [])
    mirrored.wrote = True
    writer._collection.add(
        ids=["new"], embeddings=[q.tolist()], documents=["new"], metadatas=[{"group": "x"}]
    )
    writer._collection.delete(ids=[gone])
    mirrored.stamp()
    after = [d.id for d, _, _ in dense_query(reader, q.tolist(), 5, None)]
    assert after[0] == "new" and gone not in after
    assert after[1:] == [d.id for d, _, _ in first[1:5]]


def test_a_collection_without_a_write_stamp_is_searched_by_chroma(tmp_path, data):
    """Written by other code (no stamp): nothing is copied, Chroma's query answers, so a
    chunk written a moment ago is found at once."""
    ids, vectors, groups, queries = data
    st = _store(tmp_path, "plain", ids[:200], vectors[:200], groups, list(range(200)), stamp=False)
    q = queries[2]
    dense_query(st, q.tolist(), 5, None)
    st._collection.add(ids=["late"], embeddings=[q.tolist()], documents=["late"])
    assert dense_query(st, q.tolist(), 1, None)[0][0].id == "late"
    assert len(dense_exact.mirror_of(st._collection)) == 0


def test_collections_get_chromas_default_graph_and_wide_ones_keep_theirs(tmp_path):
    """The exact search made the wider graph unnecessary (docs/DESIGN.md, "Store"); a
    collection an earlier lcelkit built wide is opened as it is."""
    from lcelkit.chains.store import chroma_client

    st = open_chroma(NoEmbeddings(), collection="plain", embedder_name="none", persist_dir=tmp_path)
    hnsw = st._collection.configuration["hnsw"]
    assert (hnsw["ef_construction"], hnsw["max_neighbors"], hnsw["ef_search"]) == (100, 16, 100)
    client = chroma_client(persist_dir=tmp_path)
    wide = {"space": "cosine", "ef_construction": 400, "max_neighbors": 32, "ef_search": 1000}
    client.create_collection("wide", configuration={"hnsw": wide}, embedding_function=None)
    open_chroma(NoEmbeddings(), collection="wide", embedder_name="none", client=client)
    hnsw = client.get_collection("wide").configuration["hnsw"]
    assert (hnsw["ef_construction"], hnsw["max_neighbors"], hnsw["ef_search"]) == (400, 32, 1000)


def test_above_the_copy_limit_chroma_answers_and_below_it_the_copy_is_used(
    tmp_path, data, monkeypatch
):
    ids, vectors, groups, queries = data
    st = _store(tmp_path, "limit", ids[:300], vectors[:300], groups, list(range(300)))
    q = queries[3].tolist()
    monkeypatch.setattr(dense_exact, "MIRROR_MAX", 299)
    assert dense_exact.exact_nearest(st._client, st._collection, q, 5, None) is None
    assert len(dense_query(st, q, 5, None)) == 5  # Chroma's HNSW query
    monkeypatch.setattr(dense_exact, "MIRROR_MAX", 300)
    got = dense_exact.exact_nearest(st._client, st._collection, q, 5, None)
    assert got is not None and got[0] == _brute(ids[:300], vectors[:300], queries[3], 5)
    assert len(dense_exact.mirror_of(st._collection)) == 300


def test_a_new_process_reads_the_copy_from_disk_and_only_what_was_written_since(
    tmp_path, data, monkeypatch
):
    """A one-shot process (here: the process-wide copies forgotten) loads the copy the
    last one kept beside the store instead of reading every vector from Chroma; after a
    write run it reads only the chunks written since, and a damaged file is ignored."""
    ids, vectors, groups, queries = data
    st = _store(tmp_path, "disk", ids[:400], vectors[:400], groups, list(range(400)))
    q = queries[4]
    want = _brute(ids[:400], vectors[:400], q, 10)
    assert [d.id for d, _, _ in dense_query(st, q.tolist(), 10, None)] == want
    kept = tmp_path / "lcelkit-vectors" / f"{st._collection.id}.npz"
    assert kept.is_file()

    read: list[int] = []
    original = dense_exact._read_vectors

    def counted(collection, wanted):
        read.append(len(wanted))
        return original(collection, wanted)

    monkeypatch.setattr(dense_exact, "_read_vectors", counted)
    monkeypatch.setattr(dense_exact, "_MIRRORS", {})  # a new process
    assert [d.id for d, _, _ in dense_query(st, q.tolist(), 10, None)] == want
    assert read == []  # nothing read from Chroma: the copy on disk was as of this stamp

    col = st._collection
    col.add(ids=["fresh"], embeddings=[q.tolist()], documents=["fresh"])
    col.delete(ids=[want[0]])
    col.modify(metadata={**(col.metadata or {}), STORE_STAMP_KEY: "run-2"})
    monkeypatch.setattr(dense_exact, "_MIRRORS", {})
    after = [d.id for d, _, _ in dense_query(st, q.tolist(), 10, None)]
    assert after[0] == "fresh" and want[0] not in after and after[1:] == want[1:10]
    assert read == [1]  # the one chunk written since the copy was kept

    kept.write_bytes(b"not a numpy file")
    monkeypatch.setattr(dense_exact, "_MIRRORS", {})
    assert [d.id for d, _, _ in dense_query(st, q.tolist(), 10, None)] == after
    assert read[-1] == 400  # rebuilt from the store


def test_the_copy_of_a_dropped_collection_is_deleted(tmp_path, data):
    ids, vectors, groups, queries = data
    old = _store(tmp_path, "rebuilt", ids[:50], vectors[:50], groups, list(range(50)))
    dense_query(old, queries[5].tolist(), 3, None)
    old_copy = tmp_path / "lcelkit-vectors" / f"{old._collection.id}.npz"
    assert old_copy.is_file()
    old._client.delete_collection("rebuilt")  # what ingest --rebuild does first
    new = _store(tmp_path, "rebuilt", ids[:60], vectors[:60], groups, list(range(60)))
    dense_query(new, queries[5].tolist(), 3, None)
    assert not old_copy.exists()
    assert (tmp_path / "lcelkit-vectors" / f"{new._collection.id}.npz").is_file()
