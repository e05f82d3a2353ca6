"""The conversational ReAct agent: a LangChain ``Runnable`` with tools, memory and a budget.

Two paths share the tools, the memory and the token budget:

* **text** ReAct for models without tool calling (local HF pipelines, small Ollama
  models): ``Thought/Action/Action Input/Observation/Final Answer`` with a stop
  sequence at ``Observation:``, a tolerant parser, one retry with a correction
  message, then a graceful answer (never an exception);
* **native** tool calling (``bind_tools``) where the backend supports it.

Input ``{"input": str}``; config ``configurable.session_id``; output
``{"output": str, "session_id": str, "steps": [...], "stop_reason": str}``. Streaming
(``astream``/``astream_events`` v2) yields the answer tokens as ``{"output": token}``
chunks of the agent's own run (``on_chain_stream``); tools emit
``on_tool_start``/``on_tool_end``. On the native path, text a model writes before a
tool call is shown as it streams and stays part of the answer.

The loop itself (``_core``) does no I/O: it yields commands (call the model, run a
tool, show text) that a sync or an async driver carries out. The sync entry points
(``invoke``, ``stream``, ``chat``) use the model's sync API and create no event loop,
so they work inside Jupyter's running loop and keep one HTTP client per model; the
async ones (``ainvoke``, ``astream``, ``astream_events``, ``achat``) run in the
caller's loop. ``max_seconds`` interrupts an async model call; a sync call is checked
between streamed chunks.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.utils import AddableDict, ConfigurableFieldSpec
from langchain_core.tools import BaseTool
from pydantic import BaseModel

from lcelkit.agents.budget import PromptBudget, cached_counter, message_text, truncate_tokens
from lcelkit.agents.drivers import _Drivers
from lcelkit.agents.memory import SummaryMemoryStore
from lcelkit.agents.parser import (
    Action,
    Finish,
    ReActParseError,
    cut_observation,
    parse_react,
    strip_thought,
)
from lcelkit.agents.routing import RetrievalMode, first_tool, passages_relevant
from lcelkit.agents.turn import (
    APOLOGY,
    STOP_SEQUENCES,
    AgentInput,
    AgentOutput,
    AgentStep,
    _chunk_text,
    _Command,
    _Emit,
    _LLMCall,
    _merge_system,
    _new_id,
    _ToolCall,
    _Turn,
)
from lcelkit.errors import ContextBudgetError, LcelkitError

__all__ = [
    "STOP_SEQUENCES",
    "AgentInput",
    "AgentOutput",
    "AgentStep",
    "ConversationalAgent",
    "supports_tool_calling",
]

logger = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]
ErrorMapper = Callable[[BaseException], LcelkitError | None]


def supports_tool_calling(llm: Any) -> bool:
    """Best guess whether ``llm`` can do native tool calling (overrides ``bind_tools``)."""
    try:
        from lcelkit.chains.llms import supports_native_tools
    except ImportError:
        supports_native_tools = None
    if supports_native_tools is not None:
        try:
            return bool(supports_native_tools(llm))
        except Exception as exc:  # a probe that fails means "no"
            logger.debug("supports_native_tools failed: %s", exc)
            return False
    bind = getattr(type(llm), "bind_tools", None)
    return bind is not None and bind is not BaseChatModel.bind_tools


class ConversationalAgent(_Drivers, Runnable[dict[str, Any], dict[str, Any]]):
    """A ReAct agent with tools, persisted summary memory and a per-call token budget.

    ``llm``: a chat model (or any Runnable taking messages). ``tools``: LangChain tools.
    ``memory``: a :class:`SummaryMemoryStore` (an in-memory SQLite one by default).
    ``counter``: ``str -> int`` token counter of the backend. ``context_window`` and
    ``max_new_tokens`` bound every prompt. ``mode``: ``"auto"`` uses native tool calling
    when the model supports it (``native_tools`` overrides the detection).
    ``error_mapper`` turns backend exceptions into actionable ``LcelkitError``s.
    """

    def __init__(
        self,
        llm: Runnable[Any, Any],
        tools: Sequence[BaseTool] = (),
        *,
        memory: SummaryMemoryStore | None = None,
        counter: TokenCounter | None = None,
        context_window: int = 4096,
        max_new_tokens: int = 512,
        mode: Literal["auto", "text", "native"] = "auto",
        max_steps: int = 6,
        max_seconds: float = 180.0,
        observation_max_tokens: int = 512,
        instructions: str = "",
        native_tools: bool | None = None,
        error_mapper: ErrorMapper | None = None,
        default_session_id: str = "default",
        name: str = "lcelkit_agent",
        retrieval: RetrievalMode = "tool",
        repair: bool = True,
        retrieval_tool: str = "search_documents",
    ) -> None:
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate tool names: {names}")
        self.llm = llm
        self.tools = list(tools)
        self.counter: TokenCounter = cached_counter(counter or (lambda text: len(text.split())))
        self.budget = PromptBudget(
            counter=self.counter,
            context_window=context_window,
            max_new_tokens=max_new_tokens,
        )
        self.memory = memory or SummaryMemoryStore(
            "sqlite://",
            counter=self.counter,
            prompt_limit=self.budget.limit,
        )
        self.mode = mode
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.observation_max_tokens = observation_max_tokens
        self.instructions = instructions
        self.native_tools = native_tools
        self.error_mapper = error_mapper
        self.default_session_id = default_session_id
        self.name = name
        self.retrieval: RetrievalMode = retrieval
        self.repair = repair
        self.retrieval_tool = retrieval_tool
        self._by_name = {t.name: t for t in self.tools}
        self._native_llm: Runnable[Any, Any] | None = None
        self._tool_schema_tokens: int | None = None

    # -- schemas and config --------------------------------------------------------------
    @property
    def InputType(self) -> type[dict[str, Any]]:
        """Input type: a dict ``{"input": str}``."""
        return dict

    @property
    def OutputType(self) -> type[dict[str, Any]]:
        """Output type: a dict (see :class:`AgentOutput`)."""
        return dict

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """The pydantic input schema (:class:`AgentInput`)."""
        return AgentInput

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """The pydantic output schema (:class:`AgentOutput`)."""
        return AgentOutput

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """``configurable.session_id``: which memory session a call belongs to."""
        return [
            ConfigurableFieldSpec(
                id="session_id",
                annotation=str,
                name="Session ID",
                description="Conversation memory key; turns are stored per session.",
                default=self.default_session_id,
                is_shared=True,
            )
        ]

    @property
    def resolved_mode(self) -> Literal["text", "native"]:
        """The path this agent takes (``auto`` resolved against the model)."""
        if self.mode != "auto":
            return self.mode
        if self.native_tools is None:
            self.native_tools = supports_tool_calling(self.llm)
        return "native" if self.native_tools and self.tools else "text"

    # -- prompts -----------------------------------------------------------------------
    def _tool_lines(self) -> str:
        lines = []
        for tool in self.tools:
            args = ", ".join(tool.args) or "no input"
            lines.append(f"- {tool.name}: {tool.description.strip()} (input: {args})")
        return "\n".join(lines) or "- (no tools)"

    def _system(self, mode: str, direct: bool = False) -> SystemMessage:
        from lcelkit.prompts.agent import PROMPTS

        if direct:  # text path after a search before the model spoke: no ReAct format
            text = PROMPTS["agent.grounded_system"].format(instructions=self.instructions)
        elif mode == "native":
            text = PROMPTS["agent.native_system"].format(instructions=self.instructions)
        else:
            text = PROMPTS["agent.react_system"].format(
                instructions=self.instructions,
                tools=self._tool_lines(),
                tool_names=", ".join(self._by_name) or "none",
            )
        return SystemMessage(content=text.strip())

    def _schema_tokens(self) -> int:
        if self._tool_schema_tokens is None:
            from langchain_core.utils.function_calling import convert_to_openai_tool

            schemas = [convert_to_openai_tool(t) for t in self.tools]
            self._tool_schema_tokens = self.counter(json.dumps(schemas, ensure_ascii=False))
        return self._tool_schema_tokens

    def _history(self, turns: list[list[BaseMessage]], mode: str) -> list[list[BaseMessage]]:
        if mode == "native":
            return turns
        # Text models see the conversation only; tool exchanges stay in memory.
        rendered = []
        for turn in turns:
            kept: list[BaseMessage] = [m for m in turn if isinstance(m, HumanMessage)]
            finals = [
                m for m in turn if isinstance(m, AIMessage) and not m.tool_calls and m.content
            ]
            rendered.append(kept[:1] + finals[-1:])
        return rendered

    def _prompt(
        self,
        state: _Turn,
        mode: str,
        summary: str,
        turns: list[list[BaseMessage]],
        extra: list[list[BaseMessage]] | None = None,
    ) -> list[BaseMessage]:
        from lcelkit.prompts.agent import PROMPTS

        summary_message = (
            SystemMessage(content=PROMPTS["agent.summary_context"].format(summary=summary))
            if summary
            else None
        )
        fitted = self.budget.fit(
            fixed=[self._system(mode, state.direct and not extra)],
            current=HumanMessage(content=state.text),
            summary=summary_message,
            turns=self._history(turns, mode),
            scratchpad=state.scratch + (extra or []),
            extra_fixed_tokens=self._schema_tokens() if mode == "native" else 0,
        )
        if fitted.input_truncated:
            logger.warning("the input was truncated to fit the context window")
        return _merge_system(fitted.messages)

    # -- the loop ------------------------------------------------------------------------
    def _graceful(self, raw: str) -> str:
        """The reply as an answer: markers of actions dropped, a ``Thought:`` prefix cut."""
        lines = []
        for line in cut_observation(raw).strip().splitlines():
            lowered = line.strip().lower()
            if lowered.startswith(("action:", "action input:")):
                continue
            lines.append(strip_thought(line) if lowered.startswith("thought") else line)
        text = "\n".join(lines).strip()
        return text or APOLOGY

    def _timeout_answer(self, state: _Turn) -> str:
        found = next((s.observation for s in reversed(state.steps) if not s.error), "")
        text = f"I could not finish within the time limit of {self.max_seconds:g} seconds."
        if found:
            text += " What I found so far:\n" + truncate_tokens(found, 200, self.counter)
        return text

    def _budget_answer(self, state: _Turn) -> str:
        found = next((s.observation for s in reversed(state.steps) if not s.error), "")
        text = "The model's context window is full, so I stopped here."
        if found:
            text += " What I found so far:\n" + truncate_tokens(found, 200, self.counter)
        return text

    @staticmethod
    def _add_step(
        state: _Turn,
        mode: str,
        call: _ToolCall,
        step: AgentStep,
        tool_message: ToolMessage,
        log: str | None = None,
        retrieved: str | None = None,
    ) -> None:
        """Record a text-path (or a forced) tool step: scratchpad in the mode's shape, and
        the exchange kept in memory as a native call + tool message pair."""
        from lcelkit.prompts.agent import PROMPTS

        state.steps.append(step)
        args = step.tool_input if isinstance(step.tool_input, dict) else {"input": step.tool_input}
        tool_call = {"name": call.name, "args": args, "id": call.call_id, "type": "tool_call"}
        if mode == "native":
            state.scratch.append([AIMessage(content="", tool_calls=[tool_call]), tool_message])
        elif retrieved:  # the result handed over as the user's context, not as a ReAct step
            text = PROMPTS[retrieved].format(
                observation=message_text(tool_message), question=state.text, tool=call.name
            )
            state.scratch.append([HumanMessage(content=text)])
        else:
            if log is None:
                value = next(iter(args.values()), "") if len(args) == 1 else json.dumps(args)
                log = f"Thought: {step.thought}\nAction: {call.name}\nAction Input: {value}"
            observation = PROMPTS["agent.observation"].format(
                observation=message_text(tool_message)
            )
            state.scratch.append([AIMessage(content=log), HumanMessage(content=observation)])
        state.exchange += [AIMessage(content=step.thought, tool_calls=[tool_call]), tool_message]

    def _core(
        self, state: _Turn, summary: str, turns: list[list[BaseMessage]]
    ) -> Generator[_Command, Any, None]:
        """The agent loop, free of I/O: it yields commands that a driver carries out.

        ``_LLMCall`` is answered with a :class:`_CallResult` (or ``TimeoutError`` thrown
        in), ``_ToolCall`` with ``(ToolMessage, AgentStep)``, ``_Emit`` with ``None``.
        """
        from lcelkit.prompts.agent import PROMPTS

        mode = self.resolved_mode
        retried = False
        correction: list[list[BaseMessage]] = []
        forced = False
        last_text: str | None = None
        available = set(self._by_name) - {self.retrieval_tool}
        if self.retrieval_tool in self._by_name:
            available.add("search_documents")
        # auto: on the text path only; a native tool-calling model chooses its own tools.
        routing = self.retrieval if self.retrieval != "auto" or mode == "text" else "tool"
        first = first_tool(routing, state.text, available)
        if first is not None:
            # Run the tool before the model speaks: small models rarely choose one.
            name = self.retrieval_tool if first[0] == "search_documents" else first[0]
            call = _ToolCall(name, first[1], _new_id())
            tool_message, step = yield call
            searched = first[0] == "search_documents"
            if searched and routing == "auto" and not passages_relevant(tool_message.artifact):
                # Nothing relevant (small talk, a question the documents do not cover): no
                # passages in the prompt; the model answers as usual (and may still search).
                logger.info("search before the model: nothing relevant for %r", state.text[:80])
            else:
                step.thought = "Ran before the model's first call."
                key = "agent.retrieved" if searched else "agent.tool_result"
                self._add_step(state, mode, call, step, tool_message, retrieved=key)
                state.direct = mode == "text"  # a plain reply after the result is the answer
        while True:
            if len(state.steps) >= self.max_steps and not forced:
                forced = True
                correction = [[HumanMessage(content=PROMPTS["agent.force_final"].format())]]
            if time.monotonic() >= state.deadline:
                break
            try:
                messages = self._prompt(state, mode, summary, turns, correction)
            except ContextBudgetError:
                if correction and retried and last_text is not None:
                    # No room for the format correction: the unparsable reply is the answer.
                    state.stop_reason = "parse_error"
                    yield _Emit(self._graceful(last_text))
                    return
                if not state.steps:
                    raise  # nothing done yet: the caller gets the clear error, before any call
                # Mid-turn, the newest tool output leaves no room for another call: end the
                # turn with what was found instead of failing it.
                logger.warning("context window full after %d tool steps", len(state.steps))
                state.stop_reason = "budget"
                yield _Emit(self._budget_answer(state))
                return
            runnable = self._runnable_for(mode, forced)
            try:
                result = yield _LLMCall(runnable, messages, marker=mode == "text")
            except TimeoutError:
                break
            assert result.message is not None and result.streamer is not None
            if mode == "native":
                message = result.message
                calls, bad = list(message.tool_calls), list(message.invalid_tool_calls)
                if not forced and (calls or bad):
                    step_messages: list[BaseMessage] = [message]
                    for item in calls:
                        call = _ToolCall(item["name"], item["args"], item.get("id") or _new_id())
                        tool_message, step = yield call
                        step.thought = _chunk_text(message)
                        step_messages.append(tool_message)
                        state.steps.append(step)
                    if bad:
                        step_messages[0] = self._answer_invalid_calls(message, bad)
                        step_messages.extend(self._invalid_call_messages(bad, state))
                    state.scratch.append(step_messages)
                    state.exchange.extend(step_messages)
                    if state.stop_reason == "timeout":
                        break
                    continue
                final = result.streamer.finish(_chunk_text(message).strip())
                if final:
                    yield _Emit(final)
                if not state.answer.strip():
                    yield _Emit(APOLOGY)
                state.stop_reason = "max_steps" if forced else "answer"
                return
            # text path
            try:
                parsed: Action | Finish | None = parse_react(result.text)
            except ReActParseError:
                parsed = None
            if forced and not isinstance(parsed, Finish):
                parsed = Finish(output=self._graceful(result.text))
                state.stop_reason = "max_steps"
            if isinstance(parsed, Finish):
                rest = result.streamer.finish(parsed.output or self._graceful(result.text))
                if rest:
                    yield _Emit(rest)
                state.stop_reason = state.stop_reason or "answer"
                return
            if parsed is None and state.direct and not forced:
                # Passages came before the model spoke and it answered in plain text.
                rest = result.streamer.finish(self._graceful(result.text))
                if rest:
                    yield _Emit(rest)
                state.stop_reason = "answer"
                return
            if parsed is None:
                logger.info("unparsable model reply: %r", result.text[:300])
                if retried or not self.repair:
                    state.stop_reason = "parse_error"
                    yield _Emit(self._graceful(result.text))
                    return
                retried, last_text = True, result.text
                hint = PROMPTS["agent.format_correction"].format(
                    tool_names=", ".join(self._by_name) or "none"
                )
                # Only a glimpse of the bad reply: a rambling one must not fill the window.
                said = truncate_tokens(
                    cut_observation(result.text).strip() or "(empty)", 48, self.counter
                )
                correction = [[AIMessage(content=said), HumanMessage(content=hint)]]
                continue
            retried, correction = False, []
            call = _ToolCall(parsed.tool, parsed.tool_input, _new_id())
            tool_message, step = yield call
            step.thought = parsed.thought
            self._add_step(state, mode, call, step, tool_message, log=parsed.log)
            state.direct = False  # the model chose a tool: back to the ReAct format
            if state.stop_reason == "timeout":
                break
        state.stop_reason = "timeout"
        if not state.answer:
            yield _Emit(self._timeout_answer(state))

    # -- Runnable interface ----------------------------------------------------------------
    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream ``{"output": token}`` chunks (plus session_id, steps, stop_reason)."""

        async def _one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self._atransform_stream_with_config(
            _one(), self._atransform, config, **kwargs
        ):
            yield chunk

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Run one turn; returns ``{"output", "session_id", "steps", "stop_reason"}``."""
        final: AddableDict | None = None
        async for chunk in self.astream(input, config, **kwargs):
            final = chunk if final is None else final + chunk
        return dict(final or {})

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Sync streaming with the model's sync API: no event loop is created, so it
        works inside Jupyter's running loop and keeps one HTTP client per model."""
        yield from self._transform_stream_with_config(
            iter([input]), self._transform, config, **kwargs
        )

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Run one turn synchronously (works inside a running event loop, e.g. Jupyter)."""
        final: AddableDict | None = None
        for chunk in self.stream(input, config, **kwargs):
            final = chunk if final is None else final + chunk
        return dict(final or {})

    # -- conveniences ----------------------------------------------------------------------
    def chat(self, message: str, session_id: str | None = None) -> str:
        """One turn, the answer only; safe to call inside Jupyter's running loop."""
        result = self.invoke(
            {"input": message},
            {"configurable": {"session_id": session_id or self.default_session_id}},
        )
        return str(result["output"])

    async def achat(self, message: str, session_id: str | None = None) -> str:
        """Async :meth:`chat`."""
        result = await self.ainvoke(
            {"input": message},
            {"configurable": {"session_id": session_id or self.default_session_id}},
        )
        return str(result["output"])

    def reset(self, session_id: str | None = None) -> bool:
        """Forget a session's memory."""
        return self.memory.reset(session_id or self.default_session_id)
