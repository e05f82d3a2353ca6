"""RAG chains (LCEL): retrieve, pack into the token budget, answer with numbered citations.

Shapes (also exposed as pydantic input/output schemas, so LangServe shows them):

* ``make_rag_chain``: input ``{"question": str}`` (a bare string works too);
  output ``{"answer": str, "sources": [{"index", "source", "page", "chunk_id",
  "score", "text"}]}``. Source ``index`` n is passage ``[n]`` of the prompt, so a
  citation ``[n]`` in the answer points at ``sources[n-1]``.
* ``make_conversational_rag_chain``: input ``{"question", "chat_history"}`` where
  the history is a list of messages or ``(role, text)`` pairs; a follow-up is first
  condensed into a standalone question (no LLM call when the history is empty),
  which is returned as ``standalone_question``.

Streaming: ``.stream()`` yields dict chunks, in this order: (conversational only)
``{"standalone_question": str}``, then one ``{"sources": [...]}`` (before the model
is called), then ``{"answer": "<token(s)>"}`` pieces. The chunks are
``AddableDict``s: adding them up gives the ``.invoke()`` result. A server or CLI can
therefore print the sources and the tokens as they come.

Budget: every prompt sent fits ``context_window - max_new_tokens`` tokens as counted
by ``counter`` (``chains.budget.count_prompt``). Chunks that do not fit are dropped
in rank order; when not even the prompt without context fits,
:class:`~lcelkit.errors.ContextBudgetError` is raised before retrieval and before
any model call. Passages scoring below ``min_relative_score`` of the best one are
left out first, and the table cells the question names (``chains.table_cells``)
follow it in the prompt. When no passage was retrieved (or none fits), the answer is
``prompts.rag.DONT_KNOW`` and the model is not called. With
``prompt="rag.answer_cot"`` the answer holds a short "Reasoning:" followed by
"Answer:" (see :func:`final_answer`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from operator import itemgetter
from pathlib import PurePath
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableGenerator,
    RunnableLambda,
    RunnablePassthrough,
)
from langchain_core.runnables.utils import AddableDict
from pydantic import BaseModel, Field

from lcelkit.chains.budget import count_prompt, pack, prompt_budget, reply_reserve
from lcelkit.chains.table_cells import find_named_cells, format_named_cells
from lcelkit.errors import LcelkitError
from lcelkit.prompts import get_prompt
from lcelkit.prompts.rag import DONT_KNOW, TABLE_CELLS_LABEL

__all__ = [
    "ConversationalRagInput",
    "ConversationalRagOutput",
    "RagInput",
    "RagOutput",
    "Source",
    "cited_indices",
    "final_answer",
    "format_passage",
    "make_conversational_rag_chain",
    "make_rag_chain",
    "source_of",
]

logger = logging.getLogger(__name__)

Counter = Callable[[str], int]
PASSAGE_SEPARATOR = "\n\n"


# -- schemas ---------------------------------------------------------------------------
class RagInput(BaseModel):
    """Input of the RAG chain."""

    question: str = Field(description="The user's question.", min_length=1)


class Source(BaseModel):
    """One numbered passage the answer may cite as ``[index]``."""

    index: int = Field(description="Passage number n, cited as [n] in the answer.")
    source: str | None = Field(default=None, description="File the chunk comes from.")
    page: int | None = Field(default=None, description="1-based page (PDFs).")
    chunk_id: str | None = Field(default=None, description="Store id of the chunk.")
    score: float | None = Field(default=None, description="Retriever score (see retrievers).")
    text: str = Field(description="The chunk text as given to the model.")


class RagOutput(BaseModel):
    """Output of the RAG chain."""

    answer: str = Field(description="The answer, citing passages as [n].")
    sources: list[Source] = Field(description="The passages given to the model, in order.")


class ConversationalRagInput(BaseModel):
    """Input of the conversational RAG chain."""

    question: str = Field(description="The user's (follow-up) question.", min_length=1)
    chat_history: list[Any] = Field(
        default_factory=list,
        description="Earlier turns: messages or [role, text] pairs (role: human/ai).",
    )


class ConversationalRagOutput(RagOutput):
    """Output of the conversational RAG chain."""

    standalone_question: str = Field(description="The question actually used for retrieval.")


# -- passages and sources ----------------------------------------------------------------
def _page(doc: Document) -> int | None:
    page = doc.metadata.get("page_number")
    try:
        return int(page) if page is not None else None
    except (TypeError, ValueError):
        return None


def format_passage(doc: Document, index: int) -> str:
    """``[index] (file p.N)`` then the chunk text: how a passage appears in the prompt.

    The file's name, not its path: the folders are tokens the model does not need (the
    ``sources`` of the answer keep the full path)."""
    source = doc.metadata.get("source") or doc.metadata.get("filename") or "unknown source"
    source = PurePath(str(source)).name or str(source)
    page = _page(doc)
    where = f"{source} p.{page}" if page is not None else str(source)
    return f"[{index}] ({where})\n{doc.page_content}"


def source_of(doc: Document, index: int) -> dict[str, Any]:
    """The ``sources`` entry of a passage."""
    score = doc.metadata.get("score")
    return {
        "index": index,
        "source": doc.metadata.get("source"),
        "page": _page(doc),
        "chunk_id": doc.metadata.get("chunk_id") or doc.id,
        "score": float(score) if score is not None else None,
        "text": doc.page_content,
    }


_CITE_RE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def cited_indices(answer: str) -> list[int]:
    """Passage numbers cited in ``answer`` (``[1]``, ``[2][3]``, ``[1, 2]``), first-cited first."""
    seen: dict[int, None] = {}
    for group in _CITE_RE.findall(answer):
        for part in group.split(","):
            seen.setdefault(int(part), None)
    return list(seen)


def final_answer(text: str) -> str:
    """The part after the last ``Answer:`` (for ``rag.answer_cot``), else ``text`` stripped."""
    marker = text.rfind("Answer:")
    return text[marker + len("Answer:") :].strip() if marker >= 0 else text.strip()


# -- steps -------------------------------------------------------------------------------
def _question_of(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = {"question": value}
    elif isinstance(value, BaseModel):
        value = value.model_dump()
    if not isinstance(value, dict):
        raise LcelkitError(
            f"RAG input must be a question or {{'question': ...}}, not {type(value).__name__}",
            hint='send {"question": "..."}',
        )
    question = value.get("question")
    if not isinstance(question, str) or not question.strip():
        raise LcelkitError(
            "the question is missing or empty", hint='send {"question": "your question"}'
        )
    return {**value, "question": question.strip()}


class _Answerer:
    """Builds the answer prompt within budget and streams the model's answer."""

    def __init__(
        self,
        llm: BaseChatModel,
        *,
        counter: Counter,
        context_window: int,
        max_new_tokens: int,
        prompt: str,
        trim_last: bool,
        name_cells: bool = True,
        min_relative_score: float = 0.0,
    ) -> None:
        self.llm = llm
        self.name_cells = name_cells
        self.min_relative_score = min_relative_score
        self.counter = counter
        self.limit = context_window - reply_reserve(context_window, max_new_tokens)
        self.context_window = context_window
        self.max_new_tokens = max_new_tokens
        self.template = get_prompt(prompt)
        self.trim_last = trim_last
        self.separator_tokens = max(1, counter(PASSAGE_SEPARATOR))

    def budget(self, question: str) -> int:
        """Tokens left for passages (raises ContextBudgetError when none)."""
        base = self.template.format_messages(context="", question=question)
        return prompt_budget(
            context_window=self.context_window,
            max_new_tokens=self.max_new_tokens,
            base_tokens=count_prompt(self.counter, base),
            what="the answer prompt with this question",
        )

    def _cells(self, question: str, kept: Sequence[Document]) -> str:
        """The prompt's line naming the table cells the question points at ("" if none)."""
        if not self.name_cells:
            return ""
        cells = find_named_cells(question, kept)
        if cells:
            logger.debug("table cells named by the question: %s", format_named_cells(cells))
        return f"\n{TABLE_CELLS_LABEL} {format_named_cells(cells)}" if cells else ""

    def _relevant(self, docs: Sequence[Document]) -> list[Document]:
        """The passages scoring at least ``min_relative_score`` of the best one (all of
        them when one has no score)."""
        scores = [d.metadata.get("score") for d in docs]
        values = [float(x) for x in scores if isinstance(x, int | float)]
        if not self.min_relative_score or not docs or len(values) < len(docs):
            return list(docs)
        floor = self.min_relative_score * max(values)
        kept = [d for d, x in zip(docs, values, strict=True) if x >= floor]
        if len(kept) < len(docs):
            logger.info(
                "answer: %d of %d passages scored below %.2f of the best; left out",
                len(docs) - len(kept),
                len(docs),
                self.min_relative_score,
            )
        return kept

    def check(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Fail before retrieval when not even the empty prompt fits."""
        self.budget(inputs["question"])
        return inputs

    def prepare(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Pack the retrieved docs and render the final messages (guaranteed to fit)."""
        question: str = inputs["question"]
        docs = self._relevant(inputs.get("docs") or [])
        packed = pack(
            docs,
            counter=self.counter,
            # room for the table-cell line, sized on every retrieved passage (an upper bound)
            budget=max(0, self.budget(question) - self.counter(self._cells(question, docs))),
            separator_tokens=self.separator_tokens,
            render=format_passage,
            trim_last=self.trim_last,
        )
        kept = list(packed.kept)
        while True:
            context = PASSAGE_SEPARATOR.join(format_passage(d, i) for i, d in enumerate(kept, 1))
            messages = self.template.format_messages(
                context=context, question=question, table_cells=self._cells(question, kept)
            )
            if count_prompt(self.counter, messages) <= self.limit or not kept:
                break
            kept.pop()  # tokenizers are not exactly additive: drop until the whole fits
        out = {k: v for k, v in inputs.items() if k != "docs"}
        out["messages"] = messages
        out["sources"] = [source_of(d, i) for i, d in enumerate(kept, 1)]
        return out

    @staticmethod
    def _text(chunk: Any) -> str:
        content = getattr(chunk, "content", chunk)
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content)
        return str(content)

    @staticmethod
    def _opening(prepared: dict[str, Any]) -> tuple[list[AddableDict], bool]:
        """What comes before the answer's tokens (the standalone question, the sources;
        :data:`DONT_KNOW` when there is nothing to ground an answer on) and whether the
        model is asked at all. The sync and async transforms share it."""
        head = []
        if "standalone_question" in prepared:
            head.append(AddableDict(standalone_question=prepared["standalone_question"]))
        head.append(AddableDict(sources=prepared["sources"]))
        if not prepared["sources"]:
            head.append(AddableDict(answer=DONT_KNOW))
            return head, False
        return head, True

    def _piece(self, chunk: Any) -> AddableDict | None:
        text = self._text(chunk)
        return AddableDict(answer=text) if text else None

    def stream(
        self, inputs: Iterator[dict[str, Any]], config: RunnableConfig
    ) -> Iterator[AddableDict]:
        """Sync transform: sources first, then the answer's tokens."""
        for prepared in inputs:
            head, ask = self._opening(prepared)
            yield from head
            if not ask:
                continue
            empty = True
            for chunk in self.llm.stream(prepared["messages"], config):
                if (piece := self._piece(chunk)) is not None:
                    empty = False
                    yield piece
            if empty:
                yield AddableDict(answer="")

    async def astream(
        self, inputs: AsyncIterator[dict[str, Any]], config: RunnableConfig
    ) -> AsyncIterator[AddableDict]:
        """Async transform: the same as :meth:`stream`, the model's tokens awaited."""
        async for prepared in inputs:
            head, ask = self._opening(prepared)
            for item in head:
                yield item
            if not ask:
                continue
            empty = True
            async for chunk in self.llm.astream(prepared["messages"], config):
                if (piece := self._piece(chunk)) is not None:
                    empty = False
                    yield piece
            if empty:
                yield AddableDict(answer="")


def _retrieve_and_answer(
    retriever: Runnable[str, list[Document]], answerer: _Answerer
) -> Runnable[dict, Any]:
    """The steps both RAG chains end with: check the budget, retrieve for ``question``,
    pack the passages into the window, answer."""
    return (
        RunnableLambda(answerer.check, name="check_budget")
        | RunnablePassthrough.assign(docs=itemgetter("question") | retriever)
        | RunnableLambda(answerer.prepare, name="pack_context")
        | RunnableGenerator(answerer.stream, answerer.astream, name="answer")
    )


def make_rag_chain(
    retriever: Runnable[str, list[Document]],
    llm: BaseChatModel,
    *,
    counter: Counter,
    context_window: int,
    max_new_tokens: int,
    prompt: str = "rag.answer",
    trim_last: bool = False,
    name_cells: bool = True,
    min_relative_score: float = 0.0,
) -> Runnable[dict, dict]:
    """Question -> retrieve -> pack into the window -> cited answer + sources (see module doc).

    ``name_cells``: name the table cells the question points at under it in the prompt
    (``chains.table_cells``). ``min_relative_score``: leave out passages whose retriever
    score is below this share of the best passage's (0: keep all)."""
    answerer = _Answerer(
        llm,
        counter=counter,
        context_window=context_window,
        max_new_tokens=max_new_tokens,
        prompt=prompt,
        trim_last=trim_last,
        name_cells=name_cells,
        min_relative_score=min_relative_score,
    )
    chain = RunnableLambda(_question_of, name="question") | _retrieve_and_answer(
        retriever, answerer
    )
    return chain.with_types(input_type=RagInput, output_type=RagOutput)


# -- conversational ------------------------------------------------------------------------
class _Condenser:
    """Turns a follow-up plus history into a standalone question (skipped without history)."""

    def __init__(
        self,
        llm: BaseChatModel,
        *,
        counter: Counter,
        context_window: int,
        max_new_tokens: int,
        prompt: str,
    ) -> None:
        self.chain = llm | StrOutputParser()
        self.counter = counter
        self.context_window = context_window
        self.max_new_tokens = max_new_tokens
        self.template = get_prompt(prompt)

    def normalize(self, value: Any) -> dict[str, Any]:
        """Validate the input and turn the history into messages."""
        inputs = _question_of(value)
        history = inputs.get("chat_history") or []
        try:
            messages = convert_to_messages(
                [tuple(m) if isinstance(m, list) else m for m in history]
            )
        except Exception as exc:
            raise LcelkitError(
                f"chat_history is malformed: {exc}",
                hint="send a list of messages or [role, text] pairs (role: human or ai)",
            ) from None
        return {**inputs, "chat_history": messages}

    def messages(self, question: str, history: list[BaseMessage]) -> list[BaseMessage]:
        """The condense prompt with as many recent turns as fit (oldest dropped first)."""
        base = self.template.format_messages(question=question, chat_history=[])
        room = prompt_budget(
            context_window=self.context_window,
            max_new_tokens=self.max_new_tokens,
            base_tokens=count_prompt(self.counter, base),
            what="the follow-up condensing prompt",
        )
        kept: list[BaseMessage] = []
        used = 0
        for message in reversed(history):
            cost = count_prompt(self.counter, [message]) - count_prompt(self.counter, [])
            if used + cost > room:
                break
            kept.insert(0, message)
            used += cost
        if len(kept) < len(history):
            logger.info(
                "condense: kept the last %d of %d history messages", len(kept), len(history)
            )
        return self.template.format_messages(question=question, chat_history=kept)

    @staticmethod
    def _result(inputs: dict[str, Any], text: str) -> dict[str, Any]:
        standalone = text.strip().strip('"').strip() or inputs["question"]
        return {"question": standalone, "standalone_question": standalone}

    def _prompt(self, inputs: dict[str, Any]) -> list[BaseMessage] | None:
        """The condense prompt, or None without history (the question stands alone)."""
        if not inputs["chat_history"]:
            return None
        return self.messages(inputs["question"], inputs["chat_history"])

    def condense(self, inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """The standalone question (the question itself when there is no history)."""
        messages = self._prompt(inputs)
        if messages is None:
            return self._result(inputs, inputs["question"])
        return self._result(inputs, self.chain.invoke(messages, config))

    async def acondense(self, inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """Async :meth:`condense` (the same prompt, the model awaited)."""
        messages = self._prompt(inputs)
        if messages is None:
            return self._result(inputs, inputs["question"])
        return self._result(inputs, await self.chain.ainvoke(messages, config))


def make_conversational_rag_chain(
    retriever: Runnable[str, list[Document]],
    llm: BaseChatModel,
    *,
    counter: Counter,
    context_window: int,
    max_new_tokens: int,
    prompt: str = "rag.answer",
    condense_prompt: str = "rag.condense_question",
    trim_last: bool = False,
    name_cells: bool = True,
    min_relative_score: float = 0.0,
) -> Runnable[dict, dict]:
    """Follow-up + history -> standalone question -> the RAG chain (see module doc)."""
    condenser = _Condenser(
        llm,
        counter=counter,
        context_window=context_window,
        max_new_tokens=max_new_tokens,
        prompt=condense_prompt,
    )
    answerer = _Answerer(
        llm,
        counter=counter,
        context_window=context_window,
        max_new_tokens=max_new_tokens,
        prompt=prompt,
        trim_last=trim_last,
        name_cells=name_cells,
        min_relative_score=min_relative_score,
    )
    chain = (
        RunnableLambda(condenser.normalize, name="question")
        | RunnableLambda(condenser.condense, afunc=condenser.acondense, name="condense_question")
        | _retrieve_and_answer(retriever, answerer)
    )
    return chain.with_types(input_type=ConversationalRagInput, output_type=ConversationalRagOutput)
