"""Row units back to the table pieces they stand for (the parent-document pattern).

A row unit (``loaders.table_units``; ``metadata["parent_id"]``) is matched, never shown:
retrievers search :data:`UNIT_FANOUT` candidates per passage they return, keep the best
hit per passage (:func:`best_per_passage`) and replace each unit by its piece
(:func:`resolve_parents`), read from the store by id (:func:`store_fetcher`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from langchain_core.documents import Document

from lcelkit.chains.fusion import passage_key
from lcelkit.errors import StoreError

__all__ = ["UNIT_FANOUT", "best_per_passage", "resolve_parents", "store_fetcher"]


def store_fetcher(store: Any) -> Callable[[list[str]], dict[str, Document]]:
    """``ids -> {id: Document}`` read from a langchain_chroma store's collection."""

    def fetch(ids: list[str]) -> dict[str, Document]:
        try:
            got = store._collection.get(ids=ids, include=["documents", "metadatas"])
        except Exception as exc:
            raise StoreError(
                f"could not read table pieces from the store: {exc.__class__.__name__}: {exc}",
                hint="check that the store is reachable",
            ) from None
        return {
            cid: Document(id=cid, page_content=text or "", metadata=dict(meta or {}))
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }

    return fetch


def resolve_parents(
    docs: Sequence[Document],
    k: int,
    fetch: Callable[[list[str]], dict[str, Document]] | None,
) -> list[Document]:
    """The first ``k`` distinct passages of ``docs``, each row unit replaced by its parent.

    A row unit (``metadata["parent_id"]``, ``loaders.table_units``) stands for the table
    piece around its row: the piece takes the unit's place and scores (the best of its
    units and itself, as ``docs`` is best first) and records the matched row in
    ``metadata["matched_row"]``. A piece that comes back twice counts once. When the
    piece cannot be found (``fetch`` is None, or it was deleted meanwhile) the unit
    itself is returned.
    """
    order: list[tuple[str, Document]] = []
    seen: set[str] = set()
    for doc in docs:
        key = passage_key(doc)
        if key in seen:
            continue
        seen.add(key)
        order.append((key, doc))
        if len(order) == k:
            break
    wanted = [key for key, doc in order if doc.metadata.get("parent_id")]
    found = fetch(wanted) if wanted and fetch is not None else {}
    out: list[Document] = []
    for key, doc in order:
        parent_doc = found.get(key) if doc.metadata.get("parent_id") else None
        if parent_doc is None:
            out.append(doc)
            continue
        extra = {
            name: value
            for name, value in doc.metadata.items()
            if name not in parent_doc.metadata and name not in _UNIT_ONLY
        }
        meta = {**parent_doc.metadata, **extra, "matched_row": doc.page_content}
        out.append(Document(id=key, page_content=parent_doc.page_content, metadata=meta))
    return out


_UNIT_ONLY = frozenset({"parent_id", "category", "chunk_id"})
UNIT_FANOUT = 6  # candidates searched per passage returned: rows of one piece collapse


_Hit = TypeVar("_Hit", tuple[Document, float], tuple[Document, float, Any])


def best_per_passage(hits: Sequence[_Hit]) -> list[_Hit]:
    """The best hit of each passage (a row unit counts as its parent piece), best first."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        key = passage_key(hit[0])
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out
