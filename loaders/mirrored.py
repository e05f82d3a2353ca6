"""A vector store that mirrors every write and delete into extra sinks (the keyword index).

Moved out of ``loaders/index.py`` (which re-exports it) when that module passed 500 lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStore

__all__ = ["STORE_STAMP_KEY", "MirroredStore"]

STORE_STAMP_KEY = "lcelkit:write_stamp"  # collection metadata: changes with every write run


class MirroredStore(VectorStore):
    """A vector store that mirrors every write and delete into extra sinks.

    The hybrid retriever's keyword (BM25) index is such a sink: it stays in step
    with incremental ingest without any rebuild. ``before_write`` runs once, before
    the first write (used to check the embedder's dimension lazily).
    """

    def __init__(
        self,
        store: VectorStore,
        sinks: Sequence[Any] = (),
        *,
        max_batch: int = 5000,
        before_write: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.sinks = list(sinks)
        self.max_batch = max_batch
        self._before_write = before_write
        self.wrote = False  # since the last stamp()

    def stamp(self) -> None:
        """After a write run: a new write stamp in the collection's metadata and in every
        sink that keeps one, so a reader sees at once that its index is in step (see
        ``chains.retrievers.sync_keyword_index``). Nothing is done when nothing changed."""
        if not self.wrote:
            return
        import uuid

        collection = getattr(self.store, "_collection", None)
        if collection is None:
            return
        value = uuid.uuid4().hex
        collection.modify(metadata={**(collection.metadata or {}), STORE_STAMP_KEY: value})
        for sink in self.sinks:
            if hasattr(sink, "set_synced_stamp"):
                sink.set_synced_stamp(value)
        self.wrote = False

    @property
    def embeddings(self) -> Any:
        """The wrapped store's embeddings."""
        return self.store.embeddings

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Write in batches below the store's maximum, then mirror into the sinks."""
        if self._before_write is not None:
            self._before_write()
            self._before_write = None
        ids = kwargs.pop("ids", None) or [d.id for d in documents]
        written: list[str] = []
        for start in range(0, len(documents), self.max_batch):
            part = documents[start : start + self.max_batch]
            part_ids = ids[start : start + self.max_batch]
            self.wrote = True
            written += self.store.add_documents(part, ids=part_ids, **kwargs)
            for sink in self.sinks:
                sink.add_documents(part, ids=part_ids)
        return written

    def add_texts(
        self, texts: Iterable[str], metadatas: list[dict] | None = None, **kwargs: Any
    ) -> list[str]:
        """Add raw texts (wrapped into Documents)."""
        texts = list(texts)
        metadatas = metadatas or [{} for _ in texts]
        docs = [Document(page_content=t, metadata=m) for t, m in zip(texts, metadatas, strict=True)]
        return self.add_documents(docs, **kwargs)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete from the store and every sink."""
        if not ids:
            return True
        self.wrote = True
        for start in range(0, len(ids), self.max_batch):
            self.store.delete(ids[start : start + self.max_batch], **kwargs)
        for sink in self.sinks:
            sink.delete(list(ids))
        return True

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Delegates to the wrapped store."""
        return self.store.similarity_search(query, k=k, **kwargs)

    @classmethod
    def from_texts(cls, *args: Any, **kwargs: Any) -> MirroredStore:
        """Not supported: wrap an existing store instead."""
        raise NotImplementedError("wrap an existing store: MirroredStore(store, sinks)")
