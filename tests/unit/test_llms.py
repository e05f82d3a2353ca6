"""LLM backend factory: error translation, context windows, backend checks, bad HF folders.

Ollama behaviour is checked against the in-thread fake server (loopback, no network).
"""

from __future__ import annotations

import json
import shutil
import socket
import sys

import httpx
import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from ollama import ResponseError

from lcelkit import factories
from lcelkit.chains.embeddings import bundled_model_path
from lcelkit.chains.llms import (
    DEFAULT_CONTEXT_WINDOW,
    MAX_AUTO_CONTEXT_WINDOW,
    backend_error,
    check_backend,
    discover_context_window,
    make_chat_model,
    resolve_context_window,
    supports_native_tools,
)
from lcelkit.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    ContextBudgetError,
    ModelNotFoundError,
)
from lcelkit.settings import get_settings
from tests.support.ollama_server import ModelSpec

URL = "http://127.0.0.1:11434"


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- backend_error ---------------------------------------------------------------------
def test_connect_error_becomes_backend_unavailable_with_url_and_fix():
    exc = httpx.ConnectError("[Errno 111] Connection refused")
    err = backend_error(exc, provider="ollama", model="llama3.2", base_url=URL)
    assert isinstance(err, BackendUnavailableError)
    assert URL in err.message and "not reachable" in err.message
    assert "ollama serve" in err.hint and "LCELKIT_LLM_PROVIDER=huggingface" in err.hint
    assert err.provider == "ollama" and err.url == URL


def test_builtin_connection_error_and_chained_cause_are_translated():
    err = backend_error(ConnectionError("Failed to connect to Ollama"), provider="ollama",
                        model="m", base_url=URL)  # fmt: skip
    assert isinstance(err, BackendUnavailableError)
    try:
        try:
            raise httpx.ConnectError("refused")
        except httpx.ConnectError as inner:
            raise RuntimeError("wrapped by some chain") from inner
    except RuntimeError as outer:
        wrapped = backend_error(outer, provider="ollama", model="m", base_url=URL)
    assert isinstance(wrapped, BackendUnavailableError)


def test_provider_given_as_a_class_name_is_understood():
    err = backend_error(httpx.ConnectError("refused"), provider="LcelkitChatOllama",
                        model="llama3.2", base_url=URL)  # fmt: skip
    assert isinstance(err, BackendUnavailableError)
    assert err.provider == "ollama" and "ollama serve" in err.hint


def test_missing_model_404_says_ollama_pull():
    exc = ResponseError('{"error":"model \'qwen3\' not found"}', 404)
    err = backend_error(exc, provider="ollama", model="qwen3", base_url=URL)
    assert isinstance(err, ModelNotFoundError)
    assert "qwen3" in err.message and URL in err.message
    assert err.hint == "ollama pull qwen3"


def test_other_http_errors_and_timeouts():
    err = backend_error(ResponseError("boom", 500), provider="ollama", model="m", base_url=URL)
    assert isinstance(err, BackendError) and not isinstance(err, BackendUnavailableError)
    assert "500" in err.message and "boom" in err.message
    timeout = backend_error(httpx.ReadTimeout("slow"), provider="ollama", model="m", base_url=URL)
    assert isinstance(timeout, BackendUnavailableError)
    assert "did not answer in time" in timeout.message and "REQUEST_TIMEOUT" in timeout.hint


def test_non_backend_errors_are_not_translated():
    assert (
        backend_error(ValueError("bad input"), provider="ollama", model="m", base_url=URL) is None
    )
    assert backend_error(KeyError("x"), provider="huggingface", model="m", base_url=None) is None
    own = ContextBudgetError("too long", hint="shorten it")
    assert backend_error(own, provider="ollama", model="m", base_url=URL) is own


# -- context windows -----------------------------------------------------------------------
def test_discover_context_window_from_ollama_show(ollama_server):
    assert discover_context_window("ollama", "llama3.2", base_url=ollama_server.url) == 2048
    assert discover_context_window("ollama", "llama3.2:latest", base_url=ollama_server.url) == 2048
    assert ollama_server.requests_to("/api/show")[0].body == {"model": "llama3.2"}


def test_discover_context_window_is_none_for_unknown_model_or_dead_server(ollama_server, dead_url):
    assert discover_context_window("ollama", "nope", base_url=ollama_server.url) is None
    assert discover_context_window("ollama", "llama3.2", base_url=dead_url, timeout=2) is None


def test_resolve_context_window_configured_discovered_capped_default(ollama_server, dead_url):
    url = ollama_server.url
    assert resolve_context_window("ollama", "llama3.2", configured=1024, base_url=url) == (
        1024,
        "configured",
    )
    assert resolve_context_window("ollama", "llama3.2", base_url=url) == (2048, "discovered")
    ollama_server.add_model(ModelSpec("long", context_length=131072))
    window, how = resolve_context_window("ollama", "long", base_url=url)
    assert (window, how) == (MAX_AUTO_CONTEXT_WINDOW, "discovered, capped")
    assert resolve_context_window("ollama", "llama3.2", base_url=dead_url) == (
        DEFAULT_CONTEXT_WINDOW,
        "default",
    )


def test_discover_context_window_from_hf_config():
    # The bundled MiniLM folder: BERT config with max_position_embeddings 512.
    assert discover_context_window("huggingface", str(bundled_model_path())) == 512


# -- check_backend / supports_native_tools ----------------------------------------------------
def test_check_backend(ollama_server, dead_url):
    check_backend("ollama", "llama3.2", base_url=ollama_server.url)
    with pytest.raises(ModelNotFoundError) as missing:
        check_backend("ollama", "mistral", base_url=ollama_server.url)
    assert missing.value.hint == "ollama pull mistral"
    with pytest.raises(BackendUnavailableError) as down:
        check_backend("ollama", "llama3.2", base_url=dead_url)
    assert dead_url in down.value.message


def test_supports_native_tools_follows_ollama_capabilities(ollama_server, dead_url):
    url = ollama_server.url
    ollama_server.add_model(ModelSpec("plain", capabilities=("completion",)))
    with_tools = make_chat_model("ollama", "llama3.2", base_url=url)
    without = make_chat_model("ollama", "plain", base_url=url)
    assert supports_native_tools(with_tools) is True
    assert supports_native_tools(with_tools.bind(stop=["x"])) is True
    assert supports_native_tools(without) is False
    assert supports_native_tools(make_chat_model("ollama", "llama3.2", base_url=dead_url)) is False
    fake = GenericFakeChatModel(messages=iter([AIMessage(content="hi")]))
    assert supports_native_tools(fake) is False


def test_ollama_model_gets_num_ctx_and_num_predict(ollama_server):
    llm = make_chat_model("ollama", "llama3.2", base_url=ollama_server.url, max_new_tokens=64)
    assert llm.num_ctx == 2048 and llm.num_predict == 64 and llm.keep_alive == "5m"
    fixed = make_chat_model("ollama", "llama3.2", base_url=ollama_server.url, context_window=3000)
    assert fixed.num_ctx == 3000


def test_unknown_provider_is_a_config_error():
    with pytest.raises(ConfigError, match="provider"):
        make_chat_model("openai", "gpt")  # type: ignore[arg-type]


# -- Hugging Face folder errors (fast, before any weights load) ----------------------------------
def test_missing_hf_folder_names_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError) as info:
        make_chat_model("huggingface", str(missing))
    assert str(missing) in info.value.message
    assert "save_pretrained" in info.value.hint
    with pytest.raises(ModelNotFoundError):
        check_backend("huggingface", str(missing))


def test_folder_without_config_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        make_chat_model("huggingface", str(tmp_path))


def test_tokenizer_without_chat_template_is_refused():
    # MiniLM is a real local HF folder whose (BERT) tokenizer has no chat template.
    with pytest.raises(ConfigError) as info:
        make_chat_model("huggingface", str(bundled_model_path()))
    assert "chat template" in info.value.message
    assert "chat_template" in info.value.hint


@pytest.mark.integration  # builds and loads a torch model (tiny_hf_model)
def test_adapter_folder_without_adapter_config_is_refused(tiny_hf_model, tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"adapter_config\.json"):
        make_chat_model("huggingface", str(tiny_hf_model), adapter=str(tmp_path))


@pytest.mark.integration  # builds and loads a torch model (tiny_hf_model)
def test_adapter_without_peft_names_the_extra(tiny_hf_model, tmp_path, monkeypatch):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    monkeypatch.setitem(sys.modules, "peft", None)  # import peft -> ImportError
    with pytest.raises(ConfigError) as info:
        make_chat_model("huggingface", str(tiny_hf_model), adapter=str(tmp_path))
    assert "lcelkit[peft]" in info.value.hint


@pytest.mark.integration  # builds and loads a torch model (tiny_hf_model)
def test_hf_prompt_that_cannot_fit_is_refused_before_generating(tiny_hf_model):
    llm = make_chat_model("huggingface", str(tiny_hf_model), context_window=256, max_new_tokens=8)
    assert llm.invoke("hi", max_new_tokens=2).content  # a short prompt fits
    with pytest.raises(ContextBudgetError) as info:
        llm.invoke("revenue " * 400)
    assert "256" in info.value.message


@pytest.mark.integration  # builds and loads a torch model (tiny_hf_model)
def test_copied_tiny_model_without_template_is_refused(tiny_hf_model, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_hf_model, copy)
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="no chat template"):
        check_backend("huggingface", str(copy))


# -- factories -------------------------------------------------------------------------------
def test_factory_context_window_and_llm_from_settings(ollama_server, monkeypatch):
    for var in ("LCELKIT_CONTEXT_WINDOW", "LCELKIT_LLM_MODEL", "LCELKIT_MAX_NEW_TOKENS"):
        monkeypatch.delenv(var, raising=False)
    settings = get_settings(llm={"provider": "ollama", "base_url": ollama_server.url})
    assert factories.resolve_context_window(settings) == 2048
    llm = factories.make_llm(settings)
    assert llm.model == "llama3.2" and llm.num_ctx == 2048 and llm.num_predict == 512
    pinned = get_settings(
        llm={"provider": "ollama", "base_url": ollama_server.url, "context_window": 6000}
    )
    assert factories.resolve_context_window(pinned) == 6000
    assert factories.make_llm(pinned).num_ctx == 6000


def test_the_built_model_s_window_is_reused_without_asking_the_backend_again(
    ollama_server, monkeypatch
):
    for var in ("LCELKIT_CONTEXT_WINDOW", "LCELKIT_LLM_MODEL", "LCELKIT_MAX_NEW_TOKENS"):
        monkeypatch.delenv(var, raising=False)
    settings = get_settings(llm={"provider": "ollama", "base_url": ollama_server.url})
    llm = factories.make_llm(settings)
    shows = len(ollama_server.requests_to("/api/show"))
    assert factories.resolve_context_window(settings, llm) == 2048
    assert len(ollama_server.requests_to("/api/show")) == shows
    pinned = get_settings(
        llm={"provider": "ollama", "base_url": ollama_server.url, "context_window": 1000}
    )
    assert factories.resolve_context_window(pinned, llm) == 1000  # a setting still wins


@pytest.mark.integration  # builds and loads a torch model (tiny_hf_model)
def test_requesting_a_gpu_that_is_not_there_is_a_config_error(tiny_hf_model):
    import torch

    if torch.cuda.is_available():
        llm = make_chat_model("huggingface", str(tiny_hf_model), device="cuda", max_new_tokens=2)
        assert llm.hf_model.device.type == "cuda"
    else:
        with pytest.raises(ConfigError) as info:
            make_chat_model("huggingface", str(tiny_hf_model), device="cuda")
        assert "LCELKIT_LLM__DEVICE=cpu" in info.value.hint


def test_a_stalled_local_generation_becomes_a_backend_error():
    import queue

    from lcelkit.chains.llm_hf import _guarded

    class Stalled:
        def __iter__(self):
            return self

        def __next__(self):
            raise queue.Empty

    with pytest.raises(BackendUnavailableError, match="no token within 3 s"):
        list(_guarded(Stalled(), "tiny", 3.0))


def test_a_looping_reply_is_cut_before_the_repeated_line():
    from lcelkit.chains.llm_hf import _repeat_cut

    text = "The answer is 15.2 [1].\nThe North grew.\nThe answer is 15.2 [1].\nThe"
    cut = _repeat_cut(text)
    assert text[:cut] == "The answer is 15.2 [1].\nThe North grew.\n"
    assert _repeat_cut("| a |\n| a |\n") is None  # short lines (table rows) may repeat
    assert _repeat_cut("One line only.\n") is None


def test_a_reply_looping_inside_a_line_is_cut_after_the_first_round():
    from lcelkit.chains.llm_hf import _loop_cut

    text = "The answer is: " * 3
    assert text[: _loop_cut(text)].strip() == "The answer is:"
    assert _loop_cut("The answer is: The answer is: 15.2 [1]") is None  # twice is fine
    assert _loop_cut("| 0 | 0 | 0 | 0 | 0 | 0 |") is None  # short cells may repeat
