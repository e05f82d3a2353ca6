"""Scripted chat models shared by the agent tests (this module holds no tests itself)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, PrivateAttr

from lcelkit.agents.budget import count_prompt


def words(text: str) -> int:
    """The counter the tests use: whitespace-separated words."""
    return len(text.split())


Reply = str | AIMessage | Callable[[list[BaseMessage]], "str | AIMessage"]


_SCRIPT_LOCK = threading.RLock()


class ScriptedChatModel(BaseChatModel):
    """Replies from a script (cycled when ``cycle``), recording every prompt it receives.

    Honours ``stop`` like a real backend. ``native_tools=True`` makes ``bind_tools`` work and
    lets replies carry ``tool_calls``. ``delay`` sleeps before each reply.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    replies: list[Any]
    native_tools: bool = False
    cycle: bool = False
    delay: float = 0.0
    honor_stop: bool = True
    _prompts: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _stops: list[Any] = PrivateAttr(default_factory=list)
    _kwargs: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _index: int = PrivateAttr(default=0)
    _busy: float = PrivateAttr(default=0.0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def prompts(self) -> list[list[BaseMessage]]:
        return self._prompts

    @property
    def stops(self) -> list[Any]:
        return self._stops

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self._kwargs

    def _next(
        self, messages: list[BaseMessage], stop: Any, kwargs: dict[str, Any], sleep: bool = True
    ) -> AIMessage:
        with _SCRIPT_LOCK:  # batch() calls the model from several threads
            self._prompts.append(list(messages))
            self._stops.append(stop)
            self._kwargs.append(dict(kwargs))
            if self._index >= len(self.replies):
                if not self.cycle:
                    raise AssertionError(f"script exhausted after {len(self.replies)} replies")
                self._index = 0
            reply = self.replies[self._index]
            self._index += 1
        if self.delay and sleep:
            time.sleep(self.delay)
        if callable(reply):
            reply = reply(messages)
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=reply)
        if stop and self.honor_stop and isinstance(message.content, str):
            cuts = [message.content.find(s) for s in stop if s in message.content]
            if cuts:
                message = AIMessage(content=message.content[: min(cuts)])
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages, stop, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        no_delay = kwargs.pop("_no_delay", False)
        message = self._next(messages, stop, kwargs, sleep=not no_delay)
        text = message.content if isinstance(message.content, str) else ""
        for piece in re.findall(r"\s*\S+|\s+", text) or ([""] if not message.tool_calls else []):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        if message.tool_calls:
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {
                            "name": c["name"],
                            "args": json.dumps(c["args"]),
                            "id": c["id"],
                            "index": i,
                            "type": "tool_call_chunk",
                        }
                        for i, c in enumerate(message.tool_calls)
                    ],
                )
            )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        # In the loop's thread (no executor hop per token), like an async HTTP client.
        if self.delay:
            await asyncio.sleep(self.delay)
        for chunk in self._stream(messages, stop, None, _no_delay=True, **kwargs):
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        if not self.native_tools:
            raise NotImplementedError("this scripted model has no tool calling")
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


def tool_call(name: str, args: dict[str, Any], call_id: str = "call_1") -> AIMessage:
    """An AI message that calls one tool."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def prompt_tokens(messages: list[BaseMessage]) -> int:
    """Tokens of a recorded prompt, counted the way the agent's budget counts them."""
    return count_prompt(words, messages)
