"""A no-op ``lcelkit ingest`` answers from the manifest without importing the heavy stack.

Real ingest first (real loaders, embedder, Chroma), then the same command in a fresh
process: it must say what the indexer says and leave Chroma, LangChain's indexing
API, SQLAlchemy and the embedder unimported. Anything that is not a no-op (a touched
file, something to prune) must still go through the indexer. Speed is measured by
``bench/noop_ingest.py``, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lcelkit.cli.ingest as ingest_cli
from lcelkit.cli import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("chromadb", "langchain_chroma", "langchain_classic", "sqlalchemy", "torch",
         "sentence_transformers", "transformers", "openvino")  # fmt: skip
CHILD = """
import json, sys
from lcelkit.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
heavy += ["langchain_core.indexing"] if "langchain_core.indexing" in sys.modules else []
print(json.dumps({"code": code, "heavy": heavy}))
""" % (HEAVY,)  # noqa: UP031


@pytest.fixture
def docs(tmp_path, lcelkit_home) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "policy.md").write_text("# Travel\n\nTrains under 500 km.\n", encoding="utf-8")
    (folder / "offices.csv").write_text("office,staff\nSeoul,120\nBerlin,45\n", encoding="utf-8")
    assert main(["ingest", str(folder), "--json"]) == 0
    return folder


def child(*args: str) -> tuple[list[str], dict]:
    """Run the CLI in a fresh process: (its output lines, {"code", "heavy"})."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    return lines[:-1], json.loads(lines[-1])


def without_seconds(line: str) -> str:
    if line.startswith("{"):
        data = json.loads(line)
        data.pop("seconds")
        return json.dumps(data, sort_keys=True)
    head, _, tail = line.partition(" s: ")
    return head.rsplit(" in ", 1)[0] + " | " + tail


def indexer_says(capsys, monkeypatch, *args: str) -> list[str]:
    """What the indexer path prints (the manifest fast path switched off)."""
    capsys.readouterr()
    with monkeypatch.context() as mp:
        mp.setattr(ingest_cli, "_noop_ingest", lambda _args: False)
        assert main(list(args)) == 0
    return capsys.readouterr().out.strip().splitlines()


def test_noop_ingest_leaves_the_heavy_stack_unimported_and_says_what_the_indexer_says(
    docs, capsys, monkeypatch
):
    for args in (["ingest", str(docs)], ["ingest", str(docs), "--json"],
                 ["ingest", str(docs), "--prune"]):  # fmt: skip
        out, run = child(*args)
        assert run == {"code": 0, "heavy": []}, args
        expected = indexer_says(capsys, monkeypatch, *args)
        assert [without_seconds(x) for x in out] == [without_seconds(x) for x in expected]
    assert "0 added, 2 unchanged" in out[0]


def test_anything_else_still_goes_through_the_indexer(docs):
    policy = docs / "policy.md"
    stat = policy.stat()
    os.utime(policy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same bytes
    out, run = child("ingest", str(docs), "--json")
    assert run["code"] == 0 and "chromadb" in run["heavy"]
    assert json.loads(out[-1])["files"]["unchanged"] == 2  # the indexer hashed it: unchanged
    out, run = child("ingest", str(docs))  # the manifest took the new mtime: a no-op again
    assert run["heavy"] == []

    (docs / "offices.csv").unlink()
    out, run = child("ingest", str(docs), "--json")  # gone, but no --prune: a no-op
    assert run["heavy"] == [] and json.loads(out[-1])["files"]["unchanged"] == 1
    out, run = child("ingest", str(docs), "--json", "--prune")
    assert "chromadb" in run["heavy"] and json.loads(out[-1])["files"]["pruned"] == 1
