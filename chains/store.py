"""The Chroma vector store: embedded (persistent, on disk) or a ``chroma run`` server.

Collections use cosine space and Chroma's default HNSW graph
(:data:`HNSW_CONFIGURATION`). Queries rank the nearest chunks exactly where they can
(``chains.dense_exact``), so an embedded process and a team's Chroma server (written by
other workers, in another order) return the same neighbours without a wider graph.
Cosine space means that
``similarity_search_with_relevance_scores`` gives
``1 - cosine_distance`` (in [0, 1] for normalized embedders with related texts).
The collection's metadata records the embedder's name and dimension; opening a
collection with a different embedder is refused with a message that says how
to re-index.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from lcelkit.errors import EmbedderMismatchError, StoreError

if TYPE_CHECKING:
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

__all__ = [
    "EMBEDDER_DIM_KEY",
    "EMBEDDER_NAME_KEY",
    "HNSW_CONFIGURATION",
    "check_embedder",
    "chroma_client",
    "cosine_relevance",
    "delete_collection",
    "ensure_embedder",
    "max_batch_size",
    "open_chroma",
]

logger = logging.getLogger(__name__)

EMBEDDER_NAME_KEY = "lcelkit_embedder"
EMBEDDER_DIM_KEY = "lcelkit_dimension"
_DEFAULT_MAX_BATCH = 5000
# Chroma's default graph (ef_construction 100, max_neighbors 16, ef_search 100). From
# 2026-12 to the exact search of chains/dense_exact.py lcelkit built 400 / 32 / 1000, so
# that HNSW's nearest 120 were nearly always the exact ones in every store (1-6 of 200
# queries not, against 163-167 with the defaults, at 5,808 SQuAD chunks); that cost
# ~+0.5 ms of Chroma time per chunk written and ~2.5 ms per query at 20k chunks.
# Collections built then keep their wider graph (Chroma cannot change it) until
# `lcelkit ingest --rebuild` (docs/DESIGN.md, "Store").
HNSW_CONFIGURATION: dict[str, Any] = {"space": "cosine"}


def chroma_client(*, persist_dir: str | Path | None = None, url: str = "") -> chromadb.ClientAPI:
    """A Chroma client: ``url`` (http://host:port) for a server, else a local folder."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if url:
        parsed = urlparse(url)
        if not parsed.hostname:
            raise StoreError(f"invalid Chroma URL {url!r}", hint="use http://host:port")
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=settings
            )
            client.heartbeat()
        except Exception as exc:
            raise StoreError(
                f"cannot reach the Chroma server at {url}: {exc.__class__.__name__}: {exc}",
                hint="start it with `chroma run --path DIR --port PORT`, or unset "
                "LCELKIT_CHROMA_URL to use the embedded store",
            ) from None
        return client
    if persist_dir is None:
        raise StoreError("no Chroma location", hint="pass persist_dir or url")
    path = Path(persist_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:
        raise StoreError(
            f"cannot open the Chroma folder {path}: {exc}",
            hint="check that the folder is writable and not used by another Chroma version",
        ) from None


def check_embedder(
    metadata: dict[str, Any] | None, collection: str, embedder_name: str, dimension: int | None
) -> None:
    """Raise EmbedderMismatchError when the collection was built with another embedder."""
    metadata = metadata or {}
    stored_name = metadata.get(EMBEDDER_NAME_KEY)
    stored_dim = metadata.get(EMBEDDER_DIM_KEY)
    hint = (
        "re-index into a new collection (LCELKIT_COLLECTION=<new name> lcelkit ingest ...), "
        "or rebuild this one with `lcelkit ingest --rebuild ...`"
    )
    if stored_name and stored_name != embedder_name:
        raise EmbedderMismatchError(
            f"collection {collection!r} was built with embedder {stored_name!r}, "
            f"not {embedder_name!r}",
            hint=hint,
        )
    if stored_dim and dimension and int(stored_dim) != int(dimension):
        raise EmbedderMismatchError(
            f"collection {collection!r} holds {stored_dim}-dimensional vectors; "
            f"embedder {embedder_name!r} makes {dimension}",
            hint=hint,
        )


def ensure_embedder(collection: Any, embedder_name: str, dimension: int | None) -> None:
    """Check a Chroma collection's embedder and record name/dimension where missing."""
    metadata = dict(collection.metadata or {})
    check_embedder(metadata, collection.name, embedder_name, dimension)
    missing: dict[str, Any] = {}
    if EMBEDDER_NAME_KEY not in metadata:
        missing[EMBEDDER_NAME_KEY] = embedder_name
    if dimension and EMBEDDER_DIM_KEY not in metadata:
        missing[EMBEDDER_DIM_KEY] = int(dimension)
    if missing:
        collection.modify(metadata={**metadata, **missing})


def open_chroma(
    embeddings: Embeddings,
    *,
    collection: str,
    embedder_name: str,
    dimension: int | None = None,
    persist_dir: str | Path | None = None,
    url: str = "",
    client: chromadb.ClientAPI | None = None,
) -> Chroma:
    """Open (or create) a cosine-space collection and check that its embedder matches."""
    from langchain_chroma import Chroma

    client = client or chroma_client(persist_dir=persist_dir, url=url)
    metadata: dict[str, Any] = {EMBEDDER_NAME_KEY: embedder_name}
    if dimension:
        metadata[EMBEDDER_DIM_KEY] = int(dimension)
    try:
        existing = client.get_or_create_collection(
            name=collection,
            metadata=metadata,
            configuration={"hnsw": dict(HNSW_CONFIGURATION)},
            embedding_function=None,
        )
    except Exception as exc:
        raise StoreError(
            f"cannot open Chroma collection {collection!r}: {exc}",
            hint="collection names are 3-512 characters of [a-zA-Z0-9._-]",
        ) from None
    ensure_embedder(existing, embedder_name, dimension)
    return Chroma(
        client=client,
        collection_name=collection,
        embedding_function=embeddings,
        relevance_score_fn=cosine_relevance,
    )


def cosine_relevance(distance: float) -> float:
    """Chroma cosine distance -> similarity in [0, 1]: ``clamp(1 - distance, 0, 1)``.

    This is the cosine similarity of the two (normalized) vectors, with unrelated
    (negative) pairs counted as 0. ``threshold`` search compares against it.
    """
    return max(0.0, min(1.0, 1.0 - float(distance)))


def delete_collection(client: chromadb.ClientAPI, collection: str) -> bool:
    """Drop a collection; False when it did not exist."""
    try:
        client.delete_collection(collection)
    except Exception:
        return False
    return True


def max_batch_size(store: Chroma) -> int:
    """Largest write Chroma accepts in one call (5,461 on the measured machine)."""
    try:
        return int(store._client.get_max_batch_size())
    except Exception:
        return _DEFAULT_MAX_BATCH
