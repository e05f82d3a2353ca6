"""``database.url``: one SQL database for the record manager, manifest, sessions and keywords."""

from __future__ import annotations

from lcelkit.factories import shared_ingest
from lcelkit.settings import get_settings


def test_default_is_sqlite_under_home_as_before(lcelkit_home):
    settings = get_settings()
    assert settings.record_db_url == f"sqlite:///{(lcelkit_home / 'records.sqlite').resolve()}"
    assert settings.memory_db_url == f"sqlite:///{(lcelkit_home / 'memory.sqlite').resolve()}"
    assert not settings.database.is_server
    assert not shared_ingest(settings)


def test_database_url_holds_records_and_sessions(lcelkit_home, monkeypatch):
    monkeypatch.setenv("LCELKIT_DATABASE_URL", "postgresql://team@db.example:5432/lcelkit")
    settings = get_settings()
    url = "postgresql+psycopg://team@db.example:5432/lcelkit"  # the installed driver
    assert settings.database.url == url
    assert settings.record_db_url == url
    assert settings.memory_db_url == url
    assert settings.database.is_server
    assert not shared_ingest(settings)  # the vectors are still embedded: one ingest at a time
    monkeypatch.setenv("LCELKIT_CHROMA_URL", "http://chroma.example:8000")
    assert shared_ingest(get_settings())


def test_agent_memory_url_still_overrides(lcelkit_home, monkeypatch):
    monkeypatch.setenv("LCELKIT_DATABASE__URL", "postgres://team@db/lcelkit")
    monkeypatch.setenv("LCELKIT_AGENT__MEMORY_URL", "sqlite:////tmp/sessions.sqlite")
    settings = get_settings()
    assert settings.memory_db_url == "sqlite:////tmp/sessions.sqlite"
    assert settings.record_db_url == "postgresql+psycopg://team@db/lcelkit"


def test_a_sqlite_database_url_keeps_the_keyword_index_beside_it(
    lcelkit_home, tmp_path, monkeypatch
):
    from lcelkit.factories import make_keyword_index

    monkeypatch.setenv("LCELKIT_DATABASE_URL", f"sqlite:///{tmp_path / 'state' / 'db.sqlite'}")
    index = make_keyword_index(get_settings())
    assert index.path.parent == (tmp_path / "state" / "keyword").resolve()
    index.close()
