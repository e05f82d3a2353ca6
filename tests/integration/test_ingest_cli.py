"""`lcelkit ingest` / `lcelkit parse` end to end: real loaders, real embedder, real Chroma."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lcelkit.cli import main
from tests.support.make_docs import encrypted_pdf, scanned_pdf

pytestmark = pytest.mark.integration

KOREAN = (
    "서울 지사의 3분기 매출은 152억 원으로 전년 대비 12% 증가했습니다.\n\n"
    "부산 지사는 신규 고객 확보에 집중하여 고객 수가 두 배로 늘었습니다.\n"
)
MARKDOWN = """# Travel policy

Employees book trains for trips under 500 km.

| Grade | Daily allowance | Hotel cap |
|---|---|---|
| Staff | 60 EUR | 120 EUR |
| Manager | 80 EUR | 160 EUR |
"""


@pytest.fixture
def env(tmp_path, lcelkit_home):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "policy.md").write_text(MARKDOWN, encoding="utf-8")
    (docs / "report_ko.txt").write_bytes(KOREAN.encode("cp949"))
    (docs / "offices.csv").write_text(
        "office,staff,opened\nSeoul,120,2011\nBerlin,45,2016\n", encoding="utf-8"
    )
    return tmp_path, docs


def ingest_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["ingest", *args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def collection(home: Path):
    from lcelkit.chains.store import chroma_client

    return chroma_client(persist_dir=home / "chroma").get_collection("default")


def collection_count(home: Path) -> int:
    return collection(home).count()


def test_ingest_is_incremental_and_prunes(env, capsys):
    tmp, docs = env
    code, first = ingest_json(capsys, str(docs))
    assert code == 0, first
    assert first["files"]["added"] == 3 and first["files"]["failed"] == 0
    written = first["chunks"]["written"]
    assert written >= 3
    assert collection_count(tmp / "home") == written

    code, again = ingest_json(capsys, str(docs))
    assert code == 0
    assert again["files"] == {"added": 0, "unchanged": 3, "updated": 0, "failed": 0, "pruned": 0}
    assert again["chunks"] == {"written": 0, "deleted": 0}

    (docs / "policy.md").write_text(MARKDOWN.replace("500 km", "700 km"), encoding="utf-8")
    code, changed = ingest_json(capsys, str(docs))
    assert changed["files"]["updated"] == 1 and changed["files"]["unchanged"] == 2
    assert changed["chunks"]["written"] >= 1 and changed["chunks"]["deleted"] >= 1
    assert collection_count(tmp / "home") == written  # replaced, nothing stale

    (docs / "offices.csv").unlink()
    code, pruned = ingest_json(capsys, str(docs), "--prune")
    assert pruned["files"]["pruned"] == 1 and pruned["chunks"]["deleted"] >= 1
    col = collection(tmp / "home")
    sources = {m["source"] for m in col.get(include=["metadatas"])["metadatas"]}
    assert not any(s.endswith("offices.csv") for s in sources)
    assert any(s.endswith("report_ko.txt") for s in sources)


def test_bad_files_fail_alone_with_reasons(env, capsys):
    tmp, docs = env
    code, _ = ingest_json(capsys, str(docs))
    assert code == 0
    stored = collection_count(tmp / "home")
    bad = tmp / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    (bad / "fake.pdf").write_text("this is not a pdf at all", encoding="utf-8")
    (bad / "truncated.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")
    (bad / "image.xyz").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    encrypted_pdf(bad / "locked.pdf")
    scanned_pdf(bad / "scan.pdf")
    with open(bad / "huge.txt", "wb") as fh:  # 200 MB, sparse: the size is refused unread
        fh.truncate(200 * 2**20)
    good = bad / "good.txt"
    good.write_text("A fine file about quarterly budgets.", encoding="utf-8")
    names = (
        "empty.txt",
        "fake.pdf",
        "truncated.pdf",
        "image.xyz",
        "locked.pdf",
        "scan.pdf",
        "huge.txt",
    )
    paths = [str(bad / n) for n in names]
    code, report = ingest_json(capsys, *paths, str(good), str(bad / "missing.md"))
    assert code == 1
    assert report["files"]["added"] == 1 and report["files"]["failed"] == len(names) + 1
    errors = {Path(e["source"]).name: e["error"] for e in report["errors"]}
    assert set(errors) == {*names, "missing.md"}
    assert "decrypt" in errors["locked.pdf"].lower()
    assert "ocr" in errors["scan.pdf"].lower()
    assert "MB" in errors["huge.txt"] or "bytes" in errors["huge.txt"]
    for name, message in errors.items():
        assert name in message, f"the reason names the file: {message}"
        assert "\n" not in message
    assert collection_count(tmp / "home") == stored + report["chunks"]["written"]


def test_parse_prints_chunks_and_writes_nothing(env, capsys):
    tmp, docs = env
    code = main(["parse", str(docs), "--json"])
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert code == 0
    assert not (tmp / "home" / "chroma").exists()
    tables = [c for c in lines if c["metadata"]["category"] == "Table"]
    assert any("Manager" in t["text"] and "160 EUR" in t["text"] for t in tables)
    for chunk in lines:
        meta = chunk["metadata"]
        assert {"source", "category", "element_id", "chunk_id"} <= set(meta)
    korean = [c for c in lines if c["metadata"]["source"].endswith("report_ko.txt")]
    assert any("152억 원" in c["text"] for c in korean)


def test_changed_embedder_is_refused_until_rebuild(env, capsys, tmp_path):
    tmp, docs = env
    code, _ = ingest_json(capsys, str(docs / "policy.md"))
    assert code == 0
    from lcelkit.chains.embeddings import load_embeddings

    load_embeddings(dtype="fp32").model.save(str(tmp / "other-model"))
    os.environ["LCELKIT_EMBEDDINGS_MODEL"] = str(tmp / "other-model")
    try:
        code = main(["ingest", str(docs), "--json"])
        err = capsys.readouterr().err
        assert code == 2
        assert "was built with embedder" in err and "--rebuild" in err
        code, rebuilt = ingest_json(capsys, str(docs), "--rebuild")
        assert code == 0 and rebuilt["files"]["added"] == 3
    finally:
        del os.environ["LCELKIT_EMBEDDINGS_MODEL"]


def _store_snapshot(home: Path) -> dict[str, str]:
    got = collection(home).get(include=["documents"])
    return dict(zip(got["ids"], got["documents"], strict=True))


def test_sigkill_mid_ingest_then_rerun_equals_one_clean_run(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(40):
        paras = [f"Document {i} paragraph {j}: " + " ".join(["lorem"] * 30) for j in range(6)]
        (docs / f"doc{i:02d}.txt").write_text("\n\n".join(paras), encoding="utf-8")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("LCELKIT_")}
    base_env["LCELKIT_INGEST__BATCH_SIZE"] = "16"
    lcelkit = [sys.executable, "-m", "lcelkit.cli", "ingest", str(docs), "--json"]

    killed_env = {**base_env, "LCELKIT_HOME": str(tmp_path / "killed")}
    proc = subprocess.Popen(
        lcelkit, env=killed_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    records = tmp_path / "killed" / "records.sqlite"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(records) as db:
                if db.execute("select count(*) from upsertion_record").fetchone()[0] > 0:
                    break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    rerun = subprocess.run(lcelkit, env=killed_env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    clean_env = {**base_env, "LCELKIT_HOME": str(tmp_path / "clean")}
    clean = subprocess.run(lcelkit, env=clean_env, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr

    killed_store = _store_snapshot(tmp_path / "killed")
    clean_store = _store_snapshot(tmp_path / "clean")
    assert len(clean_store) >= 40
    assert killed_store == clean_store
