"""Factories: the only place where settings turn into configured parts.

Each backend comes from one function here, so the domain packages (``loaders``,
``chains``, ``agents``) never read settings or the environment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lcelkit.settings import Settings

if TYPE_CHECKING:
    from langchain_chroma import Chroma

    from chains.embeddings import SentenceTransformerEmbeddings

__all__ = [
    "make_embeddings",
    "make_store",
]

logger = logging.getLogger(__name__)


# -- embeddings and store -------------------------------------------------------------
def make_embeddings(
    settings: Settings, *, show_progress: bool = False
) -> SentenceTransformerEmbeddings:
    """The configured embedder (weights load lazily, at first use)."""
    from chains.embeddings import load_embeddings

    cfg = settings.embeddings
    return load_embeddings(
        cfg.model,
        dtype=cfg.dtype,
        device=cfg.device,
        batch_size=cfg.batch_size,
        show_progress=show_progress,
    )


def make_store(
    settings: Settings,
    embeddings: SentenceTransformerEmbeddings | None = None,
    *,
    check_dimension: bool = True,
) -> Chroma:
    """The configured Chroma collection (embedded under ``home``, or ``store.url``).

    ``check_dimension=False`` checks only the embedder's name, so opening the store
    does not load the embedding weights (re-ingesting unchanged files stays cheap).
    """
    from chains.store import open_chroma

    embeddings = embeddings or make_embeddings(settings)
    return open_chroma(
        embeddings,
        collection=settings.store.collection,
        embedder_name=embeddings.name,
        dimension=embeddings.dimension if check_dimension else None,
        persist_dir=None if settings.store.url else settings.chroma_dir,
        url=settings.store.url,
    )
