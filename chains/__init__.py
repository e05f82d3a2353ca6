"""LCEL building blocks: models (LLM backends, embedders), the store, retrievers,
token budgets and RAG pipelines. Import from the submodules (``chains.store``,
``chains.embeddings``, ...); nothing heavy loads at import time."""

__all__: list[str] = []
