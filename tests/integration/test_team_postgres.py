"""A real PostgreSQL (initdb + pg_ctl, started by the tests): the shared keyword index,
file claims with leases, and agent sessions across processes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.documents import Document

from lcelkit.chains.keyword import KeywordIndex
from lcelkit.chains.keyword_pg import PgKeywordIndex
from lcelkit.errors import StoreError
from lcelkit.loaders.claims import FileClaims

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

WORDS = [
    "revenue", "grew", "region", "north", "south", "quarter", "table", "staff", "office",
    "travel", "policy", "train", "budget", "forecast", "audit",
]  # fmt: skip
KOREAN = ["서울 지사의 3분기 매출은 15.2억 원이다", "부산 지사 직원은 45명으로 늘었다",
          "출장은 500킬로미터 이하면 기차를 탄다", "서울에서 열린 회의의 예산"]  # fmt: skip


def _corpus(n: int, seed: int = 7) -> list[tuple[str, Document]]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40)))
        if i % 5 == 0:
            text += " " + rng.choice(KOREAN)
        if i % 2:
            text += " common"  # in half the chunks: pruned from queries at >= 1000 chunks
        meta = {"source": f"f{i % 7}.txt", "page_number": i % 4, "draft": i % 3 == 0}
        docs.append((f"c{i:05d}", Document(page_content=text, metadata=meta)))
    return docs


QUERIES = ["revenue north", "quarter table staff", "서울 매출", "부산 직원", "common audit",
           "travel policy train budget", "forecast", "nothing-matches-this"]  # fmt: skip
FILTERS = [None, {"source": "f3.txt"}, {"page_number": {"$gte": 2}},
           {"$or": [{"source": {"$in": ["f1.txt", "f2.txt"]}}, {"draft": True}]},
           {"source": {"$nin": ["f0.txt"]}, "page_number": {"$ne": 1}}]  # fmt: skip


def _same_rankings(pg: PgKeywordIndex, fts: KeywordIndex) -> None:
    for query in QUERIES:
        for where in FILTERS:
            got = pg.search(query, 10, filter=where)
            want = fts.search(query, 10, filter=where)
            assert [d.id for d, _ in got] == [d.id for d, _ in want], (query, where)
            assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-9)


@pytest.mark.parametrize("n", [60, 1200])
def test_postgres_ranks_exactly_as_sqlite_fts5(pg_url, n):
    """Same terms, same BM25, same pruning: an embedded process and a team agree."""
    docs = _corpus(n)
    ids, documents = [i for i, _ in docs], [d for _, d in docs]
    pg, fts = PgKeywordIndex(pg_url, "ns"), KeywordIndex(None)
    for index in (pg, fts):
        index.add_documents(documents, ids)
    _same_rankings(pg, fts)
    assert pg.count() == n
    # replaced and deleted chunks leave the statistics (idf, lengths) exact
    redo = _corpus(n // 3, seed=11)
    for index in (pg, fts):
        index.add_documents([d for _, d in redo], ids[: n // 3])
        index.delete(ids[-n // 4 :])
    _same_rankings(pg, fts)
    assert pg.count() == fts.count() == n - n // 4
    pg.close()


def test_a_commit_is_what_every_worker_reads_next(pg_url):
    """Two processes' indexes: a rewrite with the same chunk count is seen at once."""
    writer, reader = PgKeywordIndex(pg_url, "ns"), PgKeywordIndex(pg_url, "ns")
    writer.add_documents([Document(page_content="the cafeteria opens at eight")], ["a1"])
    assert [d.id for d, _ in reader.search("cafeteria", 5)] == ["a1"]
    writer.delete(["a1"])  # the file rewritten: its one chunk replaced by one new chunk
    writer.add_documents([Document(page_content="the cafeteria closes at noon")], ["a2"])
    assert [(d.id, d.page_content) for d, _ in reader.search("cafeteria", 5)] == [
        ("a2", "the cafeteria closes at noon")
    ]
    assert reader.search("opens", 5) == []
    other = PgKeywordIndex(pg_url, "other-collection")  # namespaces stay apart
    assert other.search("cafeteria", 5) == [] and other.count() == 0


def test_an_index_written_before_postings_existed_is_searchable(pg_url):
    """A deployment upgraded from the jsonb-only index: its postings are built once, on
    open, and it ranks as FTS5 again (without them, every search would come back empty)."""
    from sqlalchemy import create_engine

    docs = _corpus(300)
    ids, documents = [i for i, _ in docs], [d for _, d in docs]
    old, fts = PgKeywordIndex(pg_url, "ns"), KeywordIndex(None)
    old.add_documents(documents, ids)
    fts.add_documents(documents, ids)
    old.close()
    engine = create_engine(pg_url)
    with engine.begin() as conn:  # what the earlier version left: no postings, no marker
        conn.exec_driver_sql("DELETE FROM lcelkit_keyword_postings")
        conn.exec_driver_sql("DELETE FROM lcelkit_keyword_info WHERE key = 'postings'")
    engine.dispose()
    upgraded = PgKeywordIndex(pg_url, "ns")
    _same_rankings(upgraded, fts)
    upgraded.delete(ids[:50])  # and its postings follow later writes
    fts.delete(ids[:50])
    _same_rankings(upgraded, fts)
    upgraded.close()


def test_unreachable_postgres_is_a_clear_error():
    from tests.support.postgres import free_port

    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x?connect_timeout=3"
    with pytest.raises(StoreError, match="cannot open the keyword index") as err:
        PgKeywordIndex(url, "ns")
    assert "LCELKIT_DATABASE_URL" in err.value.hint


CLAIMER = """
import sys, time
from lcelkit.loaders.claims import FileClaims
claims = FileClaims("ns", sys.argv[1], lease=float(sys.argv[3]), worker="doomed")
print(claims.claim(sys.argv[2]), flush=True)
time.sleep(600)
"""


def _child_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def test_a_killed_workers_claim_expires_and_another_takes_the_file(pg_url):
    lease = 2.0
    child = subprocess.Popen([sys.executable, "-c", CLAIMER, pg_url, "/docs/a.pdf", str(lease)],
                             stdout=subprocess.PIPE, text=True, env=_child_env())  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "True"
        other = FileClaims("ns", pg_url, lease=lease, worker="survivor")
        time.sleep(lease + 0.5)
        assert not other.claim("/docs/a.pdf")  # the holder is alive: its heartbeat renews
        assert other.holder("/docs/a.pdf")[0] == "doomed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        deadline = time.monotonic() + lease + 5
        while not other.claim("/docs/a.pdf"):
            assert time.monotonic() < deadline, "the dead worker's claim never expired"
            time.sleep(0.2)
        assert other.holder("/docs/a.pdf")[0] == "survivor"
        other.release(["/docs/a.pdf"])
        assert other.holder("/docs/a.pdf") is None
        other.close()
    finally:
        child.kill()
        child.wait(timeout=10)


TURNS = """
import sys
from langchain_core.messages import AIMessage, HumanMessage
from lcelkit.agents.memory import SummaryMemoryStore

class SlowFolder:
    # a summarizer that takes its time, so that folds from two processes overlap
    def invoke(self, prompt, config=None):
        import re, time
        time.sleep(0.05)
        text = prompt[-1].content
        return " ".join(re.findall(r"(?<!ok )turn-\\w+", text))  # the users' lines

store = SummaryMemoryStore(sys.argv[1], recent_turns=2, summarizer=SlowFolder(),
                           summary_max_tokens=1000)
for i in range(int(sys.argv[3])):
    tag = f"turn-{sys.argv[2]}{i}"
    store.append_turn("shared", [HumanMessage(tag), AIMessage("ok " + tag)])
"""


def test_one_sessions_turns_from_two_processes_stay_whole_and_ordered(pg_url):
    """Two server workers append turns to one session at once: every turn is stored once,
    in one order, and folded into the summary exactly once."""
    from lcelkit.agents.memory import SummaryMemoryStore

    n = 8
    procs = [subprocess.Popen([sys.executable, "-c", TURNS, pg_url, name, str(n)],
                              env=_child_env(), stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]  # fmt: skip
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()[-3000:]
    store = SummaryMemoryStore(pg_url, recent_turns=2)
    snap = store.load("shared")
    assert snap.total_turns == 2 * n
    recent = [t[0].content for t in snap.turns]
    folded = snap.summary.split()
    seen = folded + recent
    expected = {f"turn-{p}{i}" for p in "ab" for i in range(n)}
    assert sorted(seen) == sorted(expected)  # each turn exactly once: none lost, none twice
    for p in "ab":  # each process's turns keep their order
        mine = [t for t in seen if t.startswith(f"turn-{p}")]
        assert mine == [f"turn-{p}{i}" for i in range(n)]


LOCK_HOLDER = """
import sys, time
from lcelkit.agents.memory_db import SessionLocks
locks = SessionLocks(sys.argv[1])
with locks.hold("s1"):
    print("held", flush=True)
    time.sleep(1.5)
"""


def test_the_session_lock_holds_across_processes(pg_url):
    import asyncio

    from lcelkit.agents.memory_db import SessionLocks

    locks = SessionLocks(pg_url)
    assert locks.across_processes
    for use_async in (False, True):
        holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, pg_url],
                                  stdout=subprocess.PIPE, text=True, env=_child_env())  # fmt: skip
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        if use_async:

            async def take() -> None:
                async with locks.ahold("s1"):
                    pass

            asyncio.run(take())
        else:
            with locks.hold("s1"):
                pass
        waited = time.monotonic() - started
        assert holder.wait(timeout=30) == 0
        assert waited > 0.8, f"took the session lock after {waited:.2f} s while another held it"
        with locks.hold("s2"):  # another session is not held up
            pass


def test_pg_schema_creation_races_are_safe(pg_url):
    """Four processes open a fresh database at once: tables created once, nobody fails."""
    code = ("import sys; from lcelkit.loaders.records import FileManifest, make_record_manager; "
            "from lcelkit.chains.keyword_pg import PgKeywordIndex; u = sys.argv[1]; "
            "from lcelkit.agents.memory import SummaryMemoryStore; "
            "make_record_manager('ns', u); FileManifest('ns', u); PgKeywordIndex(u, 'ns'); "
            "SummaryMemoryStore(u); print('ok')")  # fmt: skip
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_child_env())
             for _ in range(4)]  # fmt: skip
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "ok", err[-3000:]
    _ = json  # imported for the module's children
