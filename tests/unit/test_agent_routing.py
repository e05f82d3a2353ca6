"""Searching the documents before the model speaks (small models rarely call the tool)."""

from __future__ import annotations

import pytest
from langchain_core.tools import tool

from lcelkit.agents import ConversationalAgent, default_tools
from lcelkit.agents.budget import message_text
from lcelkit.agents.routing import (
    arithmetic_expression,
    asks_current_datetime,
    first_tool,
    passages_relevant,
)
from tests.unit.test_agent_support import ScriptedChatModel, words

TOOLS = {"search_documents", "calculator", "current_datetime"}


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        ("What is 17 * 23?", "17 * 23"),
        ("How much is 45 times 3?", "45 * 3"),
        ("Please work out 250 / 5.", "250 / 5"),
        ("81 - 27 = ?", "81 - 27"),
        ("12 곱하기 11은?", "12 * 11"),
        ("Calculate (3 + 4) * 5", "(3 + 4) * 5"),
        ("1,000 x 3", "1000 * 3"),
    ],
)
def test_plain_arithmetic_goes_to_the_calculator(text, expression):
    assert arithmetic_expression(text) == expression
    assert first_tool("auto", text, TOOLS) == ("calculator", expression)


@pytest.mark.parametrize(
    "text",
    [
        "What was the Q3 revenue of the North region?",
        "How many engineers work in 2 offices in Korea and Germany combined?",
        "Core hours are 10:00 to 16:00?",
        "When did the Frankfurt data center open?",
    ],
)
def test_questions_with_numbers_are_not_arithmetic(text):
    assert arithmetic_expression(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "What time is it?",
        "Could you tell me the time right now?",
        "Which day of the week is it today?",
        "What's the date today?",
        "What year is it?",
        "지금 몇 시야?",
        "오늘 무슨 요일이야?",
    ],
)
def test_questions_about_now_go_to_the_clock(text):
    assert asks_current_datetime(text)
    assert first_tool("auto", text, TOOLS) == ("current_datetime", "")


@pytest.mark.parametrize(
    "text",
    [
        "What time does the office open?",  # about the documents, not about now
        "In which month does the Busan office move?",
        "Nice weather today, isn't it?",
        "hello!",
        "연차는 다음 해 언제까지 이월할 수 있나요?",
    ],
)
def test_everything_else_is_searched_in_auto_mode(text):
    assert not asks_current_datetime(text)
    assert first_tool("auto", text, TOOLS) == ("search_documents", text)
    assert first_tool("tool", text, TOOLS) is None
    assert first_tool("always", "What is 17 * 23?", TOOLS) == (
        "search_documents",
        "What is 17 * 23?",
    )


def _hit(dense=None, bm25=None, embedder="all-MiniLM-L6-v2", **extra):
    return {
        "source": "a.md",
        "score": 1.0,
        "embedder": embedder,
        "dense_score": dense,
        "bm25_score": bm25,
        **extra,
    }


def test_relevance_is_judged_by_the_retriever_s_scores():
    # hybrid: a strong keyword match or a close dense match is relevant
    assert passages_relevant([_hit(dense=0.20, bm25=8.6), _hit(dense=0.1)])
    assert passages_relevant([_hit(dense=0.55), _hit(dense=0.3)])
    # small talk: nothing close in either list
    assert not passages_relevant([_hit(dense=0.15), _hit(dense=0.12, bm25=1.9)])
    # leaning on BM25 (the embedder cannot read the query): dense similarity is noise
    assert not passages_relevant([_hit(dense=0.68, bm25_lean=True)])
    assert passages_relevant([_hit(dense=0.70, bm25=12.8, bm25_lean=True)])
    # dense retrievers: the score is the cosine similarity
    minilm = {"embedder": "all-MiniLM-L6-v2"}
    assert passages_relevant([{"score": 0.62, **minilm}])
    assert not passages_relevant([{"score": 0.2, **minilm}])
    assert not passages_relevant([])  # nothing found
    assert passages_relevant(None)  # a search tool without scores cannot be judged


def test_the_cosine_bar_is_the_embedder_s_own():
    e5 = "multilingual-e5-small"
    # e5 puts small talk near 0.8: MiniLM's bar would let it in, e5's does not
    assert not passages_relevant([_hit(dense=0.81, embedder=e5)])
    assert passages_relevant([_hit(dense=0.89, embedder=e5)])
    assert passages_relevant([_hit(dense=0.81, bm25=6.5, embedder=e5)])
    # an embedder nobody calibrated: BM25 decides for hybrid, dense-only passages are kept
    assert not passages_relevant([_hit(dense=0.99, embedder="/models/my-embedder")])
    assert passages_relevant([_hit(dense=0.2, bm25=7.0, embedder="/models/my-embedder")])
    assert passages_relevant([{"score": 0.1, "embedder": "/models/my-embedder"}])


@tool
def search_documents(query: str) -> str:
    """Search the indexed documents."""
    return "[1] (travel_policy.docx) Tokyo: 180. Paris: 150."


def _agent(llm, retrieval):
    tools = [search_documents, *(t for t in default_tools() if t.name != "search_documents")]
    return ConversationalAgent(
        llm, tools, counter=words, context_window=2048, max_new_tokens=256, retrieval=retrieval
    )


def _run(agent, text):
    return agent.invoke({"input": text}, {"configurable": {"session_id": "s"}})


def test_auto_searches_before_a_model_that_never_calls_the_tool():
    # A small model answers in plain text, without the ReAct format and without the tool.
    llm = ScriptedChatModel(replies=["The allowance is 180 [1]."])
    result = _run(_agent(llm, "auto"), "What is the daily allowance in Tokyo?")
    assert [s["tool"] for s in result["steps"]] == ["search_documents"]
    assert "Tokyo: 180" in result["steps"][0]["observation"]
    first_prompt = " ".join(message_text(m) for m in llm.prompts[0])
    assert "documents:\n[1] (travel_policy.docx) Tokyo: 180" in first_prompt
    assert result["output"] == "The allowance is 180 [1]."
    assert len(llm.prompts) == 1  # no format retry: the plain reply is the answer
    assert result["stop_reason"] == "answer"


def test_tool_mode_leaves_the_choice_to_the_model():
    llm = ScriptedChatModel(replies=["Final Answer: 100,000 yen"])
    result = _run(_agent(llm, "tool"), "What is the daily allowance in Tokyo?")
    assert result["steps"] == []


def test_a_forced_search_then_a_real_tool_call_keeps_both_steps_in_memory():
    llm = ScriptedChatModel(
        replies=[
            "Thought: check\nAction: calculator\nAction Input: 180 * 3",
            "Final Answer: 540",
        ]
    )
    agent = _agent(llm, "always")
    result = _run(agent, "three days in Tokyo cost?")
    assert [s["tool"] for s in result["steps"]] == ["search_documents", "calculator"]
    assert result["output"] == "540"
    stored = agent.memory.load("s").turns[-1]
    assert [getattr(m, "name", None) for m in stored if m.type == "tool"] == [
        "search_documents",
        "calculator",
    ]


def test_auto_runs_the_calculator_and_the_clock_before_the_model_speaks():
    # A 135M model computes 17 * 23 = 321 and invents dates rather than call the tools.
    llm = ScriptedChatModel(replies=["17 * 23 = 391."])
    result = _run(_agent(llm, "auto"), "What is 17 * 23?")
    assert [(s["tool"], s["observation"]) for s in result["steps"]] == [("calculator", "391")]
    assert "Result of calculator: 391" in " ".join(message_text(m) for m in llm.prompts[0])
    assert result["stop_reason"] == "answer"
    llm = ScriptedChatModel(replies=["It is today."])
    result = _run(_agent(llm, "auto"), "What time is it?")
    assert [s["tool"] for s in result["steps"]] == ["current_datetime"]
    assert result["stop_reason"] == "answer"


def _scored_search(dense: float, bm25: float | None):
    from langchain_core.tools import StructuredTool

    def run(query: str) -> tuple[str, list[dict]]:
        hit = {
            "source": "travel_policy.docx",
            "score": 1.0,
            "embedder": "all-MiniLM-L6-v2",
            "dense_score": dense,
        }
        if bm25 is not None:
            hit["bm25_score"] = bm25
        return "[1] (travel_policy.docx) Tokyo: 180. Paris: 150.", [hit]

    return StructuredTool.from_function(
        func=run,
        name="search_documents",
        description="Search the indexed documents.",
        response_format="content_and_artifact",
    )


def _scored_agent(llm, dense, bm25):
    tools = [
        _scored_search(dense, bm25),
        *(t for t in default_tools() if t.name != "search_documents"),
    ]
    return ConversationalAgent(
        llm, tools, counter=words, context_window=2048, max_new_tokens=256, retrieval="auto"
    )


def test_small_talk_is_searched_but_irrelevant_passages_stay_out_of_the_prompt():
    llm = ScriptedChatModel(replies=["Final Answer: Hello! How can I help?"])
    result = _run(_scored_agent(llm, dense=0.15, bm25=None), "Hey, good to see you!")
    assert result["steps"] == []  # the documents were not consulted
    prompt = " ".join(message_text(m) for m in llm.prompts[0])
    assert "Tokyo: 180" not in prompt
    assert result["output"] == "Hello! How can I help?"


def test_a_relevant_search_goes_into_the_prompt_without_the_word_document():
    llm = ScriptedChatModel(replies=["180 [1]."])
    result = _run(_scored_agent(llm, dense=0.71, bm25=8.6), "How much do I get per day in Tokyo?")
    assert [s["tool"] for s in result["steps"]] == ["search_documents"]
    assert "Tokyo: 180" in " ".join(message_text(m) for m in llm.prompts[0])
    assert result["output"] == "180 [1]."
