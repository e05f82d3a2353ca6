"""Pure-ASGI middlewares: API key, body size limit, per-request timeout.

They are plain ASGI (not Starlette's ``BaseHTTPMiddleware``), so they add
microseconds, never buffer a response and work for streamed (SSE) responses.

- :class:`ApiKeyMiddleware`: with a key set, every route but the open ones
  (``/health``) needs ``Authorization: Bearer KEY``; compared with
  :func:`secrets.compare_digest`; 401 otherwise. CORS preflights (``OPTIONS``) pass,
  so a browser app can learn it may send the header.
- :class:`BodyLimitMiddleware`: 413 when ``Content-Length`` is over the limit, and
  also when a chunked body grows past it while the app reads it.
- :class:`TimeoutMiddleware`: 504 when the app has not answered within the limit;
  a stream that runs past it gets a final SSE ``error`` event (status 504) and ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "ApiKeyMiddleware",
    "BodyLimitMiddleware",
    "TimeoutMiddleware",
    "json_error",
]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def json_error(
    send: Send,
    status: int,
    detail: str,
    *,
    hint: str | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a complete JSON error response in the one error shape (``shared.ErrorBody``)."""
    from lcelkit.server.shared import error_body

    body = json.dumps(error_body(detail, hint)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class ApiKeyMiddleware:
    """Require ``Authorization: Bearer KEY`` on every route but ``open_paths``."""

    def __init__(
        self, app: ASGIApp, *, api_key: str, open_paths: Iterable[str] = ("/health",)
    ) -> None:
        self.app = app
        self._key = api_key.encode()
        self._open = frozenset(open_paths)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() != b"bearer":
                    return False
                return secrets.compare_digest(token.strip(), self._key)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the key, then call the app (or answer 401)."""
        if (
            scope["type"] not in ("http", "websocket")
            or scope.get("method") == "OPTIONS"
            or scope.get("path") in self._open
            or self._authorized(scope)
        ):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # policy violation
            return
        await json_error(
            send,
            401,
            "missing or invalid API key",
            hint="send the header 'Authorization: Bearer <key>' with the server's LCELKIT_API_KEY",
            headers=[(b"www-authenticate", b"Bearer")],
        )


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answer 413 to request bodies over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> tuple[int, str, str]:
        return (
            413,
            f"request body is larger than the server's limit of {self.max_bytes} bytes",
            "send a smaller request, or raise server.max_body_bytes "
            "(LCELKIT_SERVER__MAX_BODY_BYTES) on the server",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check Content-Length, count streamed bytes, then call the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await json_error(send, 400, "invalid Content-Length header")
                    return
                if declared > self.max_bytes:
                    status, detail, hint = self._too_large()
                    await json_error(send, status, detail, hint=hint)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if started:  # pragma: no cover - apps read the body before answering
                raise
            status, detail, hint = self._too_large()
            await json_error(send, status, detail, hint=hint)


class TimeoutMiddleware:
    """Give every HTTP request at most ``seconds``; 504 (or an SSE error event) after."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app under a deadline."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"started": False, "ended": False, "sse": False}

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type" and value.startswith(b"text/event-stream"):
                        state["sse"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state["ended"] = True
            await send(message)

        deadline = asyncio.timeout(self.seconds)
        try:
            async with deadline:
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if not deadline.expired():
                raise  # a TimeoutError of the app's own, not our deadline
            path = scope.get("path", "")
            logger.warning("request %s timed out after %.1f s", path, self.seconds)
            detail = f"the request to {path} took longer than {self.seconds:g} s"
            hint = "raise server.request_timeout (LCELKIT_SERVER__REQUEST_TIMEOUT) or ask less"
            if not state["started"]:
                await json_error(send, 504, detail, hint=hint)
            elif not state["ended"]:
                body = b""
                if state["sse"]:
                    data = json.dumps({"status_code": 504, "message": detail, "hint": hint})
                    body = f"event: error\r\ndata: {data}\r\n\r\n".encode()
                await send({"type": "http.response.body", "body": body, "more_body": False})
