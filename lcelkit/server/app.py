"""The HTTP server: the RAG chain at ``/rag`` and the agent at ``/agent``, LangServe protocol.

Why LangServe's own handler: ``langserve.APIHandler`` (0.3.3) is the reference
implementation of the wire format that ``RemoteRunnable`` and the playground speak
(request/response envelopes, config hashes, SSE ``data``/``metadata``/``end``/``error``
events, the serializer of LangChain objects); it works on langchain-core 1.7 here
(FACTS.md). Re-implementing that format would only add ways to diverge from it. We
do NOT use its ``add_routes`` helper: it gives no hook on the streamed responses,
and that is where the server must go beyond LangServe. LangServe reports any error
inside a stream as ``500 Internal Server Error``; ours carry the real status and the
project's message + hint (503 backend down, 504 timeout, 422 prompt too long), which
``RemoteRunnable`` raises as ``httpx.HTTPStatusError`` with that status. So the routes
are registered here, the same paths as ``add_routes`` (config-hash variants included),
each a thin call into the handler. Auth, body limit, timeout and CORS are ASGI
middlewares, so they cover every route (``/v1`` and the playground too). LangServe
is archived upstream; should it stop installing, this module is the only one that
imports it.

Models load lazily: building the app opens nothing; the RAG chain and the agent are
built at their first request (in a worker thread, once), or at startup with
``preload=True`` (``lcelkit serve --preload``). ``GET /health`` never builds them.

Run it with ``lcelkit serve`` or any ASGI server::

    uvicorn --factory lcelkit.server.app:create_app --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lcelkit import __version__
from lcelkit.errors import ConfigError, LcelkitError
from lcelkit.server.health import Health, has_key, noting_backend_errors
from lcelkit.server.openai import add_openai_routes
from lcelkit.server.openapi import document_api
from lcelkit.server.runnables import (
    AgentOutput,
    AgentRequest,
    RagOutput,
    RagRequest,
    ServedRunnable,
    session_spec,
)
from lcelkit.server.security import ApiKeyMiddleware, BodyLimitMiddleware, TimeoutMiddleware
from lcelkit.server.shared import (
    AUTO_SESSION_PREFIX,
    SESSION_ID,
    error_body,
    error_status,
    new_session_id,
    validation_detail,
)
from lcelkit.server.streams import ClosingResponse, cancel_on_close
from lcelkit.server.validation import RequestValidationMiddleware
from lcelkit.settings import Settings, get_settings

__all__ = [
    "RunnableSource",
    "build_agent",
    "build_rag",
    "create_app",
    "error_status",
    "new_session_id",
]  # error_status and new_session_id live in lcelkit.server.shared (kept here for callers)

logger = logging.getLogger(__name__)

RunnableSource = Runnable | Callable[[], Runnable]
WORKER_THREADS = 64  # sync model calls and retrievers run here, never on the event loop


# -- building the served runnables -----------------------------------------------------
def build_rag(
    settings: Settings, *, llm: BaseChatModel | None = None, retriever: BaseRetriever | None = None
) -> Runnable:
    """The configured RAG chain (``lcelkit.factories.make_rag_chain``, as ``ask`` uses)."""
    from lcelkit.factories import make_rag_chain

    return make_rag_chain(settings, retriever, llm=llm)


def build_agent(
    settings: Settings, *, llm: BaseChatModel | None = None, retriever: BaseRetriever | None = None
) -> Runnable:
    """The configured agent, its memory in the same store as ``lcelkit chat`` (under home)."""
    from lcelkit.factories import make_agent

    return make_agent(settings, llm=llm, retriever=retriever)


class _SharedParts:
    """One LLM and one retriever for both /rag and /agent (an HF model loads once)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._llm: BaseChatModel | None = None
        self._retriever: BaseRetriever | None = None

    def llm(self) -> BaseChatModel:
        with self._lock:
            if self._llm is None:
                from lcelkit.factories import make_llm

                self._llm = make_llm(self.settings)
            return self._llm

    def retriever(self) -> BaseRetriever:
        with self._lock:
            if self._retriever is None:
                from lcelkit.factories import make_retriever

                self._retriever = make_retriever(self.settings)
            return self._retriever

    def check_backend(self) -> None:
        """Refuse to build while the backend is down (BackendUnavailableError, retried later):
        what is discovered at build time (context window, native tool calling) would
        otherwise be guessed and kept for the life of the process."""
        from lcelkit.chains.llms import check_backend

        llm = self.settings.llm
        check_backend(llm.provider, llm.model_name, base_url=llm.base_url, timeout=5.0)

    def rag(self) -> Runnable:
        self.check_backend()
        return build_rag(self.settings, llm=self.llm(), retriever=self.retriever())

    def agent(self) -> Runnable:
        from lcelkit.agents.tools import LazyRetriever

        self.check_backend()
        # The agent opens the index at its first search only.
        return build_agent(
            self.settings, llm=self.llm(), retriever=LazyRetriever(factory=self.retriever)
        )


def _translator(settings: Settings) -> Callable[[BaseException], BaseException]:
    """Raw backend failures (httpx, ollama) -> the project's errors, with URL and hint."""

    def translate(exc: BaseException) -> BaseException:
        if isinstance(exc, LcelkitError):
            return exc
        from lcelkit.chains.llms import backend_error

        llm = settings.llm
        try:
            model = llm.model_name
        except ConfigError:
            model = ""
        base_url = llm.base_url if llm.provider == "ollama" else None
        translated = backend_error(exc, provider=llm.provider, model=model, base_url=base_url)
        return translated if translated is not None else exc

    return translate


# -- errors -> HTTP --------------------------------------------------------------------
def _cause(exc: BaseException) -> str:
    """The chain of underlying exceptions, for the server log (never sent to clients)."""
    parts, seen, current = [], set(), exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen and len(parts) < 5:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " <- ".join(parts) or "-"


def _error_payload(exc: BaseException) -> tuple[int, dict[str, Any]]:
    status, message, hint = error_status(exc)
    return status, error_body(message, hint)


async def _sse_with_real_errors(events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """LangServe's SSE events, with its generic error event replaced by the real one."""
    generic: Any = None
    try:
        async for event in events:
            if isinstance(event, dict) and event.get("event") == "error":
                generic = event  # LangServe re-raises the exception next; report that one
                continue
            yield event
        if generic is not None:  # it did not re-raise: pass its event on unchanged
            yield generic
    except Exception as exc:
        status, message, hint = error_status(exc)
        if status >= 500 and status not in (503, 504):
            logger.exception("stream failed")
        else:
            logger.warning("stream failed: %s (cause: %s)", exc, _cause(exc))
        data: dict[str, Any] = {"status_code": status, "message": message}
        if hint:
            data["hint"] = hint
        yield {"event": "error", "data": json.dumps(data)}
    finally:
        # A client that hung up closes this generator, not the one it reads: close that
        # now, or its model call (and its backend connection) stays open until the
        # garbage collector happens to finalize it.
        closer = getattr(events, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


# -- LangServe routes ------------------------------------------------------------------
def _add_runnable_routes(
    app: FastAPI,
    runnable: Runnable,
    path: str,
    *,
    per_req_config_modifier: Callable[[dict[str, Any], Request], dict[str, Any]] | None = None,
) -> None:
    """The LangServe endpoints of one runnable under ``path`` (plus config-hash variants)."""
    from langserve import APIHandler

    handler = APIHandler(
        runnable,
        path=path,
        config_keys=("configurable",),
        per_req_config_modifier=per_req_config_modifier,
        enable_feedback_endpoint=False,
        astream_events_version="v2",
    )
    tag = path.strip("/")

    def plain(method: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
        async def endpoint(request: Request) -> Response:
            return await method(request)

        async def hashed(request: Request, config_hash: str) -> Response:
            return await method(request, config_hash=config_hash)

        return endpoint, hashed

    def streamed(method: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
        async def run(request: Request, config_hash: str) -> Response:
            response = await method(request, config_hash=config_hash)
            if not hasattr(response, "body_iterator"):
                return response
            # The whole stack (LangServe's generator, the chain, the model client) runs
            # in a producer task that a dropped client cancels (lcelkit.server.streams).
            response.body_iterator = cancel_on_close(_sse_with_real_errors(response.body_iterator))
            return ClosingResponse(response)

        async def endpoint(request: Request) -> Response:
            return await run(request, "")

        async def hashed(request: Request, config_hash: str) -> Response:
            return await run(request, config_hash)

        return endpoint, hashed

    # The config-hash variants stay out of the OpenAPI document (LangServe's playground
    # uses them); the documented routes take no parameters but the body.
    for name in ("invoke", "batch"):
        endpoint, hashed = plain(getattr(handler, name))
        app.post(f"{path}/{name}", tags=[tag], name=f"{tag} {name}")(endpoint)
        app.post(f"{path}/c/{{config_hash}}/{name}", include_in_schema=False)(hashed)
    for name, method in (
        ("stream", handler.stream),
        ("stream_log", handler.stream_log),
        ("stream_events", handler.astream_events),
    ):
        endpoint, hashed = streamed(method)
        app.post(f"{path}/{name}", tags=[tag], name=f"{tag} {name}")(endpoint)
        app.post(f"{path}/c/{{config_hash}}/{name}", include_in_schema=False)(hashed)
    for name in ("input_schema", "output_schema", "config_schema"):
        endpoint, hashed = plain(getattr(handler, name))
        app.get(f"{path}/{name}", tags=[tag], name=f"{tag} {name}")(endpoint)
        app.get(f"{path}/c/{{config_hash}}/{name}", include_in_schema=False)(hashed)

    async def playground(file_path: str, request: Request, config_hash: str = "") -> Any:
        return await handler.playground(file_path, request, config_hash=config_hash)

    app.get(f"{path}/playground/{{file_path:path}}", include_in_schema=False)(playground)
    app.get(f"{path}/c/{{config_hash}}/playground/{{file_path:path}}", include_in_schema=False)(
        playground
    )


def _split_auto_sessions(configs: list[Any]) -> list[Any]:
    """A batch sent with one config and no session id: one new session per input."""
    seen: set[str] = set()
    out = []
    for config in configs:
        configurable = dict((config or {}).get("configurable") or {})
        session_id = str(configurable.get("session_id") or "")
        if session_id.startswith(AUTO_SESSION_PREFIX):
            if session_id in seen:
                configurable["session_id"] = new_session_id()
                config = {**config, "configurable": configurable}
            seen.add(session_id)
        out.append(config)
    return out


def _session_modifier(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """Give every agent call a valid ``configurable.session_id`` (a new one when absent)."""
    configurable = dict(config.get("configurable") or {})
    session_id = configurable.get("session_id") or ""
    if not session_id:
        session_id = new_session_id()
    elif not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        raise HTTPException(
            422,
            "configurable.session_id must be 1-128 characters of letters, digits and ._:@-",
        )
    configurable["session_id"] = session_id
    return {**config, "configurable": configurable}


# -- the app ---------------------------------------------------------------------------
def create_app(
    settings: Settings | None = None,
    *,
    rag: RunnableSource | None = None,
    agent: RunnableSource | None = None,
    preload: bool | None = None,
    openai_routes: bool = True,
) -> FastAPI:
    """The ASGI app (cheap: nothing is loaded until a request, or startup with ``preload``).

    ``rag`` / ``agent``: a Runnable, or a zero-argument function that builds one at
    first use; default: the configured RAG chain / agent from ``lcelkit.factories``.
    ``preload`` (default ``server.preload``): build both in the startup hook.
    Both are served with the typed schemas of :mod:`lcelkit.server.runnables`.
    """
    settings = settings or get_settings()
    if preload is None:
        preload = settings.server.preload
    health = Health(settings)
    translate = noting_backend_errors(_translator(settings), health)
    parts = _SharedParts(settings)
    served_rag = ServedRunnable(
        rag if rag is not None else parts.rag,
        name="rag",
        input_model=RagRequest,
        output_model=RagOutput,
        translate=translate,
    )
    served_agent = ServedRunnable(
        agent if agent is not None else parts.agent,
        name="agent",
        input_model=AgentRequest,
        output_model=AgentOutput,
        config_specs=[session_spec()],
        translate=translate,
        batch_configs=_split_auto_sessions,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="lcelkit")
        loop.set_default_executor(executor)
        if preload:
            for served in (served_rag, served_agent):
                try:
                    await served.aget()
                except Exception as exc:  # served later: each request retries the build
                    logger.warning("could not preload %s: %s", served.name, exc)
        yield

    app = FastAPI(
        title="lcelkit",
        version=__version__,
        description="Local-first RAG and agents over your documents (LangServe protocol).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.rag = served_rag
    app.state.agent = served_agent

    @app.exception_handler(LcelkitError)
    async def _lcelkit_error(request: Request, exc: LcelkitError) -> JSONResponse:
        status, payload = _error_payload(exc)
        path, cause = request.url.path, _cause(exc)
        logger.warning("%s %s -> %d: %s (cause: %s)", request.method, path, status, exc, cause)
        return JSONResponse(payload, status_code=status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs it with its traceback; the client gets the one error body.
        return JSONResponse(
            error_body("internal error (see the server log)", None), status_code=500
        )

    @app.exception_handler(TimeoutError)
    async def _timeout_error(request: Request, exc: TimeoutError) -> JSONResponse:
        status, payload = _error_payload(exc)
        return JSONResponse(payload, status_code=status)

    _add_runnable_routes(app, served_rag, "/rag")
    _add_runnable_routes(app, served_agent, "/agent", per_req_config_modifier=_session_modifier)

    @app.get("/health", tags=["health"])
    async def health_route(request: Request) -> dict[str, Any]:
        """Always 200; ``status`` is ``ok`` or ``degraded``. With an API key set, only
        callers that send it see the backend and store details (URL, errors, collection).
        Probed at most every HEALTH_CACHE_SECONDS."""
        report = await health.cached()
        if settings.server.api_key and not has_key(request, settings.server.api_key):
            return {"status": report["status"]}
        return report

    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)  # LangServe's /batch lets pydantic's through
    async def _invalid_request(
        request: Request, exc: RequestValidationError | ValidationError
    ) -> JSONResponse:
        errors = list(exc.errors())
        hint = "fix the fields listed in 'errors' and send the request again"
        body = error_body(validation_detail(errors), hint, errors or None)
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        hint = getattr(exc, "hint", None)
        if hint is None and exc.status_code == 404:
            hint = "see /docs for the routes and models this server has"
        elif hint is None and exc.status_code == 405:
            hint = "see /docs for the methods of this route"
        elif hint is None and exc.status_code == 422:
            hint = "fix the request and send it again"
        return JSONResponse(
            error_body(str(exc.detail), hint),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    if openai_routes:
        add_openai_routes(app, rag=served_rag, agent=served_agent)
    document_api(app, settings, openai_routes=openai_routes)

    server = settings.server
    # Middlewares: the last added runs first. Order of a request: CORS, API key,
    # body limit, timeout, body validation (422 before any work), then the route.
    app.add_middleware(RequestValidationMiddleware)
    app.add_middleware(TimeoutMiddleware, seconds=server.request_timeout)
    app.add_middleware(BodyLimitMiddleware, max_bytes=server.max_body_bytes)
    if server.api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=server.api_key)
    if server.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(server.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type"],
        )
    return app
