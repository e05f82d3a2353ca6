"""LangChain's standard retriever suite (``langchain-tests``) for every lcelkit retriever:
dense similarity, MMR and score threshold, keyword (BM25) and hybrid, over a small real
store (embedded Chroma + the bundled MiniLM + the SQLite keyword index, filled by the
real indexer). ``k`` is honoured at construction and at call time, sync and async."""

from __future__ import annotations

import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

pytestmark = pytest.mark.integration

QUERY = "What was the Q3 revenue of the North region?"

# Ten short reports about regional revenue: every one is about the query's subject, so
# even the score-threshold retriever has more than three passages to return.
PASSAGES = {
    "north.txt": "Quarterly revenue report for the North region. Q1 revenue was 12.4 "
    "million, Q2 revenue 13.9 million and Q3 revenue 15.2 million dollars.",
    "south.txt": "Quarterly revenue report for the South region. Q3 revenue of the South "
    "region was 9.8 million dollars, up from 9.1 million in Q2.",
    "east.txt": "The East region reported Q3 revenue of 11.0 million dollars; revenue in "
    "the East grew for the third quarter in a row.",
    "west.txt": "West region revenue for Q3 was 7.5 million dollars, below the North "
    "region's 15.2 million, because two stores closed.",
    "summary.txt": "Revenue summary by region for Q3: North 15.2, South 9.8, East 11.0 and "
    "West 7.5 million dollars. The North region led all regions in revenue.",
    "forecast.txt": "The revenue forecast for Q4 expects the North region to exceed 16 "
    "million dollars after its strong Q3 revenue.",
    "costs.txt": "Operating costs in Q3 rose in every region; the North region spent 4.1 "
    "million dollars, against revenue of 15.2 million.",
    "history.txt": "In the previous year the North region's Q3 revenue was 13.0 million "
    "dollars, so this year's Q3 revenue grew by 17 percent.",
    "staff.txt": "Head count by region at the end of Q3: North 120, South 95, East 101 and "
    "West 64 employees; revenue per employee was highest in the North region.",
    "method.txt": "Revenue in these regional reports is recognised when goods ship; "
    "quarterly figures such as Q3 revenue are unaudited.",
}


@cache
def _home() -> tuple[Any, Any]:
    """``(settings, embedder)``: a home under a temporary folder, filled once per test
    session by the real indexer; one embedder serves every retriever built on it."""
    import atexit

    from lcelkit.factories import make_embeddings, make_indexer
    from lcelkit.settings import get_settings

    root = Path(tempfile.mkdtemp(prefix="lcelkit-standard-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    docs = root / "docs"
    docs.mkdir()
    for name, text in PASSAGES.items():
        (docs / name).write_text(text + "\n", encoding="utf-8")
    settings = get_settings(
        home=root / "home",
        store={"url": "", "collection": "standard"},
        ingest={"file_timeout": 0},
    )
    embeddings = make_embeddings(settings)
    report = make_indexer(settings, embeddings=embeddings).ingest([str(docs)])
    assert report.ok, report.to_json()
    return settings, embeddings


def _builder(search: str) -> Any:
    def build(**params: Any) -> BaseRetriever:
        from lcelkit.factories import make_retriever

        settings, embeddings = _home()
        return make_retriever(settings, embeddings=embeddings, search=search, **params)

    build.__name__ = f"make_{search}_retriever"
    return build


class _Suite(RetrieversIntegrationTests):
    search = "similarity"

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return _builder(self.search)  # type: ignore[return-value]

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"k": 4}

    @property
    def retriever_query_example(self) -> str:
        return QUERY


class TestSimilarityRetriever(_Suite):
    search = "similarity"


class TestMMRRetriever(_Suite):
    search = "mmr"


class TestThresholdRetriever(_Suite):
    search = "threshold"


class TestKeywordRetriever(_Suite):
    search = "bm25"


class TestHybridRetriever(_Suite):
    search = "hybrid"
