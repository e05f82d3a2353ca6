"""Helpers for tests that hand vectors to a Chroma store themselves."""

from __future__ import annotations

import numpy as np
from langchain_core.embeddings import Embeddings

__all__ = ["NoEmbeddings", "unit_rows"]


class NoEmbeddings(Embeddings):
    """An embedding function that must not be called: the tests hand the store and the
    queries their vectors."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("not used")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("not used")


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """``rows`` scaled to unit length, as float32."""
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)
