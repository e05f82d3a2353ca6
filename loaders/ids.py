"""Content-hash identifiers for chunks: the same content from the same source, the same id."""

from __future__ import annotations

import hashlib

__all__ = ["chunk_id", "file_digest"]


def chunk_id(source: str, text: str, page_number: int | None = None) -> str:
    """Stable id of a chunk: a hash of its source, page and text (32 hex chars).

    Re-ingesting unchanged content gives the same ids, so the store can skip it and
    an upsert after a crash never duplicates anything.
    """
    digest = hashlib.sha256()
    digest.update(source.encode("utf-8", "surrogatepass"))
    digest.update(b"\x1f")
    digest.update(str(page_number or "").encode())
    digest.update(b"\x1f")
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def file_digest(path: str, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()
