"""Query vectors without sentence-transformers (``chains.query_encoder``) equal its own.

Real weights: the bundled all-MiniLM-L6-v2, and copies of its folder (weights linked)
whose pipeline is changed to CLS pooling, a prompt, or a dense layer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lcelkit.chains.embeddings import bundled_model_path, load_embeddings
from lcelkit.chains.query_encoder import plain_pipeline

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

QUERIES = [
    "What was the Q3 revenue of the North region?",
    "  How do I reset my password?  ",
    "서울 지점의 직원 수는 몇 명입니까?",
    "| Region | Q1 |\n|---|---|\n| North | 10 |",
    "revenue " * 400,  # past max_seq_length: truncated the same way
]


def _copy(root: Path, **replace: object) -> Path:
    """The bundled folder with some files replaced (``name=json-able content``)."""
    folder = root / "model"
    folder.mkdir(parents=True)
    for item in bundled_model_path().iterdir():
        if item.name not in replace:
            os.symlink(item, folder / item.name)
    for name, content in replace.items():
        (folder / name).mkdir(exist_ok=True) if name == "1_Pooling" else None
        target = folder / name / "config.json" if name == "1_Pooling" else folder / name
        target.write_text(json.dumps(content))
    return folder


def _cosines(a: list[list[float]], b: list[list[float]]) -> np.ndarray:
    return np.sum(np.asarray(a) * np.asarray(b), axis=1)


def _both(model: str | None, **kwargs: object) -> tuple[list, list, object]:
    light = load_embeddings(model, **kwargs)  # backend "auto": queries use the light path
    full = load_embeddings(model, backend="torch", dtype="fp32", light_queries=False, **kwargs)
    return [light.embed_query(q) for q in QUERIES], [full.embed_query(q) for q in QUERIES], light


def test_bundled_model_queries_match_sentence_transformers_without_loading_it():
    light, full, embedder = _both(None)
    assert embedder.loaded is False  # sentence-transformers' model never loaded
    assert _cosines(light, full).min() > 0.9999
    assert len(light[0]) == 384


def test_cls_pooling_and_a_query_prompt_match_too(tmp_path):
    pooling = {"word_embedding_dimension": 384, "pooling_mode_cls_token": True}
    prompts = {"prompts": {"query": "query: ", "passage": "passage: "}}
    folder = _copy(tmp_path, **{"1_Pooling": pooling, "config_sentence_transformers.json": prompts})
    assert plain_pipeline(folder).pooling == "cls"
    light, full, embedder = _both(str(folder))
    assert embedder.query_prompt == "query: "
    assert _cosines(light, full).min() > 0.9999
    mean_pooled, _, _ = _both(None)
    assert _cosines(light, mean_pooled).max() < 0.999  # CLS really differs from mean pooling


def test_pipelines_it_cannot_compute_fall_back_to_sentence_transformers(tmp_path):
    modules = json.loads((bundled_model_path() / "modules.json").read_text())
    extra = {"idx": 3, "name": "3", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    dense = [*modules, extra]
    folder = _copy(tmp_path, **{"modules.json": dense})
    assert plain_pipeline(folder) is None
    weighted = {"word_embedding_dimension": 384, "pooling_mode_max_tokens": True}
    assert plain_pipeline(_copy(tmp_path / "max", **{"1_Pooling": weighted})) is None
    no_prompt = {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True,
                 "include_prompt": False}  # fmt: skip
    assert plain_pipeline(_copy(tmp_path / "np", **{"1_Pooling": no_prompt})) is None
    max_pooled = load_embeddings(str(tmp_path / "max" / "model"))
    max_pooled.embed_query(QUERIES[0])
    assert max_pooled.loaded  # it loaded sentence-transformers for the query
    named = load_embeddings(backend="torch")  # a backend asked for by name runs queries
    named.embed_query(QUERIES[0])
    assert named.loaded


def test_a_query_in_a_fresh_process_does_not_import_sentence_transformers():
    code = (
        "import sys\n"
        "from lcelkit.chains.embeddings import load_embeddings\n"
        "vector = load_embeddings().embed_query('What is the daily allowance in Tokyo?')\n"
        "print(len(vector), 'sentence_transformers' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["384", "False"]


def test_the_query_encoder_and_the_coverage_probe_load_one_tokenizer(tmp_path: Path, monkeypatch):
    from transformers import AutoTokenizer

    from lcelkit.chains.coverage import embedder_reads_hangul

    folder = _copy(tmp_path)  # a folder of its own: nothing loaded for it yet
    loads: list[str] = []
    original = AutoTokenizer.from_pretrained

    def counted(location, *args, **kwargs):
        loads.append(str(location))
        return original(location, *args, **kwargs)

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", counted)
    embedder = load_embeddings(str(folder))
    embedder.embed_query(QUERIES[0])  # what a one-shot ask does: a query, then the probe
    assert embedder_reads_hangul(embedder) is False  # MiniLM reads no Korean
    assert loads == [str(folder)]  # loaded once (e5's tokenizer takes ~2 s to load)
    assert embedder.loaded is False


def test_a_slow_tokenizer_is_rebuilt_once_and_read_back_with_the_same_ids(
    tmp_path: Path, monkeypatch
):
    from transformers import AutoTokenizer

    import lcelkit.chains.tokenizer_cache as cache

    monkeypatch.setenv("LCELKIT_OPENVINO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "WORTH_S", 0.0)  # MiniLM's loads fast; treat it as slow
    folder = _copy(tmp_path)
    loads: list[str] = []
    original = AutoTokenizer.from_pretrained

    def counted(location, *args, **kwargs):
        loads.append(str(location))
        return original(location, *args, **kwargs)

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", counted)
    first = cache.load_cached_tokenizer(str(folder))
    assert len(list((tmp_path / "cache" / "tokenizers").iterdir())) == 1  # saved once
    second = cache.load_cached_tokenizer(str(folder))  # a later process
    assert loads == [str(folder)]  # read back, not rebuilt
    assert type(second).__name__ == "QueryTokenizer"  # the tokenizers library alone
    for text in [*QUERIES, *cache.PROBES]:
        for kwargs in ({}, {"truncation": True, "max_length": 256}, {"add_special_tokens": False}):
            assert first(text, **kwargs)["input_ids"] == second(text, **kwargs)["input_ids"]
    query = dict(padding=True, truncation="longest_first", max_length=256, return_tensors="pt")
    a, b = first(QUERIES, **query), second(QUERIES, **query)  # the query encoder's call
    assert sorted(a.keys()) == sorted(b.keys())
    assert all(a[name].tolist() == b[name].tolist() for name in a)
    assert second.unk_token_id == first.unk_token_id
    assert second.encode(QUERIES[2]) == first.encode(QUERIES[2])
    # anything else is transformers' own, from the same file
    assert second.convert_ids_to_tokens([2000]) == first.convert_ids_to_tokens([2000])
    config = (folder / "tokenizer_config.json").read_text()
    (folder / "tokenizer_config.json").unlink()  # a changed model folder: a new entry
    (folder / "tokenizer_config.json").write_text(config)
    cache.load_cached_tokenizer(str(folder))
    assert len(loads) == 2


def test_a_cached_tokenizer_the_tokenizers_library_reads_differently_is_not_read_so(
    tmp_path: Path, monkeypatch
):
    import lcelkit.chains.tokenizer_cache as cache

    monkeypatch.setenv("LCELKIT_OPENVINO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "WORTH_S", 0.0)
    original = cache._raw_meta

    def wrong(tokenizer):  # e.g. a pad id that differs from transformers' own
        return {**original(tokenizer), "pad_token_id": 7}

    monkeypatch.setattr(cache, "_raw_meta", wrong)
    folder = _copy(tmp_path)
    first = cache.load_cached_tokenizer(str(folder))
    second = cache.load_cached_tokenizer(str(folder))
    from transformers import PreTrainedTokenizerFast

    assert isinstance(second, PreTrainedTokenizerFast)  # the checked fallback
    batch = ["a b c", "a"]
    assert second(batch, padding=True)["input_ids"] == first(batch, padding=True)["input_ids"]


def test_sentence_transformers_reads_a_slow_tokenizer_from_its_cached_copy(
    tmp_path: Path, monkeypatch
):
    from sentence_transformers import SentenceTransformer

    import lcelkit.chains.tokenizer_cache as cache

    monkeypatch.setenv("LCELKIT_OPENVINO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "WORTH_S", 0.0)  # MiniLM's loads fast; treat it as slow
    folder = _copy(tmp_path)
    assert cache.tokenizer_view(str(folder)) is None  # nothing cached yet
    cache.load_cached_tokenizer(str(folder))  # what the embedder does first
    view = cache.tokenizer_view(str(folder))
    assert view is not None and cache.tokenizer_view(str(folder)) == view  # made once
    weights = (view / "model.safetensors").resolve()
    assert weights == (folder / "model.safetensors").resolve()  # the same files, linked
    original, cached = SentenceTransformer(str(folder)), SentenceTransformer(str(view))
    assert type(original.tokenizer).__name__ == "BertTokenizer"  # rebuilt from the vocab
    assert type(cached.tokenizer).__name__ != "BertTokenizer"  # tokenizer.json read as is
    texts = [*QUERIES, *cache.PROBES]
    assert np.array_equal(original.encode(texts), cached.encode(texts))
    stated = json.loads((view / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    assert stated  # so that transformers need not parse tokenizer.json in Python
    added = {i: str(t) for i, t in cached.tokenizer.added_tokens_decoder.items()}
    assert added == {i: str(t) for i, t in original.tokenizer.added_tokens_decoder.items()}
    embedder = load_embeddings(str(folder), backend="torch", dtype="fp32")
    assert type(embedder.model.tokenizer) is type(cached.tokenizer)  # the embedder uses it
    assert np.array_equal(embedder.model.encode(texts), original.encode(texts))

    # the splitter's tokenizer (every ingest's parse worker) reads the cached copy too,
    # counting the same tokens as the folder's own
    from lcelkit.chains.embedder_models import load_tokenizer

    load_tokenizer.cache_clear()
    counter = load_tokenizer(str(folder))
    assert type(counter).__name__ != "BertTokenizer"  # not rebuilt from the vocab
    for text in texts:
        assert (
            counter(text, add_special_tokens=True, verbose=False)["input_ids"]
            == (original.tokenizer(text, add_special_tokens=True)["input_ids"])
        )
    load_tokenizer.cache_clear()

    monkeypatch.setattr(cache, "WORTH_S", 1e9)  # a tokenizer that loads fast: no view
    other = str(_copy(tmp_path / "other"))
    cache.load_cached_tokenizer(other)
    assert cache.tokenizer_view(other) is None


@pytest.mark.parametrize("dtype, floor", [("fp32", 0.9999), ("int8", 0.99)])
def test_a_query_runs_on_the_openvino_model_an_ingest_cached_without_torch(
    tmp_path: Path, dtype: str, floor: float
):
    env = {
        **os.environ,
        "LCELKIT_OPENVINO_CACHE": str(tmp_path / "cache"),
        "LCELKIT_CPU_NO_BF16": "1",  # int8/fp32 as on a CPU without bf16
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    ingest = (
        "from lcelkit.chains.embeddings import load_embeddings\n"
        f"embedder = load_embeddings(dtype={dtype!r})\n"
        "embedder.embed_documents(['A passage to embed.'])\n"
        "print(embedder.backend, embedder.dtype)\n"
    )
    query = (  # MiniLM's tokenizer loads fast: treat it as slow, so that it is cached (e5)
        "import json, sys\n"
        "import lcelkit.chains.tokenizer_cache as cache\n"
        "cache.WORTH_S = 0.0\n"
        "from lcelkit.chains.embeddings import load_embeddings\n"
        "embedder = load_embeddings()\n"
        f"vectors = [embedder.embed_query(q) for q in {QUERIES!r}]\n"
        "print(json.dumps([embedder._query_encoder.backend, 'torch' in sys.modules,\n"
        "                  'transformers' in sys.modules, vectors]))\n"
    )
    run = {"capture_output": True, "text": True, "timeout": 300, "env": env}
    before = subprocess.run([sys.executable, "-c", query], **run)  # nothing cached yet
    assert before.returncode == 0, before.stderr[-2000:]
    assert json.loads(before.stdout.splitlines()[-1])[:2] == ["torch", True]
    done = subprocess.run([sys.executable, "-c", ingest], **run)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["openvino", dtype]
    done = subprocess.run([sys.executable, "-c", query], **run)
    assert done.returncode == 0, done.stderr[-2000:]
    backend, torch_loaded, transformers_loaded, vectors = json.loads(done.stdout.splitlines()[-1])
    assert (backend, torch_loaded, transformers_loaded) == (f"openvino {dtype}", False, False)
    full = load_embeddings(backend="torch", dtype="fp32", light_queries=False)
    assert _cosines(vectors, [full.embed_query(q) for q in QUERIES]).min() > floor
