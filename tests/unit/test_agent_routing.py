"""Searching the documents before the model speaks (small models rarely call the tool)."""

from __future__ import annotations

import pytest
from langchain_core.tools import tool
from lcelkit.agents import ConversationalAgent, default_tools
from lcelkit.agents.budget import message_text
from lcelkit.agents.routing import asks_about_documents

from tests.unit.test_agent_support import ScriptedChatModel, words


@pytest.mark.parametrize(
    "text",
    [
        "Please search the documents: what is the daily allowance in Tokyo?",
        "What was the Q3 revenue of the North region?",
        "according to the handbook, how many days of leave do I get",
        "Who approves travel expenses?",
        "출장비 규정을 알려줘",
    ],
)
def test_questions_about_the_documents_are_recognised(text):
    assert asks_about_documents(text)


@pytest.mark.parametrize(
    "text", ["What is 17 * 23?", "12.5 / 4", "What time is it?", "hello!", "thanks a lot"]
)
def test_arithmetic_time_and_small_talk_are_not(text):
    assert not asks_about_documents(text)


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
