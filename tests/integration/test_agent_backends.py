"""The agent through real clients: langchain-ollama against the loopback Ollama-protocol
server (text and native paths, long conversations in a small window), a tiny local
Hugging Face model, and ``lcelkit chat`` scripted through stdin in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lcelkit.agents.tools import calculator_tool
from lcelkit.factories import make_agent
from lcelkit.settings import get_settings
from tests.support.ollama_server import FakeOllamaServer, ollama_server_process

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path, url: str, **agent):
    return get_settings(
        home=tmp_path / "home",
        llm={"provider": "ollama", "base_url": url, "max_new_tokens": 128},
        agent=agent,
    )


def _chats(server: FakeOllamaServer):
    return server.requests_to("/api/chat")


def test_text_react_through_chat_ollama(tmp_path):
    with FakeOllamaServer(context_length=2048, capabilities=("completion",)) as server:
        server.queue(
            "Thought: I need to compute.\nAction: calculator\nAction Input: 17 * 3",
            "Thought: done.\nFinal Answer: 17 * 3 = 51.",
        )
        agent = make_agent(_settings(tmp_path, server.url), tools=[calculator_tool()])
        assert agent.resolved_mode == "text"
        result = agent.invoke({"input": "what is 17*3?"}, {"configurable": {"session_id": "a"}})
        assert result["output"] == "17 * 3 = 51."
        assert result["steps"][0]["observation"] == "51"
        first, second = (r.body for r in _chats(server))
        assert first["options"]["stop"] == ["\nObservation:", "\nobservation:"]
        assert first["options"]["num_ctx"] == 2048
        assert not first.get("tools")
        assert second["messages"][-1] == {"role": "user", "content": "Observation: 51"}


def test_native_tool_calls_through_chat_ollama(tmp_path):
    with FakeOllamaServer(context_length=2048) as server:  # reports the "tools" capability
        server.queue(
            {
                "content": "",
                "tool_calls": [{"name": "calculator", "arguments": {"expression": "2**8"}}],
            },
            "2 to the 8th is 256.",
        )
        agent = make_agent(_settings(tmp_path, server.url), tools=[calculator_tool()])
        assert agent.resolved_mode == "native"
        chunks = list(agent.stream({"input": "2**8?"}, {"configurable": {"session_id": "n"}}))
        answer = "".join(c.get("output", "") for c in chunks)
        assert answer == "2 to the 8th is 256."
        first, second = (r.body for r in _chats(server))
        assert first["tools"][0]["function"]["name"] == "calculator"
        tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
        assert [m["content"] for m in tool_messages] == ["256"]
        assistant = [m for m in second["messages"] if m.get("tool_calls")]
        assert assistant[0]["tool_calls"][0]["function"]["name"] == "calculator"


@pytest.mark.parametrize("capabilities", [("completion",), ("completion", "tools")])
def test_long_conversation_never_makes_ollama_truncate(tmp_path, capabilities):
    turn = {"i": 0}

    def reply(request):
        turn["i"] += 1
        words = " ".join(f"detail{j}" for j in range(120))
        text = f"Reply {turn['i']}: {words}."
        return text if "tools" in capabilities else f"Thought: ok\nFinal Answer: {text}"

    with FakeOllamaServer(context_length=1024, capabilities=capabilities, reply=reply) as server:
        settings = _settings(tmp_path, server.url, recent_turns=4, summary_max_tokens=96)
        agent = make_agent(settings, tools=[calculator_tool()])

        async def converse():
            for i in range(25):
                text = f"Question {i}: " + " ".join(f"word{i}x{j}" for j in range(150))
                await agent.ainvoke({"input": text}, {"configurable": {"session_id": "long"}})

        asyncio.run(converse())
        chats = _chats(server)
        assert len(chats) >= 25
        for rec in chats:
            options = rec.body["options"]
            assert not rec.truncated
            assert rec.prompt_tokens <= options["num_ctx"] - options["num_predict"]
        summaries = [r for r in chats if "running summary" in json.dumps(r.body["messages"])]
        assert summaries, "evicted turns were folded into a summary by the model"


def test_tiny_local_hf_model_ends_gracefully(tmp_path, tiny_hf_model):
    settings = get_settings(
        home=tmp_path / "home",
        llm={"provider": "huggingface", "model": str(tiny_hf_model), "max_new_tokens": 24},
        agent={"max_steps": 2, "max_seconds": 120},
    )
    agent = make_agent(settings, tools=[calculator_tool()])
    assert agent.resolved_mode == "text"
    result = agent.invoke({"input": "What is 2+2?"}, {"configurable": {"session_id": "hf"}})
    assert isinstance(result["output"], str) and result["output"].strip()
    assert result["stop_reason"] in {"answer", "parse_error", "max_steps"}
    assert len(result["steps"]) <= 2


def _chat(home: Path, url: str, stdin: str, *extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LCELKIT_HOME": str(home),
        "LCELKIT_OLLAMA_BASE_URL": url,
        "LCELKIT_LLM_PROVIDER": "ollama",  # provider auto would fall back to SmolLM2
        "LCELKIT_AGENT__MODE": "text",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "lcelkit.cli", "chat", *extra],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=home.parent,
        timeout=120,
    )


def test_lcelkit_chat_scripted_through_stdin(tmp_path):
    home = tmp_path / "home"
    record = tmp_path / "requests.jsonl"
    script = [
        "Thought: compute\nAction: calculator\nAction Input: 6 * 7",
        "Final Answer: It is 42.",
        "Final Answer: You asked me to multiply 6 by 7.",
        "Final Answer: Nothing yet, this is a fresh start.",
        "Final Answer: You asked me to multiply earlier.",
    ]
    with ollama_server_process(script=script, record=record, capabilities=("completion",)) as (
        _proc,
        url,
    ):
        first = _chat(home, url, "what is 6*7?\nwhat did I ask?\n", "--session", "s1")
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines() == ["It is 42.", "You asked me to multiply 6 by 7."]
        assert "[tool] calculator(6 * 7)" in first.stderr
        assert "Traceback" not in first.stderr

        fresh = _chat(home, url, "/reset\nwhat did I ask?\n/exit\nignored\n", "--session", "s2")
        assert fresh.returncode == 0, fresh.stderr
        assert fresh.stdout.splitlines() == ["Nothing yet, this is a fresh start."]

        again = _chat(home, url, "remind me\n", "--session", "s1")  # a new process
        assert again.stdout.splitlines() == ["You asked me to multiply earlier."]

    chats = [json.loads(line) for line in record.read_text().splitlines()]
    chats = [r for r in chats if r["path"] == "/api/chat"]
    last = json.dumps(chats[-1]["body"]["messages"])
    assert "what is 6*7?" in last and "what did I ask?" in last  # memory survived
    s2 = json.dumps(chats[-2]["body"]["messages"])
    assert "6*7" not in s2  # sessions are isolated
    listed = _chat(home, "http://127.0.0.1:9", "", "--list-sessions")  # no backend needed
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.splitlines()) == ["s1\t3 turns", "s2\t1 turns"]


def test_lcelkit_chat_with_a_dead_backend_exits_3(tmp_path):
    result = _chat(tmp_path / "home", "http://127.0.0.1:9", "hello\n")
    assert result.returncode == 3
    assert "error:" in result.stderr and "127.0.0.1:9" in result.stderr
    assert "what to do:" in result.stderr
    assert "Traceback" not in result.stderr
