"""Run a parse in a worker process under a time budget, so no single file can hold a batch.

A thread cannot be stopped, and a parser stuck in C code (lxml, pdfium) holds the
interpreter too; a process can be killed. :class:`IsolatedRunner` keeps one worker
process (``spawn``: it shares no threads or locks with the parent), sends it one call
at a time and waits at most ``timeout`` seconds for the answer. Past the budget the
worker is killed and :class:`~lcelkit.errors.FileTimeoutError` is raised; the next call
starts a fresh worker. A worker that dies (a crash in a C library, the kernel's
out-of-memory killer) is reported the same way, as a failure of that one file.

The worker's start-up (imports) is not counted in the budget. Functions and their
arguments must be picklable (module-level functions).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from lcelkit.errors import CorruptFileError, FileTimeoutError, LcelkitError, LoaderError

__all__ = ["IsolatedRunner", "shared_runner"]

logger = logging.getLogger(__name__)

START_TIMEOUT = 300.0  # seconds a fresh worker may take to import its modules


def _portable(exc: BaseException) -> tuple[Any, ...]:
    """An exception as plain data (the project's errors have keyword-only arguments)."""
    if isinstance(exc, LcelkitError):
        return ("lcelkit", type(exc), getattr(exc, "source", None), exc.message, exc.hint)
    return ("other", f"{type(exc).__name__}: {exc}")


def _rebuild(data: tuple[Any, ...], source: str) -> BaseException:
    if data[0] == "lcelkit":
        _, cls, where, message, hint = data
        try:
            if issubclass(cls, LoaderError):
                return cls(where if where is not None else source, message, hint=hint)
            return cls(message, hint=hint)
        except TypeError:
            return CorruptFileError(source, message, hint=hint)
    return RuntimeError(data[1])


def _worker(conn: Any, preload: Sequence[str]) -> None:  # pragma: no cover - child process
    for name in preload:
        importlib.import_module(name)
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, args = message
        try:
            result = ("ok", fn(*args))
        except BaseException as exc:  # every failure goes back to the parent
            result = ("err", _portable(exc))
        conn.send(result)


class IsolatedRunner:
    """One worker process that runs calls with a time budget each (see module doc)."""

    def __init__(self, *, preload: Sequence[str] = ()) -> None:
        self.preload = tuple(preload)
        self._process: Any = None
        self._conn: Any = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_worker, args=(child, self.preload), daemon=True, name="lcelkit-parse"
        )
        process.start()
        child.close()
        if not parent.poll(START_TIMEOUT):
            process.kill()
            raise RuntimeError(f"the parse worker did not start within {START_TIMEOUT:g} s")
        try:
            parent.recv()
        except (EOFError, OSError) as exc:
            process.join(5)
            raise RuntimeError(
                f"the parse worker failed to start (exit code {process.exitcode})"
            ) from exc
        self._process, self._conn = process, parent
        logger.debug("parse worker %s started", process.pid)

    def _stop(self) -> int | None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is None:
            return None
        if process.is_alive():
            process.kill()
        process.join(10)
        return process.exitcode

    def call(self, fn: Callable[..., Any], *args: Any, source: str, timeout: float) -> Any:
        """``fn(*args)`` in the worker; FileTimeoutError (naming ``source``) past ``timeout``."""
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._stop()
                self._start()
            conn = self._conn
            try:
                conn.send((fn, args))
                answered = conn.poll(timeout)
                kind, payload = conn.recv() if answered else ("timeout", None)
            except (EOFError, OSError):
                code = self._stop()
                raise CorruptFileError(
                    source,
                    f"{source}: the parser stopped on this file (worker exit code {code}); "
                    "it was skipped",
                    hint="the file may be damaged or too large for the memory available; "
                    "re-export it or split it",
                ) from None
            if kind == "timeout":
                self._stop()
                raise FileTimeoutError(
                    source,
                    f"{source}: parsing took longer than {timeout:g} s; it was stopped and skipped",
                    hint="raise ingest.file_timeout (LCELKIT_INGEST__FILE_TIMEOUT) if the file "
                    "is genuine, or split it",
                )
            if kind == "err":
                raise _rebuild(payload, source)
            return payload

    def close(self) -> None:
        """Stop the worker (a later call starts a new one)."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(None)
            self._stop()


_shared: dict[tuple[str, ...], IsolatedRunner] = {}
_shared_lock = threading.Lock()


def shared_runner(preload: Sequence[str] = ()) -> IsolatedRunner:
    """The process-wide runner for ``preload`` (its worker is reused across ingests)."""
    key = tuple(preload)
    with _shared_lock:
        runner = _shared.get(key)
        if runner is None:
            runner = _shared[key] = IsolatedRunner(preload=key)
        return runner
