"""``GET /health``: backend and store probes, cached, with details only for key holders.

The answer is reused for :data:`HEALTH_CACHE_SECONDS` and concurrent callers share one
probe, so a flood of ``/health`` reaches the LLM backend once; a backend failure seen by
a route drops the cached answer (:func:`noting_backend_errors`). With an API key set, a
caller without it gets only ``{"status": "ok"|"degraded"}`` (:func:`has_key`).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from typing import Any

from fastapi import Request

from lcelkit.errors import BackendError, LcelkitError
from lcelkit.settings import Settings

__all__ = ["HEALTH_CACHE_SECONDS", "HEALTH_TIMEOUT", "Health", "has_key", "noting_backend_errors"]

HEALTH_TIMEOUT = 5.0  # seconds for each /health probe
HEALTH_CACHE_SECONDS = 5.0  # a /health answer is reused this long (a flood never hits the backend)


class Health:
    """``GET /health`` probes: the LLM backend and the vector store; never raises."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._probing: asyncio.Lock | None = None

    def backend(self) -> dict[str, Any]:
        """Probe the LLM backend (``provider``, ``url``, ``ok``, ``error``); never raises."""
        llm = self.settings.llm
        url = llm.base_url if llm.provider == "ollama" else (llm.model or None)
        info: dict[str, Any] = {"provider": llm.provider, "url": url, "ok": False, "error": None}
        try:
            from lcelkit.chains.llms import check_backend

            check_backend(llm.provider, llm.model_name, base_url=llm.base_url, timeout=3.0)
            info["ok"] = True
        except LcelkitError as exc:
            info["error"] = str(exc)
        except Exception as exc:
            info["error"] = f"{type(exc).__name__}: {exc}"
        return info

    def store(self) -> dict[str, Any]:
        """Probe the vector store (``ok``, ``collection``, ``count``); never raises."""
        store = self.settings.store
        info: dict[str, Any] = {"ok": False, "collection": store.collection, "count": None}
        try:
            with self._lock:
                if self._client is None:
                    from lcelkit.chains.store import chroma_client

                    self._client = chroma_client(
                        persist_dir=self.settings.chroma_dir, url=store.url
                    )
                client = self._client
            names = {getattr(c, "name", c) for c in client.list_collections()}
            info["count"] = (
                client.get_collection(store.collection).count()
                if (store.collection in names)
                else 0
            )
            info["ok"] = True
        except LcelkitError as exc:
            info["error"] = str(exc)
        except Exception as exc:
            info["error"] = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._client = None
        return info

    def invalidate(self) -> None:
        """Forget the cached answer (a request just saw the backend fail)."""
        self._cached = None

    async def cached(self) -> dict[str, Any]:
        """:meth:`check`, reused for HEALTH_CACHE_SECONDS; concurrent callers share one probe."""
        loop = asyncio.get_running_loop()
        if self._probing is None:
            self._probing = asyncio.Lock()
        async with self._probing:
            if self._cached is None or loop.time() - self._cached[0] > HEALTH_CACHE_SECONDS:
                self._cached = (loop.time(), await self.check())
            return self._cached[1]

    async def check(self) -> dict[str, Any]:
        """Probe the backend and the store now (both at once, each under HEALTH_TIMEOUT)."""

        async def probe(func: Callable[[], dict[str, Any]], fallback: dict[str, Any]) -> dict:
            try:
                return await asyncio.wait_for(asyncio.to_thread(func), HEALTH_TIMEOUT)
            except TimeoutError:
                return {**fallback, "ok": False, "error": f"no answer in {HEALTH_TIMEOUT:g} s"}

        llm = self.settings.llm
        backend, store = await asyncio.gather(
            probe(self.backend, {"provider": llm.provider, "url": llm.base_url}),
            probe(self.store, {"collection": self.settings.store.collection, "count": None}),
        )
        status = "ok" if backend["ok"] and store["ok"] else "degraded"
        return {"status": status, "backend": backend, "store": store}


def noting_backend_errors(
    translate: Callable[[BaseException], BaseException], health: Health
) -> Callable[[BaseException], BaseException]:
    """``translate``, and a backend failure seen by a route makes /health probe again."""

    def wrapped(exc: BaseException) -> BaseException:
        out = translate(exc)
        if isinstance(out, BackendError):
            health.invalidate()
        return out

    return wrapped


def has_key(request: Request, api_key: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <api_key>`` (constant time)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        token.strip().encode(), api_key.encode()
    )
