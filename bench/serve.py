"""HTTP server benchmark: what ``lcelkit serve`` adds on top of calling the RAG chain in-process.

The server runs in its own process (uvicorn, 1 worker) with the BENCH-ONLY factory
``lcelkit.server.benchapp:create_bench_app``: the real app, middlewares, LangServe
handler and ``chains.rag.make_rag_chain``, over a fake chat model and a fixed
retriever (so the figures are the server's and the chain's, not a model's). The client
(httpx, asyncio) runs in this process, on the same 2 cores.

Printed, one table:
- in-process ``chain.ainvoke`` latency (p50/p95) at concurrency 1;
- ``POST /rag/invoke`` latency p50/p95, requests/s and errors at concurrency 1, 8, 32;
  overhead = server p50 - in-process p50 at concurrency 1;
- time from the backend's first token to the client receiving it as an SSE event on
  ``/rag/stream`` (the fake model's first token is its own ``time.time()``).

    python bench/serve.py [--requests 600] [--streams 100]
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
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("LCELKIT_API_KEY", None)
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory",
        "lcelkit.server.benchapp:create_bench_app",
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
    sys.path.insert(0, str(ROOT))
    from lcelkit.server.benchapp import make_bench_rag_chain

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600, help="invokes per concurrency")
    parser.add_argument("--streams", type=int, default=100, help="streams for first-token")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()

    levels = (1, 8, 32)
    local = {c: asyncio.run(in_process(args.requests, c)) for c in levels}
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        proc = start_server(port, Path(home), args.workers)
        url = f"http://127.0.0.1:{port}"
        try:
            runs = {c: asyncio.run(load(url, args.requests, c)) for c in levels}
            delays, stream_errors = asyncio.run(first_token_delays(url, args.streams))
        finally:
            stop_server(proc)

    ms = 1000.0
    p50 = statistics.median
    print(f"\nlcelkit serve benchmark: {os.cpu_count()} CPUs, uvicorn workers {args.workers}, "
          "fake model + fixed retriever, real chain\n")  # fmt: skip
    print(f"| {'path':<28} | conc | {'p50 ms':>7} | {'p95 ms':>7} | {'req/s':>6} | errors |")
    print(f"|{'-' * 30}|------|---------|---------|--------|--------|")
    rows = [("in-process chain.ainvoke", c, lat, wall, 0) for c, (lat, wall) in local.items()]
    rows += [("POST /rag/invoke", c, lat, wall, err) for c, (lat, wall, err) in runs.items()]
    for name, conc, lat, wall, err in rows:
        print(
            f"| {name:<28} | {conc:>4} | {p50(lat) * ms:7.2f} | {pct(lat, 0.95) * ms:7.2f} | "
            f"{len(lat) / wall:6.0f} | {err:>6} |"
        )
    first = "/rag/stream first token->event"
    print(
        f"| {first:<28} | {1:>4} | {p50(delays) * ms:7.2f} | {pct(delays, 0.95) * ms:7.2f} | "
        f"{'':>6} | {stream_errors:>6} |"
    )
    overhead = (p50(runs[1][0]) - p50(local[1][0])) * ms
    rps = len(runs[32][0]) / runs[32][1]
    print(f"\nserver overhead per /rag/invoke, concurrency 1 (p50): {overhead:.2f} ms "
          "(target <= 5)")  # fmt: skip
    print(f"requests/s at concurrency 32: {rps:.0f} (target >= 200)")
    print(f"first streamed event after the backend's first token (p50): {p50(delays) * ms:.2f} ms "
          "(target <= 50)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
