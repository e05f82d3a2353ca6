"""Backend failures as the project's errors (shared by the Ollama and HF backends)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from lcelkit.errors import (
    BackendError,
    BackendUnavailableError,
    LcelkitError,
    ModelNotFoundError,
)

if TYPE_CHECKING:
    pass

__all__ = ["OLLAMA_START_HINT", "backend_error", "raise_translated"]

OLLAMA_START_HINT = (
    "start it with `ollama serve`, or set LCELKIT_OLLAMA_BASE_URL / "
    "LCELKIT_LLM_PROVIDER=huggingface"
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _request_origin(exc: BaseException) -> str | None:
    """``scheme://host:port`` of the request an httpx error carries, if it carries one."""
    try:
        url = exc.request.url  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when unset
        return None
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")


def backend_error(
    exc: BaseException, *, provider: str, model: str, base_url: str | None
) -> LcelkitError | None:
    """Translate a backend failure into the project's error; None if it is not one.

    Handles ``httpx`` connection errors and timeouts, the built-in ``ConnectionError``
    (the ``ollama`` client's), ``ollama.ResponseError`` (404: model not pulled) and a
    server that dies mid-stream. Project errors pass through unchanged.
    """
    import httpx

    # Callers sometimes pass a class name (``LcelkitChatOllama``): normalize it.
    lowered = (provider or "").lower()
    provider = (
        "ollama" if "ollama" in lowered else "huggingface" if "hugging" in lowered else provider
    )
    where = f"Ollama at {base_url}" if provider == "ollama" else f"model {model}"
    for item in _chain(exc):
        if isinstance(item, LcelkitError):
            return item
        if provider == "auto" and isinstance(item, httpx.TransportError | ConnectionError):
            # Under provider auto only Ollama talks HTTP: say so, with its URL when known.
            provider, base_url = "ollama", base_url or _request_origin(item)
            where = f"Ollama at {base_url}" if base_url else "Ollama"
        if isinstance(item, httpx.ConnectError | httpx.ConnectTimeout | ConnectionRefusedError):
            return BackendUnavailableError(
                f"{where} is not reachable ({item.__class__.__name__})",
                provider=provider,
                url=base_url,
                hint=OLLAMA_START_HINT if provider == "ollama" else None,
            )
        if isinstance(item, httpx.TimeoutException | TimeoutError):
            return BackendUnavailableError(
                f"{where} did not answer in time ({item.__class__.__name__})",
                provider=provider,
                url=base_url,
                hint="the model may still be loading or is too slow for this machine; "
                "raise LCELKIT_LLM__REQUEST_TIMEOUT or use a smaller model",
            )
        if isinstance(item, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
            return BackendUnavailableError(
                f"{where} closed the connection ({item})",
                provider=provider,
                url=base_url,
                hint="check the Ollama server log; it may have crashed or run out of memory",
            )
        if isinstance(item, ConnectionError):
            return BackendUnavailableError(
                f"{where} is not reachable",
                provider=provider,
                url=base_url,
                hint=OLLAMA_START_HINT if provider == "ollama" else None,
            )
        status = getattr(item, "status_code", None)
        if type(item).__name__ == "ResponseError" and status is not None:
            message = str(getattr(item, "error", item))
            if status == 404:
                return ModelNotFoundError(
                    f"model {model!r} is not available on Ollama at {base_url}",
                    hint=f"ollama pull {model}",
                )
            return BackendError(
                f"Ollama at {base_url} refused the request for model {model!r} "
                f"(HTTP {status}: {message})",
                hint="check the model name and the Ollama server log",
            )
        if isinstance(item, ValueError) and "Failed to connect to Ollama" in str(item):
            return BackendUnavailableError(
                f"{where} is not reachable",
                provider=provider,
                url=base_url,
                hint=OLLAMA_START_HINT,
            )
    return None


def raise_translated(exc: BaseException, provider: str, model: str, base_url: str | None) -> None:
    """Raise the project's error for ``exc`` when it is a backend failure."""
    translated = backend_error(exc, provider=provider, model=model, base_url=base_url)
    if translated is not None and translated is not exc:
        raise translated from exc
