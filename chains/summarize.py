"""Long-document summarization where every model call fits the context window.

Methods:

* ``"auto"``: *stuff* (one ``summarize.map`` call over the whole text) when it fits
  ``context_window - max_new_tokens``, else map-reduce.
* ``"map_reduce"``: the text is cut into parts that fit (at paragraph, then
  sentence, then word boundaries), each part summarized with ``summarize.map``; the
  partial summaries are merged with ``summarize.reduce`` in groups that fit,
  recursively, until one summary is left.
* ``"refine"``: a summary of the first part, then ``summarize.refine`` with each next
  part, sized so that the running summary plus the part fit.

Token counts come from ``counter`` (the backend's tokenizer); every prompt is
checked with ``chains.budget.count_prompt`` before it is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from lcelkit.chains.budget import count_prompt, prompt_budget, split_sentences
from lcelkit.errors import ContextBudgetError
from lcelkit.prompts import get_prompt

__all__ = ["SummarizeMethod", "make_summarize_chain", "split_to_fit", "summarize"]

logger = logging.getLogger(__name__)

Counter = Callable[[str], int]
SummarizeMethod = Literal["auto", "map_reduce", "refine"]
_JOIN = "\n\n"
_MAX_REDUCE_ROUNDS = 8


def _split_words(text: str, counter: Counter, room: int) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    for word in text.split():
        trial = " ".join([*current, word])
        if current and counter(trial) > room:
            pieces.append(" ".join(current))
            current = [word]
        else:
            current.append(word)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _merge(units: list[str], counter: Counter, room: int, joiner: str) -> list[str]:
    out: list[str] = []
    current = ""
    for unit in units:
        trial = f"{current}{joiner}{unit}" if current else unit
        if counter(trial) <= room:
            current = trial
            continue
        if current:
            out.append(current)
        current = unit
    if current:
        out.append(current)
    return out


def split_to_fit(text: str, counter: Counter, room: int) -> list[str]:
    """Cut ``text`` into consecutive pieces of at most ``room`` tokens each.

    Paragraphs are kept together where they fit, then sentences, then words.
    """
    if room < 1:
        raise ValueError("room must be at least 1 token")
    if counter(text) <= room:
        return [text] if text.strip() else []
    units: list[str] = []
    for para in (p.strip() for p in text.split("\n\n")):
        if not para:
            continue
        if counter(para) <= room:
            units.append(para)
            continue
        for sentence in split_sentences(para):
            if counter(sentence) <= room:
                units.append(sentence)
            else:
                units.extend(_split_words(sentence, counter, room))
    return _merge(units, counter, room, _JOIN)


class _Summarizer:
    def __init__(
        self,
        llm: BaseChatModel,
        counter: Counter,
        context_window: int,
        max_new_tokens: int,
        config: RunnableConfig | None,
    ) -> None:
        self.chain = llm | StrOutputParser()
        self.counter = counter
        self.context_window = context_window
        self.max_new_tokens = max_new_tokens
        self.limit = context_window - max_new_tokens
        self.config = config
        self.map = get_prompt("summarize.map")
        self.reduce = get_prompt("summarize.reduce")
        self.refine = get_prompt("summarize.refine")

    def room(self, template: Any, what: str, **values: str) -> int:
        base = count_prompt(self.counter, template.format_messages(**values))
        return prompt_budget(
            context_window=self.context_window,
            max_new_tokens=self.max_new_tokens,
            base_tokens=base,
            what=what,
        )

    def call(self, template: Any, **values: str) -> str:
        messages = template.format_messages(**values)
        used = count_prompt(self.counter, messages)
        if used > self.limit:  # a bug if reached: every caller sizes its input first
            raise ContextBudgetError(
                f"a summarization prompt needs {used} tokens but only {self.limit} fit",
                hint="lower LCELKIT_MAX_NEW_TOKENS or use a model with a larger window",
            )
        return self.chain.invoke(messages, self.config).strip()

    def map_reduce(self, text: str) -> str:
        parts = split_to_fit(text, self.counter, self.room(self.map, "the map prompt", text=""))
        if len(parts) == 1:
            return self.call(self.map, text=parts[0])
        summaries = [self.call(self.map, text=part) for part in parts]
        logger.info("summarize: %d parts mapped", len(parts))
        return self.collapse(summaries)

    def collapse(self, summaries: list[str]) -> str:
        room = self.room(self.reduce, "the reduce prompt", summaries="")
        for _ in range(_MAX_REDUCE_ROUNDS):
            units: list[str] = []
            for summary in summaries:
                units.extend(split_to_fit(summary, self.counter, room))
            groups = _merge(units, self.counter, room, _JOIN)
            if len(groups) == 1:
                return self.call(self.reduce, summaries=groups[0])
            summaries = [self.call(self.reduce, summaries=group) for group in groups]
        # Still more than one group: merge what fits of the latest summaries.
        return self.call(self.reduce, summaries=_merge(summaries, self.counter, room, _JOIN)[0])

    def run_refine(self, text: str) -> str:
        first_room = self.room(self.map, "the map prompt", text="")
        queue = split_to_fit(text, self.counter, first_room)
        if not queue:
            return ""
        summary = self.call(self.map, text=queue.pop(0))
        while queue:
            room = self.room(self.refine, "the refine prompt", summary=summary, text="")
            head = queue.pop(0)
            if self.counter(head) > room:
                pieces = split_to_fit(head, self.counter, room)
                head, rest = pieces[0], pieces[1:]
                queue[:0] = rest
            summary = self.call(self.refine, summary=summary, text=head)
        return summary


def summarize(
    docs: Sequence[Document | str],
    llm: BaseChatModel,
    *,
    counter: Counter,
    context_window: int,
    max_new_tokens: int,
    method: SummarizeMethod = "auto",
    config: RunnableConfig | None = None,
) -> str:
    """Summarize documents (in order) with ``method``; every prompt fits the window."""
    text = _JOIN.join(
        (d.page_content if isinstance(d, Document) else str(d)).strip() for d in docs
    ).strip()
    if not text:
        return ""
    worker = _Summarizer(llm, counter, context_window, max_new_tokens, config)
    if method == "refine":
        return worker.run_refine(text)
    if method not in ("auto", "map_reduce"):
        raise ValueError(f"unknown summarize method {method!r}")
    return worker.map_reduce(text)  # "auto" = stuff when the text fits in one part


def make_summarize_chain(
    llm: BaseChatModel,
    *,
    counter: Counter,
    context_window: int,
    max_new_tokens: int,
    method: SummarizeMethod = "auto",
) -> Runnable[list[Document], str]:
    """:func:`summarize` as a Runnable: a list of Documents (or strings) in, a summary out."""

    def run(docs: list[Document], config: RunnableConfig) -> str:
        return summarize(
            docs,
            llm,
            counter=counter,
            context_window=context_window,
            max_new_tokens=max_new_tokens,
            method=method,
            config=config,
        )

    return RunnableLambda(run, name="summarize")
