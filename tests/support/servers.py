"""A ``chroma run`` server on a free loopback port, started and stopped (by PID) here."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.postgres import free_port

__all__ = ["ChromaServer"]


class ChromaServer:
    """``with ChromaServer(folder) as chroma: chroma.url``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ChromaServer:
        chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
        if chroma is None:
            raise RuntimeError("the chroma CLI ships with chromadb; not found next to python")
        self.proc = subprocess.Popen(
            [chroma, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port",
             str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"chroma run did not listen on port {self.port}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
            self.proc = None
