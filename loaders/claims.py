"""Ingest by several workers at once: each file is claimed by one worker, with a lease.

A claim is a row of ``lcelkit_claims`` (namespace, path, worker, expires_at) in the
record manager's database. A worker takes a file with one statement, an upsert
that succeeds only when nobody holds the file or the holder's lease has run out, so
two workers never index one file at the same time. While it holds claims, a
heartbeat thread extends their leases; a worker killed (even by ``kill -9``) stops
extending them, and once ``lease`` seconds have passed another worker takes the file
over and finishes it. Indexing is idempotent (content-hash ids, the record manager,
the manifest written last), so a file taken over halfway ends as one clean run would
leave it. Times come from the database's clock on PostgreSQL (hosts may disagree),
from this host's on SQLite (one host).

:func:`schema_lock` serialises first-time table creation across processes and hosts
on PostgreSQL (an advisory lock), where ``CREATE TABLE IF NOT EXISTS`` run by two
sessions at once can still fail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["SCHEMA_LOCK_KEY", "FileClaims", "schema_lock", "worker_name"]

logger = logging.getLogger(__name__)

SCHEMA_LOCK_KEY = 7_220_020  # the advisory lock lcelkit holds while creating tables


def worker_name() -> str:
    """``host:pid:random``: unique per ingest process, readable in progress lines."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


@contextlib.contextmanager
def schema_lock(db_url: str) -> Iterator[None]:
    """Hold lcelkit's schema lock on a PostgreSQL ``db_url`` (no-op on other databases)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    if make_url(db_url).get_backend_name() != "postgresql":
        yield
        return
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({SCHEMA_LOCK_KEY})")
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({SCHEMA_LOCK_KEY})")
                conn.commit()
    finally:
        engine.dispose()


class FileClaims:
    """The claims of one worker (``worker``) on the files of one ``namespace``."""

    def __init__(
        self,
        namespace: str,
        db_url: str,
        *,
        lease: float = 60.0,
        worker: str | None = None,
    ) -> None:
        from sqlalchemy import Column, Float, MetaData, String, Table, create_engine

        self.namespace = namespace
        self.lease = float(lease)
        self.worker = worker or worker_name()
        self._engine = create_engine(db_url, pool_pre_ping=True)
        self._postgres = self._engine.dialect.name == "postgresql"
        meta = MetaData()
        self._table = Table(
            "lcelkit_claims",
            meta,
            Column("namespace", String, primary_key=True),
            Column("path", String, primary_key=True),
            Column("worker", String, nullable=False),
            Column("expires_at", Float, nullable=False),
        )
        with schema_lock(db_url):
            meta.create_all(self._engine)
        self._held: set[str] = set()
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _now(self, conn: Any) -> float:
        if self._postgres:
            return float(
                conn.exec_driver_sql("SELECT extract(epoch FROM clock_timestamp())").scalar()
            )
        return time.time()

    def claim(self, path: str) -> bool:
        """Take ``path`` unless another worker's lease on it is still running."""
        import importlib

        t = self._table
        dialect = importlib.import_module(f"sqlalchemy.dialects.{self._engine.dialect.name}")
        with self._engine.begin() as conn:
            now = self._now(conn)
            stmt = dialect.insert(t).values(
                namespace=self.namespace,
                path=path,
                worker=self.worker,
                expires_at=now + self.lease,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.namespace, t.c.path],
                set_={"worker": self.worker, "expires_at": now + self.lease},
                where=(t.c.expires_at < now) | (t.c.worker == self.worker),
            )
            taken = conn.execute(stmt.returning(t.c.worker)).first() is not None
        if taken:
            with self._guard:
                self._held.add(path)
            self._start_heartbeat()
        return taken

    def holder(self, path: str) -> tuple[str, float] | None:
        """(worker, seconds left on its lease) of ``path``, or None when unclaimed."""
        from sqlalchemy import select

        t = self._table
        with self._engine.connect() as conn:
            row = conn.execute(
                select(t.c.worker, t.c.expires_at).where(
                    t.c.namespace == self.namespace, t.c.path == path
                )
            ).first()
            now = self._now(conn)
        return (row.worker, row.expires_at - now) if row else None

    def release(self, paths: Iterable[str]) -> None:
        """Give up this worker's claims on ``paths`` (done, or failed)."""
        from sqlalchemy import delete

        paths = [p for p in paths if p in self._held]
        if not paths:
            return
        t = self._table
        with self._engine.begin() as conn:
            conn.execute(
                delete(t).where(
                    t.c.namespace == self.namespace,
                    t.c.worker == self.worker,
                    t.c.path.in_(paths),
                )
            )
        with self._guard:
            self._held.difference_update(paths)

    def renew(self) -> int:
        """Extend the leases of every claim this worker holds; returns how many."""
        from sqlalchemy import update

        t = self._table
        with self._engine.begin() as conn:
            now = self._now(conn)
            return conn.execute(
                update(t)
                .where(t.c.namespace == self.namespace, t.c.worker == self.worker)
                .values(expires_at=now + self.lease)
            ).rowcount

    def _start_heartbeat(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(max(0.2, self.lease / 3)):
                try:
                    self.renew()
                except Exception as exc:  # the lease may lapse; another worker takes over
                    logger.warning("could not renew ingest claims: %s", exc)

        self._thread = threading.Thread(target=beat, name="lcelkit-claims", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the heartbeat, release every claim still held, close the connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with contextlib.suppress(Exception):
            self.release(list(self._held))
        self._engine.dispose()
