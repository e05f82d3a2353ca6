"""Parse the next files while the current batch is embedded and written (issue 23).

The indexer hands each file that needs parsing to :class:`ParseAhead`, in file order.
One background thread calls the parse function on them, one at a time; with the
default isolated parse (``loaders/isolate.py``) that call only waits on the parse
worker process, under its per-file time budget, so the worker parses the next files
while the main thread embeds and writes. Each file's result (or its error: a timeout, a
crashed worker, bad input) comes back as a future; the indexer consumes them in file
order, so summaries and progress keep the order of the files.

The look-ahead is bounded: at most ``files`` parsed-but-not-consumed files and about
``max_bytes`` of their input (one file is always allowed), so the chunks held in memory
stay those of a few files. One thread and one parse at a time: on a 2-core machine the
other core embeds. While the embedder's model loads (seconds; the first time on a machine,
conversion included) nothing is embedded, so the file count is not a bound then
(``room(loading=True)``): the worker parses on, up to ``max_bytes``, on the core the
loading leaves idle, instead of stopping after ``files`` files.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

__all__ = ["AHEAD_BYTES", "ParseAhead"]

logger = logging.getLogger(__name__)

AHEAD_BYTES = 64 * 2**20  # input bytes parsed ahead and not yet consumed (files over it: one)


class ParseAhead:
    """A bounded queue of parses run by one background thread (see module doc)."""

    def __init__(
        self,
        parse: Callable[[Path, str], Any],
        *,
        files: int,
        max_bytes: int = AHEAD_BYTES,
    ) -> None:
        self.parse = parse
        self.files = max(1, files)
        self.max_bytes = max_bytes
        self._queued: queue.SimpleQueue[tuple[Future, Path, str] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._count = 0  # submitted and not yet consumed (``taken``)
        self._bytes = 0

    def room(self, *, loading: bool = False) -> bool:
        """Whether another file may be submitted now (the bounds are not reached);
        ``loading``: the embedder is loading, only the byte bound counts."""
        return (loading or self._count < self.files) and self._bytes < self.max_bytes

    def submit(self, path: Path, source: str, size: int) -> Future:
        """Queue ``parse(path, source)``; its future holds the result or the error."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lcelkit-parse-ahead")
            self._thread.daemon = True  # a parse stuck past exit is the worker's to stop
            self._thread.start()
        future: Future = Future()
        self._count += 1
        self._bytes += size
        self._queued.put((future, path, source))
        return future

    def taken(self, size: int) -> None:
        """One submitted file's result was consumed: room for the next."""
        self._count -= 1
        self._bytes -= size

    def close(self) -> None:
        """Cancel what has not started and let the thread end after the current parse."""
        while True:
            try:
                item = self._queued.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        if self._thread is not None:
            self._queued.put(None)
            self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queued.get()
            if item is None:
                return
            future, path, source = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = self.parse(path, source)
            except BaseException as exc:  # the indexer reports it as this file's failure
                future.set_exception(exc)
            else:
                future.set_result(result)
