"""One ``lcelkit ingest`` at a time per home: a lock file, waited for with a message.

Two ingests started together on a fresh home would both create the record manager's
tables, the manifest, the keyword index and the Chroma collection, and one of them
fails (``table ... already exists``). Holding ``<home>/ingest.lock`` for the whole
run makes the second one wait: it says so, then runs once the first is done (and
finds its files unchanged). The lock is an OS file lock (``filelock``): it is
released when the process ends, even by ``kill -9``.

A team deployment (a Chroma server and a PostgreSQL ``database.url``,
``lcelkit.factories.shared_ingest``) takes no home lock: its ingest workers claim files
in the database (``lcelkit.loaders.claims``) and create tables under an advisory lock.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["LOCK_NAME", "home_lock"]

logger = logging.getLogger(__name__)

LOCK_NAME = "ingest.lock"


@contextlib.contextmanager
def home_lock(home: Path, *, on_wait: Callable[[Path], None] | None = None) -> Iterator[None]:
    """Hold the ingest lock of ``home``; when another process holds it, call
    ``on_wait(lock_path)`` once, then wait for it."""
    from filelock import FileLock, Timeout

    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_NAME
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("waiting for the ingest lock %s", path)
        if on_wait is not None:
            on_wait(path)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
