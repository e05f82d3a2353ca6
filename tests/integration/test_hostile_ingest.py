"""`lcelkit ingest` against hostile input, end to end (real loaders, embedder, Chroma):
a bomb beside a good file, warnings in both summaries, escaped names, racing ingests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lcelkit.cli import main
from tests.support.hostile import damaged_pdf, docx_bomb

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path, lcelkit_home):
    docs = tmp_path / "docs"
    docs.mkdir()
    return tmp_path, docs


def stored_sources(home: Path) -> list[str]:
    from lcelkit.chains.store import chroma_client

    col = chroma_client(persist_dir=home / "chroma").get_collection("default")
    return sorted({m["source"] for m in col.get(include=["metadatas"])["metadatas"]})


def test_bomb_is_refused_the_neighbours_indexed_and_warnings_shown(env, capsys):
    tmp, docs = env
    docx_bomb(docs / "a_bomb.docx", unpacked_mb=300)
    (docs / "b_notes.txt").write_text("Quarterly budgets are reviewed in March.", encoding="utf-8")
    (docs / "c_latin.txt").write_bytes(b"Hello world \xff\xfe\xc3(")
    damaged_pdf(docs / "d_hole.pdf", "missing_page")
    (docs / "e_evil\nFAILED x.txt").write_text("A file with a newline in its name.")

    code = main(["ingest", str(docs), "--json"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 1
    assert [e["source"] for e in summary["errors"]] == [str(docs / "a_bomb.docx")]
    assert "LCELKIT_INGEST__MAX_UNPACKED_MB" in summary["errors"][0]["error"]
    warned = {w["source"]: w["warnings"] for w in summary["warnings"]}
    assert "not valid UTF-8" in warned[str(docs / "c_latin.txt")][0]
    if str(docs / "d_hole.pdf") in warned:  # or refused, if the PDF parser refuses it
        assert "page 3" in warned[str(docs / "d_hole.pdf")][0]
    assert str(docs / "b_notes.txt") in stored_sources(tmp / "home")

    (docs / "f_cut.txt").write_bytes(b"caf\xe9 \xff")  # one more warning, human summary
    bad = docs / "g_bad\x1b[31m.docx"
    bad.write_text("not a docx")
    code = main(["ingest", str(docs)])
    out = capsys.readouterr().out
    assert code == 1
    assert "\x1b" not in out and "g_bad\\x1b[31m.docx" in out  # escaped, cannot colour
    assert "  WARNING " in out and "f_cut.txt" in out
    lines = out.splitlines()
    assert not any(line.startswith("FAILED x.txt") for line in lines)


def _ingest_process(home: Path, docs: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LCELKIT_")}
    env.update(LCELKIT_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "lcelkit", "ingest", str(docs), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_ingests_on_a_fresh_home_both_finish_with_one_store(env):
    tmp, docs = env
    for i in range(3):
        (docs / f"note{i}.txt").write_text(f"Note {i}: the office in city {i} opened.")
    home = tmp / "home"
    first, second = _ingest_process(home, docs), _ingest_process(home, docs)
    results = [p.communicate(timeout=600) for p in (first, second)]
    for process, (_out, err) in zip((first, second), results, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert "Traceback" not in err
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in results]
    added = sorted(s["files"]["added"] for s in summaries)
    assert added == [0, 3]  # one indexed, the other waited and found them unchanged
    from lcelkit.chains.store import chroma_client

    count = chroma_client(persist_dir=home / "chroma").get_collection("default").count()
    assert count == max(s["chunks"]["written"] for s in summaries) == 3
