"""No-op ingest benchmark: wall time of ``lcelkit ingest samples/`` when nothing changed.

A fresh ``LCELKIT_HOME`` (temp folder) is filled by one real ingest of ``samples/``;
then the same command runs ``--runs`` times as a new process each (what a user
types). Printed: the wall time of each process (min / median / max) and the median
CPU time (user + sys), which is about what an idle machine shows when the wall time
is mostly spent waiting for a shared CPU. Target (issue 13): <= 1.0 s wall. With
``--baseline`` the same runs are repeated with the manifest fast path switched off in
the child (``lcelkit.cli.ingest._noop_ingest`` replaced by ``lambda args: False``,
bench only): the code path before the fast path, which opens the indexer (Chroma,
LangChain indexing) before it finds that nothing changed.

    python bench/noop_ingest.py [--runs 7] [--baseline] [--prune]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = "import sys; from lcelkit.cli import main; sys.exit(main())"
SLOW = (
    "import sys; import lcelkit.cli.ingest as m; m._noop_ingest = lambda args: False; "
    "from lcelkit.cli import main; sys.exit(main())"
)


def run(code: str, args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its last output line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, cpu, proc.stdout.strip().splitlines()[-1]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def series(name: str, code: str, args: list[str], env: dict[str, str], runs: int) -> None:
    walls, cpus = [], []
    line = ""
    for _ in range(runs):
        wall, cpu, line = run(code, args, env)
        walls.append(wall)
        cpus.append(cpu)
    print(
        f"{name:<22} runs={runs}  wall: min {min(walls):.2f} s  median "
        f"{statistics.median(walls):.2f} s  max {max(walls):.2f} s"
    )
    print(f"{'':<22} wall, each: {' '.join(f'{w:.2f}' for w in walls)}")
    print(f"{'':<22} CPU (user+sys), median: {statistics.median(cpus):.2f} s")
    print(f"{'':<22} said: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", action="store_true", help="also time the slow path")
    parser.add_argument("--prune", action="store_true", help="time `ingest --prune` too")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LCELKIT_")}
        env.update(
            LCELKIT_HOME=str(Path(tmp) / "home"),
            PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
        )
        wall, _, line = run(FAST, ["ingest", "samples/"], env)
        print(f"first ingest (embeds):  {wall:.2f} s  {line}")
        print(f"load average: {load()}, cores: {os.cpu_count()}")
        variants = [["ingest", "samples/"]] + (
            [["ingest", "samples/", "--prune"]] if opts.prune else []
        )
        for args in variants:
            label = " ".join(args[1:])
            series(f"no-op {label}", FAST, args, env, opts.runs)
            if opts.baseline:
                series(f"no-op {label} (slow)", SLOW, args, env, opts.runs)
        print(f"load average: {load()}")


if __name__ == "__main__":
    main()
