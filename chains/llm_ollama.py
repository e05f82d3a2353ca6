"""The Ollama backend: ``langchain_ollama.ChatOllama`` whose failures are the project's
errors, with ``num_ctx`` set from the context window (see :mod:`chains.llms`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from lcelkit.errors import (
    ModelNotFoundError,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

from lcelkit.chains.llm_errors import raise_translated
from lcelkit.chains.windows import pick_window

__all__ = ["make_ollama", "ollama_context_window", "ollama_show"]

logger = logging.getLogger(__name__)


def ollama_context_window(base_url: str, model: str, timeout: float) -> int | None:
    """The model's ``<arch>.context_length`` from ``/api/show`` (raises as ollama_show)."""
    info = ollama_show(base_url, model, timeout).get("model_info") or {}
    for key, value in info.items():
        if key.endswith(".context_length") and isinstance(value, int) and value > 0:
            return value
    return None


def ollama_show(base_url: str, model: str, timeout: float) -> dict[str, Any]:
    """``POST /api/show`` for ``model``; 404 is ModelNotFoundError with the pull hint."""
    import httpx

    response = httpx.post(
        f"{base_url.rstrip('/')}/api/show", json={"model": model}, timeout=timeout
    )
    if response.status_code == 404:
        raise ModelNotFoundError(
            f"model {model!r} is not available on Ollama at {base_url}",
            hint=f"ollama pull {model}",
        )
    response.raise_for_status()
    return dict(response.json())


@cache
def _ollama_class() -> type:
    from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatGenerationChunk, ChatResult
    from langchain_ollama import ChatOllama
    from pydantic import PrivateAttr

    class LcelkitChatOllama(ChatOllama):
        """ChatOllama whose failures are the project's errors (never a raw httpx trace)."""

        _lcelkit_capabilities: tuple[str, ...] | None = PrivateAttr(default=None)

        def _fail(self, exc: BaseException) -> None:
            raise_translated(exc, "ollama", self.model, self.base_url)

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: CallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> ChatResult:
            try:
                return super()._generate(messages, stop, run_manager, **kwargs)
            except Exception as exc:
                self._fail(exc)
                raise

        def _stream(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: CallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> Iterator[ChatGenerationChunk]:
            try:
                yield from super()._stream(messages, stop, run_manager, **kwargs)
            except Exception as exc:
                self._fail(exc)
                raise

        async def _agenerate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: AsyncCallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> ChatResult:
            try:
                return await super()._agenerate(messages, stop, run_manager, **kwargs)
            except Exception as exc:
                self._fail(exc)
                raise

        async def _astream(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: AsyncCallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> AsyncIterator[ChatGenerationChunk]:
            try:
                async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
                    yield chunk
            except Exception as exc:
                self._fail(exc)
                raise

    return LcelkitChatOllama


def make_ollama(
    model: str,
    *,
    base_url: str,
    max_new_tokens: int,
    temperature: float,
    context_window: int | None,
    request_timeout: float,
    keep_alive: str | None,
) -> BaseChatModel:
    """A ChatOllama for ``model`` (the window discovered through ``/api/show`` if unset)."""
    import httpx

    if context_window is None:
        try:
            found = ollama_context_window(base_url, model, min(5.0, request_timeout))
        except Exception as exc:  # the first call reports a dead server or missing model
            logger.info("could not discover the context window of ollama/%s: %s", model, exc)
            found = None
        context_window, how = pick_window(None, found)
        logger.info("Ollama %s: num_ctx %d (%s)", model, context_window, how)
    timeout = httpx.Timeout(request_timeout, connect=min(5.0, request_timeout))
    cls = _ollama_class()
    return cls(
        model=model,
        base_url=base_url,
        keep_alive=keep_alive,
        num_predict=max_new_tokens,
        num_ctx=context_window,
        temperature=temperature,
        client_kwargs={"timeout": timeout},
    )
