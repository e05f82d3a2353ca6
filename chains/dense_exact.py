"""Exact vector search: the nearest chunks by cosine over the collection's own vectors,
ranked with numpy, instead of Chroma's approximate HNSW search.

Why: HNSW is approximate, and which near chunks it misses depends on the order its
graph was built in, so an embedded process and a team's Chroma server (written by other
workers, in another order) returned different neighbours for some queries, and hybrid
top 10s that differed (docs/DESIGN.md, "Store"). Ranked exactly, every store holding the
same vectors returns the same neighbours, in (distance, chunk id) order.

* **Unfiltered** (:func:`exact_nearest` without ``where``): an in-process copy of every
  vector of the collection (:class:`VectorMirror`, float32, unit length; 30 MB at 20,000
  x 384), one matrix product per query. It is used while the collection holds at most
  :data:`MIRROR_MAX` chunks and carries a write stamp (``loaders.mirrored.STORE_STAMP_KEY``:
  every lcelkit write run sets a new one when it ends). Each query reads the stamp as
  stored now (one small read; a round trip on a server); when it changed, the copy is
  brought in step chunk id by chunk id (the ids Chroma holds now, the missing vectors
  read, the gone ones dropped) before ranking: the first query after an ingest ends
  sees every chunk it wrote. Without a stamp (a collection written by other code) or
  above the size, ``None``: Chroma's HNSW query runs.
* **Filtered**: the ids of the chunks that pass come from Chroma
  (``get(where=..., include=[])``, the metadata filter its query applies, always
  current); when at most :data:`EXACT_FILTER_MAX` pass, their vectors (from the copy,
  or read once and kept) are ranked here. Chroma's filtered query searched its graph
  among them, which with the wide graph took longer than the filter itself.

Vectors are kept by chunk id for the collection's lifetime (a collection rebuilt under
the same name is another collection, with another id): a chunk id names one vector, as
lcelkit's ids are content hashes of source, page and text, and a collection has one
embedder. A vector written again under the same id by other code is not seen.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["EXACT_FILTER_MAX", "MIRROR_MAX", "VectorMirror", "exact_nearest", "mirror_of"]

logger = logging.getLogger(__name__)

EXACT_FILTER_MAX = 4096  # chunks passing a filter up to which they are ranked here
MIRROR_MAX = 50_000  # chunks up to which the whole collection is copied (77 MB at 384-d)
_STAMP_KEY = "lcelkit:write_stamp"  # loaders.mirrored.STORE_STAMP_KEY (no import: layering)
_READ_BATCH = 5000


class _Stale(Exception):
    """The chunks changed while being read: the caller falls back to Chroma."""


class VectorMirror:
    """Unit-length float32 vectors of one collection by chunk id; ``complete`` when it
    holds every chunk of the collection as of write stamp ``stamp``.
    Thread-safe (a query ranks on the matrix it read under the lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stamp: Any = None
        self.complete = False
        self.ids: list[str] = []
        self._row: dict[str, int] = {}
        self._mat: Any = None  # (capacity, dim) float32; rows [0, len(ids)) are live

    def __len__(self) -> int:
        return len(self.ids)

    def _reset(self, stamp: Any) -> None:
        self.stamp, self.complete = stamp, False
        self.ids, self._row, self._mat = [], {}, None

    def _append(self, ids: list[str], mat: Any) -> None:
        import numpy as np

        n, total = len(self.ids), len(self.ids) + len(ids)
        if self._mat is None or self._mat.shape[1] != mat.shape[1]:
            self._mat = np.empty((max(total, 1024), mat.shape[1]), dtype=np.float32)
            self.ids, self._row, n = [], {}, 0
            total = len(ids)
        elif total > self._mat.shape[0]:
            grown = np.empty((max(total, 2 * self._mat.shape[0]), mat.shape[1]), np.float32)
            grown[:n] = self._mat[:n]
            self._mat = grown
        self._mat[n:total] = mat
        for j, cid in enumerate(ids):
            self._row[cid] = n + j
        self.ids.extend(ids)

    def matrix(self) -> tuple[list[str], Any]:
        """The live ids and their vectors (a view: rows are only ever appended to it
        until the next sync, which builds a new matrix)."""
        with self._lock:
            n = len(self.ids)
            return self.ids[:n], (self._mat[:n] if self._mat is not None else None)

    def vectors(self, collection: Any, ids: list[str]) -> Any:
        """``(len(ids), dim)`` vectors of ``ids`` in order; those not held are read from
        ``collection`` and kept. Raises :class:`_Stale` when one has none (deleted)."""
        import numpy as np

        with self._lock:
            if len(self.ids) > 2 * MIRROR_MAX:  # filtered reads piling up: start over
                self._reset(None)
            missing = [cid for cid in ids if cid not in self._row]
        if missing:
            got_ids, mat = _read_vectors(collection, missing)
            if len(got_ids) != len(set(missing)):
                raise _Stale
            with self._lock:
                fresh = [(c, r) for c, r in zip(got_ids, mat, strict=True) if c not in self._row]
                if fresh:
                    self._append([c for c, _ in fresh], np.stack([r for _, r in fresh]))
        with self._lock:
            if any(cid not in self._row for cid in ids):
                raise _Stale  # another thread started over meanwhile
            return self._mat[[self._row[cid] for cid in ids]]

    def sync(self, collection: Any, stamp: Any) -> bool:
        """Hold every chunk of ``collection`` as of ``stamp`` (read before calling);
        False when it holds more than :data:`MIRROR_MAX` chunks."""
        import numpy as np

        with self._lock:
            if self.complete and stamp == self.stamp:
                return True
        now = list(collection.get(include=[])["ids"])
        if len(now) > MIRROR_MAX:
            return False
        with self._lock:
            have = dict(self._row) if self._mat is not None else {}
            old_mat = self._mat
        missing = [cid for cid in now if cid not in have]
        got: dict[str, Any] = {}
        for start in range(0, len(missing), _READ_BATCH):
            got_ids, mat = _read_vectors(collection, missing[start : start + _READ_BATCH])
            got.update(zip(got_ids, mat, strict=True))
        live = [cid for cid in now if cid in have or cid in got]  # deleted since: left out
        dim = next(iter(got.values())).shape[0] if got else (old_mat.shape[1] if live else 0)
        mat = np.empty((max(len(live), 1), dim), dtype=np.float32)
        for j, cid in enumerate(live):
            mat[j] = got[cid] if cid in got else old_mat[have[cid]]
        with self._lock:
            self.stamp, self.complete = stamp, True
            self.ids, self._mat = live, mat
            self._row = {cid: j for j, cid in enumerate(live)}
        logger.debug("vector copy of %s in step: %d chunks", collection.name, len(live))
        return True


def _read_vectors(collection: Any, ids: list[str]) -> tuple[list[str], Any]:
    """The stored vectors of ``ids`` (those that still exist), normalised to unit length."""
    import numpy as np

    got = collection.get(ids=ids, include=["embeddings"])
    got_ids = list(got.get("ids") or [])
    embs = got.get("embeddings")
    if not got_ids or embs is None:
        return [], np.zeros((0, 0), dtype=np.float32)
    mat = np.asarray(embs, dtype=np.float32)
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    return got_ids, mat / np.where(norms > 0, norms, 1.0)


_MIRRORS: dict[str, VectorMirror] = {}
_MIRRORS_LOCK = threading.Lock()


def mirror_of(collection: Any) -> VectorMirror:
    """The process-wide :class:`VectorMirror` of a Chroma collection (by its id)."""
    key = str(collection.id)
    with _MIRRORS_LOCK:
        mirror = _MIRRORS.get(key)
        if mirror is None:
            mirror = _MIRRORS[key] = VectorMirror()
        return mirror


def _fresh_stamp(client: Any, collection: Any) -> Any:
    """The collection's write stamp as stored now (the collection object's metadata is
    the copy read when it was opened)."""
    fresh = client.get_collection(collection.name, embedding_function=None)
    if str(fresh.id) != str(collection.id):  # rebuilt under us: never mix two collections
        raise _Stale
    return (fresh.metadata or {}).get(_STAMP_KEY)


def exact_nearest(
    client: Any, collection: Any, vector: list[float], n: int, where: dict[str, Any] | None
) -> tuple[list[str], list[float], Any] | None:
    """The nearest ``n`` chunks (passing ``where``), ranked exactly: ``(ids, cosine
    distances, unit vectors)``, nearest first, ties by chunk id. ``None`` when this
    cannot be done here (see the module doc): the caller runs Chroma's query."""
    import numpy as np

    try:
        mirror = mirror_of(collection)
        if where:
            ids = list(collection.get(where=where, include=[])["ids"])
            if len(ids) > EXACT_FILTER_MAX:
                return None
            if not ids:
                return [], [], np.zeros((0, len(vector)), dtype=np.float32)
            mat = mirror.vectors(collection, ids)
        else:
            stamp = _fresh_stamp(client, collection)
            if stamp is None or not mirror.sync(collection, stamp):
                return None
            ids, mat = mirror.matrix()
            if not ids:
                return [], [], np.zeros((0, len(vector)), dtype=np.float32)
    except Exception as exc:  # a bad filter, a server gone, chunks deleted meanwhile
        logger.debug("exact search not possible, Chroma searches: %s", exc)
        return None
    if mat.shape[1] != len(vector):
        return None  # another embedder's vectors: Chroma's query raises the mismatch
    query = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(query))
    # einsum, not a BLAS product (``mat @ query``): BLAS rounds a row's dot product
    # differently by its position in the matrix, so two stores holding the rows in other
    # orders would order near-equal distances differently
    sims = np.einsum("ij,j->i", mat, query / norm if norm > 0 else query)
    dist = 1.0 - sims.astype(np.float64)
    take = min(n, len(ids))
    near = np.argpartition(dist, take - 1)[:take] if take < len(ids) else np.arange(len(ids))
    near = np.nonzero(dist <= dist[near].max())[0]  # every chunk tied at the cut: by id
    order = sorted(near.tolist(), key=lambda i: (float(dist[i]), ids[i]))[:take]
    return [ids[i] for i in order], [float(dist[i]) for i in order], mat[order]
