"""Exact vector search: the nearest chunks by cosine over the collection's own vectors,
ranked with numpy, instead of Chroma's approximate HNSW search.

Why: HNSW is approximate, and which near chunks it misses depends on the order its
graph was built in, so an embedded process and a team's Chroma server (written by other
workers, in another order) returned different neighbours for some queries, and hybrid
top 10s that differed (docs/DESIGN.md, "Store"). Ranked exactly, every store holding the
same vectors returns the same neighbours, in (distance, chunk id) order.

* **Unfiltered** (:func:`exact_nearest` without ``where``): an in-process copy of every
  vector of the collection (:class:`VectorMirror`, float32; 30 MB at 20,000 x 384), one
  pass over it per query, the candidates ordered by their float64 cosine. It is used
  while the collection holds at most :data:`MIRROR_MAX` chunks and carries a write
  stamp (``loaders.mirrored.STORE_STAMP_KEY``: every lcelkit write run sets a new one
  when it ends). Each query reads the stamp as stored now (``chains.store_stamp``: a
  round trip on a server; embedded, a look at the store file's status, and a read only
  when that changed); when it changed, the copy is brought in step chunk id by chunk id (the
  ids Chroma holds now, the missing vectors read, the gone ones dropped) before
  ranking: the first query after an ingest ends sees every chunk it wrote. Without a
  stamp (a collection written by other code) or above the size, ``None``: Chroma's
  HNSW query runs.
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
from pathlib import Path
from typing import Any

from lcelkit.chains.dense_disk import copy_path, drop_other_copies, load_copy, save_copy
from lcelkit.chains.pools import LazyPool
from lcelkit.chains.store_stamp import fresh_stamp

__all__ = [
    "EXACT_FILTER_MAX",
    "MIRROR_MAX",
    "VectorMirror",
    "cosine64",
    "exact_nearest",
    "inverse_norms",
    "mirror_of",
]

logger = logging.getLogger(__name__)

EXACT_FILTER_MAX = 4096  # chunks passing a filter up to which they are ranked here
MIRROR_MAX = 50_000  # chunks up to which the whole collection is copied (77 MB at 384-d)
_READ_BATCH = 5000


class _Stale(Exception):
    """The chunks changed while being read: the caller falls back to Chroma."""


class VectorMirror:
    """The stored vectors (float32) of one collection by chunk id, with their float64
    norms; ``complete`` when it holds every chunk of the collection as of write stamp
    ``stamp``. Thread-safe (a query ranks on the matrix it read under the lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stamp: Any = None
        self.complete = False
        self.ids: list[str] = []
        self._row: dict[str, int] = {}
        self._mat: Any = None  # (capacity, dim) float32; rows [0, len(ids)) are live
        self._norm: Any = None  # (capacity,) float64 norms of those rows
        self._inv: Any = None  # float32 1/norm of the live rows (0 for a zero row), lazily

    def __len__(self) -> int:
        return len(self.ids)

    def _reset(self, stamp: Any) -> None:
        self.stamp, self.complete = stamp, False
        self.ids, self._row, self._mat, self._norm, self._inv = [], {}, None, None, None

    def _append(self, ids: list[str], mat: Any, norm: Any) -> None:
        import numpy as np

        n, total = len(self.ids), len(self.ids) + len(ids)
        if self._mat is None or self._mat.shape[1] != mat.shape[1]:
            self._mat = np.empty((max(total, 1024), mat.shape[1]), dtype=np.float32)
            self._norm = np.empty(self._mat.shape[0], dtype=np.float64)
            self.ids, self._row, n = [], {}, 0
            total = len(ids)
        elif total > self._mat.shape[0]:
            size = max(total, 2 * self._mat.shape[0])
            grown = np.empty((size, mat.shape[1]), np.float32)
            grown[:n] = self._mat[:n]
            norms = np.empty(size, np.float64)
            norms[:n] = self._norm[:n]
            self._mat, self._norm = grown, norms
        self._mat[n:total] = mat
        self._norm[n:total] = norm
        self._inv = None
        for j, cid in enumerate(ids):
            self._row[cid] = n + j
        self.ids.extend(ids)

    def matrix(self) -> tuple[list[str], Any, Any, Any]:
        """The live ids, their vectors, norms and float32 inverse norms: views, not
        copies (rows, and ids, are only ever appended until the next sync, which builds
        new ones): the first ``len(vectors)`` ids are the rows' (the id list is not
        copied per query)."""
        with self._lock:
            n = len(self.ids)
            if self._mat is None:
                return [], None, None, None
            if self._inv is None or len(self._inv) != n:
                self._inv = inverse_norms(self._norm[:n])
            return self.ids, self._mat[:n], self._norm[:n], self._inv

    def vectors(self, collection: Any, ids: list[str]) -> tuple[Any, Any]:
        """``(len(ids), dim)`` vectors of ``ids`` in order and their norms; those not held
        are read from ``collection`` and kept. Raises :class:`_Stale` when one has none
        (deleted)."""

        with self._lock:
            if len(self.ids) > 2 * MIRROR_MAX:  # filtered reads piling up: start over
                self._reset(None)
            missing = [cid for cid in ids if cid not in self._row]
        if missing:
            got_ids, mat, norm = _read_vectors(collection, missing)
            if len(got_ids) != len(set(missing)):
                raise _Stale
            with self._lock:
                fresh = [j for j, c in enumerate(got_ids) if c not in self._row]
                if fresh:
                    self._append([got_ids[j] for j in fresh], mat[fresh], norm[fresh])
        with self._lock:
            if any(cid not in self._row for cid in ids):
                raise _Stale  # another thread started over meanwhile
            rows = [self._row[cid] for cid in ids]
            return self._mat[rows], self._norm[rows]

    def _complete(self, stamp: Any, ids: list[str], mat: Any, norms: Any) -> None:
        """Hold exactly ``ids`` (rows of ``mat``, ``norms``), complete as of ``stamp``."""
        with self._lock:
            self.stamp, self.complete = stamp, True
            self.ids, self._mat, self._norm, self._inv = ids, mat, norms, None
            self._row = {cid: j for j, cid in enumerate(ids)}

    def holds(self, stamp: Any) -> bool:
        """Whether every chunk of the collection as of ``stamp`` is held."""
        with self._lock:
            return self.complete and stamp == self.stamp

    def sync(
        self, collection: Any, stamp: Any, disk: Path | None = None, client: Any = None
    ) -> bool:
        """Hold every chunk of ``collection`` as of ``stamp`` (read before calling);
        False when it holds more than :data:`MIRROR_MAX` chunks. ``disk``: where the copy
        is kept between processes (``chains.dense_disk``), if anywhere."""
        import numpy as np

        with self._lock:
            if self.complete and stamp == self.stamp:
                return True
            empty = self._mat is None
        saved = load_copy(disk) if disk is not None and empty else None
        if saved is not None and saved[0] == str(stamp) and len(saved[1]) <= MIRROR_MAX:
            self._complete(stamp, *saved[1:])  # the copy as of this very stamp: nothing read
            return True
        now = list(collection.get(include=[])["ids"])
        if len(now) > MIRROR_MAX:
            return False
        with self._lock:
            have = dict(self._row) if self._mat is not None else {}
            old_mat, old_norm = self._mat, self._norm
        if saved is not None and not have:  # an older copy: read only what is new
            have = {cid: j for j, cid in enumerate(saved[1])}
            old_mat, old_norm = saved[2], saved[3]
        missing = [cid for cid in now if cid not in have]
        got: dict[str, tuple[Any, float]] = {}
        for start in range(0, len(missing), _READ_BATCH):
            got_ids, mat, norm = _read_vectors(collection, missing[start : start + _READ_BATCH])
            got.update(zip(got_ids, zip(mat, norm, strict=True), strict=True))
        live = [cid for cid in now if cid in have or cid in got]  # deleted since: left out
        dim = next(iter(got.values()))[0].shape[0] if got else (old_mat.shape[1] if live else 0)
        mat = np.empty((max(len(live), 1), dim), dtype=np.float32)
        norms = np.empty(max(len(live), 1), dtype=np.float64)
        for j, cid in enumerate(live):
            if cid in got:
                mat[j], norms[j] = got[cid]
            else:
                mat[j], norms[j] = old_mat[have[cid]], old_norm[have[cid]]
        self._complete(stamp, live, mat, norms)
        logger.debug("vector copy of %s in step: %d chunks", collection.name, len(live))
        if disk is not None and live:
            save_copy(disk, stamp, live, mat, norms)
            if client is not None:
                drop_other_copies(disk, client)
        return True


def _read_vectors(collection: Any, ids: list[str]) -> tuple[list[str], Any, Any]:
    """The stored vectors of ``ids`` (those that still exist) and their float64 norms."""
    import numpy as np

    got = collection.get(ids=ids, include=["embeddings"])
    got_ids = list(got.get("ids") or [])
    embs = got.get("embeddings")
    if not got_ids or embs is None:
        return [], np.zeros((0, 0), dtype=np.float32), np.zeros(0)
    mat = np.asarray(embs, dtype=np.float32)
    wide = mat.astype(np.float64)
    return got_ids, mat, np.sqrt(np.einsum("ij,ij->i", wide, wide))


def cosine64(rows: Any, norms: Any, vector: list[float]) -> Any:
    """Cosine similarity of each row to ``vector`` in float64 (``numpy.einsum``: the
    same value for a row wherever it sits in ``rows``); 0 for a zero row or query.
    ``norms``: the rows' float64 norms."""
    import numpy as np

    query = np.asarray(vector, dtype=np.float64)
    qnorm = float(np.sqrt(query @ query))
    if qnorm == 0.0:
        return np.zeros(len(rows))
    return _cosine_to_unit(rows, norms, query / qnorm)


def _cosine_to_unit(rows: Any, norms: Any, unit: Any) -> Any:
    """:func:`cosine64` for a query already scaled to unit length (float64)."""
    import numpy as np

    dots = np.einsum("ij,j->i", np.asarray(rows, dtype=np.float64), unit)
    return np.divide(dots, norms, out=np.zeros(len(rows)), where=norms > 0)


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


def exact_nearest(
    client: Any,
    collection: Any,
    vector: list[float],
    n: int,
    where: dict[str, Any] | None,
    *,
    split: bool = True,
) -> tuple[list[str], list[float], Any] | None:
    """The nearest ``n`` chunks (passing ``where``), ranked exactly: ``(ids, cosine
    distances, stored vectors)``, nearest first, ties by chunk id (:func:`_rank`).
    ``None`` when this cannot be done here (see the module doc): the caller runs
    Chroma's query. ``split=False``: the scan stays on this thread (:func:`_scan`), for
    a caller with other work on the other cores meanwhile (hybrid's keyword query)."""
    import numpy as np

    try:
        mirror = mirror_of(collection)
        if where:
            ids = list(collection.get(where=where, include=[])["ids"])
            if len(ids) > EXACT_FILTER_MAX:
                return None
            if not ids:
                return [], [], np.zeros((0, len(vector)), dtype=np.float32)
            mat, norms = mirror.vectors(collection, ids)
            inv = None
        else:
            stamp = fresh_stamp(client, collection)
            if stamp is None:
                return None
            synced = mirror.holds(stamp) or mirror.sync(
                collection, stamp, copy_path(client, collection), client
            )  # the copy's path only when it is out of step
            if not synced:
                return None
            ids, mat, norms, inv = mirror.matrix()
            if not ids:
                return [], [], np.zeros((0, len(vector)), dtype=np.float32)
    except Exception as exc:  # a bad filter, a server gone, chunks deleted meanwhile
        if _written_elsewhere(exc):
            _warn_written_elsewhere(collection)
        logger.debug("exact search not possible, Chroma searches: %s", exc)
        return None
    if mat.shape[1] != len(vector):
        return None  # another embedder's vectors: Chroma's query raises the mismatch
    order, cos = _rank(ids, mat, norms, vector, n, split=split, inv=inv)
    return [ids[i] for i in order], [1.0 - float(c) for c in cos], mat[order]


_WARNED: set[str] = set()


def _written_elsewhere(exc: Exception) -> bool:
    """Chroma's embedded client lists chunks another process wrote (their ids and texts
    are in the SQLite file) but cannot read their vectors: its vector segment is the one
    it loaded. Its error says so only in words."""
    return "Error finding id" in str(exc)


def _warn_written_elsewhere(collection: Any) -> None:
    """Say once per collection and process what to do (the answers go on without the
    new chunks: Chroma's own query cannot see them either)."""
    key = str(collection.id)
    if key in _WARNED:
        return
    _WARNED.add(key)
    logger.warning(
        "collection %r was written by another process (an `lcelkit ingest` beside this "
        "one?) and an embedded Chroma store cannot read chunks another process wrote: "
        "this process answers without them. Restart it to see them; to ingest while "
        "serving, run a Chroma server (store.url, LCELKIT_CHROMA_URL; docs/DEPLOY.md)",
        collection.name,
    )


def _rank(
    ids: list[str],
    mat: Any,
    norms: Any,
    vector: list[float],
    n: int,
    *,
    split: bool = True,
    inv: Any = None,
) -> tuple:
    """The rows of the nearest ``n`` (row indices, cosine similarities), nearest first,
    ties by chunk id. A float32 pass over every row (:func:`_scan`, ~0.5 ms at 20k x 384)
    picks the candidates: the top ``n`` and every row within :func:`_margin` of the
    ``n``-th; they are ordered by their float64 cosine (:func:`cosine64`), so the order
    is the float64 one (float32 rounds near-equal similarities alike) and the same in
    every store. ``inv``: the rows' float32 inverse norms, if at hand."""
    import numpy as np

    rows = mat.shape[0]  # ``ids`` may be longer (see VectorMirror.matrix)
    take = min(n, rows)
    if take <= 0:
        return [], []
    query = np.asarray(vector, dtype=np.float64)
    qnorm = float(np.sqrt(query @ query))
    unit = query / (qnorm or 1.0)
    rough = _scan(mat, unit.astype(np.float32), split=split)
    np.multiply(rough, inverse_norms(norms) if inv is None else inv, out=rough)
    kth = np.partition(rough, rows - take)[rows - take]
    cand = np.flatnonzero(rough >= kth - _margin(mat.shape[1]))
    cos = np.zeros(len(cand)) if qnorm == 0.0 else _cosine_to_unit(mat[cand], norms[cand], unit)
    picked = cand.tolist()  # (-cosine, chunk id, row): tuples compare in C
    best = sorted(zip((-cos).tolist(), [ids[r] for r in picked], picked, strict=True))[:take]
    return [r for _, _, r in best], [-c for c, _, _ in best]


def _margin(dim: int) -> float:
    """How far below the ``n``-th float32 score a row can be and still be among the
    ``n`` nearest by float64 cosine: twice the float32 error bound of a dot product of
    ``dim`` terms with a unit query, relative to the row's norm ((dim + 3) unit
    roundoffs, the query's and the scaling's included); at least 1e-4."""
    return max(1e-4, 2.1 * (dim + 3) * 2.0**-24)


def inverse_norms(norms: Any) -> Any:
    """float32 ``1 / norm`` (0 for a zero row): the scan's scores become cosines."""
    import numpy as np

    return np.divide(1.0, norms, out=np.zeros(len(norms)), where=norms > 0).astype(np.float32)


SCAN_SPLIT_MIN = 8192  # rows from which a scan runs in two halves on two threads
_SCAN_POOL = LazyPool(1, "lcelkit-scan")


def _scan(mat: Any, query: Any, *, split: bool = True) -> Any:
    """The float32 dot product of every row of ``mat`` with ``query`` (``numpy.einsum``).
    From :data:`SCAN_SPLIT_MIN` rows on a machine with two cores or more, the second half
    is computed on a worker thread meanwhile (einsum releases the GIL; the pass is bound
    by memory, ~0.9 ms at 20k x 384 on one core of the project's machine, ~0.5 on two).
    Not with ``split=False``: hybrid's dense side runs beside its keyword query, and
    there a second scan thread only contended for the cores (``bench/dense_paths.py
    --interleave``: hybrid +0.5 ms against Chroma's HNSW split, +-0.1 ms not; the
    similarity search alone -0.0 ms split, +0.2 ms not). Each row is computed by the
    same kernel either way: the same values."""
    import numpy as np

    rows = mat.shape[0]
    if not split or rows < SCAN_SPLIT_MIN or _cores() < 2:
        return np.einsum("ij,j->i", mat, query)
    out = np.empty(rows, dtype=np.float32)
    half = rows // 2
    future = _SCAN_POOL.submit(np.einsum, "ij,j->i", mat[half:], query, out=out[half:])
    np.einsum("ij,j->i", mat[:half], query, out=out[:half])
    future.result()
    return out


def _cores() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1
