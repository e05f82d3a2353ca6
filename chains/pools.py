"""Process-wide thread pools made at their first use (nothing starts at import)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["LazyPool"]


class LazyPool:
    """A ``ThreadPoolExecutor`` of ``workers`` threads named ``name-N``, made on the first
    :meth:`submit` and kept for the process."""

    def __init__(self, workers: int, name: str) -> None:
        self.workers = workers
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Whether the pool exists (something was submitted to it)."""
        return self._pool is not None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` on one of the pool's threads."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)
        return self._pool.submit(fn, *args, **kwargs)
