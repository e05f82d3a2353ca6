"""GGUF files through the Hugging Face backend: finding the file, the cache, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from lcelkit.chains.gguf import find_gguf, gguf_cache_dir, resolve_gguf
from lcelkit.errors import ConfigError

gguf = pytest.importorskip("gguf")


def _write_gguf(path, arch: str) -> None:
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_a_gguf_file_or_a_folder_holding_one_is_found(tmp_path):
    model = tmp_path / "m" / "tiny.Q4_0.gguf"
    model.parent.mkdir()
    _write_gguf(model, "llama")
    assert find_gguf(str(model)) == model.resolve()
    assert find_gguf(str(model.parent)) == model.resolve()
    (model.parent / "config.json").write_text("{}")  # a HF folder: not a GGUF
    assert find_gguf(str(model.parent)) is None
    assert find_gguf("some-org/some-model") is None


def test_a_folder_with_two_gguf_files_names_them(tmp_path):
    _write_gguf(tmp_path / "a.gguf", "llama")
    _write_gguf(tmp_path / "b.gguf", "llama")
    with pytest.raises(ConfigError) as info:
        find_gguf(str(tmp_path))
    assert "a.gguf, b.gguf" in str(info.value)
    assert "LCELKIT_LLM_MODEL" in info.value.hint


def test_an_unsupported_architecture_is_a_clear_error_and_caches_nothing(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LCELKIT_GGUF_CACHE", str(cache))
    assert gguf_cache_dir() == cache
    model = tmp_path / "weird.gguf"
    _write_gguf(model, "nosucharch")
    with pytest.raises(ConfigError) as info:
        resolve_gguf(str(model))
    message = str(info.value)
    assert "nosucharch" in message and "weird.gguf" in message and "F32" in message
    assert "Ollama" in info.value.hint
    assert not any(p.name.startswith("weird") for p in cache.iterdir())


def test_the_hf_backend_reports_an_unloadable_gguf_as_a_config_error(tmp_path, monkeypatch):
    from lcelkit.chains.llms import make_chat_model

    monkeypatch.setenv("LCELKIT_GGUF_CACHE", str(tmp_path / "cache"))
    _write_gguf(tmp_path / "weird.gguf", "nosucharch")
    with pytest.raises(ConfigError, match="nosucharch"):
        make_chat_model("huggingface", str(tmp_path), context_window=512)


def test_a_missing_package_is_named_with_its_pip_line_not_blamed_on_the_file(tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "accelerate" else real_find_spec(name, *a),
    )
    monkeypatch.setenv("LCELKIT_GGUF_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "SmolLM2.Q4_1.gguf"
    _write_gguf(model, "llama")
    with pytest.raises(ConfigError) as info:
        resolve_gguf(str(model))
    assert "accelerate" in str(info.value) and "not installed" in str(info.value)
    assert "pip install accelerate" in info.value.hint
    assert "architecture" not in str(info.value) + info.value.hint


def test_transformers_own_missing_package_error_is_reported_as_one():
    from lcelkit.chains.gguf import _missing_package

    # transformers 5's words when accelerate is absent (modeling_utils.from_pretrained)
    said = ValueError("accelerate is required when loading a GGUF file `pip install accelerate`.")
    assert _missing_package(said) == "accelerate"
    assert _missing_package(ModuleNotFoundError("x", name="gguf.constants")) == "gguf"
    assert _missing_package(ValueError("Architecture nosucharch not supported")) is None
