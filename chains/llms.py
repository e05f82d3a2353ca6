"""Chat-model backends: Ollama (``langchain-ollama``) or a local Hugging Face model.

``make_chat_model(provider, model, ...)`` returns a ``BaseChatModel`` that invokes,
streams (``.stream``, ``.astream``, ``astream_events``) and reports failures as the
project's own errors, whichever backend it wraps:

- **ollama**: ``langchain_ollama.ChatOllama`` with ``num_ctx`` set from the context
  window (Ollama silently truncates prompts past ``num_ctx``, and its default is
  small), ``num_predict = max_new_tokens``, ``keep_alive`` and an httpx timeout. A
  dead server (``httpx.ConnectError`` within milliseconds) becomes
  :class:`BackendUnavailableError`; a model that is not pulled (HTTP 404) becomes
  :class:`ModelNotFoundError` with the ``ollama pull NAME`` hint.
- **huggingface**: a local folder (or a model id already in the Hugging Face cache;
  nothing is downloaded) through ``langchain-huggingface``'s ``HuggingFacePipeline`` +
  ``ChatHuggingFace``. The tokenizer must have a chat template. An optional LoRA/PEFT
  adapter folder is loaded on top with ``peft`` (extra ``lcelkit[peft]``) and merged.
  The subclass here generates with ``model.generate`` + ``TextIteratorStreamer``
  itself, because ChatHuggingFace over a local pipeline does not honour multi-token
  stop sequences, requires the last message to be a human one, and has no async path.

Discovered context windows larger than :data:`MAX_AUTO_CONTEXT_WINDOW` are capped by
:func:`resolve_context_window`: Ollama allocates the KV cache for the whole ``num_ctx``,
and models such as llama3.2 advertise 131072 tokens. An explicit window is never capped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from lcelkit.errors import (
    BackendError,
    ConfigError,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

from lcelkit.chains.hf_files import (
    _adapter_base,
    _hf_config_window,
    _hf_tokenizer_window,
    _load_hf_tokenizer,
    check_hf_folder,
    hf_location,
    load_hf_tokenizer,
)
from lcelkit.chains.llm_errors import backend_error
from lcelkit.chains.llm_hf import make_huggingface
from lcelkit.chains.llm_ollama import make_ollama, ollama_show

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "DEFAULT_OLLAMA_URL",
    "MAX_AUTO_CONTEXT_WINDOW",
    "Provider",
    "backend_error",
    "check_backend",
    "discover_context_window",
    "load_hf_tokenizer",
    "make_chat_model",
    "resolve_context_window",
    "supports_native_tools",
]

logger = logging.getLogger(__name__)

Provider = Literal["ollama", "huggingface"]
DEFAULT_OLLAMA_URL = "http://localhost:11434"
DEFAULT_CONTEXT_WINDOW = 4096
MAX_AUTO_CONTEXT_WINDOW = 8192


# -- context windows ---------------------------------------------------------------------
def discover_context_window(
    provider: str, model: str, *, base_url: str = DEFAULT_OLLAMA_URL, timeout: float = 5.0
) -> int | None:
    """The model's own context window in tokens, or None when it cannot be found out.

    Ollama: ``POST /api/show`` -> ``model_info["<arch>.context_length"]``.
    Hugging Face: the config's ``max_position_embeddings`` / ``n_positions`` / ...,
    and the tokenizer's ``model_max_length`` when it is a real number (the smaller wins).
    Never raises: a dead server or an unreadable folder gives None (logged).
    """
    try:
        if provider == "ollama":
            info = ollama_show(base_url, model, timeout).get("model_info") or {}
            for key, value in info.items():
                if key.endswith(".context_length") and isinstance(value, int) and value > 0:
                    return value
            return None
        if provider == "huggingface":
            folder, location = hf_location(model)
            base = _adapter_base(folder) if folder is not None else None
            if base:  # an adapter folder: the window is its base model's
                folder, location = hf_location(base)
            windows = [w for w in (_hf_config_window(location),) if w]
            if folder is not None and (tok := _hf_tokenizer_window(location)):
                windows.append(tok)
            return min(windows) if windows else None
    except Exception as exc:
        logger.info("could not discover the context window of %s/%s: %s", provider, model, exc)
        return None
    raise ConfigError(f"unknown LLM provider {provider!r}", hint="use 'ollama' or 'huggingface'")


def resolve_context_window(
    provider: str,
    model: str,
    *,
    configured: int | None = None,
    base_url: str = DEFAULT_OLLAMA_URL,
    timeout: float = 5.0,
    default: int = DEFAULT_CONTEXT_WINDOW,
    cap: int = MAX_AUTO_CONTEXT_WINDOW,
) -> tuple[int, str]:
    """``(window, how)``: the configured window, else the discovered one capped at ``cap``,
    else ``default``; ``how`` is ``"configured"``, ``"discovered"``, ``"discovered, capped"``
    or ``"default"`` (for the log)."""
    if configured:
        return int(configured), "configured"
    found = discover_context_window(provider, model, base_url=base_url, timeout=timeout)
    if found:
        return (cap, "discovered, capped") if found > cap else (found, "discovered")
    return default, "default"


# -- backend checks ------------------------------------------------------------------------
def check_backend(
    provider: str, model: str, *, base_url: str = DEFAULT_OLLAMA_URL, timeout: float = 5.0
) -> None:
    """Fast check that the backend answers and has the model; raises the project's errors.

    Ollama: ``POST /api/show`` (unreachable -> BackendUnavailableError with the URL,
    404 -> ModelNotFoundError with ``ollama pull NAME``). Hugging Face: the folder (or
    hub-cache entry) exists, has a config and a tokenizer with a chat template.
    """
    if provider == "ollama":
        try:
            ollama_show(base_url, model, timeout)
        except Exception as exc:
            translated = backend_error(exc, provider=provider, model=model, base_url=base_url)
            if translated is None:
                translated = BackendError(
                    f"Ollama at {base_url} gave an unexpected answer for model {model!r}: {exc}",
                    hint="check that the URL points at an Ollama server",
                )
            raise translated from None
        return
    if provider == "huggingface":
        folder, location = hf_location(model)
        if folder is not None:
            check_hf_folder(folder)
        _load_hf_tokenizer(location, model)
        return
    raise ConfigError(f"unknown LLM provider {provider!r}", hint="use 'ollama' or 'huggingface'")


def supports_native_tools(llm: Any, *, timeout: float = 5.0) -> bool:
    """Whether the model can take tool schemas natively (``bind_tools`` + tool calls).

    Ollama: ``"tools"`` in ``/api/show`` capabilities (False when the server does not
    answer). A local HF pipeline: False (it does not parse tool calls). Other chat
    models: their ``supports_native_tools`` attribute if they have one, else False.
    """
    llm = getattr(llm, "bound", llm)  # a RunnableBinding from .bind()/.bind_tools()
    flag = getattr(llm, "native_tools", None)
    if isinstance(flag, bool):
        return flag
    try:
        from langchain_ollama import ChatOllama
    except ImportError:  # pragma: no cover - a hard dependency
        return False
    if isinstance(llm, ChatOllama):
        cached = getattr(llm, "_lcelkit_capabilities", None)
        if cached is None:
            try:
                show = ollama_show(llm.base_url or DEFAULT_OLLAMA_URL, llm.model, timeout)
                cached = tuple(show.get("capabilities") or ())
            except Exception as exc:
                logger.info("cannot read the capabilities of %s: %s", llm.model, exc)
                return False
            if hasattr(llm, "_lcelkit_capabilities"):
                llm._lcelkit_capabilities = cached
        return "tools" in cached
    return False


# -- the factory ------------------------------------------------------------------------
def make_chat_model(
    provider: Provider,
    model: str,
    *,
    base_url: str = DEFAULT_OLLAMA_URL,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    context_window: int | None = None,
    request_timeout: float = 120.0,
    keep_alive: str | None = "5m",
    adapter: str | None = None,
    device: str = "cpu",
    dtype: str = "auto",
) -> BaseChatModel:
    """A chat model for ``provider`` (``"ollama"`` or ``"huggingface"``).

    ``context_window=None`` discovers it (Ollama ``/api/show``, HF config), capped at
    :data:`MAX_AUTO_CONTEXT_WINDOW`; Ollama gets it as ``num_ctx``. ``adapter``,
    ``device`` and ``dtype`` apply to Hugging Face only; ``base_url`` and
    ``keep_alive`` to Ollama only. Construction talks to Ollama only to discover the
    window (5 s timeout); a local HF model loads here (a missing folder fails at once).
    """
    if provider == "ollama":
        return make_ollama(
            model,
            base_url=base_url,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            context_window=context_window,
            request_timeout=request_timeout,
            keep_alive=keep_alive,
        )
    if provider == "huggingface":
        return make_huggingface(
            model,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            context_window=context_window,
            request_timeout=request_timeout,
            adapter=adapter,
            device=device,
            dtype=dtype,
        )
    raise ConfigError(f"unknown LLM provider {provider!r}", hint="use 'ollama' or 'huggingface'")
