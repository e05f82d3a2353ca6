"""RAG chains and summarization with fake chat models: citations, streaming, budgets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableLambda
from pydantic import Field

from lcelkit.chains.budget import count_prompt
from lcelkit.chains.rag import (
    cited_indices,
    final_answer,
    make_conversational_rag_chain,
    make_rag_chain,
)
from lcelkit.chains.summarize import summarize
from lcelkit.chains.tokens import count_messages
from lcelkit.errors import ContextBudgetError
from lcelkit.prompts.rag import DONT_KNOW


def words(text: str) -> int:
    return len(text.split())


class RecordingChat(BaseChatModel):
    """Records every prompt; replies from ``replies`` in turn (the last one repeats)."""

    replies: list[str] = Field(default_factory=lambda: ["ok"])
    calls: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _next(self, messages: list[BaseMessage]) -> str:
        self.calls.append(list(messages))
        return self.replies[min(len(self.calls), len(self.replies)) - 1]

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self._next(messages)))])

    def _stream(
        self, messages, stop=None, run_manager=None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        text = self._next(messages)
        for i, word in enumerate(text.split(" ")):
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=word if i == 0 else " " + word)
            )


DOCS = [
    Document(
        page_content="Paris is the capital of France.",
        metadata={"source": "geo.pdf", "page_number": 3, "score": 0.81, "chunk_id": "c1"},
    ),
    Document(
        page_content="Berlin is the capital of Germany.",
        metadata={"source": "notes.md", "score": 0.52, "chunk_id": "c2"},
    ),
]


class FakeRetriever:
    """Records the queries it gets; returns fixed documents."""

    def __init__(self, docs: list[Document]) -> None:
        self.docs = docs
        self.queries: list[str] = []

    def runnable(self) -> RunnableLambda:
        def run(query: str) -> list[Document]:
            self.queries.append(query)
            return list(self.docs)

        return RunnableLambda(run)


def rag(llm, docs=DOCS, window=2048, max_new=128, **kwargs):
    retriever = FakeRetriever(docs)
    chain = make_rag_chain(
        retriever.runnable(),
        llm,
        counter=words,
        context_window=window,
        max_new_tokens=max_new,
        **kwargs,
    )
    return chain, retriever


def test_answer_cites_numbered_passages_that_map_to_sources():
    llm = RecordingChat(replies=["Paris is the capital of France [1]."])
    chain, _ = rag(llm)
    out = chain.invoke({"question": "What is the capital of France?"})
    assert out["answer"] == "Paris is the capital of France [1]."
    assert [s["index"] for s in out["sources"]] == [1, 2]
    first = out["sources"][cited_indices(out["answer"])[0] - 1]
    assert first == {
        "index": 1,
        "source": "geo.pdf",
        "page": 3,
        "chunk_id": "c1",
        "score": 0.81,
        "text": "Paris is the capital of France.",
    }
    prompt = "\n".join(str(m.content) for m in llm.calls[0])
    assert "[1] (geo.pdf p.3)\nParis is the capital of France." in prompt
    assert "[2] (notes.md)\nBerlin is the capital of Germany." in prompt
    assert "Question: What is the capital of France?" in prompt
    assert DONT_KNOW in prompt  # the "say you don't know" rule


def test_bare_string_input_works():
    chain, retriever = rag(RecordingChat(replies=["Berlin [2]."]))
    assert chain.invoke("  capital of Germany? ")["answer"] == "Berlin [2]."
    assert retriever.queries == ["capital of Germany?"]


def test_stream_yields_sources_first_then_answer_tokens():
    llm = RecordingChat(replies=["Paris is the capital [1]."])
    chain, _ = rag(llm)
    chunks = list(chain.stream({"question": "capital?"}))
    assert list(chunks[0]) == ["sources"] and len(chunks[0]["sources"]) == 2
    pieces = [c["answer"] for c in chunks[1:]]
    assert len(pieces) > 1 and "".join(pieces) == "Paris is the capital [1]."

    async def collect():
        return [c async for c in chain.astream({"question": "capital?"})]

    achunks = asyncio.run(collect())
    assert list(achunks[0]) == ["sources"]
    assert "".join(c["answer"] for c in achunks[1:]) == "Paris is the capital [1]."


def test_no_passages_means_dont_know_without_calling_the_model():
    llm = RecordingChat(replies=["made up"])
    chain, _ = rag(llm, docs=[])
    out = chain.invoke({"question": "What is the airspeed of a swallow?"})
    assert out == {"sources": [], "answer": DONT_KNOW}
    assert llm.calls == []


def test_schemas_are_typed():
    chain, _ = rag(RecordingChat())
    assert chain.get_input_jsonschema()["required"] == ["question"]
    out = chain.get_output_jsonschema()
    assert set(out["properties"]) == {"answer", "sources"}


def test_question_that_cannot_fit_fails_before_retrieval_and_model():
    llm = RecordingChat()
    chain, retriever = rag(llm, window=512, max_new=128)
    with pytest.raises(ContextBudgetError, match="512"):
        chain.invoke({"question": "word " * 600})
    assert llm.calls == [] and retriever.queries == []


def test_conversational_skips_condense_without_history():
    llm = RecordingChat(replies=["Paris [1]."])
    retriever = FakeRetriever(DOCS)
    chain = make_conversational_rag_chain(
        retriever.runnable(), llm, counter=words, context_window=2048, max_new_tokens=64
    )
    out = chain.invoke({"question": "capital of France?", "chat_history": []})
    assert len(llm.calls) == 1  # only the answer, no condense call
    assert out["standalone_question"] == "capital of France?"
    assert retriever.queries == ["capital of France?"]


def test_conversational_condenses_follow_up_before_retrieval():
    llm = RecordingChat(replies=["What is the capital of Germany?", "Berlin [2]."])
    retriever = FakeRetriever(DOCS)
    chain = make_conversational_rag_chain(
        retriever.runnable(), llm, counter=words, context_window=2048, max_new_tokens=64
    )
    history = [("human", "What is the capital of France?"), ("ai", "Paris [1].")]
    chunks = list(chain.stream({"question": "And of Germany?", "chat_history": history}))
    assert chunks[0] == {"standalone_question": "What is the capital of Germany?"}
    assert "sources" in chunks[1]
    assert retriever.queries == ["What is the capital of Germany?"]
    condense_prompt = "\n".join(str(m.content) for m in llm.calls[0])
    assert "What is the capital of France?" in condense_prompt
    assert "And of Germany?" in condense_prompt
    assert "".join(c.get("answer", "") for c in chunks) == "Berlin [2]."


def test_every_prompt_fits_a_512_token_window():
    """A fake backend with a 512-token window: no recorded prompt may exceed 512 - 128."""
    window, max_new = 512, 128
    limit = window - max_new
    long_docs = [
        Document(
            page_content=" ".join(f"fact{i}-{j}." for j in range(90)),
            metadata={"source": f"doc{i}.pdf", "page_number": i, "chunk_id": f"d{i}"},
        )
        for i in range(10)
    ]
    llm = RecordingChat(replies=["A standalone question?", "short summary " * 30])
    chain, _ = rag(llm, docs=long_docs, window=window, max_new=max_new)
    out = chain.invoke({"question": "What are the facts?"})
    assert 1 <= len(out["sources"]) < len(long_docs)  # packed, some dropped

    history = [("human", "tell me " * 60), ("ai", "answer " * 60)] * 4
    conv = make_conversational_rag_chain(
        FakeRetriever(long_docs).runnable(),
        llm,
        counter=words,
        context_window=window,
        max_new_tokens=max_new,
    )
    conv.invoke({"question": "and the next?", "chat_history": history})

    text = "\n\n".join(d.page_content for d in long_docs)
    for method in ("auto", "map_reduce", "refine"):
        before = len(llm.calls)
        summary = summarize(
            long_docs,
            llm,
            counter=words,
            context_window=window,
            max_new_tokens=max_new,
            method=method,
        )
        assert summary
        assert len(llm.calls) - before > 2  # the text cannot be stuffed in one call
    assert words(text) > limit
    for messages in llm.calls:
        assert count_messages(words, messages) <= limit
        assert count_prompt(words, messages) <= limit


def test_table_cells_the_question_names_follow_it_with_their_passage_number():
    from lcelkit.loaders.elements import table_to_html

    rows = [["Region", "Q2", "Q3"], ["North", "58", "63"], ["South", "41", "47"]]
    table = Document(
        "| Region | Q2 | Q3 |\n|---|---|---|\n| North | 58 | 63 |\n| South | 41 | 47 |",
        metadata={"source": "/data/reports/report.pdf", "text_as_html": table_to_html(rows)},
    )
    llm = RecordingChat(replies=["63 [2]"])
    chain, _ = rag(llm, docs=[DOCS[0], table])
    out = chain.invoke("What was the Q3 revenue of the North region?")
    human = str(llm.calls[0][-1].content)
    assert "[2] (report.pdf)\n| Region |" in human  # the file's name, not its folders
    assert out["sources"][1]["source"] == "/data/reports/report.pdf"  # full path kept
    assert human.endswith(
        "Question: What was the Q3 revenue of the North region?\n"
        "Table cells named by the question: North · Q3 = 63 [2]\nAnswer:"
    )
    llm2 = RecordingChat(replies=["Paris [1]"])
    rag(llm2, docs=[DOCS[0], table])[0].invoke("What is the capital of France?")
    assert "Table cells" not in str(llm2.calls[0][-1].content)  # no named cell: no line
    llm3 = RecordingChat(replies=["63"])
    rag(llm3, docs=[table], name_cells=False)[0].invoke("Q3 revenue of North?")
    assert "Table cells" not in str(llm3.calls[0][-1].content)


def test_passages_far_below_the_best_score_are_left_out_of_the_prompt():
    docs = [
        Document("Paris is the capital of France.", metadata={"source": "a.md", "score": 0.9}),
        Document("France borders Spain.", metadata={"source": "b.md", "score": 0.5}),
        Document("Steam engines use pressure.", metadata={"source": "c.md", "score": 0.3}),
    ]
    llm = RecordingChat(replies=["Paris [1]"])
    out = rag(llm, docs=docs, min_relative_score=0.5)[0].invoke("Capital of France?")
    assert [s["source"] for s in out["sources"]] == ["a.md", "b.md"]  # 0.3 < 0.5 x 0.9
    assert "Steam engines" not in str(llm.calls[0][-1].content)
    unscored = [Document(d.page_content, metadata={"source": d.metadata["source"]}) for d in docs]
    out = rag(RecordingChat(), docs=unscored, min_relative_score=0.5)[0].invoke("Capital?")
    assert len(out["sources"]) == 3  # no scores: nothing to compare, all kept
    out = rag(RecordingChat(), docs=docs)[0].invoke("Capital of France?")
    assert len(out["sources"]) == 3  # the chain's own default keeps all k


def test_summarize_auto_stuffs_when_it_fits():
    llm = RecordingChat(replies=["The summary."])
    got = summarize(
        ["Short text one.", Document(page_content="Short text two.")],
        llm,
        counter=words,
        context_window=2048,
        max_new_tokens=128,
    )
    assert got == "The summary." and len(llm.calls) == 1
    prompt = str(llm.calls[0][0].content)
    assert "Short text one." in prompt and "Short text two." in prompt


def test_summarize_refine_carries_the_running_summary():
    llm = RecordingChat(replies=["S1", "S2", "S3", "S4", "S5", "S6"])
    parts = [" ".join([f"part{i}"] * 200) for i in range(3)]
    got = summarize(
        parts, llm, counter=words, context_window=512, max_new_tokens=128, method="refine"
    )
    assert len(llm.calls) >= 3
    assert "S1" in str(llm.calls[1][0].content)  # the second call refines the first summary
    assert got == f"S{len(llm.calls)}"


def test_cited_indices_and_final_answer():
    assert cited_indices("A [2] and B [1][3], C [2, 4].") == [2, 1, 3, 4]
    assert final_answer("Reasoning: x says y.\nAnswer: y [1]") == "y [1]"
    assert final_answer("just y") == "just y"
