"""Built-in tools: safe calculator, current_datetime, search_documents over any retriever."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field

from lcelkit.agents.tools import (
    CalculatorError,
    calculator_tool,
    current_datetime_tool,
    default_tools,
    safe_eval,
    search_documents_tool,
)


def words(text: str) -> int:
    return len(text.split())


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("2 ** 10", 1024),
        ("-3 + +5", 2),
        ("10 / 4", 2.5),
        ("sqrt(16) + abs(-2)", 6.0),
        ("round(3.14159, 2)", 3.14),
        ("2^3", 8),
        ("1,234 * 2", 2468),
        ("max(1, 5, 3)", 5),
    ],
)
def test_calculator_arithmetic(expression, expected):
    assert safe_eval(expression) == pytest.approx(expected)


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('echo hi')",
        "open('/etc/passwd').read()",
        "(1).__class__",
        "x + 1",
        "lambda: 1",
        "[1, 2, 3]",
        "'a' * 3",
        "sqrt(x=4)",
    ],
)
def test_calculator_refuses_code(expression):
    with pytest.raises(CalculatorError):
        safe_eval(expression)


@pytest.mark.parametrize("expression", ["9 ** 9 ** 9", "10 ** 100000", "2 ** 5000 ** 2"])
def test_calculator_guards_huge_powers(expression):
    with pytest.raises(CalculatorError, match="too large"):
        safe_eval(expression)


def test_calculator_tool_reports_errors_as_text():
    tool = calculator_tool()
    assert tool.invoke({"expression": "6 * 7"}) == "42"
    assert tool.invoke({"expression": "1 / 0"}) == "calculator error: division by zero"
    assert "unsupported" in tool.invoke({"expression": "__import__('os')"})


def test_current_datetime_uses_the_clock_and_time_zone():
    fixed = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    tool = current_datetime_tool(clock=lambda: fixed)
    assert tool.invoke({"timezone": "Asia/Seoul"}) == "Friday, 2024-03-01T21:30:00+09:00"
    assert tool.invoke({"timezone": "UTC"}) == "Friday, 2024-03-01T12:30:00+00:00"
    assert "unknown time zone" in tool.invoke({"timezone": "Mars/Olympus"})


class ListRetriever(BaseRetriever):
    docs: list[Document]
    queries: list[str] = Field(default_factory=list)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        self.queries.append(query)
        return self.docs


def _doc(text: str, source: str, page: int | None, chunk: str) -> Document:
    meta = {"source": source, "chunk_id": chunk, "score": 0.5}
    if page is not None:
        meta["page_number"] = page
    return Document(page_content=text, metadata=meta)


def test_search_documents_numbers_passages_with_source_and_page():
    retriever = ListRetriever(
        docs=[
            _doc("Revenue grew 12%.", "report.pdf", 3, "a"),
            _doc("표 3: 지역별 매출", "notes.md", None, "b"),
        ]
    )
    tool = search_documents_tool(retriever, max_tokens=200, counter=words)
    assert tool.name == "search_documents"
    text = tool.invoke({"query": "revenue"})
    assert text == "[1] report.pdf, p. 3\nRevenue grew 12%.\n\n[2] notes.md\n표 3: 지역별 매출"
    assert retriever.queries == ["revenue"]


def test_search_documents_trims_to_the_observation_budget():
    long_text = " ".join(f"word{i}" for i in range(400))
    retriever = ListRetriever(
        docs=[_doc(long_text, "a.pdf", 1, "a"), _doc(long_text, "b.pdf", 2, "b")]
    )
    tool = search_documents_tool(retriever, max_tokens=100, counter=words)
    text = tool.invoke({"query": "q"})
    assert words(text) <= 100
    assert text.startswith("[1] a.pdf, p. 1\nword0 word1")
    assert "b.pdf" not in text


def test_search_documents_artifact_carries_citations():
    retriever = ListRetriever(docs=[_doc("x", "a.pdf", 2, "c1")])
    tool = search_documents_tool(retriever, counter=words)
    message = tool.invoke(
        {"type": "tool_call", "name": "search_documents", "args": {"query": "x"}, "id": "1"}
    )
    assert message.artifact == [{"source": "a.pdf", "page": 2, "chunk_id": "c1", "score": 0.5}]


def test_search_documents_with_no_hits_and_empty_query():
    tool = search_documents_tool(ListRetriever(docs=[]), counter=words)
    assert "No matching passages" in tool.invoke({"query": "nothing"})
    assert "non-empty query" in tool.invoke({"query": "  "})


def test_default_tools_include_search_only_with_a_retriever():
    assert [t.name for t in default_tools()] == ["calculator", "current_datetime"]
    names = [t.name for t in default_tools(ListRetriever(docs=[]))]
    assert names == ["search_documents", "calculator", "current_datetime"]
