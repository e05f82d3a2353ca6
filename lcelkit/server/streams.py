"""Streams that end their backend work when the client hangs up.

A runnable's stream is a stack of async generators (the chain, the chat model, the
Ollama client, httpx). When the HTTP client drops, the response's task is cancelled.
Two things then went wrong, and every dropped client kept one backend (Ollama)
connection checked out of the model client's pool for good (50 drops, 50 open
connections; at the pool's size every model call waited 120 s and failed):

* the generators sat suspended at a ``yield`` (waiting for the dead client to take a
  chunk), so the cancellation never reached them, and nothing closed them;
* where the cancellation did land inside the stack (LangServe adds callbacks, so it
  often lands in a callback ``await`` in the chat model's loop), ``async for`` leaves
  the generator it was iterating suspended: ``ChatOllama`` does not close the
  ``ollama`` client's generator, which holds the open httpx response. Closing it later
  from the garbage collector fails ("asynchronous generator is already running").

:func:`cancel_on_close` fixes both, for any backend:

1. the stream runs in its own producer task that never waits for the client (chunks
   go to an unbounded queue: an answer is bounded by the model's ``max_new_tokens``),
   so the producer is always suspended inside the work itself, and cancelling it
   unwinds the stack from the inside; the tasks it started (recorded through the
   loop's task factory) are stopped with it;
2. every async generator first iterated by that task (or the tasks it starts: they
   inherit its context) is recorded through the event loop's async-generator hook
   and held (a generator dropped mid-stream would otherwise be closed by the garbage
   collector, in no particular order with its own context managers, which fails);
   when the stream ends, those still suspended are closed, oldest (outermost) first:
   a generator's own ``async with`` then closes its context managers (which are
   generators too, newer, and skipped once closed), and the backend response is closed.

**Each task is cancelled once.** A second ``Task.cancel()`` that reaches a task while
the first cancellation is being cleaned up interrupts that cleanup. httpcore closes a
cancelled response in an anyio shield, but an anyio shield does not stop asyncio's own
cancellation: the second ``CancelledError`` lands in the connection's state lock,
``_response_closed`` never runs, and the connection stays ``ACTIVE`` in the client's
pool for good (the pool only reclaims closed or idle ones; encode/httpx#3782). Two
cancellations used to meet there: this module cancelled the producer *and* each task
it started, while LangChain's ``astream_events`` cancels its own run task again when
the cancellation reaches it (``except CancelledError: task.cancel()`` and
``finally: task.cancel()``); when the run task had started its cleanup between the
two, one backend connection leaked (0-8 per 150 drops, adding up route after route).
So only the producer is cancelled; LangChain passes the cancellation on to its run
task; a task the producer then waits for that nobody cancelled (``astream_log`` waits
for its run to the end of the answer) is cancelled once; tasks left running after the
producer ended are cancelled once if nobody did. Tasks that close a generator (the
garbage collector's ``aclose()``) are never recorded, so never cancelled. The whole
clean-up runs in its own task under ``asyncio.shield``, so a cancellation of the
response's task (a deadline) cannot interrupt it either.

:class:`ClosingResponse` closes the stream however the response ends (finished, client
gone, timeout), since not every ASGI response closes its body iterator.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import types
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, TypeVar

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["ClosingResponse", "cancel_on_close"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
_END = object()
_PRUNE_EVERY = 1024  # drop dead references from a stream's record this often
_POLL = 0.05  # seconds between looks at what a stopping producer waits for
_GRACE = 1.0  # after this, a stopping producer's uncancelled tasks are cancelled once

_Opened = list[AsyncGenerator[Any, Any]]
_opened: contextvars.ContextVar[_Opened | None] = contextvars.ContextVar(
    "lcelkit_stream_generators", default=None
)


_Tasks = list[asyncio.Task[Any]]
_started: contextvars.ContextVar[_Tasks | None] = contextvars.ContextVar(
    "lcelkit_stream_tasks", default=None
)


def _install_hooks() -> None:
    """Record the tasks started and the async generators first iterated where the stream's
    context variables are set (installed once per event loop / thread)."""
    loop = asyncio.get_running_loop()
    factory = loop.get_task_factory()
    if not getattr(factory, "_lcelkit_tracks", False):

        def tracking_factory(
            loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
        ) -> asyncio.Future[Any]:
            context = kwargs.get("context")
            tasks = context.get(_started) if context is not None else _started.get()
            task = (
                factory(loop, coro, **kwargs)
                if factory
                else asyncio.Task(coro, loop=loop, **kwargs)
            )
            # A generator's aclose() (the garbage collector's finalizer) is clean-up:
            # never recorded, so never cancelled.
            if tasks is not None and isinstance(task, asyncio.Task) and _is_work(coro):
                tasks.append(task)
                if len(tasks) % _PRUNE_EVERY == 0:
                    tasks[:] = [t for t in tasks if not t.done()]
            return task

        tracking_factory._lcelkit_tracks = True  # type: ignore[attr-defined]
        loop.set_task_factory(tracking_factory)  # type: ignore[arg-type]
    firstiter, finalizer = sys.get_asyncgen_hooks()
    if getattr(firstiter, "_lcelkit_tracks", False):
        return

    def tracking_firstiter(agen: AsyncGenerator[Any, Any]) -> None:
        opened = _opened.get()
        if opened is not None:
            opened.append(agen)
            if len(opened) % _PRUNE_EVERY == 0:
                opened[:] = [a for a in opened if a.ag_frame is not None]
        if firstiter is not None:
            firstiter(agen)

    tracking_firstiter._lcelkit_tracks = True  # type: ignore[attr-defined]
    sys.set_asyncgen_hooks(firstiter=tracking_firstiter, finalizer=finalizer)


def _is_work(coro: Any) -> bool:
    """A coroutine function's coroutine (not a generator's ``aclose()`` or ``athrow()``)."""
    return isinstance(coro, types.CoroutineType)


def _cancel_once(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` unless it is done or was cancelled already (see the module doc)."""
    if not task.done() and task.cancelling() == 0:
        task.cancel()


def _awaited_task(task: asyncio.Task[Any]) -> asyncio.Task[Any] | None:
    """The task that ``task`` is suspended on now (``await other_task``), if any."""
    waiter = getattr(task, "_fut_waiter", None)  # CPython's Task (C and Python) has it
    return waiter if isinstance(waiter, asyncio.Task) else None


async def _stop(producer: asyncio.Task[Any], started: _Tasks, opened: _Opened) -> None:
    """End a stream's work: each task cancelled at most once, then the generators closed."""
    _cancel_once(producer)
    give_up = asyncio.get_running_loop().time() + _GRACE
    while not producer.done():
        await asyncio.wait([producer], timeout=_POLL)
        waited = _awaited_task(producer)
        if waited is not None:
            _cancel_once(waited)  # astream_log waits for its run to the end of the answer
        elif asyncio.get_running_loop().time() > give_up:
            for task in started:  # it waits for them some other way (gather, a future)
                _cancel_once(task)
    left = [task for task in started if not task.done()]
    for task in left:
        _cancel_once(task)
    if left:
        await asyncio.gather(*left, return_exceptions=True)
    started.clear()
    await _close_left_open(opened)


def _suspended(agen: AsyncGenerator[Any, Any] | None) -> bool:
    """Started, not finished, not running now: closable."""
    return agen is not None and agen.ag_frame is not None and not agen.ag_running


async def _close_left_open(opened: _Opened) -> None:
    """Close the recorded generators still suspended, the oldest first (see the module doc)."""
    for agen in opened:
        if not _suspended(agen):
            continue
        try:
            await agen.aclose()
        except Exception as exc:  # a generator that fails to close: log it, close the rest
            logger.debug("closing %r after its stream ended failed: %s", agen, exc)
    opened.clear()


async def cancel_on_close(source: AsyncIterator[T]) -> AsyncIterator[T]:
    """The items of ``source``, produced in a task that is cancelled when this one closes.

    Exceptions of ``source`` are re-raised here unchanged (the caller maps them to
    HTTP statuses). When this generator ends, is closed or is cancelled, the producer
    is cancelled (once) and awaited, and the generators it left suspended are closed,
    so the backend request is over when this returns (see the module doc).
    """
    _install_hooks()
    queue: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue()
    opened: _Opened = []
    started: _Tasks = []

    async def produce() -> None:
        _opened.set(opened)  # this task's context (and its children's) only
        _started.set(started)
        try:
            async for item in source:
                queue.put_nowait((item, None))
        except Exception as exc:
            queue.put_nowait((_END, exc))
        else:
            queue.put_nowait((_END, None))

    task = asyncio.create_task(produce())
    try:
        while True:
            item, error = await queue.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        # In its own task: nothing that cancels this one (a deadline) interrupts it.
        stopping = asyncio.create_task(_stop(task, started, opened))
        with anyio.CancelScope(shield=True):  # the response's scope may be cancelled
            await asyncio.shield(stopping)


class ClosingResponse(Response):
    """Send ``inner`` (a streamed response), then close its body iterator, whatever happened.

    Closing a :func:`cancel_on_close` stream cancels its producer, so the backend
    request ends with the client's connection.
    """

    def __init__(self, inner: Response) -> None:
        self.inner = inner
        self.status_code = inner.status_code
        self.background = None
        self.raw_headers = inner.raw_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the inner response; close its iterator (shielded from cancellation)."""
        try:
            await self.inner(scope, receive, send)
        finally:
            aclose = getattr(getattr(self.inner, "body_iterator", None), "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
        if self.background is not None:
            await self.background()
