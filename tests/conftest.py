"""Shared pytest fixtures. Append yours with a small edit; keep fixtures cheap and lazy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ollama_server import FakeOllamaServer


@pytest.fixture
def ollama_server() -> Iterator[FakeOllamaServer]:
    """A fake Ollama API on a free loopback port: model ``llama3.2``, context length 2048.

    Script replies with ``ollama_server.queue("text", {"content": ..., "tool_calls": [...]})``
    or set ``ollama_server.reply = lambda request: ...``; inspect what the client sent
    with ``ollama_server.last("/api/chat").body``. Add models with ``add_model(ModelSpec(...))``.
    """
    with FakeOllamaServer(model="llama3.2", context_length=2048) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_hf_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of the tiny random GPT-2 + BPE tokenizer with a ChatML template (built once)."""
    from tests.support.tiny_hf import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_hf") / "model")


#: The embedder the suite runs on unless a test says otherwise: the bundled English
#: MiniLM embeds ~3x faster than the default multilingual-e5-small, and most tests are
#: about something else. Tests of the default embedder clear the variable
#: (tests/integration/test_multilingual.py).
TEST_EMBEDDER = "all-MiniLM-L6-v2"
os.environ.setdefault("LCELKIT_EMBEDDINGS_MODEL", TEST_EMBEDDER)


@pytest.fixture
def lcelkit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean run of the CLI: ``tmp_path`` as the working directory, no ``LCELKIT_*``
    variables from the caller's environment (but the suite's embedder), and
    ``LCELKIT_HOME`` under ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("LCELKIT_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("LCELKIT_HOME", str(home))
    monkeypatch.setenv("LCELKIT_EMBEDDINGS_MODEL", TEST_EMBEDDER)
    return home


@pytest.fixture(scope="session")
def postgres_cluster():
    """A real PostgreSQL cluster (initdb in a temporary folder, a free port), started once
    per test session and stopped by its PID. Skips, saying why, without the binaries."""
    from tests.support.postgres import PostgresCluster, find_pg_bin

    if find_pg_bin() is None:
        pytest.skip("PostgreSQL not found: no initdb on PATH or in /usr/lib/postgresql/*/bin "
                    "(install Debian's `postgresql` package; .ci/run does)")  # fmt: skip
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(postgres_cluster) -> str:
    """SQLAlchemy URL of a fresh, empty database on the session's PostgreSQL cluster."""
    return postgres_cluster.new_database()
