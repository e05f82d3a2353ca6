"""The chat memory's database: engine, tables, and first-time creation that tolerates races.

Two tables: ``lcelkit_memory_sessions`` (one row per session: its running summary and
turn counter) and ``lcelkit_memory_turns`` (one row per recent turn). SQLite gets WAL,
``synchronous=NORMAL`` and a busy timeout (set first, so even switching to WAL waits
for another connection instead of failing). Creating the tables is idempotent and
safe when two processes (server workers, a chat and a server) open a fresh home at
once: a "table already exists" from the loser of that race is retried.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from lcelkit.errors import StoreError

__all__ = ["SessionLocks", "create_all_tolerant", "open_memory_db", "upsert_session"]

logger = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """busy_timeout first, then WAL + synchronous=NORMAL (durable, far fewer fsyncs)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def create_all_tolerant(meta: Any, engine: Any, attempts: int = 5) -> None:
    """``meta.create_all(engine)``, retried when another process created a table meanwhile."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(attempts):
        try:
            meta.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            text = str(exc).lower()
            racing = "already exists" in text or "database is locked" in text
            if not racing or attempt == attempts - 1:
                raise
            logger.debug("schema creation raced another process; retrying: %s", exc)
            time.sleep(0.05 * (attempt + 1))


def open_memory_db(url: str) -> tuple[Any, Any, Any]:
    """(engine, sessions table, turns table) for ``url``; StoreError when it cannot open."""
    from sqlalchemy import (
        Column,
        Float,
        Index,
        Integer,
        MetaData,
        String,
        Table,
        Text,
        create_engine,
    )
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        sqlite = parsed.get_backend_name() == "sqlite"
        in_memory = parsed.database in (None, "", ":memory:")
        if sqlite and not in_memory:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if sqlite:
            kwargs["connect_args"] = {"check_same_thread": False}
            if in_memory:
                from sqlalchemy.pool import StaticPool

                kwargs["poolclass"] = StaticPool  # one shared in-memory database
        engine = create_engine(url, **kwargs)
        if sqlite:
            from sqlalchemy import event

            event.listen(engine, "connect", _sqlite_pragmas)
        meta = MetaData()
        sessions = Table(
            "lcelkit_memory_sessions",
            meta,
            Column("session_id", String(255), primary_key=True),
            Column("summary", Text, nullable=False, default=""),
            Column("total_turns", Integer, nullable=False, default=0),
            Column("updated_at", Float, nullable=False),
        )
        turns = Table(
            "lcelkit_memory_turns",
            meta,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("session_id", String(255), nullable=False),
            Column("seq", Integer, nullable=False),
            Column("messages", Text, nullable=False),
            Column("tokens", Integer, nullable=False),
            Index("ix_lcelkit_memory_turns_session", "session_id", "seq"),
        )
        from lcelkit.loaders.claims import schema_lock

        with schema_lock(url):  # PostgreSQL: one creator at a time across processes
            create_all_tolerant(meta, engine)
    except Exception as exc:
        raise StoreError(
            f"cannot open the chat memory database {url}: {exc.__class__.__name__}: {exc}",
            hint="check agent.memory_url (LCELKIT_AGENT__MEMORY_URL) or that LCELKIT_HOME "
            "is writable",
        ) from None
    return engine, sessions, turns


def upsert_session(conn: Any, sessions: Any, session_id: str, now: float) -> None:
    """Create the session's row unless it exists, then count one more turn, atomically.

    ``INSERT ... ON CONFLICT DO NOTHING`` (SQLite, PostgreSQL) or an insert in a
    savepoint that may fail (others), then ``total_turns = total_turns + 1`` computed
    by the database: two first turns of one session never collide, and no increment
    is lost. On SQLite the insert, the first statement of the transaction, takes the
    write lock, so the rest of the transaction reads a settled state.
    """
    from sqlalchemy import insert, update
    from sqlalchemy.exc import IntegrityError

    values = {"session_id": session_id, "summary": "", "total_turns": 0, "updated_at": now}
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        import importlib

        module = importlib.import_module(f"sqlalchemy.dialects.{dialect}")
        conn.execute(
            module.insert(sessions)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["session_id"])
        )
    else:
        try:
            with conn.begin_nested():
                conn.execute(insert(sessions).values(**values))
        except IntegrityError:
            pass
    conn.execute(
        update(sessions)
        .where(sessions.c.session_id == session_id)
        .values(total_turns=sessions.c.total_turns + 1, updated_at=now)
    )


class SessionLocks:
    """One lock per session, taken the same way by sync and async code.

    Each session has a :class:`threading.Lock`. :meth:`hold` blocks on it (sync
    callers, in their own thread); :meth:`ahold` polls it from the event loop with a
    short back-off, so it blocks no thread and a cancelled waiter leaves nothing held.
    The database stays correct without the lock (upserts, atomic counters); the lock
    keeps one session's turns in order and summarized once.

    Given a PostgreSQL ``url``, the lock also holds across processes and hosts (server
    workers behind one address): after the thread lock, a PostgreSQL advisory lock on
    the session id, taken on a connection of its own and released with it (a killed
    process's locks go with its connections).
    """

    def __init__(self, url: str | None = None) -> None:
        import threading

        self._locks: dict[str, Any] = {}
        self._guard = threading.Lock()
        self._pg: Any = None
        if url:
            from sqlalchemy import create_engine
            from sqlalchemy.engine import make_url
            from sqlalchemy.pool import NullPool

            if make_url(url).get_backend_name() == "postgresql":
                self._pg = create_engine(url, poolclass=NullPool)

    @property
    def across_processes(self) -> bool:
        """True when the locks hold across processes and hosts (PostgreSQL)."""
        return self._pg is not None

    def _pg_connect(self) -> Any:
        conn = self._pg.connect()
        conn.exec_driver_sql("SET application_name = 'lcelkit-session-lock'")
        conn.commit()
        return conn

    @staticmethod
    def _pg_try(conn: Any, key: str) -> bool:
        got = conn.exec_driver_sql(
            "SELECT pg_try_advisory_lock(hashtextextended(%(k)s, 0))", {"k": key}
        ).scalar()
        conn.commit()
        return bool(got)

    @staticmethod
    def _pg_release(conn: Any, key: str) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            conn.exec_driver_sql(
                "SELECT pg_advisory_unlock(hashtextextended(%(k)s, 0))", {"k": key}
            )
            conn.commit()
        conn.close()

    def _lock(self, key: str) -> Any:
        import threading

        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def hold(self, key: str) -> Any:
        """Context manager: the lock of ``key``, waited for in this thread."""
        import contextlib

        lock = self._lock(key)
        if self._pg is None:
            return lock

        @contextlib.contextmanager
        def held() -> Any:
            with lock:
                conn = self._pg_connect()
                try:
                    conn.exec_driver_sql(
                        "SELECT pg_advisory_lock(hashtextextended(%(k)s, 0))", {"k": key}
                    )
                    conn.commit()
                    yield
                finally:
                    self._pg_release(conn, key)

        return held()

    def ahold(self, key: str) -> Any:
        """Async context manager: the same lock, waited for without blocking the loop."""
        import asyncio
        import contextlib

        lock = self._lock(key)

        @contextlib.asynccontextmanager
        async def held() -> Any:
            delay = 0.001
            while not lock.acquire(blocking=False):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.02)
            conn = None
            try:
                if self._pg is not None:
                    conn = await asyncio.to_thread(self._pg_connect)
                    delay = 0.002
                    while not await asyncio.to_thread(self._pg_try, conn, key):
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 0.05)
                yield
            finally:
                if conn is not None:
                    await asyncio.to_thread(self._pg_release, conn, key)
                lock.release()

        return held()
