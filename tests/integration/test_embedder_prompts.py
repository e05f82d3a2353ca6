"""Embedder prompts and limits read from the model folder (a real sentence-transformers folder).

The folder is the bundled all-MiniLM-L6-v2 with the prompt declarations a multilingual
model such as multilingual-e5 ships (``config_sentence_transformers.json``); the
weights are linked, not copied.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from lcelkit.chains.embeddings import (
    bundled_model_path,
    embedder_chunk_limit,
    load_embeddings,
    model_max_length,
    model_prompts,
)

pytestmark = pytest.mark.integration

TEXTS = ["Quarterly revenue grew in the north region.", "표 3은 지역별 매출을 보여 줍니다."]


def _model_folder(root: Path, st_config: dict, max_seq_length: int | None = None) -> Path:
    folder = root / "model"
    folder.mkdir(parents=True)
    for item in bundled_model_path().iterdir():
        if item.name != "config_sentence_transformers.json":
            os.symlink(item, folder / item.name)
    (folder / "config_sentence_transformers.json").write_text(json.dumps(st_config))
    if max_seq_length is not None:
        (folder / "sentence_bert_config.json").unlink()
        config = {"max_seq_length": max_seq_length, "do_lower_case": False}
        (folder / "sentence_bert_config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def plain():
    return load_embeddings(backend="torch", dtype="fp32")


def _close(a, b) -> bool:
    return float(np.min(np.sum(np.asarray(a) * np.asarray(b), axis=-1))) > 0.9999


def test_model_prompts_are_sent_with_queries_and_passages(tmp_path, plain):
    e5_style = {"prompts": {"query": "query: ", "passage": "passage: "}}
    emb = load_embeddings(str(_model_folder(tmp_path, e5_style)), backend="torch", dtype="fp32")
    assert (emb.query_prompt, emb.document_prompt) == ("query: ", "passage: ")
    q = emb.embed_query(TEXTS[0])
    assert _close(q, plain.embed_query("query: " + TEXTS[0]))
    assert not _close(q, plain.embed_query(TEXTS[0]))  # the prompt changes the vector
    docs = emb.embed_documents(TEXTS)
    assert _close(docs, plain.embed_documents(["passage: " + t for t in TEXTS]))


def test_document_prompt_name_default_prompt_and_overrides(tmp_path, plain):
    config = {"prompts": {"retrieval": "Represent this: ", "document": "doc: "}}
    config["default_prompt_name"] = "retrieval"
    folder = _model_folder(tmp_path, config)
    assert model_prompts(str(folder)) == (config["prompts"], "retrieval")
    emb = load_embeddings(str(folder), backend="torch", dtype="fp32")
    # No "query" prompt: the default prompt; "document" stands in for "passage".
    assert (emb.query_prompt, emb.document_prompt) == ("Represent this: ", "doc: ")
    assert _close(emb.embed_documents(TEXTS[:1]), plain.embed_documents(["doc: " + TEXTS[0]]))
    # A setting overrides the model; "" sends no prompt at all.
    over = load_embeddings(
        str(folder), backend="torch", dtype="fp32", query_prompt="", document_prompt="p: "
    )
    assert _close(over.embed_query(TEXTS[1]), plain.embed_query(TEXTS[1]))
    assert _close(over.embed_documents(TEXTS[1:]), plain.embed_documents(["p: " + TEXTS[1]]))


def test_openvino_path_sends_the_same_prompts(tmp_path):
    pytest.importorskip("openvino")
    folder = _model_folder(tmp_path, {"prompts": {"query": "query: ", "passage": "passage: "}})
    fast = load_embeddings(str(folder), backend="openvino")
    exact = load_embeddings(str(folder), backend="torch", dtype="fp32")
    fast.embed_query("warm up")
    assert fast.backend == "openvino"
    assert float(np.dot(fast.embed_query(TEXTS[1]), exact.embed_query(TEXTS[1]))) > 0.99


def test_settings_pass_prompts_and_the_splitter_keeps_to_the_model_length(tmp_path, monkeypatch):
    from langchain_core.documents import Document

    from lcelkit.factories import make_embeddings, make_splitter
    from lcelkit.settings import get_settings

    folder = _model_folder(tmp_path, {"prompts": {"passage": "passage: "}}, max_seq_length=64)
    assert model_max_length(str(folder)) == 64
    limit = embedder_chunk_limit(str(folder))
    assert limit is not None and 58 <= limit < 64  # 64 less the prompt's word pieces
    monkeypatch.setenv("LCELKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LCELKIT_EMBEDDINGS_MODEL", str(folder))
    monkeypatch.setenv("LCELKIT_EMBEDDINGS__QUERY_PROMPT", "question: ")
    settings = get_settings()
    emb = make_embeddings(settings)
    assert (emb.query_prompt, emb.document_prompt) == ("question: ", "passage: ")
    splitter = make_splitter(settings)  # chunk_size 256 by default: capped at the model's
    assert splitter.chunk_size == limit
    long_doc = Document(page_content=" ".join(["Revenue grew in every region."] * 200))
    chunks = splitter.split([long_doc])
    assert len(chunks) > 1
    assert all(splitter.count_tokens(c.page_content) <= limit for c in chunks)
