"""The exact search's vector copy kept on disk beside an embedded Chroma store, so that a
new process (a one-shot ``lcelkit ask``) reads one file instead of every vector.

``chains.dense_exact`` ranks queries on an in-process copy of a collection's vectors.
Building it reads every vector from Chroma: 0.9-1.1 s at 20,670 chunks (384-d) on the
project's machine, paid by every new process's first query. The copy is saved here once
it is in step with a write stamp (``<persist dir>/lcelkit-vectors/<collection id>.npz``:
the vectors as stored, float32, their float64 norms, the chunk ids and the stamp;
written to a temporary file and renamed). A later process whose collection carries the
same stamp loads it instead of reading Chroma; with another stamp it starts from it and
reads only the chunks written since (the ids Chroma holds now decide what is live). A
file that cannot be read is ignored (the copy is rebuilt from Chroma); one that cannot be
written is only logged. A Chroma server's clients keep no file (``persist dir`` is the
server's): long-lived ``serve`` workers read the vectors once.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["copy_path", "drop_other_copies", "load_copy", "persist_folder", "save_copy"]

logger = logging.getLogger(__name__)

FOLDER = "lcelkit-vectors"


def persist_folder(client: Any) -> Path | None:
    """The folder an embedded, persistent Chroma client keeps its store in, or None (a
    server's client, an in-memory one, another client type)."""
    try:
        settings = client.get_settings()
        if not settings.is_persistent or not settings.persist_directory:
            return None
        return Path(settings.persist_directory)
    except Exception:  # another client type
        return None


def copy_path(client: Any, collection: Any) -> Path | None:
    """Where the copy of ``collection`` is kept, or None (not an embedded, persistent
    client)."""
    folder = persist_folder(client)
    return None if folder is None else folder / FOLDER / f"{collection.id}.npz"


def load_copy(path: Path) -> tuple[Any, list[str], Any, Any] | None:
    """``(stamp, ids, vectors, norms)`` from ``path``, or None when there is no usable
    file."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            stamp = str(data["stamp"])
            ids = data["ids"].tolist()
            mat = np.ascontiguousarray(data["mat"], dtype=np.float32)
            norms = np.ascontiguousarray(data["norms"], dtype=np.float64)
    except FileNotFoundError:
        return None
    except Exception as exc:
        logger.info("vector copy %s unreadable (%s): reading the store", path, exc)
        return None
    if mat.ndim != 2 or len(ids) != mat.shape[0] or norms.shape != (len(ids),):
        logger.info("vector copy %s is inconsistent: reading the store", path)
        return None
    return stamp, ids, mat, norms


def save_copy(path: Path, stamp: Any, ids: list[str], mat: Any, norms: Any) -> None:
    """Write the copy as of ``stamp`` (atomically); failures are logged, never raised."""
    import numpy as np

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".npz", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh, stamp=np.array(str(stamp)), ids=np.array(ids, dtype=str),
                mat=mat[: len(ids)], norms=norms[: len(ids)],
            )  # fmt: skip
        os.replace(tmp, path)
        tmp = None
    except Exception as exc:
        logger.info("could not keep the vector copy in %s: %s", path.parent, exc)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def drop_other_copies(path: Path, client: Any) -> None:
    """Delete the kept copies of collections the store no longer has (``ingest
    --rebuild`` makes a new collection): each is the size of its vectors."""
    try:
        live = {f"{c.id}.npz" for c in client.list_collections()}
        for other in path.parent.glob("*.npz"):
            if other.name not in live:
                other.unlink(missing_ok=True)
    except Exception as exc:
        logger.debug("old vector copies not checked: %s", exc)
