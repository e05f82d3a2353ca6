"""How the agent's commands are carried out: model calls (streamed, with the deadline),
tools, and one turn (memory in, loop, memory out), in a sync and an async variant that
share every step but the iteration itself (a mixin of ``ConversationalAgent``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.messages.ai import add_ai_message_chunks
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.utils import AddableDict
from langchain_core.tools import BaseTool

from lcelkit.agents.budget import message_text, truncate_tokens
from lcelkit.agents.streaming import AnswerStreamer
from lcelkit.agents.turn import (
    STOP_SEQUENCES,
    AgentStep,
    _CallResult,
    _chunk_text,
    _coerce_args,
    _Command,
    _Emit,
    _input_text,
    _LLMCall,
    _new_id,
    _send,
    _throw,
    _ToolCall,
    _Turn,
)
from lcelkit.errors import LcelkitError

__all__: list[str] = []

logger = logging.getLogger("lcelkit.agents.react")


def _shown(state: _Turn, text: str, separate: bool = False) -> str:
    """``text`` as shown to the user (after a blank line when ``separate``), recorded."""
    text = "\n\n" + text if separate else text
    state.answer += text
    return text


def _turn_chunks(state: _Turn, piece: str | None) -> list[AddableDict]:
    """The stream chunks for new steps (reported once, in order), then ``piece``."""
    chunks = []
    if len(state.steps) > state.reported:
        chunks.append(AddableDict(steps=[s.model_dump() for s in state.steps[state.reported :]]))
        state.reported = len(state.steps)
    if piece is not None:
        chunks.append(AddableDict(output=piece))
    return chunks


class _Drivers:
    """Model calls, tools and the two drivers of ``ConversationalAgent``."""

    # -- model calls ---------------------------------------------------------------------
    def _native(self) -> Runnable[Any, Any]:
        if self._native_llm is None:
            self._native_llm = self.llm.bind_tools(self.tools)  # type: ignore[attr-defined]
        return self._native_llm

    def _map_error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, LcelkitError):
            return exc
        mapped = self.error_mapper(exc) if self.error_mapper else None
        if mapped is None:
            try:
                from lcelkit.chains.llms import backend_error
            except ImportError:
                backend_error = None
            if backend_error is not None:
                try:
                    mapped = backend_error(
                        exc,
                        provider=type(self.llm).__name__,
                        model=getattr(self.llm, "model", None),
                        base_url=getattr(self.llm, "base_url", None),
                    )
                except Exception:  # a mapper must never hide the original error
                    mapped = None
        return mapped or exc

    # -- one model call: shared chunk handling, sync and async streaming -------------------
    def _runnable_for(self, mode: str, forced: bool) -> Runnable[Any, Any]:
        if mode == "native":
            return self.llm if forced else self._native()
        return self.llm.bind(stop=STOP_SEQUENCES)

    @staticmethod
    def _call_config(config: RunnableConfig) -> RunnableConfig:
        return {**config, "tags": [*config.get("tags", []), "agent_llm"]}

    @staticmethod
    def _absorb(chunk: Any, call: _LLMCall, result: _CallResult) -> str:
        """Take one streamed chunk; returns the answer text it releases."""
        assert result.streamer is not None
        if isinstance(chunk, AIMessageChunk):
            if not call.marker:  # native path: tool calls arrive in chunks
                result.chunks.append(chunk)
            if chunk.tool_call_chunks and not result.streamer.emitted:
                result.streamer.block()
        elif isinstance(chunk, AIMessage):
            result.message = chunk
        piece = _chunk_text(chunk)
        result.pieces.append(piece)
        return result.streamer.feed(piece)

    @staticmethod
    def _complete(result: _CallResult) -> None:
        result.text = "".join(result.pieces)
        if result.chunks:  # merged once: adding chunk by chunk is quadratic
            merged = add_ai_message_chunks(result.chunks[0], *result.chunks[1:])
            result.message = AIMessage(
                content=merged.content,
                tool_calls=merged.tool_calls,
                invalid_tool_calls=merged.invalid_tool_calls,
                id=merged.id,
            )
        elif result.message is None:
            result.message = AIMessage(content=result.text)

    async def _astream_call(
        self, call: _LLMCall, config: RunnableConfig, state: _Turn, result: _CallResult
    ) -> AsyncIterator[str]:
        """Stream one model call in the running loop; yields answer text."""
        state.llm_calls += 1
        result.streamer = AnswerStreamer(marker=call.marker)
        iterator = call.runnable.astream(call.messages, self._call_config(config)).__aiter__()
        try:
            while True:
                remaining = state.deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                try:
                    async with asyncio.timeout(remaining):  # never spans a yield
                        chunk = await anext(iterator)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise
                except Exception as exc:
                    raise self._map_error(exc) from exc
                out = self._absorb(chunk, call, result)
                if out:
                    yield out
        finally:
            closer = getattr(iterator, "aclose", None)
            if closer is not None:
                await closer()
        self._complete(result)

    def _stream_call(
        self, call: _LLMCall, config: RunnableConfig, state: _Turn, result: _CallResult
    ) -> Iterator[str]:
        """Stream one model call synchronously; the deadline is checked between chunks."""
        state.llm_calls += 1
        result.streamer = AnswerStreamer(marker=call.marker)
        if state.deadline - time.monotonic() <= 0:
            raise TimeoutError
        iterator = iter(call.runnable.stream(call.messages, self._call_config(config)))
        try:
            while True:
                try:
                    chunk = next(iterator)
                except StopIteration:
                    break
                except Exception as exc:
                    raise self._map_error(exc) from exc
                out = self._absorb(chunk, call, result)
                if out:
                    yield out
                if state.deadline - time.monotonic() <= 0:
                    raise TimeoutError
        finally:
            closer = getattr(iterator, "close", None)
            if closer is not None:
                closer()
        self._complete(result)

    # -- tools ---------------------------------------------------------------------------
    def _tool_start(self, call: _ToolCall) -> tuple[BaseTool | None, Any, str | None]:
        tool = self._by_name.get(call.name)
        if tool is None:
            return (
                None,
                call.args,
                f"'{call.name}' is not an available tool. Available tools: "
                f"{', '.join(self._by_name) or 'none'}. "
                "Use one of them, or give your Final Answer.",
            )
        return tool, _coerce_args(tool, call.args), None

    def _tool_end(
        self, call: _ToolCall, args: Any, reply: Any, error: bool, content: str | None = None
    ) -> tuple[ToolMessage, AgentStep]:
        sources: list[dict[str, Any]] = []
        artifact = None
        if content is None:
            if isinstance(reply, ToolMessage):
                content = message_text(reply)
                error = error or reply.status == "error"
                artifact = reply.artifact
                if isinstance(reply.artifact, list):
                    sources = [s for s in reply.artifact if isinstance(s, dict)]
            else:
                content = str(reply)
        content = truncate_tokens(
            content or "(no output)", self.observation_max_tokens, self.counter
        )
        message = ToolMessage(
            content=content, tool_call_id=call.call_id, name=call.name, artifact=artifact
        )
        if error:
            message.status = "error"
        step = AgentStep(
            tool=call.name, tool_input=args, observation=content, error=error, sources=sources
        )
        return message, step

    def _tool_input(self, call: _ToolCall, args: Any) -> dict[str, Any]:
        return {"type": "tool_call", "name": call.name, "args": args, "id": call.call_id}

    async def _arun_tool(
        self, call: _ToolCall, config: RunnableConfig, state: _Turn
    ) -> tuple[ToolMessage, AgentStep]:
        tool, args, problem = self._tool_start(call)
        if tool is None:
            return self._tool_end(call, args, None, True, problem)
        try:
            remaining = state.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                reply = await tool.ainvoke(self._tool_input(call, args), config)
        except TimeoutError:
            state.stop_reason = "timeout"
            return self._tool_end(call, args, None, True, f"{call.name} did not finish in time.")
        except Exception as exc:  # a failing tool is an observation, not a crash
            logger.info("tool %s failed: %s", call.name, exc)
            text = f"{call.name} failed: {exc.__class__.__name__}: {exc}"
            return self._tool_end(call, args, None, True, text)
        return self._tool_end(call, args, reply, False)

    def _run_tool(
        self, call: _ToolCall, config: RunnableConfig, state: _Turn
    ) -> tuple[ToolMessage, AgentStep]:
        tool, args, problem = self._tool_start(call)
        if tool is None:
            return self._tool_end(call, args, None, True, problem)
        if state.deadline - time.monotonic() <= 0:
            state.stop_reason = "timeout"
            return self._tool_end(call, args, None, True, f"{call.name} did not finish in time.")
        try:
            reply = tool.invoke(self._tool_input(call, args), config)
        except Exception as exc:  # a failing tool is an observation, not a crash
            logger.info("tool %s failed: %s", call.name, exc)
            text = f"{call.name} failed: {exc.__class__.__name__}: {exc}"
            return self._tool_end(call, args, None, True, text)
        return self._tool_end(call, args, reply, False)

    @staticmethod
    def _invalid_call_messages(bad: list[Any], state: _Turn) -> list[BaseMessage]:
        """Error observations for malformed native tool calls (ids set by the caller)."""
        messages: list[BaseMessage] = []
        for call in bad:
            content = (
                f"The call to {call.get('name')} had invalid arguments "
                f"({call.get('error') or 'not JSON'}). Try again with valid JSON arguments."
            )
            messages.append(
                ToolMessage(
                    content=content,
                    tool_call_id=call["id"],
                    name=str(call.get("name")),
                    status="error",
                )
            )
            state.steps.append(
                AgentStep(
                    tool=str(call.get("name")),
                    tool_input=call.get("args"),
                    observation=content,
                    error=True,
                )
            )
        return messages

    @staticmethod
    def _answer_invalid_calls(message: AIMessage, bad: list[Any]) -> AIMessage:
        """The AI message with malformed calls turned into answerable ones (pairing)."""
        fixed = []
        for call in bad:
            call["id"] = call.get("id") or _new_id()
            fixed.append(
                {"name": str(call.get("name")), "args": {}, "id": call["id"], "type": "tool_call"}
            )
        return message.model_copy(
            update={"tool_calls": list(message.tool_calls) + fixed, "invalid_tool_calls": []}
        )

    async def _adrive(
        self, core: Generator[_Command, Any, None], config: RunnableConfig, state: _Turn
    ) -> AsyncIterator[str]:
        """Carry out the loop's commands in the running event loop; yields answer text."""
        command = next(core, None)
        while command is not None:
            reply: Any = None
            try:
                if isinstance(command, _Emit):
                    yield _shown(state, command.text)
                elif isinstance(command, _LLMCall):
                    reply = _CallResult()
                    separate = bool(state.answer)  # a second model call starts a paragraph
                    async for piece in self._astream_call(command, config, state, reply):
                        yield _shown(state, piece, separate)
                        separate = False
                else:
                    reply = await self._arun_tool(command, config, state)
            except TimeoutError as exc:
                command = _throw(core, exc)
                continue
            command = _send(core, reply)

    def _drive(
        self, core: Generator[_Command, Any, None], config: RunnableConfig, state: _Turn
    ) -> Iterator[str]:
        """Carry out the loop's commands synchronously (no event loop); yields answer text."""
        command = next(core, None)
        while command is not None:
            reply: Any = None
            try:
                if isinstance(command, _Emit):
                    yield _shown(state, command.text)
                elif isinstance(command, _LLMCall):
                    reply = _CallResult()
                    separate = bool(state.answer)  # a second model call starts a paragraph
                    for piece in self._stream_call(command, config, state, reply):
                        yield _shown(state, piece, separate)
                        separate = False
                else:
                    reply = self._run_tool(command, config, state)
            except TimeoutError as exc:
                command = _throw(core, exc)
                continue
            command = _send(core, reply)

    # -- one turn: memory in, loop, memory out ------------------------------------------------
    def _start(self, inputs: Any, config: RunnableConfig) -> tuple[str, str]:
        text = _input_text(inputs)
        session_id = str(
            (config.get("configurable") or {}).get("session_id") or self.default_session_id
        )
        return text, session_id

    def _new_turn(self, text: str, session_id: str) -> _Turn:
        now = time.monotonic()
        return _Turn(session_id=session_id, text=text, started=now, deadline=now + self.max_seconds)

    @staticmethod
    def _record(state: _Turn) -> list[BaseMessage]:
        return [HumanMessage(content=state.text), *state.exchange, AIMessage(content=state.answer)]

    async def _atransform(
        self,
        inputs: AsyncIterator[Any],
        run_manager: Any,
        config: RunnableConfig,
    ) -> AsyncIterator[AddableDict]:
        value: Any = None
        async for item in inputs:
            value = item
        text, session_id = self._start(value, config)
        yield AddableDict(session_id=session_id, output="", steps=[])
        snapshot = await self.memory.aload(session_id)
        state = self._new_turn(text, session_id)
        core = self._core(state, snapshot.summary, snapshot.turns)
        async for piece in self._adrive(core, config, state):
            for chunk in _turn_chunks(state, piece):
                yield chunk
        for chunk in _turn_chunks(state, None):
            yield chunk
        await self.memory.aappend_turn(session_id, self._record(state))
        yield AddableDict(stop_reason=state.stop_reason)

    def _transform(
        self,
        inputs: Iterator[Any],
        run_manager: Any,
        config: RunnableConfig,
    ) -> Iterator[AddableDict]:
        value: Any = None
        for item in inputs:
            value = item
        text, session_id = self._start(value, config)
        yield AddableDict(session_id=session_id, output="", steps=[])
        snapshot = self.memory.load(session_id)
        state = self._new_turn(text, session_id)
        core = self._core(state, snapshot.summary, snapshot.turns)
        for piece in self._drive(core, config, state):
            for chunk in _turn_chunks(state, piece):
                yield chunk
        for chunk in _turn_chunks(state, None):
            yield chunk
        self.memory.append_turn(session_id, self._record(state))
        yield AddableDict(stop_reason=state.stop_reason)
