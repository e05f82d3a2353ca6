"""The bookkeeping of incremental indexing, in one SQL database: LangChain's record
manager (which chunk ids each file produced) and lcelkit's file manifest (what each
file looked like when it was indexed). Any SQLAlchemy URL: SQLite under ``home`` by
default, PostgreSQL for a team (``database.url``), where first-time table creation
is serialised across processes by :func:`lcelkit.loaders.claims.schema_lock`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from langchain_core.indexing import RecordManager

from lcelkit.loaders.claims import schema_lock

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["FileManifest", "make_record_manager"]


def make_record_manager(namespace: str, db_url: str) -> RecordManager:
    """LangChain's SQL record manager (schema created if missing).

    It lives in langchain-classic: langchain-core ships only the interface and an
    in-memory implementation, and a persistent one is what incremental indexing needs.
    """
    from langchain_classic.indexes import SQLRecordManager

    manager = SQLRecordManager(namespace, db_url=db_url)
    with schema_lock(db_url):
        manager.create_schema()
    return manager


class FileManifest:
    """What each indexed file looked like when it was last indexed (SQL table)."""

    def __init__(self, namespace: str, db_url: str) -> None:
        from sqlalchemy import BigInteger, Column, MetaData, String, Table, create_engine

        self.namespace = namespace
        self._engine: Engine = create_engine(db_url)
        meta = MetaData()
        self._table = Table(
            "lcelkit_files",
            meta,
            Column("namespace", String, primary_key=True),
            Column("path", String, primary_key=True),
            Column("source", String, nullable=False),
            Column("digest", String, nullable=False),
            Column("size", BigInteger, nullable=False),
            Column("mtime_ns", BigInteger, nullable=False),
            Column("chunks", BigInteger, nullable=False),
            Column("indexed_at", BigInteger, nullable=False),
        )
        with schema_lock(db_url):
            meta.create_all(self._engine)

    def get(self, path: str) -> dict[str, Any] | None:
        """The manifest row of ``path`` (absolute), or None."""
        from sqlalchemy import select

        t = self._table
        with self._engine.connect() as conn:
            row = conn.execute(
                select(t).where(t.c.namespace == self.namespace, t.c.path == path)
            ).first()
        return dict(row._mapping) if row else None

    def put(self, rows: Iterable[dict[str, Any]]) -> None:
        """Insert or replace rows (one transaction)."""
        from sqlalchemy import delete

        t = self._table
        rows = [{**r, "namespace": self.namespace, "indexed_at": int(time.time())} for r in rows]
        if not rows:
            return
        with self._engine.begin() as conn:
            for r in rows:
                conn.execute(
                    delete(t).where(t.c.namespace == self.namespace, t.c.path == r["path"])
                )
            conn.execute(t.insert(), rows)

    def remove(self, path: str) -> None:
        """Forget ``path``."""
        from sqlalchemy import delete

        t = self._table
        with self._engine.begin() as conn:
            conn.execute(delete(t).where(t.c.namespace == self.namespace, t.c.path == path))

    def paths(self) -> list[str]:
        """Every file path this namespace knows."""
        from sqlalchemy import select

        t = self._table
        with self._engine.connect() as conn:
            return [
                r[0] for r in conn.execute(select(t.c.path).where(t.c.namespace == self.namespace))
            ]

    def clear(self) -> None:
        """Forget every file of this namespace."""
        from sqlalchemy import delete

        t = self._table
        with self._engine.begin() as conn:
            conn.execute(delete(t).where(t.c.namespace == self.namespace))
