"""Hostile and concurrent input: the figures behind issue #15's targets.

Printed, one line per measure:

- **bomb**: a DOCX whose ``word/document.xml`` unpacks to ``--bomb-mb`` MiB (default
  1,480 MiB = 1.55 GB, as in the report), in one folder with a good text file, through
  ``lcelkit ingest --json`` (a separate process, real embedder and Chroma): seconds
  until the bomb is refused (``load()`` in-process), the whole ingest's seconds, its
  peak memory, and whether the neighbour was indexed;
- **sessions**: ``--sessions`` new sessions x 2 concurrent first turns on
  ``POST /agent/invoke`` (uvicorn on a local port, the real app, agent and SQLite
  memory, a fake chat model): how many answered 200, and turns/counters stored;
- **batch**: ``/agent/batch`` with three inputs on one session id: status, turns stored;
- **racing ingests**: two ``lcelkit ingest`` processes started together on a fresh
  home: exit codes, tracebacks, whether one waited, chunks stored vs one clean run;
- **malformed**: the malformed bodies of the tests, sent over HTTP: statuses seen;
- **health**: 200 concurrent ``GET /health`` against a fake Ollama: backend probes made.
- **drops** (issue 22): ``--drops`` clients (default 150) hang up mid-answer on each
  streaming route of a real ``uvicorn`` process (``tests.support.served_app``: the real
  app, chain, agent and ``ChatOllama`` client, a fixed retriever) against a loopback
  Ollama-protocol backend that streams slowly: backend connections still open after
  the drops, the server's resident memory before/after, and the seconds the next
  ``/rag/invoke`` takes (target: <= 10 connections, answer in under 2 s); then, past
  the client pool's keep-alive expiry, the connections still checked out (leaked).

    python bench/hostile.py [--bomb-mb 1480] [--sessions 40] [--drops 150]
                            [--skip bomb,race,server,drops]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LCELKIT_")}
    env.update(LCELKIT_HOME=str(home), PYTHONPATH=str(ROOT))
    return env


def _ingest(home: Path, docs: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lcelkit", "ingest", str(docs), "--json"],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def bench_bomb(work: Path, megabytes: int) -> None:
    from lcelkit.loaders.files import load
    from tests.support.hostile import docx_bomb

    docs = work / "bomb_docs"
    docs.mkdir()
    started = time.perf_counter()
    bomb = docx_bomb(docs / "bomb.docx", unpacked_mb=megabytes)
    made = time.perf_counter() - started
    (docs / "neighbour.txt").write_text("The neighbour file is indexed.", encoding="utf-8")
    started = time.perf_counter()
    try:
        load(bomb)
        refused = "NOT REFUSED"
    except Exception as exc:
        refused = type(exc).__name__
    seconds = time.perf_counter() - started
    print(
        f"bomb: {bomb.stat().st_size / 2**20:.1f} MiB on disk, {megabytes:,} MiB unpacked "
        f"(made in {made:.1f} s); load() -> {refused} in {seconds:.3f} s"
    )
    from lcelkit.factories import make_indexer
    from lcelkit.settings import get_settings

    indexer = make_indexer(get_settings(home=work / "bomb_home_inprocess"))
    marks: dict[str, tuple[str, float]] = {}
    started = time.perf_counter()
    indexer.ingest(
        [docs],
        progress=lambda s, st: marks.setdefault(Path(s).name, (st, time.perf_counter() - started)),
    )
    print(
        "bomb: in-process Indexer.ingest (files parsed in the worker process): "
        + ", ".join(f"{name} {st} after {t:.2f} s" for name, (st, t) in marks.items())
        + " (the first file's time includes the worker's start-up)"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    process = _ingest(work / "bomb_home", docs)
    out, err = process.communicate(timeout=1800)
    seconds = time.perf_counter() - started
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    summary = json.loads(out.strip().splitlines()[-1])
    failed = [Path(e["source"]).name for e in summary["errors"]]
    print(
        f"bomb: lcelkit ingest of the folder: exit {process.returncode} in {seconds:.1f} s "
        f"(embedder load included), peak RSS of a child {peak:.0f} MiB; failed {failed}, "
        f"added {summary['files']['added']} (neighbour indexed: "
        f"{summary['files']['added'] == 1 and 'neighbour.txt' not in failed}); "
        f"traceback: {'Traceback' in err}"
    )


def bench_race(work: Path) -> None:
    docs = work / "race_docs"
    docs.mkdir()
    for i in range(5):
        (docs / f"note{i}.txt").write_text(f"Note {i}: the office in city {i} opened in 20{i}.")
    for trial in range(3):
        home = work / f"race_home{trial}"
        processes = [_ingest(home, docs), _ingest(home, docs)]
        results = [p.communicate(timeout=900) for p in processes]
        codes = [p.returncode for p in processes]
        tracebacks = sum("Traceback" in err for _, err in results)
        waited = sum("waiting for it" in err for _, err in results)
        summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in results if out.strip()]
        from lcelkit.chains.store import chroma_client

        stored = chroma_client(persist_dir=home / "chroma").get_collection("default").count()
        written = max((s["chunks"]["written"] for s in summaries), default=-1)
        print(
            f"racing ingests, fresh home #{trial + 1}: exit codes {codes}, tracebacks "
            f"{tracebacks}, waited {waited}, added {[s['files']['added'] for s in summaries]}, "
            f"chunks stored {stored} (one run writes {written})"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = _free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def bench_server(work: Path, sessions: int) -> None:
    import httpx
    from benchapp import TimestampChatModel, make_bench_rag_chain

    from lcelkit.agents.memory import SummaryMemoryStore
    from lcelkit.agents.react import ConversationalAgent
    from lcelkit.server.app import create_app
    from lcelkit.settings import get_settings
    from tests.support.ollama_server import FakeOllamaServer
    from tests.unit.test_hostile_server import MALFORMED

    url = f"sqlite:///{work / 'memory.sqlite'}"
    agent = ConversationalAgent(
        TimestampChatModel(answer="Final Answer: noted."),
        tools=[],
        memory=SummaryMemoryStore(url),
        mode="text",
    )
    ollama = FakeOllamaServer(model="llama3.2").start()
    settings = get_settings(home=work / "server_home", llm={"base_url": ollama.url})
    app = create_app(settings, rag=make_bench_rag_chain(), agent=agent)

    async def client_side(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            calls = [
                client.post(
                    "/agent/invoke",
                    json={
                        "input": {"input": f"turn {n}"},
                        "config": {"configurable": {"session_id": f"bench-{i}"}},
                    },
                )
                for i in range(sessions)
                for n in (1, 2)
            ]
            started = time.perf_counter()
            answers = await asyncio.gather(*calls)
            seconds = time.perf_counter() - started
            codes = [a.status_code for a in answers]
            memory = SummaryMemoryStore(url, recent_turns=50)
            infos = {s.session_id: s for s in memory.list_sessions()}
            stored = sum(
                infos[f"bench-{i}"].recent_turns for i in range(sessions) if f"bench-{i}" in infos
            )
            counted = sum(
                infos[f"bench-{i}"].total_turns for i in range(sessions) if f"bench-{i}" in infos
            )
            print(
                f"sessions: {sessions} x 2 concurrent first turns: {codes.count(200)} of "
                f"{len(codes)} answered 200 in {seconds:.1f} s (others: "
                f"{sorted({c for c in codes if c != 200})}); turns stored {stored}, "
                f"total_turns counted {counted} (expected {2 * sessions})"
            )
            batch = await client.post(
                "/agent/batch",
                json={
                    "inputs": [{"input": f"message {i}"} for i in range(3)],
                    "config": {"configurable": {"session_id": "bench-batch"}},
                },
            )
            snap = memory.load("bench-batch")
            print(
                f"batch: /agent/batch x3 on one session: {batch.status_code}; turns stored "
                f"{len(snap.turns)}, total_turns {snap.total_turns}"
            )
            headers = {"content-type": "application/json"}
            statuses = [
                (await client.post(path, content=body, headers=headers)).status_code
                for path, body, _ in MALFORMED
            ]
            print(
                f"malformed: {len(statuses)} bodies: statuses {sorted(set(statuses))}, "
                f"500s: {sum(s >= 500 for s in statuses)}"
            )
            before = len(ollama.requests)
            started = time.perf_counter()
            health = await asyncio.gather(*(client.get("/health") for _ in range(200)))
            seconds = time.perf_counter() - started
            print(
                f"health: 200 concurrent GET /health in {seconds:.2f} s: statuses "
                f"{sorted({h.status_code for h in health})}, backend requests made "
                f"{len(ollama.requests) - before}"
            )

    try:
        with _Server(app) as base:
            asyncio.run(client_side(base))
    finally:
        ollama.stop()


def _rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux /proc), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_drops(work: Path, drops: int) -> None:
    import httpx

    from tests.support.ollama_server import FakeOllamaServer
    from tests.support.served_app import ServedProcess

    routes = [
        "/rag/stream", "/rag/stream_events", "/rag/stream_log", "/agent/stream",
        "/agent/stream_events", "/agent/stream_log", "/v1/chat/completions",
    ]  # fmt: skip
    long_answer = " ".join(f"word{i}" for i in range(150)) + " [1]."

    def reply(request: dict) -> str:
        users = [m.get("content") or "" for m in request.get("messages", [])]
        return "Short answer [1]." if users and "quick-one" in users[-1] else long_answer

    def body(route: str) -> dict:
        if route.startswith("/v1"):
            return {
                "model": "lcelkit-rag",
                "stream": True,
                "messages": [{"role": "user", "content": "q"}],
            }
        return {"input": {"input" if route.startswith("/agent") else "question": "everything"}}

    async def drop(client: httpx.AsyncClient, route: str) -> None:
        async with client.stream("POST", route, json=body(route)) as response:
            seen = 0
            async for line in response.aiter_lines():
                seen += line.count("word")
                if seen >= 2:
                    return

    async def drop_all(url: str, route: str) -> None:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            await asyncio.gather(*(drop(client, route) for _ in range(drops)))

    with FakeOllamaServer(
        model="llama3.2", context_length=4096, reply=reply, chunk_delay=0.02
    ) as ollama:
        env = {"LCELKIT_OLLAMA_BASE_URL": ollama.url}
        with ServedProcess(work / "drops_home", env, work / "drops.log") as server:
            httpx.post(f"{server.url}/rag/invoke", json={"input": "quick-one"}, timeout=60)
            httpx.post(f"{server.url}/agent/invoke", json={"input": "quick-one"}, timeout=60)
            for route in routes:
                before = _rss_mib(server.proc.pid)
                started = time.perf_counter()
                asyncio.run(drop_all(server.url, route))
                dropped = time.perf_counter() - started
                deadline = time.monotonic() + 5  # let the last cancellations land
                while ollama.open_connections() > 0 and time.monotonic() < deadline:
                    time.sleep(0.2)
                open_now = ollama.open_connections()
                started = time.perf_counter()
                answer = httpx.post(
                    f"{server.url}/rag/invoke", json={"input": "quick-one"}, timeout=120
                )
                seconds = time.perf_counter() - started
                print(
                    f"drops: {route}: {drops} clients hung up mid-answer in {dropped:.1f} s; "
                    f"backend connections open after {open_now} (target <= 10); server RSS "
                    f"{before:.0f} -> {_rss_mib(server.proc.pid):.0f} MiB; next /rag/invoke "
                    f"{answer.status_code} in {seconds:.2f} s (target < 2 s)"
                )
            # A connection whose close was interrupted stays checked out of the client
            # pool for good; idle pooled ones expire after 5 s and go at the next call.
            time.sleep(6)
            httpx.post(f"{server.url}/rag/invoke", json={"input": "quick-one"}, timeout=120)
            time.sleep(1)
            log = (work / "drops.log").read_text(errors="replace")
            print(
                f"drops: after all {len(routes) * drops} drops and the pool's keep-alive "
                f"expiry: {ollama.open_connections()} backend connections open (the one "
                f"just used: 1); server log: {log.count('Traceback')} tracebacks, "
                f"{log.count('Task exception was never retrieved')} 'Task exception was "
                f"never retrieved', {log.count('StopAsyncIteration')} StopAsyncIteration"
            )


def main() -> None:
    """Run the measures (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bomb-mb", type=int, default=1480)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--drops", type=int, default=150, help="dropped clients per route")
    parser.add_argument("--skip", default="", help="comma list of: bomb, race, server, drops")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="lcelkit-hostile-") as tmp:
        work = Path(tmp)
        if "server" not in skip:
            bench_server(work, args.sessions)
        if "drops" not in skip:
            bench_drops(work, args.drops)
        if "bomb" not in skip:
            bench_bomb(work, args.bomb_mb)
        if "race" not in skip:
            bench_race(work)


if __name__ == "__main__":
    main()
