"""``lcelkit ask`` in-process with timers, for bench/ask.py (run with ``python -X importtime``).

Runs the CLI's ``main()`` as ``python -m lcelkit`` would and writes to
``$LCELKIT_BENCH_TIMINGS`` (JSON) the seconds spent embedding the query
(``SentenceTransformerEmbeddings.embed_query``), generating (the chat model's token loop,
``_iter_generate`` of the transformers or the OpenVINO backend, prompt encoding included)
and in the whole command; bench/ask.py adds the import time
from ``-X importtime``. Then it exits at once, as the CLI does after ``ask``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

__all__: list[str] = []

START = time.perf_counter()


def _timed(owner: type, name: str, totals: dict[str, float], label: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        begun = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + time.perf_counter() - begun

    setattr(owner, name, wrapper)


def _timed_iter(owner: type, name: str, totals: dict[str, float], label: str) -> None:
    """Time a generator method: the time spent inside it, summed over its steps."""
    original: Callable[..., Any] = owner.__dict__[name]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        iterator = original(*args, **kwargs)
        try:
            while True:
                begun = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    totals[label] = totals.get(label, 0.0) + time.perf_counter() - begun
                yield item
        finally:
            iterator.close()

    setattr(owner, name, wrapper)


def main() -> None:
    """Run ``lcelkit`` with ``sys.argv[1:]``, timed."""
    from lcelkit.chains.embeddings import SentenceTransformerEmbeddings
    from lcelkit.chains.llm_hf import LocalChatHuggingFace
    from lcelkit.chains.llm_openvino import LocalChatOpenVINO
    from lcelkit.cli import main as cli_main

    totals: dict[str, float] = {}
    _timed(SentenceTransformerEmbeddings, "embed_query", totals, "embed query")
    _timed_iter(LocalChatHuggingFace, "_iter_generate", totals, "generate")
    _timed_iter(LocalChatOpenVINO, "_iter_generate", totals, "generate")
    code = cli_main(sys.argv[1:])
    totals["total"] = time.perf_counter() - START
    with open(os.environ["LCELKIT_BENCH_TIMINGS"], "w", encoding="utf-8") as fh:
        json.dump(totals, fh)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
