"""Token budgets: what fits into ``context_window - max_new_tokens``, decided before any call.

``pack`` fills a budget with retrieved chunks in rank order. A chunk that does not
fit is dropped whole (never cut mid-sentence by the backend's truncation) and
packing goes on with the next, smaller-or-equal-ranked chunk, so the kept chunks
stay in rank order and the budget is never exceeded. With ``trim_last=True`` the
first chunk that does not fit is instead cut at a sentence boundary to what fits
(marked ``metadata["trimmed"] = True``), when at least one sentence fits.

``prompt_budget`` says how many tokens are left for context once the prompt
without context (system text, question, history) is counted, and raises
:class:`~lcelkit.errors.ContextBudgetError` when nothing is left.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage

from lcelkit.errors import ContextBudgetError

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "PackResult",
    "count_prompt",
    "pack",
    "prompt_budget",
    "reply_reserve",
    "split_sentences",
]

logger = logging.getLogger(__name__)

Counter = Callable[[str], int]

# Chat templates wrap each message in role markers (``<|im_start|>user\n`` ... ``<|im_end|>``);
# this many tokens per message (plus as many for the assistant header) are reserved for them.
MESSAGE_OVERHEAD_TOKENS = 8

_SENTENCE_RE = re.compile(r"(?<=[.!?。！？])\s+|\n+")


@dataclass
class PackResult:
    """Chunks that fit (in rank order), chunks dropped, and the tokens the kept ones use."""

    kept: list[Document] = field(default_factory=list)
    dropped: list[Document] = field(default_factory=list)
    tokens: int = 0


def split_sentences(text: str) -> list[str]:
    """Sentences (and lines) of ``text``, each with its trailing whitespace removed."""
    return [s for s in (part.strip() for part in _SENTENCE_RE.split(text)) if s]


def _message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = [p if isinstance(p, str) else str(p.get("text", "")) for p in content]
    return "\n".join(parts)


def count_prompt(counter: Counter, messages: Sequence[BaseMessage] | str) -> int:
    """Tokens a prompt takes: its texts plus :data:`MESSAGE_OVERHEAD_TOKENS` per message.

    Uses ``chains.tokens.count_messages`` (the backend-aware count) when it is
    available and at least as large, so the reserve is never smaller than the
    backend's own chat-template cost.
    """
    if isinstance(messages, str):
        return counter(messages)
    own = sum(counter(_message_text(m)) for m in messages)
    own += MESSAGE_OVERHEAD_TOKENS * (len(messages) + 1)
    try:
        from lcelkit.chains.tokens import count_messages
    except ImportError:
        return own
    try:
        theirs = int(count_messages(counter, list(messages)))  # type: ignore[arg-type]
    except Exception:  # a counter that cannot take messages: our own estimate stands
        return own
    return max(own, theirs)


MIN_REPLY_TOKENS = 64


def reply_reserve(context_window: int, max_new_tokens: int) -> int:
    """Tokens kept free for the model's reply: ``max_new_tokens``, but at most a quarter
    of the window (never under 64, nor over ``max_new_tokens``).

    With the default 512 new tokens a 1,024-token window keeps 256 for the reply and
    768 for the prompt, instead of 512/512 (which left no room for one observation
    beside the agent's instructions). Windows of 2,048 tokens and more are unchanged.
    The HF backend generates up to what the window leaves after the prompt.
    """
    return max(1, min(max_new_tokens, max(MIN_REPLY_TOKENS, context_window // 4)))


def prompt_budget(
    *,
    context_window: int,
    max_new_tokens: int,
    base_tokens: int,
    what: str = "the prompt",
) -> int:
    """Tokens left for context: ``context_window - reply - base_tokens`` (>= 1), where the
    reply is :func:`reply_reserve` of ``max_new_tokens``.

    ``base_tokens`` is the prompt with an empty context. Raises ContextBudgetError
    when not even that fits (the model is never called then).
    """
    max_new_tokens = reply_reserve(context_window, max_new_tokens)
    left = context_window - max_new_tokens - base_tokens
    if left < 1:
        raise ContextBudgetError(
            f"{what} needs {base_tokens} tokens without any context, but the model's window "
            f"of {context_window} tokens leaves only {context_window - max_new_tokens} "
            f"after reserving {max_new_tokens} for the answer",
            hint="shorten the question (or the chat history), lower LCELKIT_MAX_NEW_TOKENS, "
            "or use a model with a larger context window (LCELKIT_CONTEXT_WINDOW)",
        )
    return left


def _trim_to_fit(
    doc: Document, render: Callable[[Document], str], counter: Counter, room: int
) -> Document | None:
    sentences = split_sentences(doc.page_content)
    best: Document | None = None
    lo, hi = 1, len(sentences) - 1  # the whole text did not fit; try fewer sentences
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = Document(
            id=doc.id,
            page_content=" ".join(sentences[:mid]),
            metadata={**doc.metadata, "trimmed": True},
        )
        if counter(render(candidate)) <= room:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best


def pack(
    docs: Sequence[Document],
    *,
    counter: Counter,
    budget: int,
    separator_tokens: int = 2,
    render: Callable[[Document, int], str] | None = None,
    trim_last: bool = False,
) -> PackResult:
    """Keep chunks in rank order while they fit into ``budget`` tokens.

    ``render(doc, n)`` is the text chunk number ``n`` (1-based among kept chunks)
    takes in the prompt (default: its ``page_content``); ``separator_tokens`` are
    counted between chunks. What does not fit is dropped (logged at INFO).
    """
    render = render or (lambda doc, _n: doc.page_content)
    result = PackResult()
    trimmed = False
    for doc in docs:
        n = len(result.kept) + 1
        sep = separator_tokens if result.kept else 0
        cost = counter(render(doc, n)) + sep
        if result.tokens + cost <= budget:
            result.kept.append(doc)
            result.tokens += cost
            continue
        if trim_last and not trimmed:
            trimmed = True
            room = budget - result.tokens - sep
            cut = (
                _trim_to_fit(doc, lambda d, n=n: render(d, n), counter, room) if room > 0 else None
            )
            if cut is not None:
                result.kept.append(cut)
                result.tokens += counter(render(cut, n)) + sep
                continue
        result.dropped.append(doc)
    if result.dropped:
        logger.info(
            "context budget: kept %d of %d chunks (%d of %d tokens), dropped %d",
            len(result.kept),
            len(docs),
            result.tokens,
            budget,
            len(result.dropped),
        )
    return result
