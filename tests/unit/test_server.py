"""The HTTP app in-process (httpx ASGI transport): LangServe routes, errors, limits, auth."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableLambda
from pydantic import Field

from lcelkit.agents.memory import SummaryMemoryStore
from lcelkit.agents.react import ConversationalAgent
from lcelkit.chains.rag import make_rag_chain
from lcelkit.errors import BackendUnavailableError, ContextBudgetError
from lcelkit.server.app import create_app
from lcelkit.settings import get_settings

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:langserve.*"),
    pytest.mark.filterwarnings("ignore:astream_log is deprecated"),
]


class EchoChat(BaseChatModel):
    """Replies with the text of every human message it was sent (so memory is visible)."""

    prefix: str = ""
    calls: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _reply(self, messages: list[BaseMessage]) -> str:
        self.calls.append(list(messages))
        humans = [str(m.content) for m in messages if m.type == "human"]
        return self.prefix + "heard: " + " | ".join(humans)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self._reply(messages)))])

    def _stream(
        self, messages, stop=None, run_manager=None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        for i, word in enumerate(self._reply(messages).split(" ")):
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=word if i == 0 else " " + word)
            )


class FixedAnswer(BaseChatModel):
    answer: str = "Paris is the capital of France [1]."

    @property
    def _llm_type(self) -> str:
        return "fixed"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.answer))])

    def _stream(
        self, messages, stop=None, run_manager=None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        for i, word in enumerate(self.answer.split(" ")):
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=word if i == 0 else " " + word)
            )


DOCS = [
    Document(
        page_content="Paris is the capital of France.",
        metadata={"source": "geo.pdf", "page_number": 3, "chunk_id": "c1", "score": 0.9},
    ),
    Document(
        page_content="The Seine flows through Paris.",
        metadata={"source": "rivers.md", "chunk_id": "c2", "score": 0.7},
    ),
]


def rag_chain(llm: BaseChatModel | None = None) -> Any:
    return make_rag_chain(
        RunnableLambda(lambda _q: DOCS, name="fake_retriever"),
        llm or FixedAnswer(),
        counter=lambda text: len(text.split()),
        context_window=2048,
        max_new_tokens=128,
    )


def agent(tmp_path, llm: BaseChatModel | None = None) -> ConversationalAgent:
    memory = SummaryMemoryStore(f"sqlite:///{tmp_path / 'memory.sqlite'}")
    llm = llm or EchoChat(prefix="Final Answer: ")
    return ConversationalAgent(llm, tools=[], memory=memory, mode="text")


def settings(tmp_path, **server: Any):
    return get_settings(home=tmp_path / "home", server=server)


def run(app, scenario: Callable[[httpx.AsyncClient], Any]) -> Any:
    async def main() -> Any:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await scenario(client)

    return asyncio.run(main())


def sse_events(text: str) -> list[tuple[str, Any]]:
    """Parse an SSE body into (event, data) pairs."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if block.strip():
            events.append((name, json.loads("\n".join(data)) if data else None))
    return events


def never_built() -> Any:
    raise AssertionError("the runnable must not be built")


# -- LangServe routes -----------------------------------------------------------------
def test_rag_invoke_batch_stream_and_schemas(tmp_path):
    app = create_app(settings(tmp_path), rag=rag_chain(), agent=never_built)

    async def scenario(client: httpx.AsyncClient) -> dict[str, Any]:
        out = {}
        out["invoke"] = await client.post("/rag/invoke", json={"input": {"question": "Capital?"}})
        out["batch"] = await client.post(
            "/rag/batch", json={"inputs": [{"question": "a"}, {"question": "b"}]}
        )
        out["stream"] = await client.post("/rag/stream", json={"input": {"question": "Capital?"}})
        out["events"] = await client.post(
            "/rag/stream_events", json={"input": {"question": "Capital?"}}
        )
        out["log"] = await client.post("/rag/stream_log", json={"input": {"question": "Q?"}})
        out["input_schema"] = await client.get("/rag/input_schema")
        out["output_schema"] = await client.get("/rag/output_schema")
        out["config_schema"] = await client.get("/agent/config_schema")
        out["playground"] = await client.get("/rag/playground/index.html")
        return out

    r = run(app, scenario)
    body = r["invoke"].json()
    assert r["invoke"].status_code == 200
    assert body["output"]["answer"] == "Paris is the capital of France [1]."
    assert [s["source"] for s in body["output"]["sources"]] == ["geo.pdf", "rivers.md"]
    assert body["output"]["sources"][0]["page"] == 3
    assert "run_id" in body["metadata"]
    assert [o["answer"] for o in r["batch"].json()["output"]] == [body["output"]["answer"]] * 2

    events = sse_events(r["stream"].text)
    kinds = [name for name, _ in events]
    assert kinds[0] == "metadata" and kinds[-1] == "end"
    data = [payload for name, payload in events if name == "data"]
    assert "sources" in data[0]  # sources first, then the answer token by token
    tokens = [d["answer"] for d in data if "answer" in d]
    assert len(tokens) > 3 and "".join(tokens) == "Paris is the capital of France [1]."

    stream_events = [p for n, p in sse_events(r["events"].text) if n == "data"]
    names = {e["event"] for e in stream_events}
    assert {"on_chain_start", "on_chat_model_stream", "on_chain_end"} <= names

    # stream_log (what the playground uses) patches the run state up to the final output.
    ops = [op for n, d in sse_events(r["log"].text) if n == "data" for op in d["ops"]]
    assert any(op["path"] == "/final_output" for op in ops)
    assert any(op["path"].startswith("/logs/") for op in ops)

    # Typed, and both forms documented: a plain string or {"question": ...}.
    schema = r["input_schema"].json()
    forms = schema["oneOf"]
    assert [f.get("type") for f in forms] == ["string", None]
    assert forms[0]["minLength"] == 1 and "plain string" in forms[0]["description"]
    obj = schema["$defs"][forms[1]["$ref"].rsplit("/", 1)[1]]
    assert obj["properties"]["question"]["type"] == "string"
    assert obj["required"] == ["question"]
    assert {"answer", "sources"} <= set(r["output_schema"].json()["properties"])
    config = json.dumps(r["config_schema"].json())
    assert "session_id" in config
    assert r["playground"].status_code == 200 and "<html" in r["playground"].text.lower()


def test_malformed_input_is_422_with_the_reason(tmp_path):
    app = create_app(settings(tmp_path), rag=rag_chain(), agent=never_built)

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/rag/invoke", json={"input": {"question": ""}}),
            await client.post("/agent/invoke", json={"input": {"input": " \n "}}),
            await client.post("/rag/invoke", json={"input": {"query": "wrong field"}}),
            await client.post("/rag/invoke", json={"input": {"question": 12}}),
            await client.post(
                "/rag/invoke", content=b"{not json", headers={"content-type": "application/json"}
            ),
            await client.post("/rag/stream", json={"input": ["a", "list"]}),
            await client.post(
                "/agent/invoke",
                json={
                    "input": {"input": "hi"},
                    "config": {"configurable": {"session_id": "a b/c"}},
                },
            ),
        ]

    empty, blank, wrong_field, wrong_type, bad_json, stream_bad, bad_session = run(app, scenario)
    for response in (empty, blank, wrong_field, wrong_type, bad_json, stream_bad, bad_session):
        assert response.status_code == 422, response.text
    assert "question" in empty.text and "at least 1 character" in empty.text
    assert "question" in wrong_field.text
    assert "Invalid JSON" in bad_json.text
    assert 'a string or {\\"question\\"' in stream_bad.text
    assert "session_id" in bad_session.text


def test_http_takes_every_input_form_the_runnables_take_in_process(tmp_path):
    """A plain string works over HTTP as it does in-process (invoke, batch, stream)."""
    rag = rag_chain()
    app = create_app(settings(tmp_path), rag=rag, agent=agent(tmp_path))
    session = {"config": {"configurable": {"session_id": "forms"}}}

    async def scenario(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
        return {
            "invoke": await client.post("/rag/invoke", json={"input": "Capital?"}),
            "batch": await client.post(
                "/rag/batch", json={"inputs": ["Capital?", {"question": "Capital?"}]}
            ),
            "stream": await client.post("/rag/stream", json={"input": "Capital?"}),
            "a_text": await client.post("/agent/invoke", json={"input": "hello", **session}),
            "a_batch": await client.post(
                "/agent/batch",
                json={
                    "inputs": [
                        {"input": "one"},
                        {"question": "two"},
                        {"type": "human", "content": "three"},
                        "four",
                    ]
                },
            ),
            "a_stream": await client.post("/agent/stream", json={"input": "five"}),
            "a_schema": await client.get("/agent/input_schema"),
        }

    r = run(app, scenario)
    in_process = rag.invoke("Capital?")
    assert r["invoke"].status_code == 200, r["invoke"].text
    assert r["invoke"].json()["output"]["answer"] == in_process["answer"]
    assert [o["answer"] for o in r["batch"].json()["output"]] == [in_process["answer"]] * 2
    tokens = [d["answer"] for n, d in sse_events(r["stream"].text) if n == "data" and "answer" in d]
    assert "".join(tokens) == in_process["answer"]

    assert r["a_text"].status_code == 200, r["a_text"].text
    assert r["a_text"].json()["output"]["output"] == "heard: hello"
    outputs = [o["output"] for o in r["a_batch"].json()["output"]]
    assert outputs == ["heard: one", "heard: two", "heard: three", "heard: four"]
    events = sse_events(r["a_stream"].text)
    assert events[-1][0] == "end"
    streamed = "".join(d.get("output", "") for n, d in events if n == "data")
    assert streamed == "heard: five"
    forms = r["a_schema"].json()["oneOf"]
    assert forms[0]["type"] == "string" and len(forms) == 4


def test_backend_down_is_503_with_message_and_hint(tmp_path):
    def down(_: Any) -> Any:
        raise BackendUnavailableError(
            "Ollama at http://127.0.0.1:9 is not reachable (ConnectError)",
            provider="ollama",
            url="http://127.0.0.1:9",
            hint="start it with `ollama serve`",
        )

    def raw_connect_error(_: Any) -> Any:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    s = get_settings(
        home=tmp_path / "home", llm={"provider": "ollama", "base_url": "http://127.0.0.1:9"}
    )
    app = create_app(s, rag=RunnableLambda(down), agent=RunnableLambda(raw_connect_error))

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/rag/invoke", json={"input": {"question": "q"}}),
            await client.post("/rag/stream", json={"input": {"question": "q"}}),
            await client.post("/agent/invoke", json={"input": {"input": "hi"}}),
            await client.post("/agent/stream_events", json={"input": {"input": "hi"}}),
        ]

    invoke, stream, raw, raw_events = run(app, scenario)
    assert invoke.status_code == 503
    assert invoke.json() == {
        "detail": "Ollama at http://127.0.0.1:9 is not reachable (ConnectError)",
        "hint": "start it with `ollama serve`",
        "errors": None,
    }
    name, data = sse_events(stream.text)[-1]
    assert name == "error" and data["status_code"] == 503
    assert "127.0.0.1:9" in data["message"] and data["hint"]
    # A raw httpx error from the client library is translated too (URL + hint, no traceback).
    assert raw.status_code == 503
    assert "http://127.0.0.1:9" in raw.json()["detail"] and raw.json()["hint"]
    name, data = sse_events(raw_events.text)[-1]
    assert name == "error" and data["status_code"] == 503


def test_prompt_too_long_is_422(tmp_path):
    def too_long(_: Any) -> Any:
        raise ContextBudgetError("the question needs 9000 tokens; the window has 4096")

    app = create_app(settings(tmp_path), rag=RunnableLambda(too_long), agent=never_built)
    response = run(app, lambda c: c.post("/rag/invoke", json={"input": {"question": "q"}}))
    assert response.status_code == 422 and "9000 tokens" in response.json()["detail"]


def test_unexpected_error_is_a_plain_500_without_traceback(tmp_path):
    def broken(_: Any) -> Any:
        raise RuntimeError("secret internals")

    app = create_app(settings(tmp_path), rag=RunnableLambda(broken), agent=never_built)

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/rag/invoke", json={"input": {"question": "q"}}),
            await client.post("/rag/stream", json={"input": {"question": "q"}}),
        ]

    invoke, stream = run(app, scenario)
    assert invoke.status_code == 500
    assert "secret internals" not in invoke.text and "Traceback" not in invoke.text
    name, data = sse_events(stream.text)[-1]
    assert name == "error" and data["status_code"] == 500
    assert "secret internals" not in stream.text


# -- auth, limits, CORS ------------------------------------------------------------------
def test_api_key_required_everywhere_but_health(tmp_path):
    app = create_app(settings(tmp_path, api_key="s3cret-key"), rag=rag_chain(), agent=never_built)
    payload = {"input": {"question": "q"}}

    async def scenario(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
        good = {"Authorization": "Bearer s3cret-key"}
        return {
            "none": await client.post("/rag/invoke", json=payload),
            "wrong": await client.post(
                "/rag/invoke", json=payload, headers={"Authorization": "Bearer nope"}
            ),
            "basic": await client.post(
                "/rag/invoke", json=payload, headers={"Authorization": "Basic s3cret-key"}
            ),
            "schema": await client.get("/rag/input_schema"),
            "playground": await client.get("/rag/playground/index.html"),
            "v1": await client.get("/v1/models"),
            "docs": await client.get("/openapi.json"),
            "good": await client.post("/rag/invoke", json=payload, headers=good),
            "good_stream": await client.post("/rag/stream", json=payload, headers=good),
            "health": await client.get("/health"),
        }

    r = run(app, scenario)
    for key in ("none", "wrong", "basic", "schema", "playground", "v1", "docs"):
        assert r[key].status_code == 401, key
    assert r["none"].headers["www-authenticate"] == "Bearer"
    assert "LCELKIT_API_KEY" in r["none"].json()["hint"]
    assert r["good"].status_code == 200 and r["good"].json()["output"]["answer"]
    assert r["good_stream"].status_code == 200 and "event: end" in r["good_stream"].text
    assert r["health"].status_code == 200


def test_oversized_bodies_get_413_declared_or_chunked(tmp_path):
    app = create_app(settings(tmp_path, max_body_bytes=2048), rag=rag_chain(), agent=never_built)
    big = {"input": {"question": "x" * 5000}}

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 500  # whitespace: valid JSON padding, 5,000 bytes in all
        yield json.dumps({"input": {"question": "q"}}).encode()

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/rag/invoke", json=big),
            await client.post(
                "/rag/invoke", content=chunks(), headers={"content-type": "application/json"}
            ),
            await client.post("/rag/invoke", json={"input": {"question": "small"}}),
        ]

    declared, chunked, small = run(app, scenario)
    assert declared.status_code == 413 and "2048 bytes" in declared.json()["detail"]
    assert "content-length" not in {k.lower() for k in chunked.request.headers}
    assert chunked.status_code == 413
    assert small.status_code == 200


def test_cors_off_by_default_and_configurable(tmp_path):
    origin = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}

    def preflight(app: Any) -> httpx.Response:
        return run(app, lambda c: c.options("/rag/invoke", headers=origin))

    closed = preflight(create_app(settings(tmp_path), rag=rag_chain(), agent=never_built))
    assert "access-control-allow-origin" not in closed.headers
    opened = preflight(
        create_app(
            settings(tmp_path, cors_origins=["http://app.example"], api_key="k"),
            rag=rag_chain(),
            agent=never_built,
        )
    )
    assert opened.status_code == 200
    assert opened.headers["access-control-allow-origin"] == "http://app.example"
    assert "authorization" in opened.headers["access-control-allow-headers"].lower()


def test_request_timeout_gives_504(tmp_path):
    async def slow(_: Any) -> dict[str, Any]:
        await asyncio.sleep(30)
        return {"answer": "late", "sources": []}

    app = create_app(
        settings(tmp_path, request_timeout=0.3), rag=RunnableLambda(slow), agent=never_built
    )

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/rag/invoke", json={"input": {"question": "q"}}),
            await client.post("/rag/stream", json={"input": {"question": "q"}}),
        ]

    invoke, stream = run(app, scenario)
    assert invoke.status_code == 504 and "0.3 s" in invoke.json()["detail"]
    name, data = sse_events(stream.text)[-1]
    assert name == "error" and data["status_code"] == 504


# -- laziness and concurrency --------------------------------------------------------------
def test_models_build_at_first_request_once_and_retry_after_failure(tmp_path):
    builds: list[str] = []

    def build() -> Any:
        builds.append("build")
        if len(builds) == 1:
            raise BackendUnavailableError(
                "Ollama at http://x is not reachable", provider="ollama", hint="start it"
            )
        return rag_chain()

    app = create_app(settings(tmp_path), rag=build, agent=never_built)
    assert builds == []  # building the app loads nothing

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        schema = await client.get("/rag/input_schema")  # schemas need no model
        assert builds == []
        first = await client.post("/rag/invoke", json={"input": {"question": "q"}})
        rest = await asyncio.gather(
            *(client.post("/rag/invoke", json={"input": {"question": "q"}}) for _ in range(5))
        )
        return [schema, first, *rest]

    schema, first, *rest = run(app, scenario)
    assert schema.status_code == 200
    assert first.status_code == 503
    assert [r.status_code for r in rest] == [200] * 5
    assert builds == ["build", "build"]  # failed once, then built once for 5 concurrent calls


def test_a_blocked_sync_call_does_not_block_other_requests(tmp_path):
    release = threading.Event()
    entered = threading.Event()

    def blocking(inputs: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        assert release.wait(10), "never released"
        return {"answer": "slow one", "sources": []}

    app = create_app(settings(tmp_path), rag=RunnableLambda(blocking), agent=never_built)

    async def scenario(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        slow = asyncio.create_task(client.post("/rag/invoke", json={"input": {"question": "q"}}))
        while not entered.is_set():
            await asyncio.sleep(0.01)
        # The sync call holds a worker thread; the event loop still serves others.
        other = await client.get("/rag/output_schema")
        assert not slow.done()
        release.set()
        return await slow, other

    slow, other = run(app, scenario)
    assert other.status_code == 200
    assert slow.status_code == 200 and slow.json()["output"]["answer"] == "slow one"


# -- the agent: sessions -----------------------------------------------------------------
def test_agent_memory_is_per_session_and_a_new_session_when_none_given(tmp_path):
    app = create_app(settings(tmp_path), rag=never_built, agent=agent(tmp_path))

    def turn(text: str, session: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"input": {"input": text}}
        if session is not None:
            body["config"] = {"configurable": {"session_id": session}}
        return body

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/agent/invoke", json=turn("my name is Alpha", "alice")),
            await client.post("/agent/invoke", json=turn("I like tea", "bob")),
            await client.post("/agent/invoke", json=turn("who am I?", "alice")),
            await client.post("/agent/stream", json=turn("and bob?", "bob")),
            await client.post("/agent/invoke", json=turn("hello", None)),
            await client.post("/agent/invoke", json=turn("hello again", None)),
        ]

    a1, _, a2, b2, anon1, anon2 = run(app, scenario)
    assert a1.json()["output"]["session_id"] == "alice"
    second = a2.json()["output"]["output"]
    assert "my name is Alpha" in second and "tea" not in second
    streamed = "".join(
        d.get("output", "") for n, d in sse_events(b2.text) if n == "data" and isinstance(d, dict)
    )
    assert "I like tea" in streamed and "Alpha" not in streamed
    # Without a session id each call gets a fresh one (returned, so a client can go on).
    s1, s2 = anon1.json()["output"]["session_id"], anon2.json()["output"]["session_id"]
    assert s1 and s2 and s1 != s2
    # ... and so does each input of a batch sent with one config and no session id.
    batch = run(
        app,
        lambda c: c.post(
            "/agent/batch",
            json={"inputs": [{"input": "one"}, {"input": "two"}, {"input": "three"}], "config": {}},
        ),
    ).json()["output"]
    assert len({b["session_id"] for b in batch}) == 3
    assert [b["output"].count("heard") for b in batch] == [1, 1, 1]
    assert "one" not in batch[1]["output"] and "two" not in batch[2]["output"]
    assert "hello" not in anon2.json()["output"]["output"].replace("hello again", "")


# -- OpenAI-compatible ---------------------------------------------------------------------
def test_openai_chat_completions_over_rag_and_agent(tmp_path):
    app = create_app(settings(tmp_path), rag=rag_chain(), agent=agent(tmp_path))

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        msgs = [{"role": "user", "content": "Capital of France?"}]
        url = "/v1/chat/completions"
        return [
            await client.get("/v1/models"),
            await client.post(url, json={"model": "lcelkit-rag", "messages": msgs}),
            await client.post(
                url,
                json={"model": "lcelkit-rag", "messages": msgs, "stream": True},
            ),
            await client.post(
                url,
                json={"model": "lcelkit-agent", "messages": msgs, "user": "carol"},
            ),
            await client.post(
                url,
                json={
                    "model": "lcelkit-agent",
                    "messages": [{"role": "user", "content": "again"}],
                    "user": "carol",
                    "stream": True,
                },
            ),
            await client.post(url, json={"model": "gpt-4", "messages": msgs}),
            await client.post(url, json={"model": "lcelkit-rag", "messages": []}),
        ]

    models, rag, rag_stream, agent1, agent2, unknown, empty = run(app, scenario)
    assert [m["id"] for m in models.json()["data"]] == ["lcelkit-agent", "lcelkit-rag"]
    body = rag.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "Paris is the capital of France [1]."
    assert body["sources"][0]["source"] == "geo.pdf"

    lines = [ln for ln in rag_stream.text.split("\n\n") if ln.strip()]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(ln[len("data: ") :]) for ln in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Paris is the capital of France [1]."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"

    assert agent1.json()["session_id"] == "carol"
    streamed = "".join(
        json.loads(ln[6:])["choices"][0]["delta"].get("content", "")
        for ln in agent2.text.split("\n\n")
        if ln.startswith("data: {")
    )
    assert "Capital of France?" in streamed and "again" in streamed  # carol's memory
    assert unknown.status_code == 404 and "lcelkit-rag" in unknown.text
    assert empty.status_code == 422


@pytest.mark.parametrize("path", ["/rag/invoke", "/agent/invoke"])
def test_health_needs_no_model(tmp_path, path):
    s = get_settings(
        home=tmp_path / "home", llm={"provider": "ollama", "base_url": "http://127.0.0.1:9"}
    )
    app = create_app(s, rag=never_built, agent=never_built)
    health = run(app, lambda c: c.get("/health"))
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded"
    assert body["backend"]["ok"] is False and "127.0.0.1:9" in body["backend"]["error"]
    assert body["backend"]["provider"] == "ollama"
    assert body["store"] == {"ok": True, "collection": "default", "count": 0}


def test_preload_builds_both_at_startup_and_survives_a_failing_build(tmp_path):
    from fastapi.testclient import TestClient

    built: list[str] = []

    def build_rag() -> Any:
        built.append("rag")
        return rag_chain()

    def build_agent() -> Any:
        built.append("agent")
        raise BackendUnavailableError("Ollama at http://x is not reachable", provider="ollama")

    app = create_app(settings(tmp_path), rag=build_rag, agent=build_agent, preload=True)
    assert built == []
    with TestClient(app) as client:
        assert built == ["rag", "agent"]  # at startup, before any request
        answer = client.post("/rag/invoke", json={"input": {"question": "q"}})
        assert answer.status_code == 200 and built == ["rag", "agent"]
        # The agent's failed build is retried by the next request (still down: 503).
        assert client.post("/agent/invoke", json={"input": {"input": "hi"}}).status_code == 503
        assert built == ["rag", "agent", "agent"]


def test_default_agent_is_not_built_while_the_backend_is_down(tmp_path):
    from tests.support.ollama_server import FakeOllamaServer

    probe = FakeOllamaServer(model="llama3.2").start()
    url, port = probe.url, probe.port
    probe.stop()  # nothing listens there now
    llm = {"provider": "ollama", "base_url": url}
    app = create_app(get_settings(home=tmp_path / "home", llm=llm))
    body = {"input": {"input": "hello"}, "config": {"configurable": {"session_id": "s"}}}

    down = run(app, lambda c: c.post("/agent/invoke", json=body))
    assert down.status_code == 503 and url in down.json()["detail"]
    assert app.state.agent.built is False  # nothing guessed and kept while it was down

    with FakeOllamaServer(model="llama3.2", port=port, responses=["Hello from the model."]) as up:
        answer = run(app, lambda c: c.post("/agent/invoke", json=body))
        assert answer.status_code == 200
        assert answer.json()["output"]["output"] == "Hello from the model."
        # Built against the live backend: it advertises tools, so the native path is used.
        assert up.last("/api/chat").body.get("tools")
