"""Storage on both backends: migrations equal the schema, upserts are idempotent, versions kept."""
from __future__ import annotations

from datetime import datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from storage.article import Article, content_hash
from storage.articles import store_articles
from storage.db import get_engine, read, write
from storage.schema import article_versions, articles, include_name, metadata


def _art(url: str, text: str, **kw: object) -> Article:
    return Article(url=url, canonical_url=url, source="s", title="T", text=text,
                   published_at=datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc), **kw)  # type: ignore[arg-type]


def test_migration_head_matches_schema(db_url: str) -> None:
    engine = get_engine(db_url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"include_name": include_name}), metadata)
    assert diffs == []


def test_upsert_new_known_updated_keeps_versions(db_url: str) -> None:
    engine = get_engine(db_url)
    with write(engine) as conn:
        first = store_articles(conn, [_art("https://a.test/1", "one"), _art("https://a.test/2", "two")])
    with write(engine) as conn:
        again = store_articles(conn, [_art("https://a.test/1", "one"), _art("https://a.test/2", "two, corrected")])
    assert (first.new, first.known, first.updated) == (2, 0, 0)
    assert (again.new, again.known, again.updated) == (0, 1, 1)
    with read(engine) as conn:
        assert conn.execute(select(func.count()).select_from(articles)).scalar() == 2
        versions = conn.execute(select(article_versions.c.version, article_versions.c.content_hash)
                                .order_by(article_versions.c.version)).all()
        row = conn.execute(select(articles).where(articles.c.canonical_url == "https://a.test/2")).one()
    assert [v.version for v in versions] == [1, 1, 2]
    assert row.version == 2 and row.content_hash == content_hash("two, corrected")
    assert row.published_at == datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)  # tz-aware UTC back


def test_content_hash_is_unicode_normalised() -> None:
    assert content_hash("Cafe\u0301 police") == content_hash("Café police")
    assert content_hash("Pala\u200bntir") == content_hash("Palantir")
