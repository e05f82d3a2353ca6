"""Token budgeting: every prompt the agent sends fits ``context_window - max_new_tokens``.

The parts of an agent prompt give way in a fixed order when the window is tight:

1. the running summary (truncated, then dropped),
2. recent turns (oldest whole turns first, so a tool message never loses its call),
3. the scratchpad (oldest observations trimmed first, then oldest steps dropped;
   the newest step's observation is truncated last),
4. the current input (truncated, head and tail kept).

The system prompt and the tool descriptions never give way. When even they plus a
minimal input cannot fit, :class:`lcelkit.errors.ContextBudgetError` is raised
before any model call.
"""

from __future__ import annotations

import contextlib
import json
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from lcelkit.chains.budget import reply_reserve
from lcelkit.chains.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, count_messages
from lcelkit.errors import ContextBudgetError

__all__ = [
    "MESSAGE_OVERHEAD",
    "CachedCounter",
    "FittedPrompt",
    "PromptBudget",
    "cached_counter",
    "count_message",
    "count_prompt",
    "message_text",
    "truncate_middle",
    "truncate_tokens",
]

TokenCounter = Callable[[str], int]
TRIMMED = "[older observation trimmed to fit the context window]"


class CachedCounter:
    """Memoizes a token counter: agent prompts re-count the same history every call.

    Bounded (``maxsize`` texts, oldest dropped first); thread-safe enough for counting
    (a lost race only counts a text twice).
    """

    def __init__(self, counter: TokenCounter, maxsize: int = 4096) -> None:
        self.counter = counter
        self.maxsize = maxsize
        self._cache: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        """Tokens of ``text`` (cached)."""
        cached = self._cache.get(text)
        if cached is None:
            cached = self.counter(text)
            if len(self._cache) >= self.maxsize:
                with contextlib.suppress(RuntimeError, KeyError, StopIteration):
                    self._cache.pop(next(iter(self._cache)))  # another thread may race
            self._cache[text] = cached
        return cached

    def __getattr__(self, name: str) -> Any:
        # The wrapped counter's facts (e.g. its chat template's message_overhead).
        if name == "counter":
            raise AttributeError(name)
        return getattr(self.counter, name)

    def __repr__(self) -> str:
        return f"CachedCounter({self.counter!r})"


_SHARED: weakref.WeakKeyDictionary[Any, CachedCounter] = weakref.WeakKeyDictionary()


def cached_counter(counter: TokenCounter, maxsize: int = 4096) -> TokenCounter:
    """``counter`` memoized; the agent and its memory given the same counter share a cache."""
    if isinstance(counter, CachedCounter):
        return counter
    try:
        shared = _SHARED.get(counter)
        if shared is None:
            shared = _SHARED[counter] = CachedCounter(counter, maxsize)
        return shared
    except TypeError:  # not weak-referenceable (a builtin)
        return CachedCounter(counter, maxsize)


def message_text(message: BaseMessage) -> str:
    """The text a message contributes to a prompt (content, tool calls as JSON)."""
    content = message.content
    if isinstance(content, str):
        text = content
    else:
        text = " ".join(
            part if isinstance(part, str) else str(part.get("text", "")) for part in content
        )
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = [{"name": c["name"], "args": c["args"]} for c in message.tool_calls]
        text += json.dumps(calls, ensure_ascii=False)
    return text


def count_message(counter: TokenCounter, message: BaseMessage) -> int:
    """Tokens of one message in a prompt (``chains.tokens.count_messages`` minus priming)."""
    return count_messages(counter, [message]) - REPLY_PRIMING


def count_prompt(counter: TokenCounter, messages: Sequence[BaseMessage]) -> int:
    """Tokens of a whole prompt: exactly ``chains.tokens.count_messages``."""
    return count_messages(counter, messages)


def truncate_tokens(text: str, max_tokens: int, counter: TokenCounter, marker: str = " …") -> str:
    """The longest prefix of ``text`` that, with ``marker``, fits ``max_tokens``."""
    if counter(text) <= max_tokens:
        return text
    if max_tokens <= 0:
        return ""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if counter(text[:mid] + marker) <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + marker if low else ""


def truncate_middle(
    text: str, max_tokens: int, counter: TokenCounter, marker: str = "\n[… input truncated …]\n"
) -> str:
    """Keep the head (2/3) and the tail (1/3) of ``text`` within ``max_tokens``."""
    if counter(text) <= max_tokens:
        return text
    room = max_tokens - counter(marker)
    if room <= 0:
        return truncate_tokens(text, max_tokens, counter)
    head = truncate_tokens(text, (room * 2) // 3, counter, marker="")
    tail_budget = room - counter(head)
    low, high = 0, len(text) - len(head)
    while low < high:  # longest suffix within tail_budget
        mid = (low + high + 1) // 2
        if counter(text[len(text) - mid :]) <= tail_budget:
            low = mid
        else:
            high = mid - 1
    tail = text[len(text) - low :] if low else ""
    result = head + marker + tail
    while counter(result) > max_tokens and tail:
        tail = tail[len(tail) // 4 + 1 :]
        result = head + marker + tail
    return result if counter(result) <= max_tokens else truncate_tokens(text, max_tokens, counter)


def _with_content(message: BaseMessage, content: str) -> BaseMessage:
    return message.model_copy(update={"content": content})


@dataclass
class FittedPrompt:
    """The messages to send and what gave way to make them fit."""

    messages: list[BaseMessage]
    tokens: int
    limit: int
    dropped_turns: int = 0
    summary_truncated: bool = False
    summary_dropped: bool = False
    observations_trimmed: int = 0
    steps_dropped: int = 0
    input_truncated: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class PromptBudget:
    """Fits agent prompts into ``context_window - max_new_tokens`` tokens.

    ``counter`` counts a string's tokens (the backend's tokenizer where possible);
    prompts are counted with ``chains.tokens.count_messages`` (text, per-message
    template overhead, tool calls, reply priming).
    """

    counter: TokenCounter
    context_window: int
    max_new_tokens: int = 512
    min_input_tokens: int = 32

    @property
    def reply_tokens(self) -> int:
        """Tokens kept for the reply (``chains.budget.reply_reserve``: adapts to small windows)."""
        return reply_reserve(self.context_window, self.max_new_tokens)

    @property
    def limit(self) -> int:
        """Most tokens a prompt may have."""
        return self.context_window - self.reply_tokens

    def count(self, messages: Sequence[BaseMessage]) -> int:
        """Tokens of ``messages`` as this budget counts them."""
        return count_prompt(self.counter, messages)

    def _cost(self, messages: Sequence[BaseMessage]) -> int:
        return sum(count_message(self.counter, m) for m in messages)

    def check(
        self, messages: Sequence[BaseMessage], *, what: str = "prompt", extra: int = 0
    ) -> int:
        """Raise ContextBudgetError when ``messages`` (+ ``extra``) exceed the limit."""
        tokens = self.count(messages) + extra
        if tokens > self.limit:
            raise ContextBudgetError(
                f"the {what} needs {tokens} tokens but the model's window leaves {self.limit} "
                f"(context_window {self.context_window} - reply {self.reply_tokens})",
                hint="raise LCELKIT_CONTEXT_WINDOW (and the model's num_ctx), lower "
                "LCELKIT_MAX_NEW_TOKENS, or use fewer/shorter tools and instructions",
            )
        return tokens

    def fit(
        self,
        *,
        fixed: Sequence[BaseMessage],
        current: BaseMessage,
        summary: BaseMessage | None = None,
        turns: Sequence[Sequence[BaseMessage]] = (),
        scratchpad: Sequence[Sequence[BaseMessage]] = (),
        extra_fixed_tokens: int = 0,
    ) -> FittedPrompt:
        """Assemble ``fixed + summary + turns + current + scratchpad`` within the limit.

        ``turns`` and ``scratchpad`` are lists of message groups (oldest first); a group
        is kept or dropped whole. The last message of a scratchpad group is its
        observation, which may be trimmed. ``extra_fixed_tokens`` counts what is sent
        beside the messages (tool schemas on the native path).
        """
        result = FittedPrompt(messages=[], tokens=0, limit=self.limit)
        # The counter's own template overhead where it knows it (HF chat templates).
        overhead = getattr(self.counter, "message_overhead", MESSAGE_OVERHEAD)
        fixed_tokens = self.count(fixed) + extra_fixed_tokens  # includes the reply priming
        input_tokens = count_message(self.counter, current)
        min_input = min(input_tokens, self.min_input_tokens + overhead)
        if fixed_tokens + min_input > self.limit:
            raise ContextBudgetError(
                f"the system prompt and tool descriptions need {fixed_tokens} tokens; with the "
                f"input that exceeds the {self.limit} tokens the window leaves "
                f"(context_window {self.context_window} - reply {self.reply_tokens})",
                hint="raise LCELKIT_CONTEXT_WINDOW (and the model's num_ctx), lower "
                "LCELKIT_MAX_NEW_TOKENS, or register fewer tools",
            )
        room = self.limit - fixed_tokens

        # 1. The current input, keeping a share of the room for the scratchpad.
        steps = [list(group) for group in scratchpad]
        step_tokens = [self._cost(g) for g in steps]
        reserve = min(sum(step_tokens), room // 4) if steps else 0
        input_cap = max(min_input, room - reserve)
        if input_tokens > input_cap:
            text = message_text(current)
            current = _with_content(
                current, truncate_middle(text, input_cap - overhead, self.counter)
            )
            input_tokens = count_message(self.counter, current)
            result.input_truncated = True
        room -= input_tokens

        # 2. The scratchpad: trim oldest observations, drop oldest steps, cut the newest.
        total = sum(step_tokens)
        for i in range(len(steps) - 1):
            if total <= room:
                break
            obs = steps[i][-1]
            if message_text(obs) != TRIMMED:
                steps[i][-1] = _with_content(obs, TRIMMED)
                new = self._cost(steps[i])
                total += new - step_tokens[i]
                step_tokens[i] = new
                result.observations_trimmed += 1
        while total > room and len(steps) > 1:
            total -= step_tokens.pop(0)
            steps.pop(0)
            result.steps_dropped += 1
        if steps and total > room:
            last = steps[-1]
            others = self._cost(last[:-1])
            budget = room - others - overhead
            if budget < 8:
                raise ContextBudgetError(
                    f"the newest agent step alone needs {total} tokens; only {room} are left",
                    hint="raise LCELKIT_CONTEXT_WINDOW or lower agent.observation_max_tokens",
                )
            last[-1] = _with_content(
                last[-1], truncate_tokens(message_text(last[-1]), budget, self.counter)
            )
            total = self._cost(last)
            result.observations_trimmed += 1
        room -= total

        # 3. Recent turns, newest first, whole turns only.
        kept: list[list[BaseMessage]] = []
        for turn in reversed(list(turns)):
            cost = self._cost(turn)
            if cost > room:
                break
            kept.append(list(turn))
            room -= cost
        kept.reverse()
        result.dropped_turns = len(turns) - len(kept)

        # 4. The summary, truncated or dropped.
        summary_messages: list[BaseMessage] = []
        if summary is not None:
            cost = count_message(self.counter, summary)
            if cost <= room:
                summary_messages = [summary]
            elif room - overhead >= 24:
                cut = truncate_tokens(message_text(summary), room - overhead, self.counter)
                summary_messages = [_with_content(summary, cut)]
                result.summary_truncated = True
            else:
                result.summary_dropped = True

        messages = list(fixed)
        messages += summary_messages
        for turn in kept:
            messages += turn
        messages.append(current)
        for group in steps:
            messages += group
        result.messages = messages
        result.tokens = self.count(messages) + extra_fixed_tokens
        if result.tokens > self.limit:  # the counter is not additive (rare); say so, never send
            raise ContextBudgetError(
                f"could not fit the prompt: {result.tokens} tokens > {self.limit}",
                hint="raise LCELKIT_CONTEXT_WINDOW or shorten the input",
            )
        return result
