"""``lcelkit serve`` end to end: a real uvicorn process, the real chain and agent, real index.

The server is started by the test as ``lcelkit serve`` in its own process group and
stopped by PID. The LLM backend is the loopback Ollama-protocol fake: in this process
for most tests (scripted replies, and a barrier that only concurrent calls pass), and
as its own process (``--record``) for the restart test, where it is killed by PID.
The index is a temp LCELKIT_HOME filled by ``lcelkit ingest`` with the real embedder.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lcelkit.cli import main
from tests.support.ollama_server import FakeOllamaServer, ollama_server_process

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:langserve.*"),
]

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
POLICY = """# Vacation

Employees get 25 days of paid vacation per year. Unused vacation days expire in March.

# Refunds

Customers can get a refund within 14 days of purchase when they show the receipt.
"""
TRAVEL = """# Travel

Trains are booked for trips under 500 km. The daily allowance for staff is 60 EUR.
"""


class Script:
    """What the fake LLM answers: the user messages it was sent (memory becomes visible)."""

    def __init__(self) -> None:
        self.barrier: threading.Barrier | None = None

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        messages = request.get("messages", [])
        users = [str(m.get("content") or "") for m in messages if m["role"] == "user"]
        last = users[-1] if users else ""
        token = re.search(r"\bstream-q\d\d\b", last)
        if token and self.barrier is not None:
            # All concurrent streams must reach the backend at once to pass this barrier:
            # a server that serialized them would break it (and the test fails).
            self.barrier.wait(timeout=30)
            return {"content": f"Streamed answer for {token.group()} [1]."}
        if "calc-please" in last:  # native tool call, then the answer from its result
            if messages[-1]["role"] == "tool":
                return {"content": f"The result is {messages[-1]['content']}."}
            return {"tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}]}
        if "Question:" in last:  # the RAG prompt (prompts/rag.py)
            return {"content": "Employees get 25 days of paid vacation [1]."}
        return {"content": "heard: " + " | ".join(users)}


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LCELKIT_")}
    env.pop("OLLAMA_HOST", None)
    env["LCELKIT_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    docs = root / "docs"
    docs.mkdir()
    (docs / "policy.md").write_text(POLICY, encoding="utf-8")
    (docs / "travel.md").write_text(TRAVEL, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("LCELKIT_") or key == "OLLAMA_HOST":
                mp.delenv(key)
        mp.setenv("LCELKIT_HOME", str(root / "home"))
        assert main(["ingest", str(docs), "--json"]) == 0
    return root / "home"


@pytest.fixture(scope="module")
def script() -> Script:
    return Script()


@pytest.fixture(scope="module")
def backend(script: Script) -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer(model="llama3.2", context_length=4096, reply=script) as server:
        yield server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``lcelkit serve`` in its own session; stopped by PID (SIGTERM, then SIGKILL)."""

    def __init__(self, home: Path, backend_url: str, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = _clean_env(home)
        env.update(
            LCELKIT_LLM_PROVIDER="ollama",
            LCELKIT_OLLAMA_BASE_URL=backend_url,
            LCELKIT_API_KEY=KEY,
            LCELKIT_SERVER__MAX_BODY_BYTES="65536",
        )
        cmd = [
            sys.executable, "-c", "import sys; from lcelkit.cli import main; sys.exit(main())",
            "serve", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=home.parent, env=env, stdout=out, stderr=out, start_new_session=True
            )
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"server did not start: {log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(home: Path, backend: FakeOllamaServer, tmp_path_factory) -> Iterator[Server]:
    srv = Server(home, backend.url, tmp_path_factory.mktemp("log") / "server.log")
    yield srv
    srv.stop()


def remote(server: Server, path: str) -> Any:
    from langserve import RemoteRunnable

    return RemoteRunnable(f"{server.url}{path}", headers=AUTH, timeout=60)


def sse(response: httpx.Response) -> list[tuple[str, Any]]:
    events = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if block.strip():
            events.append((name, json.loads("\n".join(data)) if data else None))
    return events


def user_prompts(backend: FakeOllamaServer, marker: str) -> list[str]:
    """The user messages of every chat request whose last user message contains ``marker``."""
    found = []
    for rec in backend.requests_to("/api/chat"):
        users = [
            m.get("content") or "" for m in rec.body.get("messages", []) if m["role"] == "user"
        ]
        if users and marker in users[-1]:
            found.append("\n".join(users))
    return found


# -- the tests -------------------------------------------------------------------------
def test_health_is_open_and_reports_backend_and_store(server: Server, backend):
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}  # no key: status only
    body = httpx.get(f"{server.url}/health", headers=AUTH).json()
    assert body["status"] == "ok"
    assert body["backend"] == {"provider": "ollama", "url": backend.url, "ok": True, "error": None}
    assert body["store"]["ok"] is True and body["store"]["collection"] == "default"
    assert body["store"]["count"] == 2  # one chunk per ingested file


def test_auth_401_without_or_with_wrong_key_200_with_key(server: Server):
    payload = {"input": {"question": "How many vacation days?"}}
    url = f"{server.url}/rag/invoke"
    assert httpx.post(url, json=payload).status_code == 401
    wrong = httpx.post(url, json=payload, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401 and wrong.json()["hint"]
    assert httpx.get(f"{server.url}/agent/input_schema").status_code == 401
    ok = httpx.post(url, json=payload, headers=AUTH, timeout=60)
    assert ok.status_code == 200


def test_rag_remote_runnable_invoke_batch_stream(server: Server):
    rag = remote(server, "/rag")
    result = rag.invoke({"question": "How many vacation days do employees get?"})
    assert result["answer"] == "Employees get 25 days of paid vacation [1]."
    assert result["sources"][0]["source"].endswith("policy.md")
    assert "25 days" in result["sources"][0]["text"]

    batch = rag.batch([{"question": "vacation days?"}, {"question": "daily allowance?"}])
    assert len(batch) == 2 and all(r["answer"] and r["sources"] for r in batch)
    sources = {s["source"].rsplit("/", 1)[-1] for s in batch[1]["sources"]}
    assert "travel.md" in sources

    chunks = list(rag.stream({"question": "How many vacation days?"}))
    assert "sources" in chunks[0] and chunks[0]["sources"]
    tokens = [c["answer"] for c in chunks if "answer" in c]
    assert len(tokens) > 3 and "".join(tokens) == "Employees get 25 days of paid vacation [1]."


def test_remote_runnables_take_plain_strings_as_in_process(server: Server):
    """``RemoteRunnable`` takes what the runnable takes: a string works like the object."""
    from langchain_core.messages import HumanMessage

    rag = remote(server, "/rag/")
    result = rag.invoke("How many vacation days do employees get?")
    assert result["answer"] == "Employees get 25 days of paid vacation [1]."
    assert result["sources"][0]["source"].endswith("policy.md")
    batch = rag.batch(["vacation days?", {"question": "daily allowance?"}])
    assert len(batch) == 2 and all(r["answer"] and r["sources"] for r in batch)
    chunks = list(rag.stream("How many vacation days?"))
    tokens = "".join(c["answer"] for c in chunks if "answer" in c)
    assert tokens == "Employees get 25 days of paid vacation [1]."

    agent = remote(server, "/agent/")
    carol = {"configurable": {"session_id": "carol-1"}}
    first = agent.invoke("my name is Carol-string", carol)
    assert first["session_id"] == "carol-1" and "Carol-string" in first["output"]
    streamed = "".join(c.get("output", "") for c in agent.stream("a streamed string", carol))
    assert "a streamed string" in streamed and "Carol-string" in streamed  # same session
    answers = agent.batch(["batch string", HumanMessage("batch message")])
    assert "batch string" in answers[0]["output"] and "batch message" in answers[1]["output"]
    # Raw HTTP too: /agent/invoke with {"input": "text"}.
    raw = httpx.post(f"{server.url}/agent/invoke", json={"input": "raw text"}, headers=AUTH)
    assert raw.status_code == 200 and "raw text" in raw.json()["output"]["output"]
    # Malformed input is still a 422 with the reason.
    bad = httpx.post(f"{server.url}/agent/invoke", json={"input": 12}, headers=AUTH)
    assert bad.status_code == 422 and "a string or" in bad.text


def test_rag_sse_stream_and_stream_events(server: Server):
    payload = {"input": {"question": "How many vacation days?"}}
    stream = httpx.post(f"{server.url}/rag/stream", json=payload, headers=AUTH, timeout=60)
    events = sse(stream)
    assert events[0][0] == "metadata" and events[-1][0] == "end"
    answer = "".join(d.get("answer", "") for n, d in events if n == "data")
    assert answer == "Employees get 25 days of paid vacation [1]."

    raw = httpx.post(f"{server.url}/rag/stream_events", json=payload, headers=AUTH, timeout=60)
    data = [d for n, d in sse(raw) if n == "data"]
    kinds = [e["event"] for e in data]
    assert "on_retriever_end" in kinds or "on_chain_end" in kinds
    tokens = [e["data"]["chunk"]["content"] for e in data if e["event"] == "on_chat_model_stream"]
    assert "".join(tokens) == "Employees get 25 days of paid vacation [1]."


def test_agent_remote_runnable_and_session_isolation(server: Server, backend):
    agent = remote(server, "/agent")
    alice = {"configurable": {"session_id": "alice-1"}}
    bob = {"configurable": {"session_id": "bob-1"}}
    first = agent.invoke({"input": "my favourite colour is turquoise"}, alice)
    assert first["session_id"] == "alice-1" and "turquoise" in first["output"]
    other = agent.invoke({"input": "what is my favourite colour?"}, bob)
    assert other["session_id"] == "bob-1" and "turquoise" not in other["output"]
    second = agent.invoke({"input": "and what did I tell you?"}, alice)
    assert "turquoise" in second["output"]  # the server remembered alice's first turn

    streamed = list(agent.stream({"input": "streaming turn"}, bob))
    text = "".join(c.get("output", "") for c in streamed)
    assert "streaming turn" in text and "turquoise" not in text
    assert any(c.get("session_id") == "bob-1" for c in streamed)
    batch = agent.batch([{"input": "batch one"}, {"input": "batch two"}])
    assert [b["output"].count("batch") for b in batch] == [1, 1]  # fresh sessions each
    assert batch[0]["session_id"] != batch[1]["session_id"]
    # Bob's prompts never carried Alice's words.
    assert all("turquoise" not in p for p in user_prompts(backend, "streaming turn"))


def test_agent_stream_events_show_tool_calls_and_answer_tokens(server: Server):
    body = {
        "input": {"input": "calc-please: what is 6 times 7?"},
        "config": {"configurable": {"session_id": "tools-1"}},
    }
    raw = httpx.post(f"{server.url}/agent/stream_events", json=body, headers=AUTH, timeout=60)
    events = [d for n, d in sse(raw) if n == "data"]
    starts = [e for e in events if e["event"] == "on_tool_start"]
    ends = [e for e in events if e["event"] == "on_tool_end"]
    assert [e["name"] for e in starts] == ["calculator"]
    assert starts[0]["data"]["input"] == {"expression": "6*7"}
    assert "42" in str(ends[0]["data"]["output"])
    answer = "".join(
        e["data"]["chunk"].get("output", "")
        for e in events
        if e["event"] == "on_chain_stream"
        and isinstance(e["data"].get("chunk"), dict)
        and not e.get("parent_ids")
    )
    assert answer == "The result is 42."
    assert sse(raw)[-1][0] == "end"


def test_malformed_input_is_422_and_oversized_body_413(server: Server):
    url = f"{server.url}/rag/invoke"
    missing = httpx.post(url, json={"input": {"q": "x"}}, headers=AUTH)
    assert missing.status_code == 422 and "question" in missing.text
    bad_json = httpx.post(
        url, content=b"{oops", headers={**AUTH, "content-type": "application/json"}
    )
    assert bad_json.status_code == 422
    big = httpx.post(url, json={"input": {"question": "x" * 70_000}}, headers=AUTH)
    assert big.status_code == 413 and "65536" in big.json()["detail"]

    def chunked() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 4096
        yield b'{"input": {"question": "q"}}'

    streamed = httpx.post(
        url, content=chunked(), headers={**AUTH, "content-type": "application/json"}
    )
    assert streamed.status_code == 413


def test_twenty_concurrent_streams_all_complete(server: Server, script: Script):
    n = 20
    script.barrier = threading.Barrier(n)

    async def one(client: httpx.AsyncClient, i: int) -> str:
        payload = {"input": {"input": f"please answer stream-q{i:02d}"}}
        config = {"configurable": {"session_id": f"conc-{i:02d}"}}
        body = {**payload, "config": config}
        text = ""
        async with client.stream("POST", "/agent/stream", json=body) as response:
            assert response.status_code == 200
            event = None
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "error":
                    raise AssertionError(f"stream {i} failed: {line}")
                elif line.startswith("data:") and event == "data":
                    chunk = json.loads(line[5:])
                    text += chunk.get("output", "")
            assert event == "end"
        return text

    async def run_all() -> list[str]:
        limits = httpx.Limits(max_connections=n)
        async with httpx.AsyncClient(
            base_url=server.url, headers=AUTH, limits=limits, timeout=60
        ) as client:
            return await asyncio.gather(*(one(client, i) for i in range(n)))

    try:
        texts = asyncio.run(run_all())
    finally:
        script.barrier = None
    assert texts == [f"Streamed answer for stream-q{i:02d} [1]." for i in range(n)]


def _chat_requests(record: Path) -> list[list[dict[str, Any]]]:
    """The messages of every /api/chat request the backend process recorded."""
    rows = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    return [r["body"]["messages"] for r in rows if r["path"] == "/api/chat"]


def _sent_with(record: Path, user_text: str) -> str:
    """Everything sent in the chat request whose last user message is ``user_text``."""
    for messages in _chat_requests(record):
        users = [m["content"] for m in messages if m["role"] == "user"]
        if users and users[-1] == user_text:
            return json.dumps(messages)
    raise AssertionError(f"no chat request ended with {user_text!r}")


def test_memory_survives_a_restart_and_a_killed_backend_is_503(home: Path, tmp_path):
    record = tmp_path / "requests.jsonl"
    alice = {"configurable": {"session_id": "restart-alice"}}
    with ollama_server_process(
        model="llama3.2", context_length=4096, reply="Noted.", record=record
    ) as (backend, url):
        first = Server(home, url, tmp_path / "server1.log")
        try:
            reply = remote(first, "/agent").invoke({"input": "remember the word pineapple"}, alice)
            assert reply["output"] == "Noted."
        finally:
            first.stop()

        again = Server(home, url, tmp_path / "server2.log")  # same home: same memory store
        try:
            agent = remote(again, "/agent")
            agent.invoke({"input": "what word did I give you?"}, alice)
            agent.invoke({"input": "any words?"}, {"configurable": {"session_id": "stranger"}})
            assert "pineapple" in _sent_with(record, "what word did I give you?")
            assert "pineapple" not in _sent_with(record, "any words?")
            # The same store `lcelkit chat` opens (memory.sqlite under home) holds the turns.
            from lcelkit.factories import make_memory_store
            from lcelkit.settings import Settings

            store = make_memory_store(Settings(home=home))
            turns = store.load("restart-alice").turns
            assert "pineapple" in str(turns[0]) and "what word" in str(turns[1])

            backend.kill()  # the LLM backend process dies
            backend.wait(timeout=10)
            down = httpx.post(
                f"{again.url}/agent/invoke",
                json={"input": {"input": "still there?"}},
                headers=AUTH,
                timeout=60,
            )
            assert down.status_code == 503
            assert url in down.json()["detail"] and down.json()["hint"]
            stream = httpx.post(
                f"{again.url}/agent/stream",
                json={"input": {"input": "hello?"}},
                headers=AUTH,
                timeout=60,
            )
            name, data = sse(stream)[-1]
            assert name == "error" and data["status_code"] == 503 and url in data["message"]
            # RemoteRunnable clients see the same status (invoke and mid-stream alike).
            with pytest.raises(httpx.HTTPStatusError) as invoke_error:
                agent.invoke({"input": "hello?"})
            assert invoke_error.value.response.status_code == 503
            with pytest.raises(httpx.HTTPStatusError) as stream_error:
                list(agent.stream({"input": "hello?"}))
            assert stream_error.value.response.status_code == 503
            assert url in str(stream_error.value)
            assert httpx.get(f"{again.url}/health").json() == {"status": "degraded"}
            health = httpx.get(f"{again.url}/health", headers=AUTH).json()  # details: the key
            assert health["status"] == "degraded" and health["backend"]["ok"] is False
            assert "Traceback" not in again.log.read_text()
        finally:
            again.stop()
