"""The real langchain-ollama client against the fake Ollama server (loopback)."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_ollama import OllamaEmbeddings, OllamaLLM

from lcelkit.chains.llms import make_chat_model, supports_native_tools
from lcelkit.errors import BackendError, BackendUnavailableError, ModelNotFoundError
from tests.support.ollama_server import ModelSpec, ollama_server_process

pytestmark = pytest.mark.integration


def _free_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_invoke_sends_num_ctx_num_predict_and_returns_the_reply(ollama_server):
    ollama_server.queue("The budget is 4.2 million dollars.")
    llm = make_chat_model("ollama", "llama3.2", base_url=ollama_server.url, max_new_tokens=100)
    reply = llm.invoke([SystemMessage(content="Be brief."), HumanMessage(content="Budget?")])
    assert reply.content == "The budget is 4.2 million dollars."
    body = ollama_server.last("/api/chat").body
    assert body["options"]["num_ctx"] == 2048
    assert body["options"]["num_predict"] == 100
    assert body["keep_alive"] == "5m"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert reply.usage_metadata["output_tokens"] == 6  # one per streamed word


def test_stream_yields_several_chunks_in_order(ollama_server):
    ollama_server.queue("one two three four five")
    llm = make_chat_model("ollama", "llama3.2", base_url=ollama_server.url)
    chunks = [c.content for c in llm.stream("count") if c.content]
    assert len(chunks) == 5
    assert "".join(chunks) == "one two three four five"


def test_astream_and_astream_events_in_an_lcel_chain(ollama_server):
    ollama_server.reply = lambda request: "echo: " + request["messages"][-1]["content"]
    llm = make_chat_model("ollama", "llama3.2", base_url=ollama_server.url)
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | llm

    async def run() -> tuple[list[str], int]:
        parts = [c.content async for c in chain.astream({"question": "a b c"})]
        events = [
            e async for e in chain.astream_events({"question": "x y"}, version="v2")
            if e["event"] == "on_chat_model_stream"
        ]  # fmt: skip
        return parts, len(events)

    parts, n_events = asyncio.run(run())
    assert "".join(parts) == "echo: a b c"
    assert n_events >= 3


def test_stop_sequences_and_max_new_tokens_are_honoured(ollama_server):
    ollama_server.queue(
        "Thought: search\nAction: search_documents\nObservation: fake", "a b c d e f"
    )
    llm = make_chat_model("ollama", "llama3.2", base_url=ollama_server.url, max_new_tokens=3)
    text = llm.invoke("go", stop=["\nObservation:"]).content
    assert ollama_server.last("/api/chat").body["options"]["stop"] == ["\nObservation:"]
    assert "Observation" not in text
    limited = llm.invoke("go")
    assert limited.content == "a b c "
    assert limited.response_metadata["done_reason"] == "length"


def test_native_tool_calls_round_trip(ollama_server):
    @tool
    def search_documents(query: str) -> str:
        """Search the indexed documents."""
        return "revenue grew 12%"

    ollama_server.queue(
        {
            "content": "",
            "tool_calls": [{"name": "search_documents", "arguments": {"query": "매출"}}],
        }
    )
    llm = make_chat_model("ollama", "llama3.2", base_url=ollama_server.url)
    assert supports_native_tools(llm)
    reply = llm.bind_tools([search_documents]).invoke("What happened to revenue?")
    assert reply.tool_calls[0]["name"] == "search_documents"
    assert reply.tool_calls[0]["args"] == {"query": "매출"}
    sent = ollama_server.last("/api/chat").body["tools"]
    assert sent[0]["function"]["name"] == "search_documents"


def test_tools_refused_by_a_model_without_the_capability(ollama_server):
    @tool
    def search_documents(query: str) -> str:
        """Search the indexed documents."""
        return ""

    ollama_server.add_model(ModelSpec("gemma-plain", capabilities=("completion",)))
    llm = make_chat_model("ollama", "gemma-plain", base_url=ollama_server.url)
    assert not supports_native_tools(llm)
    with pytest.raises(BackendError, match="does not support tools"):
        llm.bind_tools([search_documents]).invoke("x")


def test_missing_model_raises_model_not_found_with_pull_hint(ollama_server):
    llm = make_chat_model("ollama", "qwen2.5:7b", base_url=ollama_server.url, context_window=2048)
    with pytest.raises(ModelNotFoundError) as info:
        llm.invoke("hello")
    assert info.value.hint == "ollama pull qwen2.5:7b"
    with pytest.raises(ModelNotFoundError):
        list(llm.stream("hello"))


def test_dead_port_fails_with_backend_unavailable():
    # How fast it fails is measured by bench/, not asserted here (a loaded CI machine).
    url = _free_port_url()
    llm = make_chat_model("ollama", "llama3.2", base_url=url)
    for call in (lambda: llm.invoke("hi"), lambda: list(llm.stream("hi"))):
        with pytest.raises(BackendUnavailableError) as info:
            call()
        assert url in info.value.message
        assert "ollama serve" in info.value.hint
    with pytest.raises(BackendUnavailableError):
        asyncio.run(llm.ainvoke("hi"))


def test_request_timeout_is_a_backend_error_not_a_hang(ollama_server):
    ollama_server.queue({"content": "late", "delay": 1.5})
    llm = make_chat_model("ollama", "llama3.2", base_url=ollama_server.url, request_timeout=0.3)
    with pytest.raises(BackendUnavailableError, match="did not answer in time"):
        llm.invoke("hi")


def test_fake_server_is_strict_like_ollama(ollama_server):
    url = ollama_server.url
    assert httpx.get(url).text == "Ollama is running"
    assert "version" in httpx.get(f"{url}/api/version").json()
    assert httpx.get(f"{url}/api/tags").json()["models"][0]["name"] == "llama3.2:latest"
    bad_json = httpx.post(f"{url}/api/chat", content=b"{not json")
    assert bad_json.status_code == 400 and "error" in bad_json.json()
    no_model = httpx.post(f"{url}/api/chat", json={"messages": []})
    assert no_model.status_code == 400 and no_model.json()["error"] == "model is required"
    bad_role = httpx.post(
        f"{url}/api/chat", json={"model": "llama3.2", "messages": [{"role": "robot"}]}
    )
    assert bad_role.status_code == 400
    unknown = httpx.post(f"{url}/api/show", json={"model": "nope"})
    assert unknown.status_code == 404 and unknown.json() == {"error": "model 'nope' not found"}
    whole = httpx.post(
        f"{url}/api/chat",
        json={
            "model": "llama3.2",
            "stream": False,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ).json()
    assert whole["done"] is True and whole["done_reason"] == "stop"
    assert whole["message"]["role"] == "assistant" and whole["eval_count"] > 0
    long_prompt = "word " * 3000
    httpx.post(
        f"{url}/api/chat",
        json={"model": "llama3.2", "messages": [{"role": "user", "content": long_prompt}],
              "options": {"num_ctx": 2048}},
    )  # fmt: skip
    assert ollama_server.last("/api/chat").truncated is True


def test_generate_and_embeddings_clients(ollama_server):
    ollama_server.queue("plain completion")
    assert OllamaLLM(base_url=ollama_server.url, model="llama3.2").invoke("hi") == (
        "plain completion"
    )
    emb = OllamaEmbeddings(base_url=ollama_server.url, model="llama3.2")
    vectors = emb.embed_documents(["revenue grew", "revenue grew fast", "비밀번호 재설정"])
    assert len(vectors) == 3 and len(vectors[0]) == 64
    same = sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True))
    other = sum(a * b for a, b in zip(vectors[0], vectors[2], strict=True))
    assert same > other


def test_standalone_server_process_started_and_stopped_by_pid(tmp_path):
    record = tmp_path / "requests.jsonl"
    with ollama_server_process(
        model="llama3.2",
        context_length=4096,
        reply="from a process",
        script=["scripted first"],
        record=record,
    ) as (proc, url):
        llm = make_chat_model("ollama", "llama3.2", base_url=url)
        assert llm.num_ctx == 4096
        assert llm.invoke("hi").content == "scripted first"
        assert llm.invoke("표 3은?").content == "from a process"
    assert proc.poll() is not None
    seen = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    chats = [r for r in seen if r["path"] == "/api/chat"]
    assert [c["body"]["messages"][-1]["content"] for c in chats] == ["hi", "표 3은?"]
    assert all(c["body"]["options"]["num_ctx"] == 4096 for c in chats)
    with pytest.raises(BackendUnavailableError):
        make_chat_model("ollama", "llama3.2", base_url=url, context_window=2048).invoke("hi")


def test_server_stopping_mid_session_is_backend_unavailable():
    from tests.support.ollama_server import FakeOllamaServer

    with FakeOllamaServer(responses=["first answer"]) as server:
        llm = make_chat_model("ollama", "llama3.2", base_url=server.url)
        assert llm.invoke("hi").content == "first answer"  # a pooled keep-alive connection
    with pytest.raises(BackendUnavailableError, match="not reachable"):
        llm.invoke("again")
