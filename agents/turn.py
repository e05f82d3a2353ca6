"""The agent's turn state, its commands and small helpers (shared by the loop and drivers).

``AgentInput``/``AgentStep``/``AgentOutput`` are the public schemas; ``_Turn`` is one
turn's state; ``_LLMCall``, ``_ToolCall`` and ``_Emit`` are the commands the I/O-free
loop yields and a driver carries out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    SystemMessage,
)
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field

from lcelkit.agents.budget import message_text
from lcelkit.agents.streaming import AnswerStreamer
from lcelkit.errors import LcelkitError

__all__ = ["APOLOGY", "STOP_SEQUENCES", "AgentInput", "AgentOutput", "AgentStep"]

STOP_SEQUENCES = ["\nObservation:", "\nobservation:"]
APOLOGY = (
    "Sorry, I could not produce an answer in the expected format. "
    "Please rephrase the question or try again."
)


class AgentInput(BaseModel):
    """What the agent takes: the user's message."""

    input: str = Field(..., description="The user's message.")


class AgentStep(BaseModel):
    """One tool use: which tool, with what input, and what it returned."""

    tool: str
    tool_input: Any = None
    observation: str = ""
    thought: str = ""
    error: bool = False
    sources: list[dict[str, Any]] = Field(default_factory=list)


class AgentOutput(BaseModel):
    """What the agent returns."""

    output: str = Field(..., description="The answer.")
    session_id: str = Field(..., description="The memory session the turn was stored in.")
    steps: list[AgentStep] = Field(default_factory=list, description="Tools used, in order.")
    stop_reason: str = Field(
        "", description="answer | max_steps | timeout | parse_error (how the turn ended)"
    )


def _chunk_text(chunk: Any) -> str:
    if isinstance(chunk, str):
        return chunk
    if isinstance(chunk, BaseMessage):
        content = chunk.content
        if isinstance(content, str):
            return content
        return "".join(
            p if isinstance(p, str) else str(p.get("text", ""))
            for p in content
            if isinstance(p, str) or p.get("type") == "text"
        )
    return str(chunk)


def _input_text(value: Any) -> str:
    if isinstance(value, AgentInput):
        return value.input
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get("input", value.get("question"))
        if isinstance(text, str):
            return text
    if isinstance(value, BaseMessage):
        return message_text(value)
    raise LcelkitError(
        f"the agent takes {{'input': str}}, got {type(value).__name__}",
        hint="call agent.invoke({'input': 'your question'})",
    )


def _merge_system(messages: list[BaseMessage]) -> list[BaseMessage]:
    """One system message first (some chat templates refuse a second one)."""
    head: list[str] = []
    rest: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, SystemMessage) and not rest:
            head.append(message_text(message))
        else:
            rest.append(message)
    return ([SystemMessage(content="\n\n".join(head))] if head else []) + rest


def _coerce_args(tool: BaseTool, raw: Any) -> dict[str, Any]:
    """Tool arguments from whatever the model wrote (a string, JSON, a dict)."""
    names = list(tool.args)
    if isinstance(raw, dict):
        if not names or set(raw) <= set(names):
            return dict(raw)
        if len(names) == 1 and len(raw) == 1:
            return {names[0]: next(iter(raw.values()))}
        return dict(raw)
    text = "" if raw is None else str(raw).strip()
    if not names:
        return {}
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            return _coerce_args(tool, loaded)
    required = [n for n, spec in tool.args.items() if "default" not in spec]
    return {(required or names)[0]: text}


@dataclass
class _Turn:
    """State of one agent turn."""

    session_id: str
    text: str
    started: float
    deadline: float
    steps: list[AgentStep] = field(default_factory=list)
    scratch: list[list[BaseMessage]] = field(default_factory=list)
    exchange: list[BaseMessage] = field(default_factory=list)
    answer: str = ""
    stop_reason: str = ""
    llm_calls: int = 0
    reported: int = 0  # steps already streamed
    direct: bool = False  # passages came first: answer directly (text path)


@dataclass
class _CallResult:
    """What one model call produced."""

    text: str = ""
    message: AIMessage | None = None
    streamer: AnswerStreamer | None = None
    pieces: list[str] = field(default_factory=list)
    chunks: list[AIMessageChunk] = field(default_factory=list)


@dataclass
class _LLMCall:
    """Command: stream ``runnable`` on ``messages`` (``marker``: hold back until
    ``Final Answer:``)."""

    runnable: Runnable[Any, Any]
    messages: list[BaseMessage]
    marker: bool


@dataclass
class _ToolCall:
    """Command: run tool ``name`` with ``args``."""

    name: str
    args: Any
    call_id: str


@dataclass
class _Emit:
    """Command: show ``text`` as part of the answer."""

    text: str


_Command = _LLMCall | _ToolCall | _Emit


def _send(core: Generator[_Command, Any, None], value: Any) -> _Command | None:
    try:
        return core.send(value)
    except StopIteration:
        return None


def _throw(core: Generator[_Command, Any, None], exc: BaseException) -> _Command | None:
    try:
        return core.throw(exc)
    except StopIteration:
        return None


def _new_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"
