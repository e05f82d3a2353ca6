"""The real server app over a scripted Ollama-protocol backend, for HTTP tests.

``create_served_app`` is a uvicorn factory: the real ``create_app``, the real RAG chain
and agent built by ``lcelkit.factories`` with the real ``ChatOllama`` client (so every
model call is a real HTTP connection to the backend named by ``LCELKIT_OLLAMA_BASE_URL``,
normally :class:`tests.support.ollama_server.FakeOllamaServer`), and a fixed retriever
instead of the embedder and Chroma (no model weights, fast start). Settings come from
the environment as for ``lcelkit serve`` (``LCELKIT_HOME``, ``LCELKIT_API_KEY``...)::

    uvicorn --factory tests.support.served_app:create_served_app --port 8011

:func:`ServedProcess` starts it in its own process group and stops it by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

__all__ = ["FixedRetriever", "ServedProcess", "create_served_app", "free_port"]

ROOT = Path(__file__).resolve().parents[2]
PASSAGES = [
    ("Employees get 25 days of paid vacation per year.", "policy.md"),
    ("Trains are booked for trips under 500 km.", "travel.md"),
]


class FixedRetriever(BaseRetriever):
    """The same two passages for every question."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [
            Document(
                page_content=text,
                metadata={"source": source, "chunk_id": f"c{i}", "score": 0.9 - i / 10},
            )
            for i, (text, source) in enumerate(PASSAGES)
        ]


def create_served_app() -> Any:
    """The app of ``lcelkit serve`` with a fixed retriever (see the module doc)."""
    from lcelkit.factories import make_llm
    from lcelkit.server.app import build_agent, build_rag, create_app
    from lcelkit.settings import get_settings

    settings = get_settings()
    shared: dict[str, Any] = {}

    def llm() -> Any:
        if "llm" not in shared:
            shared["llm"] = make_llm(settings)
        return shared["llm"]

    return create_app(
        settings,
        rag=lambda: build_rag(settings, llm=llm(), retriever=FixedRetriever()),
        agent=lambda: build_agent(settings, llm=llm(), retriever=FixedRetriever()),
    )


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServedProcess:
    """``uvicorn --factory tests.support.served_app:create_served_app`` in its own session.

    ``env``: extra environment (``LCELKIT_OLLAMA_BASE_URL`` at least); stopped by PID.
    """

    def __init__(
        self, home: Path, env: dict[str, str], log: Path, *, uvicorn_args: tuple[str, ...] = ()
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        full = {k: v for k, v in os.environ.items() if not k.startswith("LCELKIT_")}
        full.pop("OLLAMA_HOST", None)
        full.update(
            LCELKIT_HOME=str(home),
            PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            **env,
        )
        cmd = [
            sys.executable, "-m", "uvicorn", "--factory",
            "tests.support.served_app:create_served_app",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warning", "--no-access-log", *uvicorn_args,
        ]  # fmt: skip
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=full, stdout=out, stderr=out, start_new_session=True
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=2).status_code in (200, 401):
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"server did not start: {self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after 15 s."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def __enter__(self) -> ServedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
