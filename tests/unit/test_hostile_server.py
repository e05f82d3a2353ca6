"""Hostile and concurrent HTTP input: malformed bodies get 422 (never 500), concurrent first
turns of a session are all stored, /health tells strangers only ok/degraded."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage

from lcelkit.agents.memory import SummaryMemoryStore
from lcelkit.server.app import create_app
from lcelkit.settings import get_settings
from tests.unit.test_server import agent, never_built, rag_chain, run, settings

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:langserve.*"),
    pytest.mark.filterwarnings("ignore:astream_log is deprecated"),
]

DEEP_ARRAY = "[" * 2000 + "]" * 2000
DEEP_INPUT = '{"input": ' + '{"a":' * 2000 + "1" + "}" * 2000 + "}"
MALFORMED = [
    ("/rag/batch", '{"inputs": "abc"}', '"inputs" must be a list'),
    ("/rag/batch", '{"inputs": {"question": "a"}}', '"inputs" must be a list'),
    ("/rag/batch", '{"inputs": null}', '"inputs" must be a list'),
    ("/rag/batch", '{"inputs": [1, 2]}', '"inputs"[0] must be an object or a string'),
    ("/rag/batch", '{"inputs": []}', "empty"),
    ("/rag/batch", '{"inputs": [{"question": "a"}], "config": [{}, {}]}', "2 items for 1"),
    ("/agent/batch", '{"inputs": "abc"}', '"inputs" must be a list'),
    ("/rag/batch", '{"inputs": [' + ",".join(['{"question": "a"}'] * 65) + "]}", "limit is 64"),
    ("/rag/invoke", DEEP_ARRAY, "nested 2000 levels"),
    ("/rag/invoke", DEEP_INPUT, "nested 2001 levels"),
    ("/agent/stream", DEEP_ARRAY, "nested"),
    ("/v1/chat/completions", DEEP_ARRAY, "nested"),
    ("/rag/invoke", "not json", "Invalid JSON body"),
    ("/rag/invoke", '"a string"', "must be a JSON object"),
    ("/rag/invoke", "{}", 'needs "input"'),
    ("/rag/invoke", '{"input": {"question": "a"}, "config": "x"}', '"config" must be an object'),
    ("/rag/invoke", '{"input": {"question": "\\ud800"}}', "input.question: the text holds a lone"),
    ("/rag/invoke", '{"input": 5}', ""),
    ("/agent/invoke", '{"input": {"input": "hi"}, "config": {"configurable": []}}', ""),
]


def test_malformed_bodies_get_422_with_the_reason_never_500(tmp_path):
    app = create_app(settings(tmp_path), rag=rag_chain(), agent=agent(tmp_path))

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        headers = {"content-type": "application/json"}
        return [await client.post(p, content=b, headers=headers) for p, b, _ in MALFORMED]

    for (path, _body, reason), response in zip(MALFORMED, run(app, scenario), strict=True):
        assert response.status_code == 422, (path, response.text[:200])
        assert reason in str(response.json()["detail"]), (path, response.text[:200])


def test_valid_requests_still_pass_the_validation(tmp_path):
    app = create_app(settings(tmp_path), rag=rag_chain(), agent=never_built)

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/rag/batch", json={"inputs": [{"question": "a"}] * 3}),
            await client.post(
                "/rag/batch",
                json={"inputs": [{"question": "a"}] * 2, "config": [{}, {"tags": ["x"]}]},
            ),
            await client.post("/rag/c/N4XyA/invoke", json={"input": {"question": "Q?"}}),
        ]

    batch, per_input, hashed = run(app, scenario)
    assert batch.status_code == 200 and len(batch.json()["output"]) == 3
    assert per_input.status_code == 200 and len(per_input.json()["output"]) == 2
    assert hashed.status_code != 500


def test_concurrent_first_turns_of_many_sessions_are_all_stored(tmp_path):
    app = create_app(settings(tmp_path), rag=never_built, agent=agent(tmp_path))
    sessions = [f"s{i}" for i in range(40)]

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        calls = [
            client.post(
                "/agent/invoke",
                json={
                    "input": {"input": f"turn {n} of {sid}"},
                    "config": {"configurable": {"session_id": sid}},
                },
            )
            for sid in sessions
            for n in (1, 2)
        ]
        return await asyncio.gather(*calls)

    responses = run(app, scenario)
    assert [r.status_code for r in responses].count(200) == 80, [
        r.text[:200] for r in responses if r.status_code != 200
    ]
    memory = SummaryMemoryStore(f"sqlite:///{tmp_path / 'memory.sqlite'}", recent_turns=10)
    for sid in sessions:
        snapshot = memory.load(sid)
        said = sorted(str(t[0].content) for t in snapshot.turns)
        assert said == [f"turn 1 of {sid}", f"turn 2 of {sid}"]
        assert snapshot.total_turns == 2


def test_agent_batch_of_three_on_one_session_stores_three_turns(tmp_path):
    app = create_app(settings(tmp_path), rag=never_built, agent=agent(tmp_path))
    body = {
        "inputs": [{"input": f"message {i}"} for i in range(3)],
        "config": {"configurable": {"session_id": "shared"}},
    }
    response = run(app, lambda c: c.post("/agent/batch", json=body))
    assert response.status_code == 200, response.text[:300]
    snapshot = SummaryMemoryStore(f"sqlite:///{tmp_path / 'memory.sqlite'}").load("shared")
    assert snapshot.total_turns == 3
    assert sorted(str(t[0].content) for t in snapshot.turns) == [f"message {i}" for i in range(3)]


def _turn(text: str) -> list:
    return [HumanMessage(text), AIMessage(f"reply to {text}")]


def test_async_turns_on_one_session_count_every_turn(tmp_path):
    memory = SummaryMemoryStore(f"sqlite:///{tmp_path / 'm.sqlite'}", recent_turns=50)

    async def main() -> None:
        await asyncio.gather(*(memory.aappend_turn("s", _turn(f"t{i}")) for i in range(10)))

    asyncio.run(main())
    snapshot = memory.load("s")
    assert snapshot.total_turns == 10 and len(snapshot.turns) == 10
    assert [s.total_turns for s in memory.list_sessions()] == [10]


def test_sync_and_async_writers_share_the_session_lock(tmp_path):
    memory = SummaryMemoryStore(f"sqlite:///{tmp_path / 'm.sqlite'}", recent_turns=50)
    threads = [
        threading.Thread(target=memory.append_turn, args=("s", _turn(f"sync {i}")))
        for i in range(8)
    ]

    async def main() -> None:
        await asyncio.gather(*(memory.aappend_turn("s", _turn(f"async {i}")) for i in range(8)))

    for thread in threads:
        thread.start()
    asyncio.run(main())
    for thread in threads:
        thread.join()
    snapshot = memory.load("s")
    assert snapshot.total_turns == 16 and len(snapshot.turns) == 16


def test_first_turns_from_two_stores_on_one_database_do_not_collide(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    stores = [SummaryMemoryStore(url, recent_turns=50) for _ in range(2)]  # no shared lock
    barrier = threading.Barrier(8)

    def write(i: int) -> None:
        barrier.wait()
        stores[i % 2].append_turn("new", _turn(f"t{i}"))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = stores[0].load("new")
    assert snapshot.total_turns == 8 and len(snapshot.turns) == 8


# -- /health -----------------------------------------------------------------------------
def test_health_without_the_key_says_only_ok_or_degraded(tmp_path):
    s = get_settings(
        home=tmp_path / "home",
        llm={"provider": "ollama", "base_url": "http://127.0.0.1:9"},
        server={"api_key": "sesame"},
    )
    app = create_app(s, rag=never_built, agent=never_built)

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.get("/health"),
            await client.get("/health", headers={"Authorization": "Bearer wrong"}),
            await client.get("/health", headers={"Authorization": "Bearer sesame"}),
        ]

    anonymous, wrong, keyed = run(app, scenario)
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "degraded"}
    assert wrong.json() == {"status": "degraded"}
    assert "127.0.0.1:9" not in anonymous.text and "default" not in anonymous.text
    details = keyed.json()
    assert details["status"] == "degraded" and "127.0.0.1:9" in details["backend"]["error"]
    assert details["store"]["collection"] == "default"


def test_health_probes_the_backend_at_most_once_per_few_seconds(tmp_path):
    from tests.support.ollama_server import FakeOllamaServer

    with FakeOllamaServer(model="llama3.2") as ollama:
        s = get_settings(home=tmp_path / "home", llm={"base_url": ollama.url})
        app = create_app(s, rag=never_built, agent=never_built)

        async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
            return await asyncio.gather(*(client.get("/health") for _ in range(30)))

        answers = run(app, scenario)
        assert {a.json()["backend"]["ok"] for a in answers} == {True}
        assert 1 <= len(ollama.requests) <= 3  # one probe (tags/show) for 30 requests


def test_an_unexpected_error_is_a_500_in_the_one_error_body_without_internals(tmp_path):
    from langchain_core.runnables import RunnableLambda

    def boom(_: object) -> None:
        raise RuntimeError("secret internals")

    app = create_app(settings(tmp_path), rag=RunnableLambda(boom), agent=never_built)
    response = run(app, lambda c: c.post("/rag/invoke", json={"input": "q"}))
    assert response.status_code == 500
    assert response.json() == {
        "detail": "internal error (see the server log)",
        "hint": None,
        "errors": None,
    }
    assert "secret" not in response.text
