"""Several ``lcelkit ingest`` workers on one Chroma server and one PostgreSQL, all started
by the test: each file claimed by one worker, a killed worker's files finished by
another, and the result equal to one clean run (store, keyword index, records)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import ChromaServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ["travel", "budget", "office", "hiring", "security", "audit", "training", "fleet",
          "payroll", "cafeteria", "parking", "archive"]  # fmt: skip


def _write_docs(folder: Path, version: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, topic in enumerate(TOPICS):
        paras = [
            f"{topic.title()} policy section {j}, version {version}: staff in region {i} "
            f"follow rule {i * 10 + j} about {topic}, reviewed each quarter by team {j}."
            for j in range(20)
        ]
        (folder / f"{topic}.md").write_text(f"# {topic}\n\n" + "\n\n".join(paras) + "\n")
    return folder


@pytest.fixture(scope="module")
def team(tmp_path_factory, postgres_cluster):
    """A Chroma server, a fresh database, the documents, and one clean single-worker run
    (collection ``clean``) to compare with."""
    tmp = tmp_path_factory.mktemp("team")
    with ChromaServer(tmp / "chroma") as chroma:
        team = {"chroma": chroma.url, "db": postgres_cluster.new_database(), "tmp": tmp}
        team["docs"] = _write_docs(tmp / "docs")
        clean = _ingest(team, "clean", "solo", team["docs"])
        _out, err = clean.communicate(timeout=300)
        assert clean.returncode == 0, err[-3000:]
        team["clean"] = _state(team, "clean")
        yield team


def _env(team: dict, collection: str, worker: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LCELKIT_")}
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return env | {
        "PYTHONPATH": path,
        "LCELKIT_HOME": str(team["tmp"] / f"home-{worker}"),  # each worker its own home
        "LCELKIT_CHROMA_URL": team["chroma"],
        "LCELKIT_DATABASE_URL": team["db"],
        "LCELKIT_COLLECTION": collection,
        "LCELKIT_DATABASE__CLAIM_SECONDS": "3",
        "LCELKIT_INGEST__BATCH_SIZE": "8",  # a flush every file or two
        "LCELKIT_INGEST__FILE_TIMEOUT": "0",
        "LCELKIT_EMBEDDINGS__BACKEND": "torch",  # no OpenVINO set-up: quicker starts
    }


def _ingest(team: dict, collection: str, worker: str, folder: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lcelkit.cli", "ingest", str(folder)],
        env=_env(team, collection, worker),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _state(team: dict, collection: str) -> dict:
    """Everything an ingest leaves behind, keyed by what must match a clean run."""
    import chromadb
    from sqlalchemy import create_engine

    from lcelkit.chains.keyword_pg import PgKeywordIndex
    from lcelkit.loaders.records import FileManifest, make_record_manager

    namespace = f"{team['chroma']}/{collection}"
    host, port = team["chroma"].removeprefix("http://").split(":")
    got = chromadb.HttpClient(host=host, port=int(port)).get_collection(collection).get()
    keyword = PgKeywordIndex(team["db"], namespace)
    records = make_record_manager(namespace, team["db"])
    manifest = FileManifest(namespace, team["db"])
    engine = create_engine(team["db"])
    with engine.connect() as conn:
        claims = conn.exec_driver_sql(
            "SELECT count(*) FROM lcelkit_claims WHERE namespace = %(ns)s", {"ns": namespace}
        ).scalar()
    engine.dispose()
    return {
        "store": sorted(zip(got["ids"], got["documents"], strict=True)),
        "keyword": sorted(keyword.ids()),
        "records": sorted(records.list_keys()),
        "manifest": sorted((r, manifest.get(r)["digest"]) for r in manifest.paths()),
        "claims": claims,
    }


def test_two_workers_share_the_files_and_equal_one_clean_run(team):
    workers = [_ingest(team, "shared", name, team["docs"]) for name in ("w1", "w2")]
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
        assert out.startswith("worker "), out  # the summary names its worker
    added = [int(re.search(r"(\d+) added", out).group(1)) for out, _ in outputs]
    assert sum(added) == len(TOPICS)  # every file indexed by exactly one of them
    lines = [line for _, err in outputs for line in err.splitlines() if "] added: " in line]
    assert len(lines) == len(TOPICS)  # progress, one line per file, named by worker
    shared, solo = _state(team, "shared"), team["clean"]
    assert shared["claims"] == 0
    assert shared == solo
    assert len(solo["store"]) > len(TOPICS)


def test_a_killed_worker_is_finished_by_another_and_equals_a_clean_run(team):
    docs = team["docs"]
    doomed = _ingest(team, "killed", "doomed", docs)
    for line in doomed.stderr:  # kill -9 once it has started writing
        if "] added: " in line:
            break
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    survivor = _ingest(team, "killed", "survivor", docs)
    _out, err = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, err[-3000:]
    assert _state(team, "killed") == team["clean"]
    # every file rewritten with as many chunks: the next state holds only the new text
    _write_docs(team["tmp"] / "docs2", version=2)
    for path in (team["tmp"] / "docs2").iterdir():
        (docs / path.name).write_bytes(path.read_bytes())
    again = _ingest(team, "killed", "later", docs)
    assert again.wait(timeout=300) == 0
    after = _state(team, "killed")
    assert len(after["store"]) == len(team["clean"]["store"])
    assert all("version 2" in text for _, text in after["store"])
    ids = sorted(i for i, _ in after["store"])
    assert after["keyword"] == ids and after["records"] == ids and after["claims"] == 0
