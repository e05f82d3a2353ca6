"""The real bundled embedder and a real Chroma (embedded and `chroma run` server)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lcelkit.chains.embeddings import BUNDLED_MODEL_NAME, load_embeddings
from lcelkit.chains.store import chroma_client, open_chroma
from lcelkit.errors import EmbedderMismatchError, EmbeddingsError, StoreError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def embedder():
    return load_embeddings()


def test_bundled_minilm_loads_offline_and_embeds(embedder):
    assert embedder.name == BUNDLED_MODEL_NAME
    assert not embedder.loaded  # lazy
    vec = embedder.embed_query("How much did revenue grow?")
    assert not embedder.loaded  # a query alone runs on transformers (chains.query_encoder)
    assert len(vec) == 384 == embedder.dimension and embedder.loaded
    assert abs(np.linalg.norm(vec) - 1.0) < 1e-3
    near, far = embedder.embed_documents(["Revenue grew by 12 percent.", "The cat sleeps."])
    assert np.dot(vec, near) > np.dot(vec, far) + 0.2


def test_bf16_and_fp32_agree_and_fp32_can_be_forced(embedder):
    fp32 = load_embeddings(dtype="fp32")
    texts = ["표 3은 지역별 매출을 보여 줍니다.", "Quarterly revenue by region"]
    a = np.array(fp32.embed_documents(texts))
    b = np.array(embedder.embed_documents(texts))
    assert fp32.dtype == "fp32"
    assert embedder.dtype in {"bf16", "fp32", "int8"}
    assert np.min(np.sum(a * b, axis=1)) > 0.99


def test_openvino_backend_matches_pytorch_fp32_in_order_and_truncation():
    fast = load_embeddings(backend="openvino", dtype="fp32")
    exact = load_embeddings(backend="torch", dtype="fp32")
    long_text = " ".join(["The regional revenue table lists quarterly figures."] * 80)
    texts = [
        "Quarterly revenue by region",
        long_text,  # far past 256 word pieces: both truncate it the same way
        "표 3은 지역별 매출을 보여 줍니다.",
        "| Region | Q1 |\n|---|---|\n| North | 12.1 |",
        "x",
    ] * 4  # several batches with lengths out of order: vectors must come back in order
    a = np.array(fast.embed_documents(texts))
    b = np.array(exact.embed_documents(texts))
    assert fast.backend == "openvino" and exact.backend == "torch"
    assert np.min(np.sum(a * b, axis=1)) > 0.999
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-3)
    # past the model's 256 word pieces nothing is read: appended text changes nothing
    longer = long_text + " Cats sleep all day in the warm sun."
    assert np.dot(fast.embed_query(long_text), fast.embed_query(longer)) > 0.9999


def test_openvino_failure_falls_back_to_pytorch(monkeypatch, caplog, tmp_path):
    import openvino

    monkeypatch.setenv("LCELKIT_OPENVINO_CACHE", str(tmp_path / "empty"))  # must convert

    def broken(*_args, **_kwargs):
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(openvino, "convert_model", broken)
    embedder = load_embeddings(backend="openvino", dtype="fp32")
    vec = embedder.embed_query("How much did revenue grow?")
    assert embedder.backend == "torch" and len(vec) == 384
    assert "OpenVINO embedding backend unavailable" in caplog.text
    assert load_embeddings(backend="torch").backend is None  # lazy: decided at load


def test_openvino_embedder_is_safe_across_threads():
    from concurrent.futures import ThreadPoolExecutor

    embedder = load_embeddings(backend="openvino")
    texts = [f"Question number {i} about the travel policy and its limits" for i in range(24)]
    alone = np.array(embedder.embed_documents(texts))
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(embedder.embed_query, texts))
    assert np.allclose(alone, np.array(together), atol=2e-3)


def test_a_text_read_twice_in_one_call_is_embedded_once(monkeypatch):
    embedder = load_embeddings(backend="openvino")
    embedder.load()
    seen: list[str] = []
    run = embedder._run

    def counting(texts, **kwargs):
        seen.extend(texts)
        return run(texts, **kwargs)

    monkeypatch.setattr(embedder, "_run", counting)
    row = "| North | 10 | 12 |"  # a repeated table row: read as "North 10 12" either way
    texts = ["Revenue by region", row, "Costs by region", "North 10 12", row, "Revenue by region"]
    vectors = np.array(embedder.embed_documents(texts))
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 3  # three distinct texts read
    alone = np.array([embedder.embed_query(t) for t in ("Revenue by region", "North 10 12")])
    assert np.dot(vectors[0], alone[0]) > 0.999 and np.dot(vectors[5], alone[0]) > 0.999
    for i in (1, 3, 4):
        assert np.dot(vectors[i], alone[1]) > 0.999
    assert np.dot(vectors[0], vectors[2]) < 0.99  # distinct texts keep their own vectors


def test_any_sentence_transformers_folder_works(embedder, tmp_path):
    embedder.model.save(str(tmp_path / "copy"))
    other = load_embeddings(str(tmp_path / "copy"), dtype="fp32")
    assert other.name == str((tmp_path / "copy").resolve())
    assert len(other.embed_query("hello")) == 384


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(EmbeddingsError, match="does not exist"):
        load_embeddings(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbeddingsError, match="not a sentence-transformers model folder"):
        load_embeddings(str(tmp_path / "empty"))


def test_tables_are_embedded_as_cell_text_but_stored_as_markdown(embedder, tmp_path):
    table = "Table 1: Fees\n| Item | Fee |\n|---|---|\n| Visa | 40 USD |"
    store = open_chroma(
        embedder, collection="tables", embedder_name=embedder.name, persist_dir=tmp_path
    )
    store.add_texts([table], ids=["t"])
    got = store.get(ids=["t"], include=["documents", "embeddings"])
    assert got["documents"] == [table]  # the chunk keeps its markdown
    stored = np.array(got["embeddings"][0])
    cells = np.array(embedder.embed_query("Table 1: Fees\nItem Fee\nVisa 40 USD"))
    assert np.dot(stored, cells) > 0.9999


def test_store_persists_and_refuses_another_embedder(embedder, tmp_path):
    store = open_chroma(
        embedder,
        collection="docs",
        embedder_name=embedder.name,
        dimension=384,
        persist_dir=tmp_path,
    )
    store.add_texts(["Revenue grew 12%", "The cat sat"], ids=["a", "b"])
    hits = store.similarity_search_with_relevance_scores("revenue growth", k=2)
    assert hits[0][0].id == "a" and 0.0 <= hits[1][1] <= hits[0][1] <= 1.0
    with pytest.raises(EmbedderMismatchError, match="was built with embedder") as err:
        open_chroma(embedder, collection="docs", embedder_name="other-model", persist_dir=tmp_path)
    assert "--rebuild" in str(err.value)
    with pytest.raises(EmbedderMismatchError, match="384-dimensional"):
        open_chroma(
            embedder,
            collection="docs",
            embedder_name=embedder.name,
            dimension=768,
            persist_dir=tmp_path,
        )
    reopened = open_chroma(
        embedder, collection="docs", embedder_name=embedder.name, persist_dir=tmp_path
    )
    assert reopened._collection.count() == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chroma CLI ships with chromadb"
    port = _free_port()
    proc = subprocess.Popen(
        [
            chroma,
            "run",
            "--path",
            str(tmp_path / "server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    try:
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_chroma_server_store(embedder, chroma_server):
    client = chroma_client(url=chroma_server)
    store = open_chroma(
        embedder, collection="team", embedder_name=embedder.name, dimension=384, client=client
    )
    store.add_texts(["서울 지사의 3분기 매출", "Berlin office headcount"], ids=["ko", "en"])
    again = open_chroma(embedder, collection="team", embedder_name=embedder.name, url=chroma_server)
    assert again._collection.count() == 2
    assert again.similarity_search("Berlin staff", k=1)[0].id == "en"


def test_dead_chroma_server_is_a_clear_error():
    port = _free_port()
    started = time.monotonic()
    with pytest.raises(
        StoreError, match=f"cannot reach the Chroma server at http://127.0.0.1:{port}"
    ):
        chroma_client(url=f"http://127.0.0.1:{port}")
    assert time.monotonic() - started < 10


def test_converted_model_is_cached_and_a_broken_entry_is_rebuilt(monkeypatch, caplog, tmp_path):
    import openvino

    monkeypatch.setenv("LCELKIT_OPENVINO_CACHE", str(tmp_path / "ov"))
    first = load_embeddings(backend="openvino", dtype="fp32")
    vec = first.embed_documents(["Quarterly revenue by region"])[0]
    assert first.backend == "openvino"
    entries = [p for p in (tmp_path / "ov").iterdir() if p.is_dir() and p.name != "compiled"]
    assert len(entries) == 1 and (entries[0] / "model.xml").exists()
    # the entry records the model folder it was made from: `lcelkit cache` sees it is live
    from lcelkit.chains.caches import _embedder_stale

    meta = json.loads((entries[0] / "entry.json").read_text(encoding="utf-8"))
    assert Path(meta["source"]["location"]).resolve() == Path(first.location).resolve()
    assert _embedder_stale(entries[0], openvino.get_version()) is None
    blobs = list((tmp_path / "ov" / "compiled").glob("*.blob"))  # OpenVINO's compiled model
    assert len(blobs) == 1

    def no_conversion(*_args, **_kwargs):
        raise AssertionError("converted again although the cache holds the model")

    monkeypatch.setattr(openvino, "convert_model", no_conversion)
    second = load_embeddings(backend="openvino", dtype="fp32")
    again = second.embed_documents(["Quarterly revenue by region"])[0]
    assert second.backend == "openvino" and np.dot(vec, again) > 0.9999
    assert list((tmp_path / "ov" / "compiled").glob("*.blob")) == blobs  # imported, not new

    monkeypatch.undo()
    monkeypatch.setenv("LCELKIT_OPENVINO_CACHE", str(tmp_path / "ov"))
    (entries[0] / "model.xml").write_text("<not a model", encoding="utf-8")
    third = load_embeddings(backend="openvino", dtype="fp32")
    assert len(third.embed_query("hello")) == 384 and third.backend == "openvino"
    assert "unreadable" in caplog.text and "rebuilding" in caplog.text


def test_without_bf16_the_embedder_runs_int8_within_the_probe_rule(monkeypatch, tmp_path):
    pytest.importorskip("nncf")
    monkeypatch.setenv("LCELKIT_CPU_NO_BF16", "1")  # the code path of a CPU without bf16
    monkeypatch.setenv("LCELKIT_OPENVINO_CACHE", str(tmp_path / "ov"))
    fast = load_embeddings(backend="openvino")
    exact = load_embeddings(backend="torch", dtype="fp32")
    texts = ["Quarterly revenue by region", "표 3은 지역별 매출을 보여 줍니다.", "x"] * 3
    a = np.array(fast.embed_documents(texts))
    b = np.array(exact.embed_documents(texts))
    assert (fast.backend, fast.dtype) == ("openvino", "int8")
    assert np.min(np.sum(a * b, axis=1)) > 0.99
