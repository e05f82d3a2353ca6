"""Bench-only app: the real server and the real RAG chain over a fake model and retriever.

``bench/serve.py`` measures what the server adds on top of the chain, so it needs a
backend that costs (almost) nothing and answers the same way every time. This module
is that explicit path; it lives in ``bench/`` (not in the wheel), is never used by
``lcelkit serve``, and no setting or environment variable switches the normal app to
it. Start it with (``bench/`` on the import path)::

    PYTHONPATH=bench uvicorn --factory benchapp:create_bench_app --port 8011

What is fake: the chat model (:class:`TimestampChatModel`, scripted words; its first
streamed token is the wall-clock time at which it was produced, so a client on the
same machine can measure "first event after the backend's first token") and the
retriever (:class:`FixedRetriever`, four fixed passages). What is real: the app,
its middlewares, LangServe's handler, and ``chains.rag.make_rag_chain`` (budget,
packing, prompt, streaming).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import FastAPI
from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable

from lcelkit.settings import Settings, get_settings

__all__ = [
    "ANSWER",
    "FixedRetriever",
    "TimestampChatModel",
    "create_bench_app",
    "make_bench_rag_chain",
]

ANSWER = "Paris is the capital of France [1]. It lies on the Seine [2]."
PASSAGES = [
    ("Paris is the capital and largest city of France.", "geo.pdf", 1),
    ("The Seine flows through Paris before reaching the English Channel.", "rivers.pdf", 4),
    ("France is a country in Western Europe with several overseas regions.", "geo.pdf", 2),
    ("Lyon and Marseille are other large French cities.", "cities.md", None),
]


class TimestampChatModel(BaseChatModel):
    """Fake chat model: answers :data:`ANSWER`; streamed, the first token is ``time.time()``.

    ``token_delay`` seconds pass before each streamed token (asyncio sleep, so it
    never blocks the event loop).
    """

    answer: str = ANSWER
    token_delay: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "bench-timestamp"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.answer))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        words = [w + " " for w in self.answer.split()]
        for index, word in enumerate(words):
            if self.token_delay:
                time.sleep(self.token_delay)
            text = f"{time.time():.6f} " if index == 0 else word
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
            if run_manager is not None:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        words = [w + " " for w in self.answer.split()]
        for index, word in enumerate(words):
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            text = f"{time.time():.6f} " if index == 0 else word
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
            if run_manager is not None:
                await run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk


class FixedRetriever(BaseRetriever):
    """Fake retriever: the same four passages for every question."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        docs = []
        for rank, (text, source, page) in enumerate(PASSAGES):
            meta: dict[str, Any] = {
                "source": source,
                "chunk_id": f"c{rank}",
                "score": 0.9 - rank / 10,
            }
            if page is not None:
                meta["page_number"] = page
            docs.append(Document(page_content=text, metadata=meta))
        return docs

    async def _aget_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return self._get_relevant_documents(query, run_manager=run_manager)


def make_bench_rag_chain(token_delay: float = 0.0) -> Runnable:
    """The real ``make_rag_chain`` over :class:`FixedRetriever` and :class:`TimestampChatModel`."""
    from lcelkit.chains.rag import make_rag_chain

    return make_rag_chain(
        FixedRetriever(),
        TimestampChatModel(token_delay=token_delay),
        counter=lambda text: len(text.split()),
        context_window=4096,
        max_new_tokens=256,
    )


def _bench_agent() -> Runnable:
    from lcelkit.agents.react import ConversationalAgent

    return ConversationalAgent(
        TimestampChatModel(answer="Final Answer: " + ANSWER), tools=[], mode="text"
    )


def create_bench_app(settings: Settings | None = None) -> FastAPI:
    """BENCH-ONLY: the server with the fake model and retriever (see the module doc)."""
    from lcelkit.server.app import create_app

    return create_app(settings or get_settings(), rag=make_bench_rag_chain(), agent=_bench_agent)
