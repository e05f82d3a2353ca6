"""A collection's write stamp as stored now, without asking Chroma when it cannot have
changed.

The exact search (``chains.dense_exact``) reads the stamp before every query, so that the
first query after an ingest sees everything it wrote. Asking Chroma costs ~0.25 ms
embedded (its Rust bindings hold the GIL for a SQLite read through their own runtime),
a third of an unfiltered similarity query at 20,000 chunks.

An embedded store keeps the stamp in its SQLite file, ``<persist dir>/chroma.sqlite3``
(Chroma runs it with a rollback journal; a ``-wal`` file is watched too, should it use
WAL). Every committed write changes that file, and the kernel sets the file's mtime as
the write begins. So the stamp read after checking the files' status (device, inode,
size, mtime, ctime) stays the stamp as long as that status is unchanged, **provided** the
files had last changed well before (:data:`SETTLE_NS`) the status was taken: a write
that began after it changes the mtime to a later time. This is git's rule for "racily
clean" index entries: a file changed within the clock's granularity of the check is
checked again, never trusted. A store written within the last two seconds is read from
Chroma every time, as before; a Chroma server's clients always ask the server.

What the rule needs: a local filesystem that sets mtime on write, with timestamps no
coarser than :data:`SETTLE_NS` (2 s: FAT's; ext4 and most others keep nanoseconds), not
a network one with cached attributes (SQLite's own locking needs a local filesystem
too), and a wall clock that is not stepped back by more than :data:`SETTLE_NS`.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from lcelkit.chains.dense_disk import persist_folder
from lcelkit.errors import StoreError

__all__ = ["SETTLE_NS", "StaleCollection", "fresh_stamp"]

_STAMP_KEY = "lcelkit:write_stamp"  # loaders.mirrored.STORE_STAMP_KEY (no import: layering)
SETTLE_NS = 2_000_000_000  # files changed within this of the check are never trusted
_FILES = ("chroma.sqlite3", "chroma.sqlite3-wal")

_SEEN: dict[tuple[str, str], tuple[tuple, Any]] = {}  # (folder, collection id) -> (files, stamp)
_SEEN_LOCK = threading.Lock()


class StaleCollection(StoreError):
    """The collection was rebuilt under the same name since it was opened."""


def _status(folder: Path) -> tuple | None:
    """The watched files' status, or None when the store's file is not there."""
    out = []
    for name in _FILES:
        try:
            st = os.stat(folder / name)
        except FileNotFoundError:
            out.append(None)
            continue
        except OSError:
            return None
        out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out) if out[0] is not None else None


def _settled(status: tuple, checked_ns: int) -> bool:
    return all(s is None or max(s[3], s[4]) < checked_ns - SETTLE_NS for s in status)


def _read(client: Any, collection: Any) -> Any:
    fresh = client.get_collection(collection.name, embedding_function=None)
    if str(fresh.id) != str(collection.id):  # rebuilt under us: never mix two collections
        raise StaleCollection(
            f"collection {collection.name!r} was rebuilt since it was opened",
            hint="open the store again",
        )
    return (fresh.metadata or {}).get(_STAMP_KEY)


def fresh_stamp(client: Any, collection: Any) -> Any:
    """The write stamp of ``collection`` as stored now (None: not stamped). Raises
    :class:`StaleCollection` when a collection of that name with another id replaced
    it. Embedded, the last stamp read is returned while the store's files are unchanged
    and had settled before that read (module doc); otherwise Chroma is asked."""
    folder = persist_folder(client)
    if folder is None:  # a server's client, or an in-memory one: nothing to watch
        return _read(client, collection)
    key = (str(folder), str(collection.id))
    checked = time.time_ns()
    status = _status(folder)
    if status is not None:
        with _SEEN_LOCK:
            seen = _SEEN.get(key)
        if seen is not None and seen[0] == status:
            return seen[1]
    stamp = _read(client, collection)
    if status is not None and _settled(status, checked):
        with _SEEN_LOCK:
            _SEEN[key] = (status, stamp)
    return stamp
