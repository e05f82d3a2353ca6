"""Agent benchmark: tokens sent per model call and framework overhead per turn.

A scripted 100-turn conversation (user messages of 30-110 words, answers of 80-230
words, a ``search_documents`` call with ~300-word passages every third turn) is run
through:

* lcelkit's agent, text ReAct and native tool calling (summary memory persisted in
  SQLite, token budget of ``context_window - max_new_tokens``);
* a naive buffer-memory ReAct agent written here: the whole history, verbatim, in
  every prompt (what ``ConversationBufferMemory`` + a ReAct loop does).

Both call the same fake chat model, which records every prompt and the time spent
inside it. Framework overhead per turn = wall time of the turn minus time inside the
model (agent and summarizer calls) and inside the tool. Tokens are counted with the
project's conservative estimate counter (the offline Ollama default).

    python bench/agent.py [--turns 100] [--window 4096] [--max-new 512]
    python bench/agent.py --real [--window N] [--max-new 128] [--set dev heldout]
                                      # a real model: agent_real.py

Prints one table.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import StructuredTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, PrivateAttr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lcelkit.agents import ConversationalAgent, SummaryMemoryStore, calculator_tool  # noqa: E402
from lcelkit.agents.parser import Action, ReActParseError, parse_react  # noqa: E402
from lcelkit.chains.tokens import count_messages, estimate_counter  # noqa: E402

__all__ = ["main"]

WORDS = [
    "the",
    "revenue",
    "table",
    "shows",
    "quarterly",
    "growth",
    "across",
    "regions",
    "while",
    "the",
    "warranty",
    "section",
    "explains",
    "coverage",
    "limits",
    "and",
    "the",
    "appendix",
    "lists",
    "supplier",
    "contracts",
    "with",
    "renewal",
    "dates",
    "지역별",
    "매출",
    "표",
    "계약",
    "갱신",
    "보증",
    "범위",
]


def _text(seed: int, n: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(n))


def user_message(turn: int) -> str:
    return f"Q{turn}: " + _text(turn, 30 + (turn * 37) % 80) + "?"


def answer_text(turn: int) -> str:
    return f"A{turn}: " + _text(turn + 1, 80 + (turn * 53) % 150) + "."


def uses_tool(turn: int) -> bool:
    return turn % 3 == 0


class FakeModel(BaseChatModel):
    """Scripted replies; records prompts and the seconds spent inside the model."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: Callable[[list[BaseMessage]], AIMessage]
    native_tools: bool = False
    _prompts: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _busy: list[float] = PrivateAttr(default_factory=lambda: [0.0])

    @property
    def _llm_type(self) -> str:
        return "bench-fake"

    @property
    def prompts(self) -> list[list[BaseMessage]]:
        return self._prompts

    @property
    def busy(self) -> float:
        return self._busy[0]

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        self._prompts.append(list(messages))
        return self.script(messages)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        start = time.perf_counter()
        message = self._reply(messages)
        self._busy[0] += time.perf_counter() - start
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        start = time.perf_counter()
        message = self._reply(messages)
        text = message.content if isinstance(message.content, str) else ""
        pieces = re.findall(r"\s*\S+|\s+", text) or [""]
        chunks = [ChatGenerationChunk(message=AIMessageChunk(content=p)) for p in pieces]
        if message.tool_calls:
            chunks.append(
                ChatGenerationChunk(
                    message=AIMessageChunk(
                        content="",
                        tool_call_chunks=[
                            {
                                "name": c["name"],
                                "args": __import__("json").dumps(c["args"]),
                                "id": c["id"],
                                "index": 0,
                                "type": "tool_call_chunk",
                            }
                            for c in message.tool_calls
                        ],
                    )
                )
            )
        self._busy[0] += time.perf_counter() - start
        yield from chunks  # producing them was counted as model time above

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


class Script:
    """The conversation's replies: a tool call first on every third turn, then an answer."""

    def __init__(self, native: bool) -> None:
        self.native = native
        self.turn = 0
        self.acted = False

    def __call__(self, messages: list[BaseMessage]) -> AIMessage:
        turn = self.turn
        if uses_tool(turn) and not self.acted:
            self.acted = True
            if self.native:
                return AIMessage(
                    content="",
                    tool_calls=[
                        {
                            "name": "search_documents",
                            "args": {"query": f"q{turn}"},
                            "id": f"c{turn}",
                        }
                    ],
                )
            return AIMessage(
                content="Thought: I should search.\nAction: search_documents\n"
                f"Action Input: q{turn}"
            )
        self.turn += 1
        self.acted = False
        answer = answer_text(turn)
        return AIMessage(content=answer if self.native else f"Thought: ok\nFinal Answer: {answer}")


def summarizer_script(messages: list[BaseMessage]) -> AIMessage:
    return AIMessage(content="Summary: " + _text(len(messages), 60))


def make_search_tool(tool_time: list[float]) -> StructuredTool:
    def search_documents(query: str) -> str:
        """Search the user's documents."""
        start = time.perf_counter()
        passages = "\n\n".join(
            f"[{i}] report.pdf, p. {i + 2}\n{_text(i + len(query), 100)}" for i in range(1, 4)
        )
        tool_time[0] += time.perf_counter() - start
        return passages

    return StructuredTool.from_function(search_documents)


def run_lcelkit(turns: int, window: int, max_new: int, native: bool, home: Path) -> dict:
    counter = estimate_counter()
    tool_time = [0.0]
    llm = FakeModel(script=Script(native), native_tools=native)
    summarizer = FakeModel(script=summarizer_script)
    memory = SummaryMemoryStore(
        f"sqlite:///{home / ('mem-native' if native else 'mem-text')}.sqlite",
        summarizer=summarizer,
        counter=counter,
        recent_turns=6,
        recent_max_tokens=(window - max_new) // 3,
        summary_max_tokens=256,
        prompt_limit=window - max_new,
    )
    agent = ConversationalAgent(
        llm,
        [make_search_tool(tool_time), calculator_tool()],
        memory=memory,
        counter=counter,
        context_window=window,
        max_new_tokens=max_new,
        mode="native" if native else "text",
    )
    overheads, per_turn_tokens = [], []
    for turn in range(turns):
        calls_before = len(llm.prompts)
        busy = llm.busy + summarizer.busy + tool_time[0]
        start = time.perf_counter()
        agent.invoke({"input": user_message(turn)}, {"configurable": {"session_id": "bench"}})
        wall = time.perf_counter() - start
        inside = llm.busy + summarizer.busy + tool_time[0] - busy
        overheads.append((wall - inside) * 1000)
        per_turn_tokens.append(max(count_messages(counter, p) for p in llm.prompts[calls_before:]))
    all_tokens = [count_messages(counter, p) for p in llm.prompts + summarizer.prompts]
    return {
        "overheads": overheads,
        "tokens": per_turn_tokens,
        "max": max(all_tokens),
        "over": sum(1 for n in all_tokens if n > window - max_new),
        "summaries": len(summarizer.prompts),
    }


def run_naive(turns: int, window: int, max_new: int) -> dict:
    """A buffer-memory ReAct agent: every turn sends the whole history verbatim."""
    counter = estimate_counter()
    tool_time = [0.0]
    tool = make_search_tool(tool_time)
    llm = FakeModel(script=Script(native=False))
    system = SystemMessage(
        content="Answer the user. Tools: search_documents. Use Thought/Action/Action Input, "
        "then Final Answer."
    )
    history: list[BaseMessage] = []
    overheads, per_turn_tokens = [], []
    for turn in range(turns):
        calls_before = len(llm.prompts)
        busy = llm.busy + tool_time[0]
        start = time.perf_counter()
        scratch: list[BaseMessage] = []
        question = HumanMessage(content=user_message(turn))
        for _ in range(6):
            reply = llm.invoke([system, *history, question, *scratch], stop=["\nObservation:"])
            try:
                parsed = parse_react(str(reply.content))
            except ReActParseError:
                answer = str(reply.content)
                break
            if isinstance(parsed, Action):
                observation = tool.invoke({"query": str(parsed.tool_input)})
                scratch += [
                    AIMessage(content=parsed.log),
                    HumanMessage(f"Observation: {observation}"),
                ]
                continue
            answer = parsed.output
            break
        history += [question, *scratch, AIMessage(content=answer)]
        wall = time.perf_counter() - start
        overheads.append((wall - (llm.busy + tool_time[0] - busy)) * 1000)
        per_turn_tokens.append(max(count_messages(counter, p) for p in llm.prompts[calls_before:]))
    all_tokens = [count_messages(counter, p) for p in llm.prompts]
    return {
        "overheads": overheads,
        "tokens": per_turn_tokens,
        "max": max(all_tokens),
        "over": sum(1 for n in all_tokens if n > window - max_new),
        "summaries": 0,
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--window", type=int, default=4096)
    parser.add_argument("--max-new", type=int, default=512)
    parser.add_argument("--real", action="store_true",
                        help="50 turns with SmolLM2-135M (bench/agent_real.py)")  # fmt: skip
    parser.add_argument("--variants", nargs="*", default=None,
                        help="--real only: e.g. 'auto retrieval'")  # fmt: skip
    parser.add_argument("--set", nargs="*", default=["dev"], choices=["dev", "heldout"],
                        help="--real only: conversation sets (heldout: not tuned on)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.real:
        from agent_real import run_real

        window = args.window if "--window" in (argv or sys.argv) else None
        max_new = args.max_new if "--max-new" in (argv or sys.argv) else 128
        return run_real(max_new=max_new, window=window, only=args.variants, sets=args.set)
    marks = [t for t in (1, 10, 50, 100) if t <= args.turns]

    with tempfile.TemporaryDirectory() as tmp:
        rows = {
            "lcelkit text ReAct": run_lcelkit(
                args.turns, args.window, args.max_new, False, Path(tmp)
            ),
            "lcelkit native tools": run_lcelkit(
                args.turns, args.window, args.max_new, True, Path(tmp)
            ),
            "naive buffer memory": run_naive(args.turns, args.window, args.max_new),
        }
    limit = args.window - args.max_new
    print(
        f"agent benchmark: {args.turns} turns, window {args.window}, max_new_tokens "
        f"{args.max_new} (prompt budget {limit} tokens); tokens = max prompt of the turn"
    )
    head = (
        f"{'agent':<22} {'overhead p50 ms':>15} {'p95 ms':>8} "
        + " ".join(f"{'tok@' + str(t):>8}" for t in marks)
        + f" {'max tok':>8} {'over budget':>11} {'summaries':>9}"
    )
    print(head)
    print("-" * len(head))
    for name, row in rows.items():
        tokens = row["tokens"]
        print(
            f"{name:<22} {statistics.median(row['overheads']):>15.2f} "
            f"{_pct(row['overheads'], 0.95):>8.2f} "
            + " ".join(f"{tokens[t - 1]:>8d}" for t in marks)
            + f" {row['max']:>8d} {row['over']:>11d} {row['summaries']:>9d}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
