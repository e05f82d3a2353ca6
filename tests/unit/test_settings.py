"""Settings: defaults, lcelkit.toml, LCELKIT_* variables, precedence and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lcelkit.errors import ConfigError
from lcelkit.settings import get_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    import os

    for key in list(os.environ):
        if key.startswith("LCELKIT_") or key == "OLLAMA_HOST":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_match_the_design():
    s = get_settings()
    assert s.home == Path(".lcelkit")
    assert s.llm.provider == "auto"
    assert s.llm.model_name == "llama3.2"
    assert s.llm.base_url == "http://localhost:11434"
    assert s.llm.context_window is None
    assert s.llm.max_new_tokens == 512
    assert s.embeddings.model is None
    assert s.store.url == "" and s.store.collection == "default"
    assert s.server.api_key == "" and s.server.host == "127.0.0.1"


def test_toml_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    (tmp_path / "lcelkit.toml").write_text(
        '[llm]\nprovider = "huggingface"\nmodel = "/models/tiny"\nmax_new_tokens = 64\n'
        '[store]\ncollection = "from-file"\n[retrieval]\nk = 7\n'
    )
    s = get_settings()
    assert s.llm.provider == "huggingface" and s.llm.model == "/models/tiny"
    assert s.store.collection == "from-file" and s.retrieval.k == 7
    monkeypatch.setenv("LCELKIT_COLLECTION", "from-env")
    monkeypatch.setenv("LCELKIT_MAX_NEW_TOKENS", "99")
    monkeypatch.setenv("LCELKIT_RETRIEVAL__K", "9")
    s = get_settings()
    assert s.store.collection == "from-env"
    assert s.llm.max_new_tokens == 99 and s.llm.provider == "huggingface"
    assert s.retrieval.k == 9


def test_short_env_names_of_the_design(monkeypatch):
    env = {
        "LCELKIT_HOME": "/tmp/h",
        "LCELKIT_LLM_PROVIDER": "huggingface",
        "LCELKIT_LLM_MODEL": "/m",
        "LCELKIT_OLLAMA_BASE_URL": "10.0.0.5:11434",
        "LCELKIT_CONTEXT_WINDOW": "2048",
        "LCELKIT_EMBEDDINGS_MODEL": "/e",
        "LCELKIT_CHROMA_URL": "http://127.0.0.1:8001",
        "LCELKIT_CHUNK_SIZE": "200",
        "LCELKIT_CHUNK_OVERLAP": "20",
        "LCELKIT_API_KEY": "secret",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = get_settings()
    assert s.home == Path("/tmp/h")
    assert (s.llm.provider, s.llm.model, s.llm.context_window) == ("huggingface", "/m", 2048)
    assert s.llm.base_url == "http://10.0.0.5:11434"
    assert s.embeddings.model == "/e"
    assert s.store.url == "http://127.0.0.1:8001"
    assert (s.split.chunk_size, s.split.chunk_overlap) == (200, 20)
    assert s.server.api_key == "secret"


def test_ollama_host_is_the_fallback_base_url(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:9999")
    assert get_settings().llm.base_url == "http://127.0.0.1:9999"
    monkeypatch.setenv("LCELKIT_OLLAMA_BASE_URL", "http://gpu-box:11434")
    assert get_settings().llm.base_url == "http://gpu-box:11434"


def test_invalid_values_name_the_field(monkeypatch):
    monkeypatch.setenv("LCELKIT_LLM_PROVIDER", "openai")
    with pytest.raises(ConfigError) as err:
        get_settings()
    assert "llm.provider" in str(err.value)
    monkeypatch.delenv("LCELKIT_LLM_PROVIDER")
    monkeypatch.setenv("LCELKIT_CHUNK_SIZE", "lots")
    with pytest.raises(ConfigError, match=r"split\.chunk_size"):
        get_settings()


def test_huggingface_without_model_says_what_to_set(monkeypatch):
    monkeypatch.setenv("LCELKIT_LLM_PROVIDER", "huggingface")
    with pytest.raises(ConfigError, match="LCELKIT_LLM_MODEL"):
        _ = get_settings().llm.model_name
