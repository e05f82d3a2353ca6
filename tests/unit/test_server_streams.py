"""A dropped stream's backend work is cancelled once, so its clean-up runs to the end.

httpcore closes a cancelled response with awaits in between (its connection lock); a
second ``Task.cancel()`` landing there interrupts the close and the connection stays
checked out of the client's pool for good (issue 22). LangChain's ``astream_events``
cancels its run task itself when the cancellation reaches it; before the fix
``cancel_on_close`` also cancelled that task directly, so the two met.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from lcelkit.server.streams import cancel_on_close


def _backend_call(closed: list[str]) -> asyncio.Task[None]:
    async def call() -> None:
        try:
            await asyncio.sleep(30)  # the model's answer, streaming
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # like httpcore: the connection lock, then the socket
            await asyncio.sleep(0)
            closed.append("connection closed")
            raise

    return asyncio.create_task(call())


async def _events(closed: list[str]) -> AsyncIterator[str]:
    """LangChain's astream_events in small: the run in a task, cancelled again on cancel."""
    run = _backend_call(closed)
    try:
        yield "first event"
        # The stream waits for its next event through another task (a queue reader).
        await asyncio.create_task(asyncio.sleep(30))
        yield "never"
    except asyncio.CancelledError:
        run.cancel()
        raise
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)


async def test_a_client_that_hangs_up_lets_the_backend_call_close_its_connection():
    closed: list[str] = []
    stream = cancel_on_close(_events(closed))
    assert await anext(stream) == "first event"
    await asyncio.sleep(0.01)  # the producer now waits for the next event
    await stream.aclose()  # the client hung up
    assert closed == ["connection closed"]


@pytest.mark.parametrize("wait", ["await", "gather"])
async def test_the_run_a_stream_log_waits_for_is_cancelled_once(wait):
    """astream_log's clean-up waits for its run task to end without cancelling it."""
    closed: list[str] = []

    async def log() -> AsyncIterator[str]:
        run = _backend_call(closed)
        try:
            yield "first patch"
            await asyncio.sleep(30)
        finally:  # waits to the end of the answer
            if wait == "await":  # as langchain_core's astream_log does
                with contextlib.suppress(asyncio.CancelledError):
                    await run
            else:
                await asyncio.gather(run, return_exceptions=True)

    stream = cancel_on_close(log())
    assert await anext(stream) == "first patch"
    started = asyncio.get_running_loop().time()
    await stream.aclose()
    assert closed == ["connection closed"]
    assert asyncio.get_running_loop().time() - started < 5  # not the whole answer (30 s)


async def test_a_generator_closed_by_the_garbage_collector_is_never_cancelled():
    """The loop closes a dropped generator in a task of whatever stream runs then; that
    task is clean-up and must run, not be cancelled with the stream."""
    closed: list[str] = []

    async def held() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            await asyncio.sleep(0)
            closed.append("closed")

    async def source() -> AsyncIterator[str]:
        gen = held()
        await anext(gen)
        # What the finalizer hook does with a generator it collects: a task of aclose().
        asyncio.get_running_loop().create_task(gen.aclose())
        del gen
        yield "first"
        await asyncio.sleep(30)

    stream = cancel_on_close(source())
    assert await anext(stream) == "first"
    await stream.aclose()
    await asyncio.sleep(0.05)
    assert closed == ["closed"]
