"""The agent loop on scripted models: text ReAct, native tool calls, limits, streaming."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from lcelkit.agents import ConversationalAgent, SummaryMemoryStore, default_tools
from lcelkit.agents.budget import count_prompt, message_text
from lcelkit.errors import BackendUnavailableError, ContextBudgetError
from tests.unit.test_agent_support import ScriptedChatModel, prompt_tokens, tool_call, words


def _agent(llm, **kwargs) -> ConversationalAgent:
    kwargs.setdefault("counter", words)
    kwargs.setdefault("context_window", 2048)
    kwargs.setdefault("max_new_tokens", 256)
    return ConversationalAgent(llm, kwargs.pop("tools", default_tools()), **kwargs)


def _run(agent, text, session="s"):
    return agent.invoke({"input": text}, {"configurable": {"session_id": session}})


# -- text path --------------------------------------------------------------------------
def test_text_path_uses_a_tool_then_answers():
    llm = ScriptedChatModel(
        replies=[
            "Thought: I need math.\nAction: calculator\nAction Input: 2 + 3 * 4",
            "Thought: I know it.\nFinal Answer: It is 14.",
        ]
    )
    result = _run(_agent(llm), "what is 2 + 3 * 4?")
    assert result["output"] == "It is 14."
    assert result["stop_reason"] == "answer"
    assert [(s["tool"], s["observation"]) for s in result["steps"]] == [("calculator", "14")]
    assert llm.stops[0] == ["\nObservation:", "\nobservation:"]  # stop sequences bound
    second = [message_text(m) for m in llm.prompts[1]]
    assert "Observation: 14" in second
    assert "calculator" in second[0] and "Final Answer" in second[0]  # tools in system


def test_a_self_written_observation_is_never_believed():
    llm = ScriptedChatModel(
        honor_stop=False,
        replies=[
            "Thought: t\nAction: calculator\nAction Input: 6*7\nObservation: 41\nFinal Answer: 41",
            "Final Answer: 42",
        ],
    )
    result = _run(_agent(llm), "6*7?")
    assert result["output"] == "42"
    assert result["steps"][0]["observation"] == "42"
    assert "41" not in " ".join(message_text(m) for m in llm.prompts[1])


def test_one_retry_with_a_correction_after_a_parse_failure():
    llm = ScriptedChatModel(replies=["I am not sure what to do.", "Final Answer: Paris."])
    result = _run(_agent(llm), "capital of France?")
    assert result["output"] == "Paris."
    assert result["stop_reason"] == "answer"
    retry_prompt = llm.prompts[1]
    assert "did not follow the format" in message_text(retry_prompt[-1])
    assert message_text(retry_prompt[-2]) == "I am not sure what to do."


def test_two_parse_failures_end_gracefully_with_the_raw_text():
    llm = ScriptedChatModel(replies=["blue is nice", "Thought: still rambling about blue"])
    result = _run(_agent(llm), "favourite colour?")
    assert result["stop_reason"] == "parse_error"
    assert result["output"] == "still rambling about blue"
    assert len(llm.prompts) == 2


def test_empty_replies_end_with_an_apology():
    llm = ScriptedChatModel(replies=["", "   "])
    result = _run(_agent(llm), "hello?")
    assert result["stop_reason"] == "parse_error"
    assert result["output"].startswith("Sorry")


def test_an_unknown_tool_is_answered_with_the_tool_list():
    llm = ScriptedChatModel(
        replies=["Action: web_search\nAction Input: news", "Final Answer: I cannot browse."]
    )
    result = _run(_agent(llm), "news?")
    step = result["steps"][0]
    assert step["error"] and "calculator, current_datetime" in step["observation"]
    assert "not an available tool" in message_text(llm.prompts[1][-1])
    assert result["output"] == "I cannot browse."


def test_tool_exceptions_become_observations():
    @tool
    def flaky(text: str) -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    llm = ScriptedChatModel(replies=["Action: flaky\nAction Input: x", "Final Answer: sorry"])
    result = _run(_agent(llm, tools=[flaky]), "go")
    assert result["steps"][0]["observation"] == "flaky failed: RuntimeError: disk on fire"
    assert result["output"] == "sorry"


def test_user_tools_get_their_arguments_from_json_input():
    seen = []

    @tool
    def convert(amount: float, currency: str) -> str:
        """Convert an amount of money."""
        seen.append((amount, currency))
        return f"{amount * 2} {currency}"

    llm = ScriptedChatModel(
        replies=[
            'Action: convert\nAction Input: {"amount": 10, "currency": "KRW"}',
            "Final Answer: done",
        ]
    )
    result = _run(_agent(llm, tools=[convert]), "convert 10")
    assert seen == [(10.0, "KRW")]
    assert result["steps"][0]["observation"] == "20.0 KRW"


def test_the_step_limit_forces_a_final_answer():
    replies = ["Action: calculator\nAction Input: 1+1"] * 3 + ["Final Answer: gave up at 2"]
    llm = ScriptedChatModel(replies=replies)
    result = _run(_agent(llm, max_steps=3), "loop forever")
    assert len(result["steps"]) == 3
    assert len(llm.prompts) == 4
    assert "used all your tool steps" in message_text(llm.prompts[-1][-1])
    assert result["output"] == "gave up at 2"


def test_the_step_limit_ends_gracefully_even_if_the_model_keeps_acting():
    llm = ScriptedChatModel(replies=["Action: calculator\nAction Input: 1+1"], cycle=True)
    result = _run(_agent(llm, max_steps=2), "loop forever")
    assert result["stop_reason"] == "max_steps"
    assert len(llm.prompts) == 3
    assert result["output"]


def test_the_time_limit_stops_the_loop():
    llm = ScriptedChatModel(
        replies=["Action: calculator\nAction Input: 1+1"], cycle=True, delay=0.15
    )
    result = _run(_agent(llm, max_steps=50, max_seconds=0.4), "slow")
    assert result["stop_reason"] == "timeout"
    assert "time limit" in result["output"]
    assert len(llm.prompts) < 6


def test_the_time_limit_interrupts_a_slow_async_model_call():
    llm = ScriptedChatModel(replies=["Final Answer: too late"], delay=5.0)
    agent = _agent(llm, max_seconds=0.3)

    async def ask():
        return await agent.ainvoke({"input": "slow"}, {"configurable": {"session_id": "t"}})

    result = asyncio.run(ask())
    assert result["stop_reason"] == "timeout"
    assert "too late" not in result["output"]
    assert "time limit" in result["output"]


def test_the_budget_error_comes_before_any_model_call():
    llm = ScriptedChatModel(replies=["Final Answer: x"])
    agent = _agent(llm, context_window=120, max_new_tokens=100)
    with pytest.raises(ContextBudgetError):
        _run(agent, "hi")
    assert llm.prompts == []


def test_a_dead_backend_raises_the_actionable_error():
    from functools import partial

    from lcelkit.chains.llms import backend_error

    def down(messages):
        raise httpx.ConnectError("connection refused")

    llm = ScriptedChatModel(replies=[down])
    mapper = partial(backend_error, provider="ollama", model="m", base_url="http://127.0.0.1:9")
    agent = _agent(llm, error_mapper=mapper)
    with pytest.raises(BackendUnavailableError) as info:
        _run(agent, "hi")
    assert "127.0.0.1:9" in str(info.value)
    assert agent.memory.load("s").turns == []  # a failed turn is not remembered


# -- native path ------------------------------------------------------------------------
def test_auto_mode_picks_native_when_the_model_has_tool_calling():
    assert _agent(ScriptedChatModel(replies=[], native_tools=True)).resolved_mode == "native"
    assert _agent(ScriptedChatModel(replies=[])).resolved_mode == "text"
    forced = _agent(ScriptedChatModel(replies=[], native_tools=True), mode="text")
    assert forced.resolved_mode == "text"


def test_native_path_calls_tools_and_keeps_pairing():
    llm = ScriptedChatModel(
        native_tools=True,
        replies=[
            tool_call("calculator", {"expression": "6*7"}, "c1"),
            tool_call("nope", {"x": 1}, "c2"),
            "The answer is 42.",
        ],
    )
    agent = _agent(llm)
    result = _run(agent, "6*7?")
    assert result["output"] == "The answer is 42."
    assert [s["tool"] for s in result["steps"]] == ["calculator", "nope"]
    assert "tools" in llm.calls[0] and llm.stops[0] is None
    last = llm.prompts[-1]
    tool_messages = [m for m in last if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in tool_messages] == ["c1", "c2"]
    assert tool_messages[0].content == "42"
    assert "not an available tool" in tool_messages[1].content
    stored = agent.memory.load("s").turns[0]
    calls = [c["id"] for m in stored if isinstance(m, AIMessage) for c in m.tool_calls]
    assert calls == ["c1", "c2"]


def test_native_path_step_limit_asks_without_tools():
    llm = ScriptedChatModel(
        native_tools=True,
        replies=[tool_call("calculator", {"expression": "1"}, f"c{i}") for i in range(2)]
        + ["Final: 1"],
    )
    result = _run(_agent(llm, max_steps=2), "x")
    assert result["stop_reason"] == "max_steps"
    assert result["output"] == "Final: 1"
    assert "tools" not in llm.calls[-1]


# -- memory through the agent --------------------------------------------------------
def test_sessions_are_isolated_and_remembered(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    llm = ScriptedChatModel(replies=[lambda m: f"Final Answer: seen {len(m)}"], cycle=True)
    agent = _agent(llm, memory=SummaryMemoryStore(url, counter=words))
    _run(agent, "I am Alice", session="alice")
    _run(agent, "I am Bob", session="bob")
    _run(agent, "who am I?", session="alice")
    texts = [message_text(m) for m in llm.prompts[-1]]
    assert "I am Alice" in texts and "I am Bob" not in texts
    # a "restart": new objects on the same database
    llm2 = ScriptedChatModel(replies=["Final Answer: ok"])
    agent2 = _agent(llm2, memory=SummaryMemoryStore(url, counter=words))
    _run(agent2, "still there?", session="alice")
    texts = [message_text(m) for m in llm2.prompts[-1]]
    assert "I am Alice" in texts and "who am I?" in texts
    assert agent2.reset("alice") is True
    assert agent2.memory.load("alice").turns == []


# -- streaming and the Runnable surface -------------------------------------------------
def test_text_stream_yields_only_final_answer_tokens():
    llm = ScriptedChatModel(
        replies=[
            "Thought: look\nAction: calculator\nAction Input: 3*3",
            "Thought: got it, the result is known\nFinal Answer: Nine is the answer.",
        ]
    )
    chunks = list(_agent(llm).stream({"input": "3*3"}, {"configurable": {"session_id": "x"}}))
    tokens = [c["output"] for c in chunks if c.get("output")]
    assert len(tokens) > 1
    assert "".join(tokens) == "Nine is the answer."
    assert not any("Thought" in t or "Action" in t for t in tokens)
    assert any(c.get("steps") for c in chunks)


def test_astream_events_shows_tools_and_answer_tokens():
    llm = ScriptedChatModel(
        replies=["Action: calculator\nAction Input: 2**5", "Final Answer: thirty two"]
    )
    agent = _agent(llm)

    async def collect():
        return [e async for e in agent.astream_events({"input": "2**5"}, version="v2")]

    events = asyncio.run(collect())
    kinds = [(e["event"], e["name"]) for e in events]
    assert ("on_tool_start", "calculator") in kinds
    assert ("on_tool_end", "calculator") in kinds
    tokens = [
        e["data"]["chunk"].get("output", "")
        for e in events
        if e["event"] == "on_chain_stream" and e["name"] == agent.name
    ]
    assert "".join(tokens) == "thirty two"
    end = next(e for e in events if e["event"] == "on_chain_end" and e["name"] == agent.name)
    assert end["data"]["output"]["output"] == "thirty two"


def test_schemas_and_config_specs_for_serving():
    agent = _agent(ScriptedChatModel(replies=[]))
    assert agent.get_input_schema().model_json_schema()["required"] == ["input"]
    out = agent.get_output_schema().model_json_schema()
    assert {"output", "session_id", "steps"} <= set(out["properties"])
    assert [s.id for s in agent.config_specs] == ["session_id"]


def test_chat_works_inside_a_running_event_loop():
    llm = ScriptedChatModel(replies=["Final Answer: hi from a thread", "Final Answer: async"])
    agent = _agent(llm)

    async def notebook_cell():
        sync_answer = agent.chat("hello", session_id="nb")  # Jupyter has a running loop
        async_answer = await agent.achat("again", session_id="nb")
        return sync_answer, async_answer

    assert asyncio.run(notebook_cell()) == ("hi from a thread", "async")


def test_batch_runs_independent_sessions():
    llm = ScriptedChatModel(replies=["Final Answer: ok"], cycle=True)
    agent = _agent(llm)
    results = agent.batch(
        [{"input": "a"}, {"input": "b"}],
        [{"configurable": {"session_id": "1"}}, {"configurable": {"session_id": "2"}}],
    )
    assert [r["session_id"] for r in results] == ["1", "2"]
    assert all(r["output"] == "ok" for r in results)


# -- 200 turns in a 1,024-token window ------------------------------------------------
def _long(tag: str, i: int, n: int) -> str:
    return f"{tag}-{i}: " + " ".join(f"{tag}{i}w{j}" for j in range(n))


@pytest.mark.parametrize("mode", ["text", "native"])
def test_200_long_turns_never_overflow_and_summarize_only_evicted_turns(tmp_path, mode):
    window, max_new = 1024, 128
    limit = window - max_new
    state = {"turn": 0, "phase": 0}

    def reply(messages):
        i = state["turn"]
        first = state["phase"] == 0
        state["phase"] = 1 - state["phase"] if i % 3 == 0 else 0
        if i % 3 == 0 and first:  # every third turn uses a tool first
            if mode == "native":
                return tool_call("calculator", {"expression": f"{i}*2"}, f"call-{i}")
            return f"Thought: compute\nAction: calculator\nAction Input: {i}*2"
        state["turn"] += 1
        answer = _long("answer", i, 60 + (i * 37) % 140)
        return answer if mode == "native" else f"Thought: ok\nFinal Answer: {answer}"

    llm = ScriptedChatModel(replies=[reply], cycle=True, native_tools=mode == "native")
    summaries = iter(range(1, 10_000))
    summarizer = ScriptedChatModel(
        replies=[lambda m: "summary " + " ".join(["fact"] * 80) + f" v{next(summaries)}"],
        cycle=True,
    )
    memory = SummaryMemoryStore(
        f"sqlite:///{tmp_path / 'mem.sqlite'}",
        summarizer=summarizer,
        counter=words,
        recent_turns=4,
        summary_max_tokens=120,
        prompt_limit=limit,
    )
    agent = ConversationalAgent(
        llm,
        default_tools(),
        memory=memory,
        counter=words,
        context_window=window,
        max_new_tokens=max_new,
        mode=mode,
    )

    async def converse():
        for i in range(200):
            result = await agent.ainvoke(
                {"input": _long("user", i, 40 + (i * 53) % 220)},
                {"configurable": {"session_id": "long"}},
            )
            assert result["output"]

    asyncio.run(converse())
    assert len(llm.prompts) == 200 + 67
    over = [n for n in map(prompt_tokens, llm.prompts) if n > limit]
    assert over == [], f"{len(over)} prompts over the {limit}-token budget"
    assert all(prompt_tokens(p) <= limit for p in summarizer.prompts)
    for prompt in llm.prompts:  # every tool result still follows its call
        for k, message in enumerate(prompt):
            if isinstance(message, ToolMessage):
                previous = [
                    c["id"] for m in prompt[:k] if isinstance(m, AIMessage) for c in m.tool_calls
                ]
                assert message.tool_call_id in previous
    # The summarizer saw each evicted turn once, and never a turn still in the window.
    folded = [message_text(p[-1]) for p in summarizer.prompts if "New lines" in message_text(p[-1])]
    seen = [i for i in range(200) for text in folded if f"user-{i}:" in text]
    assert sorted(seen) == list(range(196))  # 200 turns - 4 recent
    assert summarizer.prompts and len(folded) <= 196
    last_prompt_text = " ".join(message_text(m) for m in llm.prompts[-1])
    assert "Summary of the earlier conversation" in last_prompt_text
    system = [m for m in llm.prompts[-1] if isinstance(m, SystemMessage)]
    assert len(system) == 1  # summary merged into the one system message
    assert isinstance(llm.prompts[-1][-1], HumanMessage | ToolMessage)
    assert json.dumps  # keeps the json import used for readers of the recorded prompts


def test_a_full_window_mid_turn_ends_the_turn_with_what_was_found():
    # The model's own step (a long thought) leaves no room for another call.
    long_thought = "Thought: " + "ponder " * 330 + "\nAction: calculator\nAction Input: 6*7"
    llm = ScriptedChatModel(replies=[long_thought, "Final Answer: never reached"])
    agent = _agent(llm, context_window=512, max_new_tokens=64)
    result = _run(agent, "what is 6*7?")
    assert result["stop_reason"] == "budget"
    assert "context window is full" in result["output"]
    assert "42" in result["output"]  # what the tool found is kept
    assert len(llm.prompts) == 1
    assert all(prompt_tokens(p) <= 512 - 64 for p in llm.prompts)


def test_a_first_prompt_that_cannot_fit_is_an_error_before_any_call():
    llm = ScriptedChatModel(replies=["Final Answer: no"])
    agent = _agent(llm, context_window=160, max_new_tokens=100)
    with pytest.raises(ContextBudgetError):
        _run(agent, "hello")
    assert llm.prompts == []


def test_a_1024_window_with_the_default_reply_keeps_room_for_an_observation():
    # 1,024 tokens and the default 512 new tokens: the reply reserve shrinks to a quarter
    # of the window, so the system prompt, the tools and a 40-token observation fit.
    @tool
    def search_documents(query: str) -> str:
        """Search the indexed documents."""
        return "Table 4: Daily allowance by city. Tokyo: 180. Paris: 150. Berlin: 120."

    llm = ScriptedChatModel(
        replies=[
            "Thought: look it up\nAction: search_documents\nAction Input: Tokyo allowance",
            "Final Answer: 180",
        ]
    )
    dense = lambda text: len(text) // 2  # noqa: E731  a tokenizer denser than words
    tools = [search_documents, *(t for t in default_tools() if t.name != "search_documents")]
    agent = _agent(llm, tools=tools, counter=dense, context_window=1024, max_new_tokens=512)
    result = _run(agent, "What is the daily allowance in Tokyo?")
    assert result["stop_reason"] == "answer"
    assert result["output"] == "180"
    assert "Tokyo: 180." in " ".join(message_text(m) for m in llm.prompts[1])
    assert all(count_prompt(dense, p) <= 1024 - 256 for p in llm.prompts)
