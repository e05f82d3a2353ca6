"""LLM factories: the chat model, its context window and its token counter.

Provider ``auto`` resolves here to the backend that answers (probed once per process).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from lcelkit.chains.tokens import TokenCounter
    from lcelkit.settings import LLMSettings, Settings

__all__ = [
    "llm_settings",
    "llm_settings_of",
    "make_llm",
    "make_token_counter",
    "resolve_context_window",
]

logger = logging.getLogger(__name__)


def llm_settings(settings: Settings) -> LLMSettings:
    """``settings.llm`` with provider ``auto`` resolved to the backend that answers
    (``chains.llms.resolve_backend``: probed once per process); raises
    BackendUnavailableError when there is none."""
    cfg = settings.llm
    if cfg.provider != "auto":
        return cfg
    from lcelkit.chains.llms import resolve_backend

    chosen = resolve_backend(cfg.model or None, base_url=cfg.base_url)
    return cfg.model_copy(update={"provider": chosen.provider, "model": chosen.model})


def llm_settings_of(settings: Settings, llm: BaseChatModel | None = None) -> LLMSettings:
    """:func:`llm_settings` of a built model: under ``auto``, the backend that model is
    (nothing probed); a model of another kind keeps ``auto`` (no backend to ask)."""
    cfg = settings.llm
    if cfg.provider != "auto":
        return cfg
    if llm is None:
        return llm_settings(settings)
    model = getattr(llm, "bound", llm)
    if type(model).__name__ in ("LocalChatHuggingFace", "LocalChatOpenVINO"):
        return cfg.model_copy(update={"provider": "huggingface", "model": model.model_id})
    if "Ollama" in type(model).__name__ and isinstance(getattr(model, "model", None), str):
        return cfg.model_copy(update={"provider": "ollama", "model": model.model})
    return cfg


def resolve_context_window(settings: Settings, llm: BaseChatModel | None = None) -> int:
    """``llm.context_window`` if set, else the model's own (discovered; capped at
    ``chains.llms.MAX_AUTO_CONTEXT_WINDOW``), else 4096. Logs which one it is.

    Given the chat model ``make_llm`` built, the window it was built with is reused, so
    the backend is not asked twice (one ``/api/show`` per process, not one per part)."""
    from lcelkit.chains.llms import DEFAULT_CONTEXT_WINDOW
    from lcelkit.chains.llms import resolve_context_window as resolve

    cfg = llm_settings_of(settings, llm)
    built_with = getattr(llm, "context_window", None) or getattr(llm, "num_ctx", None)
    if cfg.context_window is None and isinstance(built_with, int) and built_with > 0:
        return built_with
    if cfg.provider == "auto":  # a model of another kind: no backend to ask
        return cfg.context_window or DEFAULT_CONTEXT_WINDOW
    window, how = resolve(
        cfg.provider,
        cfg.model_name,
        configured=cfg.context_window,
        base_url=cfg.base_url,
        timeout=min(5.0, cfg.request_timeout),
    )
    logger.info(
        "context window of %s %s: %d tokens (%s)", cfg.provider, cfg.model_name, window, how
    )
    return window


def make_llm(settings: Settings) -> BaseChatModel:
    """The configured chat model (Ollama or a local Hugging Face model; ``auto``: the one
    :func:`llm_settings` finds)."""
    from lcelkit.chains.llms import make_chat_model

    cfg = llm_settings(settings)
    return make_chat_model(
        cfg.provider,
        cfg.model_name,
        base_url=cfg.base_url,
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        context_window=resolve_context_window(settings),
        request_timeout=cfg.request_timeout,
        keep_alive=cfg.keep_alive,
        adapter=cfg.adapter,
        device=cfg.device,
        dtype=cfg.dtype,
        backend=cfg.backend,
    )


def make_token_counter(settings: Settings, llm: BaseChatModel | None = None) -> TokenCounter:
    """Token counter for the configured backend: the HF model's own tokenizer (from
    ``llm`` when given, else loaded without weights); for Ollama, tiktoken + margin
    when available offline, else the conservative estimate."""
    from lcelkit.chains.tokens import make_counter

    cfg = llm_settings_of(settings, llm)
    tokenizer = getattr(llm, "tokenizer", None) if llm is not None else None
    if tokenizer is None and cfg.provider == "huggingface":
        from lcelkit.chains.llms import load_hf_tokenizer

        tokenizer = load_hf_tokenizer(cfg.model_name, adapter=cfg.adapter)
    # A model of another kind under ``auto``: the conservative estimate, as for Ollama.
    provider = "ollama" if cfg.provider == "auto" and tokenizer is None else cfg.provider
    if provider == "auto":
        provider = "huggingface"
    counter = make_counter(provider, tokenizer=tokenizer)
    logger.info("token counter: %r", counter)
    return counter
