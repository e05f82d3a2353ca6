"""Persisted summary memory: incremental folding, caps, pairing, restarts, isolation."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from lcelkit.agents.budget import count_prompt, message_text
from lcelkit.agents.memory import SummaryMemoryStore
from tests.unit.test_agent_support import ScriptedChatModel, words


def _turn(i: int, extra_words: int = 0) -> list:
    filler = " ".join(["blah"] * extra_words)
    return [
        HumanMessage(content=f"question-{i} {filler}".strip()),
        AIMessage(content=f"answer-{i}"),
    ]


def _tool_turn(i: int) -> list:
    call_id = f"call-{i}"
    return [
        HumanMessage(content=f"question-{i}"),
        AIMessage(content="", tool_calls=[{"name": "calculator", "args": {"e": i}, "id": call_id}]),
        ToolMessage(content=f"result-{i}", tool_call_id=call_id, name="calculator"),
        AIMessage(content=f"answer-{i}"),
    ]


def _summarizer() -> ScriptedChatModel:
    counter = iter(range(1, 10_000))
    return ScriptedChatModel(replies=[lambda messages: f"summary-v{next(counter)}"], cycle=True)


def _url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'memory.sqlite'}"


def test_a_session_survives_a_restart(tmp_path):
    first = SummaryMemoryStore(_url(tmp_path), summarizer=_summarizer(), recent_turns=2)
    for i in range(4):
        first.append_turn("alice", _turn(i))
    before = first.load("alice")
    first.close()

    second = SummaryMemoryStore(_url(tmp_path), summarizer=_summarizer(), recent_turns=2)
    after = second.load("alice")
    assert after.summary == before.summary == "summary-v2"
    assert [message_text(t[0]) for t in after.turns] == ["question-2", "question-3"]
    assert after.total_turns == 4


def test_sessions_are_isolated_listed_and_reset(tmp_path):
    store = SummaryMemoryStore(_url(tmp_path), recent_turns=3)
    store.append_turn("a", _turn(1))
    store.append_turn("b", _turn(2))
    store.append_turn("b", _turn(3))
    assert [message_text(t[0]) for t in store.load("a").turns] == ["question-1"]
    assert [message_text(t[0]) for t in store.load("b").turns] == ["question-2", "question-3"]
    infos = {s.session_id: s for s in store.list_sessions()}
    assert set(infos) == {"a", "b"}
    assert infos["b"].total_turns == 2
    assert store.reset("b") is True
    assert store.load("b").turns == []
    assert store.reset("b") is False
    assert [message_text(t[0]) for t in store.load("a").turns] == ["question-1"]


def test_only_newly_evicted_turns_are_summarized(tmp_path):
    summarizer = _summarizer()
    store = SummaryMemoryStore(_url(tmp_path), summarizer=summarizer, recent_turns=3)
    for i in range(10):
        store.append_turn("s", _turn(i))
    assert len(summarizer.prompts) == 7  # turns 0..6 left the window, one call each
    for call, prompt in enumerate(summarizer.prompts):
        text = "\n".join(message_text(m) for m in prompt)
        assert f"question-{call}" in text
        others = [i for i in range(10) if i != call and f"question-{i} " in text + " "]
        assert others == [], f"call {call} re-summarized turns {others}"
        previous = f"summary-v{call}" if call else "(empty)"
        assert previous in text  # the previous summary goes along
    snapshot = store.load("s")
    assert snapshot.summary == "summary-v7"
    assert [message_text(t[0]) for t in snapshot.turns] == [
        "question-7",
        "question-8",
        "question-9",
    ]


def test_tool_messages_stay_paired_with_their_calls(tmp_path):
    store = SummaryMemoryStore(_url(tmp_path), summarizer=_summarizer(), recent_turns=2)
    for i in range(5):
        store.append_turn("s", _tool_turn(i))
    for turn in store.load("s").turns:
        call_ids = {c["id"] for m in turn if isinstance(m, AIMessage) for c in m.tool_calls}
        tool_ids = {m.tool_call_id for m in turn if isinstance(m, ToolMessage)}
        assert tool_ids and tool_ids == call_ids


def test_summary_over_its_cap_is_compressed_then_truncated(tmp_path):
    long = " ".join(["fact"] * 300)
    summarizer = ScriptedChatModel(replies=[long], cycle=True)
    store = SummaryMemoryStore(
        _url(tmp_path), summarizer=summarizer, recent_turns=1, summary_max_tokens=50
    )
    store.append_turn("s", _turn(0))
    store.append_turn("s", _turn(1))
    assert len(summarizer.prompts) == 2  # summarize, then compress
    assert "too long" in message_text(summarizer.prompts[1][-1])
    assert words(store.load("s").summary) <= 50


def test_summarizer_prompts_fit_the_window_even_for_huge_turns(tmp_path):
    summarizer = _summarizer()
    store = SummaryMemoryStore(
        _url(tmp_path),
        summarizer=summarizer,
        recent_turns=1,
        summary_max_tokens=64,
        prompt_limit=400,
    )
    for i in range(6):
        store.append_turn("s", _turn(i, extra_words=900 if i % 2 else 150))
    assert summarizer.prompts
    for prompt in summarizer.prompts:
        assert count_prompt(words, prompt) <= 400


def test_token_limited_recent_window(tmp_path):
    store = SummaryMemoryStore(_url(tmp_path), recent_turns=10, recent_max_tokens=120)
    for i in range(6):
        store.append_turn("s", _turn(i, extra_words=40))
    turns = store.load("s").turns
    assert 1 <= len(turns) < 6
    assert sum(count_prompt(words, t) for t in turns) <= 120 or len(turns) == 1
    assert "question-5" in message_text(turns[-1][0])


def test_a_failing_summarizer_keeps_the_turns_for_later(tmp_path):
    calls = {"n": 0}

    def flaky(messages):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("backend down")
        return "recovered summary"

    store = SummaryMemoryStore(
        _url(tmp_path),
        summarizer=ScriptedChatModel(replies=[flaky], cycle=True),
        recent_turns=1,
    )
    store.append_turn("s", _turn(0))
    assert store.append_turn("s", _turn(1)) == 0  # failed: nothing folded, nothing lost
    assert len(store.load("s").turns) == 2
    assert store.append_turn("s", _turn(2)) == 2
    snapshot = store.load("s")
    assert snapshot.summary == "recovered summary"
    assert len(snapshot.turns) == 1


def test_without_a_summarizer_evicted_turns_are_folded_within_the_cap(tmp_path):
    store = SummaryMemoryStore(_url(tmp_path), recent_turns=1, summary_max_tokens=40)
    for i in range(20):
        store.append_turn("s", _turn(i, extra_words=10))
    summary = store.load("s").summary
    assert words(summary) <= 40
    assert "question-18" in summary


def test_async_append_and_load(tmp_path):
    import asyncio

    store = SummaryMemoryStore(_url(tmp_path), summarizer=_summarizer(), recent_turns=1)

    async def run():
        for i in range(3):
            await store.aappend_turn("s", _turn(i))
        return await store.aload("s")

    snapshot = asyncio.run(run())
    assert snapshot.summary == "summary-v2"
    assert [message_text(t[0]) for t in snapshot.turns] == ["question-2"]


def test_concurrent_sessions_on_an_in_memory_store_do_not_collide():
    from concurrent.futures import ThreadPoolExecutor

    store = SummaryMemoryStore("sqlite://", recent_turns=50)

    def chat(session: int) -> None:
        for i in range(15):
            store.append_turn(f"s{session}", [HumanMessage(f"q{i}"), AIMessage(f"a{i}")])

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(chat, range(6)))
    for session in range(6):
        turns = store.load(f"s{session}").turns
        assert len(turns) == 15
        assert message_text(turns[-1][0]) == "q14"
