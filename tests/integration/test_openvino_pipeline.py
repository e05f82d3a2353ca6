"""A later process runs the cached OpenVINO model without sentence-transformers
(chains/openvino_pipeline.py): the same vectors, and only once an earlier process checked
and recorded it."""

from __future__ import annotations

import numpy as np
import pytest

from lcelkit.chains.embeddings import load_embeddings

pytestmark = pytest.mark.integration

TEXTS = [
    "Quarterly revenue by region rose 12 percent.",
    "표 3은 지역별 매출을 보여 줍니다.",
    "| Region | Q1 |\n|---|---|\n| North | 10 |",
    "",
    "  spaces around  ",
    "revenue growth by region " * 200,  # past max_seq_length: truncated the same way
]


def _no_sentence_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    import sentence_transformers

    def refuse(*_args, **_kwargs):
        raise AssertionError("sentence-transformers loaded although the pipeline is cached")

    monkeypatch.setattr(sentence_transformers.SentenceTransformer, "__init__", refuse)


def _cache(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("LCELKIT_OPENVINO_CACHE", str(tmp_path / "ov"))


def test_a_later_load_skips_sentence_transformers_with_the_same_vectors(monkeypatch, tmp_path):
    _cache(monkeypatch, tmp_path)
    full = load_embeddings(backend="openvino", dtype="fp32")
    expected = np.array(full.embed_documents(TEXTS))
    query = np.array(full.embed_query("What was the Q1 revenue?"))
    assert full._model is not None  # the full path (sentence-transformers) recorded it
    assert list((tmp_path / "ov").glob("*-pipeline-fp32-*.json"))
    assert full._pipeline is not None  # and then computes through the recorded pipeline

    with monkeypatch.context() as patched:
        _no_sentence_transformers(patched)
        later = load_embeddings(backend="openvino", dtype="fp32")
        later.load()  # what the indexer's warm-up calls
        got = np.array(later.embed_documents(TEXTS))
        got_query = np.array(later.embed_query("What was the Q1 revenue?"))
        assert later.loaded and later._pipeline is not None
        assert (later.backend, later.dtype) == ("openvino", "fp32")
        assert later.dimension == 384 and later.max_seq_length == full.max_seq_length
    assert np.min(np.sum(expected * got, axis=1)) > 0.99999
    assert float(np.dot(query, got_query)) > 0.99999
    assert later.model is not None  # callers of .model still get sentence-transformers


def test_without_a_record_the_full_path_runs(monkeypatch, tmp_path):
    _cache(monkeypatch, tmp_path)
    load_embeddings(backend="openvino", dtype="fp32").embed_query("hello")
    for record in (tmp_path / "ov").glob("*-pipeline-*.json"):
        record.unlink()  # e.g. written by another version, or never checked
    again = load_embeddings(backend="openvino", dtype="fp32")
    again.load()
    assert again._model is not None  # sentence-transformers loaded: the full path
    assert list((tmp_path / "ov").glob("*-pipeline-fp32-*.json"))  # recorded now


def test_texts_tokenized_at_once_are_batched_as_the_tokenizer_pads_them(monkeypatch, tmp_path):
    _cache(monkeypatch, tmp_path)
    embedder = load_embeddings(backend="openvino", dtype="fp32")
    embedder.load()
    pipeline = embedder._pipeline
    assert pipeline is not None
    tokens = pipeline.tokenize(TEXTS)
    assert tokens is not None
    for rows in ([0, 1, 2], [5, 3], [4], [5, 0, 1, 2, 3, 4]):
        ours = pipeline.batch(tokens, rows)
        theirs = pipeline.features([TEXTS[i] for i in rows])
        assert set(ours) == set(theirs)
        for name in theirs:
            assert ours[name].dtype == theirs[name].dtype
            assert np.array_equal(ours[name], theirs[name]), name


def test_a_pipeline_whose_pooling_differs_is_neither_recorded_nor_used(monkeypatch, tmp_path):
    from lcelkit.chains.openvino_pipeline import OpenVINOPipeline

    _cache(monkeypatch, tmp_path)
    pool = OpenVINOPipeline.pool

    def first_token_only(self, features, hidden):  # CLS where the model pools the mean
        mask = np.zeros_like(features["attention_mask"])
        mask[:, 0] = 1
        return pool(self, {**features, "attention_mask": mask}, hidden)

    monkeypatch.setattr(OpenVINOPipeline, "pool", first_token_only)
    embedder = load_embeddings(backend="openvino", dtype="fp32")
    embedder.load()
    assert embedder.backend == "openvino" and embedder._pipeline is None
    assert not list((tmp_path / "ov").glob("*-pipeline-*.json"))
