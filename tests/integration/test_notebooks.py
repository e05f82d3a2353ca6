"""The three notebooks run top to bottom offline: bundled embedder, tiny local HF model.

Each notebook is executed with nbclient in a fresh kernel of this interpreter, with
``LCELKIT_LLM_PROVIDER=huggingface`` and ``LCELKIT_LLM_MODEL`` pointing at the tiny
random GPT-2 (its answers are gibberish; the notebooks must not care). Any cell error
fails the test with the cell's traceback; then the outputs a reader relies on are
checked: the retriever comparison, the streamed answer, the rendered table HTML, the
hit@k figure, an answer per agent turn, the stored summary and the token plot. The
agent notebook also runs against the fake Ollama server with scripted ReAct replies
(tool use shown step by step; every request fits the window the server enforces), and
notebooks 1 and 3 run with no backend at all (generation skipped, retrieval still shown).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import pytest

from tests.support.ollama_server import FakeOllamaServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 300


def _execute(name: str, tmp_path: Path) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError (with the traceback) on any cell error
    nbformat.write(nb, tmp_path / name)  # kept for inspection when an assertion fails
    return nb


def _code_outputs(nb: dict) -> list[list[dict]]:
    return [cell.get("outputs", []) for cell in nb["cells"] if cell["cell_type"] == "code"]


def _text(outputs: list[dict]) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            parts.append(out["text"])
        elif "data" in out and "text/plain" in out["data"]:
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


def _all_text(nb: dict) -> str:
    return "\n".join(_text(outputs) for outputs in _code_outputs(nb))


def _images(nb: dict) -> list[str]:
    return [
        out["data"]["image/png"]
        for outputs in _code_outputs(nb)
        for out in outputs
        if "data" in out and "image/png" in out["data"]
    ]


@pytest.fixture
def notebook_env(monkeypatch: pytest.MonkeyPatch, tiny_hf_model: Path) -> Path:
    """The kernel inherits this environment: the tiny HF model, offline, no user config."""
    for key in ("LCELKIT_HOME", "LCELKIT_CONFIG", "LCELKIT_CONTEXT_WINDOW", "LCELKIT_COLLECTION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LCELKIT_LLM_PROVIDER", "huggingface")
    monkeypatch.setenv("LCELKIT_LLM_MODEL", str(tiny_hf_model))
    monkeypatch.setenv("LCELKIT_MAX_NEW_TOKENS", "48")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return tiny_hf_model


def _check_preamble(text: str, tiny_hf_model: Path) -> None:
    python = re.search(r"python:\s+(\S+)", text)
    assert python, "the setup cell prints the interpreter"
    assert Path(python.group(1)).resolve() == Path(sys.executable).resolve(), (
        "the kernel runs this venv's python"
    )
    home = re.search(r"LCELKIT_HOME:\s+(\S+)", text)
    assert home and not Path(home.group(1)).resolve().is_relative_to(ROOT), (
        "each notebook uses a temporary LCELKIT_HOME, never the checkout's .lcelkit"
    )
    assert f"LLM backend: huggingface, model {tiny_hf_model}" in text
    assert "skipped" not in text, "with a backend no generation cell is skipped"


def test_notebooks_are_stripped_and_use_only_the_public_api():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        data = json.loads(path.read_text(encoding="utf-8"))
        sources = "\n".join("".join(c["source"]) for c in data["cells"] if c["cell_type"] == "code")
        compile(sources, path.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        assert "tests." not in sources and "from tests" not in sources, path.name
        private = re.findall(r"(?:import|\.)\s*(_[a-z]\w*)", sources)
        assert not private, f"{path.name} uses private names: {private}"
    assert {p.name for p in NOTEBOOKS.glob("*.ipynb")} == {
        "01_compose_chains.ipynb",
        "02_rag_pdf_tables.ipynb",
        "03_agent_chat.ipynb",
    }


@pytest.mark.slow  # executes a notebook (a kernel, the embedder, Chroma)
def test_01_compose_chains(notebook_env: Path, tmp_path: Path):
    nb = _execute("01_compose_chains.ipynb", tmp_path)
    text = _all_text(nb)
    _check_preamble(text, notebook_env)
    # the retriever comparison: every kind returned rows, the filter only tables
    table = text[re.search(r"^retriever\s+rank", text, re.M).start() :]
    for kind in ("similarity", "mmr", "threshold", "filter Table", "hybrid"):
        assert re.search(rf"^{kind}\s+1\s+\S+", table, re.M), f"no results for {kind}"
    # the category is the word before the score (the page column may be empty)
    filtered = re.findall(r"^filter Table\s+\d+\s.*?(\S+)\s+\d\.\d{3}\s", table, re.M)
    assert filtered and set(filtered) == {"Table"}
    assert "Table 1: Quarterly revenue by region" in text, "the prompt shows the table passage"
    assert re.search(r"\[\d\] report\.pdf p\.1 score", text), "RAG sources cite the PDF page"
    streamed = re.search(r"\((\d+) streamed pieces\)", text)
    assert streamed and int(streamed.group(1)) > 1, "the answer arrived token by token"
    assert "store.url=http://127.0.0.1:8001 retrieval.search=mmr" in text


@pytest.mark.slow  # executes a notebook (a kernel, the embedder, Chroma)
def test_02_rag_pdf_tables(notebook_env: Path, tmp_path: Path):
    nb = _execute("02_rag_pdf_tables.ipynb", tmp_path)
    text = _all_text(nb)
    _check_preamble(text, notebook_env)
    htmls = [
        out["data"]["text/html"]
        for outputs in _code_outputs(nb)
        for out in outputs
        if "data" in out and "text/html" in out["data"]
    ]
    report = [h for h in htmls if "report.pdf" in h]
    assert len(report) == 2, "both tables of report.pdf are rendered"
    assert all("<table" in h and "<td" in h for h in report)
    assert ">15.2<" in report[0].replace(" ", ""), "the ruled table's cells are in the HTML"
    assert "Berlin" in report[1]
    assert len(re.findall(r"^A: ", text, re.M)) == 5, "an answer for every table question"
    # hit@k table: five kinds, five values each, non-decreasing in k, hybrid finds most
    rows = dict(re.findall(r"^(similarity|mmr|threshold|bm25|hybrid)\s+([\d. ]+)$", text, re.M))
    assert set(rows) == {"similarity", "mmr", "threshold", "bm25", "hybrid"}
    values = {kind: [float(v) for v in line.split()] for kind, line in rows.items()}
    for kind, hits in values.items():
        assert len(hits) == 5 and hits == sorted(hits), (kind, hits)
    assert values["hybrid"][-1] >= 0.8, values
    assert len(_images(nb)) == 1, "the hit@k plot"


@pytest.mark.slow  # executes a notebook (a kernel, the embedder, Chroma)
def test_03_agent_chat(notebook_env: Path, tmp_path: Path):
    nb = _execute("03_agent_chat.ipynb", tmp_path)
    text = _all_text(nb)
    _check_preamble(text, notebook_env)
    assert "tools: ['search_documents', 'calculator', 'current_datetime']; mode: text" in text
    assert re.search(r"answer \((answer|parse_error|max_steps)\): \S", text)
    assert re.search(r"\((\d+) streamed pieces\)", text)
    turns = re.findall(r"^turn\s+(\d+) \[(\w+)\] ['\"](.+)['\"]$", text, re.M)
    assert [int(t[0]) for t in turns] == list(range(1, 16)), "an answer for each of 15 turns"
    assert all(answer.strip() for _, _, answer in turns)
    stored = re.search(r"(\d+) turns stored, (\d+) kept verbatim\nstored summary:\n\s*(\S.*)", text)
    assert stored, "the summary is shown"
    assert int(stored.group(1)) == 15 and int(stored.group(2)) < 15
    assert stored.group(3).strip(), "older turns were folded into a non-empty summary"
    largest = re.search(r"largest prompt: (\d+) tokens; limit (\d+)", text)
    assert largest and int(largest.group(1)) <= int(largest.group(2))
    assert len(_images(nb)) == 1, "the tokens-per-call plot"


def _react_reply(request: dict) -> str:
    """A well-behaved text-ReAct model: search first, answer from the observation."""
    messages = request["messages"]
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    last = messages[-1]["content"]
    if "running summary" in system:
        return "Summary: the user asked about revenue by region, offices and allowances."
    if last.startswith("Observation:"):
        return "Thought: the passage answers it.\nFinal Answer: It is in the report [1]."
    question = last.strip().splitlines()[-1][:80]
    return f"Thought: I should search.\nAction: search_documents\nAction Input: {question}"


@pytest.fixture
def fake_ollama(monkeypatch: pytest.MonkeyPatch) -> FakeOllamaServer:
    """A text-only Ollama model (no tool capability) with a 2,048-token window."""
    with FakeOllamaServer(
        model="llama3.2", context_length=2048, capabilities=("completion",), reply=_react_reply
    ) as server:
        for key in ("LCELKIT_HOME", "LCELKIT_CONFIG", "LCELKIT_CONTEXT_WINDOW"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("LCELKIT_LLM_MODEL", "llama3.2")
        monkeypatch.setenv("LCELKIT_LLM_PROVIDER", "ollama")
        monkeypatch.setenv("LCELKIT_OLLAMA_BASE_URL", server.url)
        monkeypatch.setenv("LCELKIT_MAX_NEW_TOKENS", "128")
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        yield server


@pytest.mark.slow  # executes a notebook (a kernel, the embedder, Chroma)
def test_03_agent_chat_with_ollama_uses_tools_and_fits_the_window(
    fake_ollama: FakeOllamaServer, tmp_path: Path
):
    nb = _execute("03_agent_chat.ipynb", tmp_path)
    text = _all_text(nb)
    assert f"LLM backend: ollama, model llama3.2 ({fake_ollama.url})" in text
    assert "mode: text" in text
    assert "prompt limit: 1920 tokens (window 2048 - max_new_tokens 128)" in text
    assert "step 1: search_documents(query='What was the Q3 revenue" in text
    assert "observation: [1]" in text, "the search tool's numbered passages are shown"
    assert "answer (answer): It is in the report [1]." in text
    assert "[tool search_documents <- {'query': 'How many engineers work in the Berlin" in text
    assert "[tool search_documents -> [1] " in text and "| Berlin | 23 |" in text
    turns = re.findall(r"^turn\s+(\d+) \[answer\] 'It is in the report \[1\]\.'$", text, re.M)
    assert len(turns) == 15
    assert "stored summary:\nSummary: the user asked about revenue" in text
    # tokens per turn: a search call and an answer call in each of the 15 turns
    per_turn = re.findall(r"^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", text, re.M)
    assert [(int(t), int(calls)) for t, calls, _, _ in per_turn] == [(t, 2) for t in range(1, 16)]
    assert len(_images(nb)) == 1
    chats = fake_ollama.requests_to("/api/chat")
    assert any("running summary" in json.dumps(r.body["messages"]) for r in chats)
    for rec in chats:  # the server's own count: nothing was cut off by Ollama
        options = rec.body["options"]
        assert not rec.truncated
        assert rec.prompt_tokens <= options["num_ctx"] - options["num_predict"]


@pytest.mark.slow  # executes a notebook (a kernel, the embedder, Chroma)
@pytest.mark.parametrize("name", ["01_compose_chains.ipynb", "03_agent_chat.ipynb"])
def test_without_backend_generation_is_skipped_and_retrieval_still_runs(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    with FakeOllamaServer() as server:
        dead = server.url  # a loopback port with nothing behind it once stopped
    for key in ("LCELKIT_HOME", "LCELKIT_CONFIG", "LCELKIT_LLM_MODEL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LCELKIT_LLM_PROVIDER", "ollama")
    monkeypatch.setenv("LCELKIT_OLLAMA_BASE_URL", dead)
    nb = _execute(name, tmp_path)
    text = _all_text(nb)
    assert f"No LLM backend: Ollama at {dead} is not reachable" in text
    assert "What to do: start it with `ollama serve`" in text
    if name.startswith("01"):
        assert text.count("skipped: no LLM backend") == 3
        assert re.search(r"^hybrid\s+1\s+report\.pdf", text, re.M), "retrieval still shown"
        assert re.search(r"\[1\] report\.pdf p\.1", text), "the sources it would cite"
    else:
        assert text.count("skipped: no LLM backend") == 7
        assert "| North | 12.1 | 13.4 | 15.2 | 16.0 |" in text, "the search tool still answers"
