"""Migration 0011: PostgreSQL search moves to a stored tsvector column with its own GIN index;
articles stored before it are searchable after it, and it reverts cleanly. SQLite is untouched."""
from __future__ import annotations

from datetime import datetime, timezone

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from storage import search
from storage.article import Article
from storage.articles import store_articles
from storage.db import MIGRATIONS, get_engine, read, write

WHEN = datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc)


def _alembic(url: str, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with get_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def _search_objects(url: str) -> tuple[set[str], set[str]]:
    insp = inspect(get_engine(url))
    return ({c["name"] for c in insp.get_columns("articles")},
            {i["name"] for i in insp.get_indexes("articles")})


def test_0011_backfills_and_reverts(db_url: str) -> None:
    engine = get_engine(db_url)
    pg = engine.dialect.name == "postgresql"
    _alembic(db_url, "downgrade", "0010")
    columns, indexes = _search_objects(db_url)
    assert "search_tsv" not in columns
    if pg:
        assert "ix_articles_fts" in indexes
    with write(engine) as conn:  # an article stored under 0010
        store_articles(conn, [Article(url="https://n.example/1", canonical_url="https://n.example/1", source="s",
                                      title="Met expands live facial recognition",
                                      text="Officers in Croydon used the vans.", published_at=WHEN)])
    _alembic(db_url, "upgrade", "head")
    columns, indexes = _search_objects(db_url)
    if pg:
        assert "search_tsv" in columns and "ix_articles_search_tsv" in indexes and "ix_articles_fts" not in indexes
        with read(engine) as conn:
            generated = conn.execute(text("SELECT is_generated FROM information_schema.columns "
                                          "WHERE table_name = 'articles' AND column_name = 'search_tsv'")).scalar()
        assert generated == "ALWAYS"  # written by PostgreSQL with every insert and update
    else:
        assert "search_tsv" not in columns  # SQLite keeps FTS5
    with read(engine) as conn:
        hits = search.search(conn, '"live facial recognition" croydon')
        assert [h["canonical_url"] for h in hits] == ["https://n.example/1"]
        assert search.search(conn, '"facial live"') == []
