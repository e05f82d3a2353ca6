"""HTTP server benchmark: what ``lcelkit serve`` adds on top of calling the RAG chain in-process.

The server runs in its own process (uvicorn; 1 and 2 workers by default) with the BENCH-ONLY factory
``benchapp:create_bench_app`` (``bench/benchapp.py``): the real app, middlewares, LangServe
handler and ``chains.rag.make_rag_chain``, over a fake chat model and a fixed
retriever (so the figures are the server's and the chain's, not a model's). The client
(httpx, asyncio) runs in this process, on the same 2 cores.

Printed, one table:
- in-process ``chain.ainvoke`` latency (p50/p95) at concurrency 1;
- ``POST /rag/invoke`` latency p50/p95, requests/s and errors at concurrency 1, 8, 32;
  overhead = server p50 - in-process p50 at concurrency 1;
- time from the backend's first token to the client receiving it as an SSE event on
  ``/rag/stream`` (the fake model's first token is its own ``time.time()``).

    python bench/serve.py [--requests 600] [--streams 100] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
QUESTION = {"question": "What is the capital of France?"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, home: Path, workers: int = 1) -> subprocess.Popen:
    env = {
        **os.environ,
        "LCELKIT_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT), str(ROOT / "bench"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    env.pop("LCELKIT_API_KEY", None)
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory",
        "benchapp:create_bench_app",
        "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--no-access-log", "--workers", str(workers),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/rag/input_schema", timeout=1).is_success:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError("server did not start within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


async def in_process(n: int, concurrency: int) -> tuple[list[float], float]:
    """(latencies, wall seconds) of ``chain.ainvoke`` in this process, no HTTP."""
    from benchapp import make_bench_rag_chain

    chain = make_bench_rag_chain()
    for _ in range(20):
        await chain.ainvoke(QUESTION)
    latencies: list[float] = []
    remaining = [n]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            start = time.perf_counter()
            await chain.ainvoke(QUESTION)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


async def load(url: str, total: int, concurrency: int) -> tuple[list[float], float, int]:
    """(latencies, wall seconds, errors) for ``total`` invokes at ``concurrency``."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        for _ in range(min(20, total)):
            await client.post("/rag/invoke", json={"input": QUESTION})
        latencies: list[float] = []
        errors = 0
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(total):
            queue.put_nowait(i)

        async def worker() -> None:
            nonlocal errors
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                start = time.perf_counter()
                try:
                    response = await client.post("/rag/invoke", json={"input": QUESTION})
                    ok = response.status_code == 200 and response.json()["output"]["sources"]
                except (httpx.HTTPError, KeyError, ValueError):
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += 0 if ok else 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - start, errors


async def paired(
    url: str, n: int
) -> tuple[tuple[list[float], float], tuple[list[float], float, int]]:
    """Concurrency 1, alternating in-process ``ainvoke`` and ``POST /rag/invoke``."""
    from benchapp import make_bench_rag_chain

    chain = make_bench_rag_chain()
    local: list[float] = []
    remote: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(20):
            await chain.ainvoke(QUESTION)
            await client.post("/rag/invoke", json={"input": QUESTION})
        for _ in range(n):
            start = time.perf_counter()
            await chain.ainvoke(QUESTION)
            local.append(time.perf_counter() - start)
            start = time.perf_counter()
            response = await client.post("/rag/invoke", json={"input": QUESTION})
            remote.append(time.perf_counter() - start)
            errors += 0 if response.status_code == 200 else 1
    return (local, sum(local)), (remote, sum(remote), errors)


async def first_token_delays(url: str, n: int) -> tuple[list[float], int]:
    """Seconds from the fake model's first token to its SSE event at the client."""
    delays: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(n):
            seen = None
            async with client.stream("POST", "/rag/stream", json={"input": QUESTION}) as resp:
                event = None
                async for line in resp.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "data" and seen is None:
                        data = json.loads(line[5:])
                        if isinstance(data, dict) and "answer" in data:
                            arrived = time.time()
                            seen = arrived - float(data["answer"].split()[0])
                    elif event == "error":
                        errors += 1
            if seen is None:
                errors += 1
            else:
                delays.append(seen)
    return delays, errors


def measure(workers: int, requests: int, streams: int) -> dict:
    """One server with ``workers`` processes; in-process runs next to each HTTP run."""
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        proc = start_server(port, Path(home), workers)
        url = f"http://127.0.0.1:{port}"
        try:
            # Concurrency 1: in-process and HTTP calls alternate, so both see the same
            # machine load; 8 and 32: the two runs back to back.
            local_1, http_1 = asyncio.run(paired(url, requests))
            local, runs = {1: local_1}, {1: http_1}
            for c in (8, 32):
                local[c] = asyncio.run(in_process(requests, c))
                runs[c] = asyncio.run(load(url, requests, c))
            delays, stream_errors = asyncio.run(first_token_delays(url, streams))
        finally:
            stop_server(proc)
    return {"local": local, "runs": runs, "delays": delays, "stream_errors": stream_errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600, help="invokes per concurrency")
    parser.add_argument("--streams", type=int, default=100, help="streams for first-token")
    parser.add_argument(
        "--workers", default="1,2", help="uvicorn worker counts to measure (comma separated)"
    )
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    results = {w: measure(w, args.requests, args.streams) for w in counts}

    ms = 1000.0
    p50 = statistics.median
    print(f"\nlcelkit serve benchmark: {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}; "
          "fake model + fixed retriever, real chain and server\n")  # fmt: skip
    print(f"| {'path':<30} | workers | conc | {'p50 ms':>7} | {'p95 ms':>7} | {'req/s':>6} | err |")
    print(f"|{'-' * 32}|---------|------|---------|---------|--------|-----|")

    def row(name: str, workers: str, conc: int, lat: list[float], rps: str, err: int) -> None:
        print(
            f"| {name:<30} | {workers:>7} | {conc:>4} | {p50(lat) * ms:7.2f} | "
            f"{pct(lat, 0.95) * ms:7.2f} | {rps:>6} | {err:>3} |"
        )

    for w, res in results.items():
        for c, (lat, wall) in res["local"].items():
            row("in-process chain.ainvoke", "-", c, lat, f"{len(lat) / wall:.0f}", 0)
        for c, (lat, wall, err) in res["runs"].items():
            row("POST /rag/invoke", str(w), c, lat, f"{len(lat) / wall:.0f}", err)
        row("/rag/stream token -> event", str(w), 1, res["delays"], "", res["stream_errors"])
    print()
    for w, res in results.items():
        overhead = (p50(res["runs"][1][0]) - p50(res["local"][1][0])) * ms
        lat32, wall32, _ = res["runs"][32]
        print(
            f"workers {w}: overhead per /rag/invoke at concurrency 1 {overhead:.2f} ms "
            f"(target <= 5); {len(lat32) / wall32:.0f} req/s at concurrency 32 (target >= 200); "
            f"first event {p50(res['delays']) * ms:.2f} ms after the first token (target <= 50)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
