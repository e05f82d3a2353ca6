"""API fuzz: schemathesis drives the running server from its own OpenAPI document.

Every operation of the document gets generated requests (valid and invalid per the
schema, a small budget per operation) over real HTTP: uvicorn on loopback with the real
app and chain, the real ``ChatOllama`` client against the loopback Ollama-protocol
backend. All of schemathesis's checks run on every answer: no 500, no status code or
content type the document does not list, bodies that match their schemas, schema-valid
requests accepted, invalid ones refused (``schemathesis.toml`` next to this file). A
new route or field that reintroduces a 500 or a schema mismatch fails here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ollama_server import FakeOllamaServer
from tests.support.served_app import ServedProcess

pytestmark = [pytest.mark.integration]

KEY = "fuzz-key-0123456789"
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 5  # per operation and phase: about 300 requests, 20-40 s here


def _schemathesis() -> list[str]:
    script = Path(sys.executable).with_name("schemathesis")
    if script.exists():
        return [str(script)]
    found = shutil.which("schemathesis")
    if found is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    return [found]


def test_fuzz_every_operation_with_all_checks(tmp_path):
    with FakeOllamaServer(
        model="llama3.2", context_length=4096, default_reply="Fine [1]."
    ) as ollama:
        env = {"LCELKIT_OLLAMA_BASE_URL": ollama.url, "LCELKIT_API_KEY": KEY}
        with ServedProcess(tmp_path / "home", env, tmp_path / "server.log") as server:
            command = [
                *_schemathesis(),
                "--config-file", str(CONFIG),
                "run", f"{server.url}/openapi.json",
                "--checks", "all",
                "--max-examples", str(MAX_EXAMPLES),
                "--header", f"Authorization: Bearer {KEY}",
                "--generation-deterministic",
                # Hypothesis's own limits on generating data for a schema, not checks of
                # the server: hard schemas (oneOf of patterned strings) trip them.
                "--suppress-health-check", "filter_too_much,too_slow,large_base_example",
                "--no-color",
            ]  # fmt: skip
            run = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=240,
                cwd=tmp_path,
            )
    report = run.stdout[-6000:]
    assert run.returncode == 0, report + run.stderr[-2000:]
    assert "19/19" in report or "Tested: " in report, report
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log and "never retrieved" not in log, log[-3000:]
