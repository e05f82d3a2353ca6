"""Request validation before any work: the one place that turns a malformed body into a 422.

:class:`RequestValidationMiddleware` (pure ASGI, after the API key and the body limit)
reads the body of every ``POST`` and refuses, with ``422 {"detail": reason}``:

* a body that is not JSON, or JSON with ``NaN``/``Infinity`` (not JSON by RFC 8259;
  Python's parser takes them, and the 422 naming such a field could not be written);
* (415) a body sent with a ``Content-Type`` that is not JSON (``text/plain``...);
* JSON nested deeper than ``max_depth`` (checked on the raw bytes, before parsing:
  a small body nested 2,000 deep would otherwise raise RecursionError in the parser);
* strings holding lone UTF-16 surrogates (``"\\ud800"``: valid JSON, but no text);
* on the LangServe routes (``/rag/...``, ``/agent/...``): a body that is not an object;
  ``invoke``/``stream*`` without ``input``; ``batch`` whose ``inputs`` is not a list of
  1 to ``max_batch`` objects or strings, or whose ``config`` is neither an object nor a
  list of objects as long as ``inputs``; a ``config`` that is not an object.

What passes is handed to the routes (the body is replayed), where the typed schemas
check the fields themselves; ``"config": null`` and ``"kwargs": null`` on the LangServe
routes are dropped first (they mean "none"; LangServe failed on them with a 500).
Nothing here knows the input models, so the string inputs that ``/rag`` and
``/agent`` accept are left to them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from itertools import accumulate
from typing import Any

from lcelkit.server.security import json_error

__all__ = ["MAX_BATCH_INPUTS", "MAX_JSON_DEPTH", "RequestValidationMiddleware", "problem"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_JSON_DEPTH = 32  # LangServe and OpenAI bodies need under 8
MAX_BATCH_INPUTS = 64  # inputs in one /batch call

_LANGSERVE = re.compile(
    r"^/(?:rag|agent)(?:/c/[^/]+)?/(invoke|batch|stream|stream_log|stream_events)$"
)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _depth(body: bytes) -> int:
    """Deepest nesting of arrays/objects in ``body``, strings skipped (no parsing)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    steps = (1 if b in b"[{" else -1 for b in brackets)
    return max(accumulate(steps))


def _bad_text(value: Any, max_items: int = 1_000_000) -> str | None:
    """The JSON path of the first string (or key) with a lone surrogate, else None."""
    stack: list[tuple[str, Any]] = [("", value)]
    seen = 0
    while stack and seen < max_items:
        path, item = stack.pop()
        seen += 1
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return path or "(body)"
        elif isinstance(item, dict):
            for key, child in item.items():
                if _SURROGATE.search(key):
                    return f"{path}.{key.encode('utf-8', 'backslashreplace').decode()}"
                stack.append((f"{path}.{key}" if path else key, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return None


def _shape(route: str, body: Any, max_batch: int) -> str | None:
    """What is wrong with a LangServe request body's envelope, or None."""
    if not isinstance(body, dict):
        return f"the body must be a JSON object, not {type(body).__name__}"
    if route == "batch":
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            return f'"inputs" must be a list of inputs, not {type(inputs).__name__}'
        if not inputs:
            return '"inputs" is empty: send at least one input'
        if len(inputs) > max_batch:
            return f'"inputs" has {len(inputs)} items; the limit is {max_batch} per batch'
        for i, item in enumerate(inputs):
            if not isinstance(item, dict | str):
                return f'"inputs"[{i}] must be an object or a string, not {type(item).__name__}'
        config = body.get("config")
        if isinstance(config, list):
            if len(config) != len(inputs):
                return f'"config" has {len(config)} items for {len(inputs)} inputs'
            for i, item in enumerate(config):
                if not isinstance(item, dict):
                    return f'"config"[{i}] must be an object, not {type(item).__name__}'
        elif config is not None and not isinstance(config, dict):
            return f'"config" must be an object or a list of objects, not {type(config).__name__}'
        return _kwargs_problem(body)
    if "input" not in body:
        return 'the body needs "input"'
    config = body.get("config")
    if config is not None and not isinstance(config, dict):
        return f'"config" must be an object, not {type(config).__name__}'
    return _kwargs_problem(body)


def _kwargs_problem(body: dict[str, Any]) -> str | None:
    kwargs = body.get("kwargs")
    if kwargs is not None and not isinstance(kwargs, dict):
        return f'"kwargs" must be an object, not {type(kwargs).__name__}'
    return None


class _NotJson(ValueError):
    pass


def _no_constants(name: str) -> Any:
    raise _NotJson(f"{name} is not valid JSON (send a number or a string)")


def _parse(body: bytes) -> Any:
    """Strict JSON: no NaN / Infinity."""
    return json.loads(body, parse_constant=_no_constants)


def _drop_nulls(path: str, body: bytes) -> bytes:
    """The body without ``"config": null`` / ``"kwargs": null`` on the LangServe routes."""
    if not _LANGSERVE.match(path):
        return body
    parsed = _parse(body)
    if isinstance(parsed, dict) and any(
        key in parsed and parsed[key] is None for key in ("config", "kwargs")
    ):
        for key in ("config", "kwargs"):
            if key in parsed and parsed[key] is None:
                del parsed[key]
        return json.dumps(parsed).encode()
    return body


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media in (b"application/json", b"*/*") or media.endswith(b"+json")


def problem(
    path: str, body: bytes, *, max_depth: int = MAX_JSON_DEPTH, max_batch: int = MAX_BATCH_INPUTS
) -> str | None:
    """Why the ``POST`` body ``body`` to ``path`` is refused, or None when it may pass."""
    depth = _depth(body)
    if depth > max_depth:
        return f"the JSON body is nested {depth} levels deep; the limit is {max_depth}"
    try:
        parsed = _parse(body)
    except (ValueError, RecursionError) as exc:
        return f"Invalid JSON body: {exc}"
    where = _bad_text(parsed)
    if where is not None:
        return f"{where}: the text holds a lone UTF-16 surrogate (not valid Unicode)"
    match = _LANGSERVE.match(path)
    if match:
        return _shape(match.group(1), parsed, max_batch)
    return None


class RequestValidationMiddleware:
    """Refuse malformed ``POST`` bodies with 422 and the reason (see the module doc)."""

    def __init__(
        self, app: ASGIApp, *, max_depth: int = MAX_JSON_DEPTH, max_batch: int = MAX_BATCH_INPUTS
    ) -> None:
        self.app = app
        self.max_depth = max_depth
        self.max_batch = max_batch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body, check it, then replay it to the app (or answer 422)."""
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if body:
            content_type = dict(scope.get("headers", ())).get(b"content-type")
            if content_type is not None and not _is_json(content_type):
                media = content_type.decode("latin-1").split(";")[0].strip()[:100]
                await json_error(
                    send,
                    415,
                    f"request bodies are JSON; got Content-Type {media!r}",
                    hint="send the header 'Content-Type: application/json'",
                )
                return
            path = scope.get("path", "")
            reason = problem(path, body, max_depth=self.max_depth, max_batch=self.max_batch)
            if reason is not None:
                await json_error(send, 422, reason, hint="fix the request body and send it again")
                return
            body = _drop_nulls(path, body)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
