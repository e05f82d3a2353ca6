"""An OpenAI-compatible face: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Any OpenAI client (``openai`` SDK, LangChain's ``ChatOpenAI``, curl) can talk to
lcelkit with ``base_url=http://host:port/v1``. Two models:

- ``lcelkit-agent``: the agent. The last user message is the turn; the server keeps
  the memory, keyed by the request's ``user`` field (or the ``X-Session-Id`` header);
  without either, each request is a new session. Earlier messages in the request are
  not replayed (the server already remembers the session).
- ``lcelkit-rag``: the RAG chain over the last user message; the answer cites
  passages as ``[n]``; the sources come in an extra ``sources`` field.

``"stream": true`` gives SSE ``data: {chat.completion.chunk}`` lines and a final
``data: [DONE]``. An error after the stream started is sent as one
``data: {"error": {...}}`` line, without ``[DONE]``. Sampling options (temperature,
max_tokens, ...) are accepted and ignored: the server's settings decide. No ``usage``
is reported (the chain and the agent do not expose token counts per call).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ConfigDict, Field

from lcelkit.server.runnables import MAX_TEXT_CHARS
from lcelkit.server.shared import SESSION_ID, error_status, new_session_id
from lcelkit.server.streams import ClosingResponse, cancel_on_close

__all__ = [
    "AGENT_MODEL",
    "RAG_MODEL",
    "ChatCompletionRequest",
    "ChatMessage",
    "add_openai_routes",
]

logger = logging.getLogger(__name__)

AGENT_MODEL = "lcelkit-agent"
RAG_MODEL = "lcelkit-rag"
_CREATED = int(time.time())


MessageText = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]


class ChatMessage(BaseModel):
    """One message of an OpenAI chat request (text up to MAX_TEXT_CHARS characters)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: MessageText | list[dict[str, Any]] | None = None


_NON_BLANK = re.compile(r"\S")
_TEXT = {"type": "string", "pattern": r"\S"}
_USER_TEXT = {
    "type": "object",
    "properties": {
        "role": {"const": "user"},
        "content": {
            "anyOf": [
                _TEXT,
                {
                    "type": "array",
                    "contains": {
                        "type": "object",
                        "properties": {"type": {"const": "text"}, "text": _TEXT},
                        "required": ["type", "text"],
                    },
                },
            ]
        },
    },
    "required": ["role", "content"],
}


class ChatCompletionRequest(BaseModel):
    """The part of OpenAI's chat-completions request that lcelkit uses."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(
        description="lcelkit-agent or lcelkit-rag (another name: 404).",
        json_schema_extra={"enum": [AGENT_MODEL, RAG_MODEL]},
    )
    messages: list[ChatMessage] = Field(
        min_length=1,
        description="The conversation; at least one user message with text (the last "
        "one is the turn).",
        json_schema_extra={"contains": _USER_TEXT},
    )
    stream: bool = Field(default=False, strict=True)
    user: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:@-]{0,128}$",
        description="lcelkit-agent: the session id (empty: a new session).",
    )


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        part["text"]
        for part in content
        if part.get("type") == "text" and isinstance(part.get("text"), str)
    )


def _last_user_text(body: ChatCompletionRequest) -> str:
    for message in reversed(body.messages):
        if message.role == "user":
            text = _text(message.content)
            text = text.strip() if _NON_BLANK.search(text) else ""
            if len(text) > MAX_TEXT_CHARS:  # list content: the parts together
                raise HTTPException(
                    422, f"the last user message is longer than {MAX_TEXT_CHARS} characters"
                )
            if text:
                return text
    raise HTTPException(422, "messages must contain a user message with text")


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None) -> str:
    payload = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def add_openai_routes(app: FastAPI, *, rag: Runnable, agent: Runnable) -> None:
    """Register ``/v1/models`` and ``/v1/chat/completions`` over the served runnables."""

    @app.get("/v1/models", tags=["openai"])
    async def list_models() -> dict[str, Any]:
        """The two models: ``lcelkit-agent`` and ``lcelkit-rag``."""
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": _CREATED, "owned_by": "lcelkit"}
                for name in (AGENT_MODEL, RAG_MODEL)
            ],
        }

    @app.post("/v1/chat/completions", tags=["openai"], response_model=None)
    async def chat_completions(
        body: ChatCompletionRequest, request: Request
    ) -> JSONResponse | StreamingResponse:
        """OpenAI chat completions over the agent or the RAG chain."""
        if body.model not in (AGENT_MODEL, RAG_MODEL):
            raise HTTPException(
                404, f"model {body.model!r} does not exist; use {AGENT_MODEL!r} or {RAG_MODEL!r}"
            )
        text = _last_user_text(body)
        extra: dict[str, Any] = {}
        if body.model == AGENT_MODEL:
            session_id = body.user or request.headers.get("x-session-id") or new_session_id()
            if not SESSION_ID.match(session_id):
                raise HTTPException(422, "user / X-Session-Id must be 1-128 of [A-Za-z0-9._:@-]")
            runnable, payload, key = agent, {"input": text}, "output"
            config: dict[str, Any] = {"configurable": {"session_id": session_id}}
            extra["session_id"] = session_id
        else:
            runnable, payload, key, config = rag, {"question": text}, "answer", {}
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"

        if not body.stream:
            result = await runnable.ainvoke(payload, config)
            if body.model == RAG_MODEL:
                extra["sources"] = result.get("sources", [])
            return JSONResponse(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": str(result.get(key, ""))},
                            "finish_reason": "stop",
                        }
                    ],
                    **extra,
                }
            )

        async def events() -> AsyncIterator[str]:
            yield _chunk(cid, body.model, {"role": "assistant", "content": ""}, None)
            try:
                async for part in runnable.astream(payload, config):
                    piece = part.get(key) if isinstance(part, dict) else None
                    if piece:
                        yield _chunk(cid, body.model, {"content": str(piece)}, None)
            except Exception as exc:
                status, message, hint = error_status(exc)
                logger.warning("chat completion stream failed: %s", exc)
                error = {"message": message, "type": "server_error", "code": status}
                if hint:
                    error["hint"] = hint
                yield f"data: {json.dumps({'error': error})}\n\n"
                return
            yield _chunk(cid, body.model, {}, "stop")
            yield "data: [DONE]\n\n"

        return ClosingResponse(
            StreamingResponse(
                cancel_on_close(events()),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )
        )
