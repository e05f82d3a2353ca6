"""Run a parse in a worker process under a time budget, so no single file can hold a batch.

A thread cannot be stopped, and a parser stuck in C code (lxml, pdfium) holds the
interpreter too; a process can be killed. :class:`IsolatedRunner` keeps one worker
process, sends it one call at a time and waits at most ``timeout`` seconds for the
answer. Past the budget the worker is killed and :class:`~lcelkit.errors.FileTimeoutError`
is raised; the next call starts a fresh worker. A worker that dies (a crash in a C
library, the kernel's out-of-memory killer) is reported the same way, as a failure of
that one file.

The worker is a fresh interpreter (``python -c``, the parent's ``sys.path``), not a
``multiprocessing`` child: it shares no threads or locks with the parent, and it does
not re-import the caller's ``__main__`` (a script without an ``if __name__ ==
"__main__"`` guard works). Calls and answers are pickled frames on its stdin/stdout;
its own stdout is redirected to stderr, so a library that prints cannot corrupt them.
The worker's start-up (imports) is not counted in the budget. Functions and their
arguments must be picklable (module-level functions). POSIX only (``poll`` on pipes).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from lcelkit.errors import CorruptFileError, FileTimeoutError, LcelkitError, LoaderError

__all__ = ["IsolatedRunner", "shared_runner", "supported"]

logger = logging.getLogger(__name__)

START_TIMEOUT = 300.0  # seconds a fresh worker may take to import its modules
_HEADER = struct.Struct("!Q")


class _Timeout(Exception):
    pass


def supported() -> bool:
    """Whether workers can run here (POSIX: ``poll`` works on pipes)."""
    return os.name == "posix"


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


def _write(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exact(stream: IO[bytes], size: int, deadline: float | None) -> bytes:
    parts: list[bytes] = []
    fd = stream.fileno()
    poller = select.poll()  # not select.select: it fails on descriptors past 1023
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(max(1, int(left * 1000))):
                raise _Timeout
        chunk = os.read(fd, min(size, 2**20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _read(stream: IO[bytes], deadline: float | None = None) -> Any:
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size, deadline))
    return pickle.loads(_read_exact(stream, size, deadline))


def _serve() -> None:  # pragma: no cover - runs in the worker process
    """The worker's loop: read (fn, args), answer ("ok", result) or ("err", error)."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # print() in a library goes to stderr, never into the answers
    calls = os.fdopen(os.dup(0), "rb")
    for name in sys.argv[1:]:
        importlib.import_module(name)
    _write(answers, ("ready", None))
    while True:
        try:
            message = _read(calls)
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, args = message
        try:
            result: tuple[str, Any] = ("ok", fn(*args))
        except BaseException as exc:  # every failure goes back to the parent
            result = ("err", _portable(exc))
        try:
            _write(answers, result)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            _write(answers, ("err", ("other", f"unpicklable result: {exc}")))


class IsolatedRunner:
    """One worker process that runs calls with a time budget each (see module doc)."""

    def __init__(self, *, preload: Sequence[str] = ()) -> None:
        self.preload = tuple(preload)
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        process = subprocess.Popen(
            [
                sys.executable,
                "-P",  # not the working directory first: a source checkout's lcelkit/ there
                # would shadow the installed package (a plain `pip install .` run from it)
                "-c",
                "from lcelkit.loaders.isolate import _serve; _serve()",
                *self.preload,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            bufsize=0,
        )
        try:
            _read(process.stdout, time.monotonic() + START_TIMEOUT)  # type: ignore[arg-type]
        except (_Timeout, EOFError, OSError) as exc:
            process.kill()
            process.wait(10)
            raise RuntimeError(
                f"the parse worker did not start (exit code {process.returncode})"
            ) from exc
        logger.debug("parse worker %s started", process.pid)
        return process

    def _stop(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        for stream in (process.stdin, process.stdout):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]
        if process.poll() is None:
            process.kill()
        process.wait(10)
        return process.returncode

    def call(self, fn: Callable[..., Any], *args: Any, source: str, timeout: float) -> Any:
        """``fn(*args)`` in the worker; FileTimeoutError (naming ``source``) past ``timeout``."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._stop()
                self._process = self._start()
            process = self._process
            try:
                _write(process.stdin, (fn, args))  # type: ignore[arg-type]
                kind, payload = _read(process.stdout, time.monotonic() + timeout)  # type: ignore[arg-type]
            except _Timeout:
                self._stop()
                raise FileTimeoutError(
                    source,
                    f"{source}: parsing took longer than {timeout:g} s; it was stopped and skipped",
                    hint="raise ingest.file_timeout (LCELKIT_INGEST__FILE_TIMEOUT) if the file "
                    "is genuine, or split it",
                ) from None
            except (EOFError, OSError):
                code = self._stop()
                raise CorruptFileError(
                    source,
                    f"{source}: the parser stopped on this file (worker exit code {code}); "
                    "it was skipped",
                    hint="the file may be damaged or too large for the memory available; "
                    "re-export it or split it",
                ) from None
            if kind == "err":
                raise _rebuild(payload, source)
            return payload

    def close(self) -> None:
        """Stop the worker (a later call starts a new one)."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                with contextlib.suppress(OSError):
                    _write(self._process.stdin, None)  # type: ignore[arg-type]
            self._stop()

    def close_now(self) -> None:
        """Stop the worker without waiting for a call in flight: that call then fails as
        a stopped parse. For process exit, where nobody waits for its answer."""
        if self._lock.acquire(blocking=False):
            try:
                self._stop()
            finally:
                self._lock.release()
            return
        process = self._process  # a call holds the lock; killing ends its read
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                process.kill()


_shared: dict[tuple[str, ...], IsolatedRunner] = {}
_shared_lock = threading.Lock()


@atexit.register
def _close_shared() -> None:
    for runner in list(_shared.values()):
        runner.close_now()  # a parse-ahead thread may be mid-call: do not wait for it


def shared_runner(preload: Sequence[str] = ()) -> IsolatedRunner:
    """The process-wide runner for ``preload`` (its worker is reused across ingests)."""
    key = tuple(preload)
    with _shared_lock:
        runner = _shared.get(key)
        if runner is None:
            runner = _shared[key] = IsolatedRunner(preload=key)
        return runner
