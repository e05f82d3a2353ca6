"""Fusing ranked lists: reciprocal rank fusion and confidence-weighted relative scores.

Documents are matched by the passage they stand for (:func:`passage_key`: a row unit's
parent piece, else the chunk itself), so a dense hit on a row and a BM25 hit on its table
piece count as one passage. Why relative fusion with confidence weights is the default
for hybrid search: ``chains.retrievers`` (module docstring) and docs/DESIGN.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document

__all__ = ["RRF_K", "passage_key", "relative_fuse", "rrf_fuse"]

RRF_K = 60


def rrf_fuse(
    ranked_lists: Sequence[Sequence[Document]], *, k: int, rrf_k: int = RRF_K
) -> list[tuple[Document, float, list[int | None]]]:
    """Reciprocal rank fusion: ``score(d) = sum_i 1 / (rrf_k + rank_i(d))`` (ranks 1-based).

    Documents are matched by ``id`` (else ``metadata["chunk_id"]``). Returns the top
    ``k`` as ``(doc, score, [rank in each list or None])``; ties go to the document
    found in more lists, then to the smaller id (never to the list that came first).
    """
    fused: dict[str, list[Any]] = {}
    for li, docs in enumerate(ranked_lists):
        for rank, doc in enumerate(docs, start=1):
            entry = fused.setdefault(passage_key(doc), [doc, 0.0, [None] * len(ranked_lists)])
            if entry[2][li] is None:
                entry[1] += 1.0 / (rrf_k + rank)
                entry[2][li] = rank
    return _top(fused, k)


def _top(fused: dict[str, list[Any]], k: int) -> list[tuple[Document, float, list[int | None]]]:
    """The ``k`` best of ``{key: [doc, score, ranks]}``; ties: more lists, then smaller key."""

    def order(key: str) -> tuple[float, int, str]:
        _, score, ranks = fused[key]
        return (-score, -sum(r is not None for r in ranks), key)

    best = sorted(fused, key=order)[:k]
    return [(fused[key][0], fused[key][1], fused[key][2]) for key in best]


def passage_key(doc: Document) -> str:
    """The passage a hit stands for: a row unit's parent piece, else the chunk itself."""
    return str(
        doc.metadata.get("parent_id") or doc.id or doc.metadata.get("chunk_id") or doc.page_content
    )


def _normalize(
    items: Sequence[tuple[Document, float]], depth: int | None
) -> tuple[list[float], float]:
    """Min-max normalized scores of one list and the list's confidence (see relative_fuse)."""
    values = [s for _, s in items]
    top = max(values)
    full = depth is None or len(values) >= depth
    floor = min(values) if full else min(0.0, *values)
    span = top - floor
    if span <= 0:
        return [1.0] * len(values), 0.0
    slots = len(values) if full else depth or len(values)
    mean = (sum(values) + (slots - len(values)) * floor) / slots
    return [(s - floor) / span for s in values], (top - mean) / span


def relative_fuse(
    scored_lists: Sequence[Sequence[tuple[Document, float]]],
    weights: Sequence[float],
    *,
    k: int,
    depth: int | None = None,
    weights_out: list[float] | None = None,
) -> list[tuple[Document, float, list[int | None]]]:
    """Confidence-weighted relative score fusion.

    Each list is min-max normalized to [0, 1] between its floor and its top: the floor
    is its worst score when the list is full (``depth`` items, or ``depth`` None), else
    0 (a list that ran out holds every match; a missing document scored nothing). A
    document missing from a list gets 0 there.

    Each list also gets a *confidence* ``c = (top - mean) / (top - floor)``: how far
    its best hit stands above the average of its ``depth`` slots, in [0, 1]. A model
    that cannot tell the documents apart gives smooth, near-flat lists (low ``c``); a
    decisive list puts its best hit far above the rest (high ``c``). The weights
    actually used are ``weights[i] * c_i**2``, rescaled to sum to 1 (the given
    ``weights`` when every list is flat), so a weak list is not stretched into an
    equal say. ``weights_out``, when given, receives them.

    Returns the top ``k`` as ``(doc, fused score in [0, 1], [rank in each list or
    None])``. Ties go to the document found in more lists, then to the smaller id:
    the result never depends on which list came first.
    """
    prepared = [_normalize(items, depth) if items else ([], 0.0) for items in scored_lists]
    raw = [w * c * c for w, (_, c) in zip(weights, prepared, strict=True)]
    total = sum(raw)
    if total > 0:
        used = [r / total for r in raw]
    else:
        base = sum(weights) or 1.0
        used = [w / base for w in weights]
    if weights_out is not None:
        weights_out[:] = used
    fused: dict[str, list[Any]] = {}
    for li, (items, (norms, _)) in enumerate(zip(scored_lists, prepared, strict=True)):
        for rank, ((doc, _), norm) in enumerate(zip(items, norms, strict=True), start=1):
            entry = fused.setdefault(passage_key(doc), [doc, 0.0, [None] * len(scored_lists)])
            if entry[2][li] is None:
                entry[1] += used[li] * norm
                entry[2][li] = rank
    return _top(fused, k)
