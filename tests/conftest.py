"""Shared pytest fixtures. Append yours with a small edit; keep fixtures cheap and lazy."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ollama_server import FakeOllamaServer

#: The suite's own cache folder (``XDG_CACHE_HOME``, which every child process inherits;
#: ``LCELKIT_*`` variables are cleared by many tests). Tests build models in temporary
#: folders, and lcelkit keys its OpenVINO exports, LLM IRs and compiled models by the
#: model's folder, so with the user's ``~/.cache/lcelkit`` every run left ~1 GB there
#: that nothing would use again. One empty folder per session, removed at its end; the
#: bundled models are converted once per session, as on a clean machine.
#: ``LCELKIT_TEST_CACHE_HOME=DIR`` keeps the suite's cache in DIR instead (not removed).
_KEPT_CACHE = os.environ.get("LCELKIT_TEST_CACHE_HOME", "").strip()
SUITE_CACHE = _KEPT_CACHE or tempfile.mkdtemp(prefix="lcelkit-test-cache-")
os.environ["XDG_CACHE_HOME"] = SUITE_CACHE
for _name in ("LCELKIT_OPENVINO_CACHE", "LCELKIT_GGUF_CACHE", "LCELKIT_MODEL_CACHE"):
    os.environ.pop(_name, None)  # the caller's own cache folders: not for the suite


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the session's cache folder (not one named by LCELKIT_TEST_CACHE_HOME)."""
    if not _KEPT_CACHE:
        shutil.rmtree(SUITE_CACHE, ignore_errors=True)


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
