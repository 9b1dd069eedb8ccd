"""Dedup lookups: each layer is one indexed query, so a new article costs the same however large
the archive grows (issue: O(1) per article, shared by workers through the database)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select

from storage.schema import articles, lsh_bands


def _before(first_seen: datetime, article_id: str) -> Any:
    """Strictly earlier in (first_seen_at, id) order: only an earlier article can be the original."""
    return or_(articles.c.first_seen_at < first_seen,
               and_(articles.c.first_seen_at == first_seen, articles.c.id < article_id))


def earliest(conn: Connection, column: str, value: str, first_seen: datetime, article_id: str,
             source: str | None = None, published: tuple[datetime, datetime] | None = None) -> dict[str, Any] | None:
    """The first-seen earlier article with this key (optionally same source, published in a range)."""
    stmt = (select(articles.c.id, articles.c.duplicate_of, articles.c.published_at)
            .where(articles.c[column] == value, _before(first_seen, article_id))
            .order_by(articles.c.first_seen_at, articles.c.id).limit(1))
    if source is not None:
        stmt = stmt.where(articles.c.source == source)
    if published is not None:
        stmt = stmt.where(articles.c.published_at.between(*published))
    row = conn.execute(stmt).first()
    return dict(row._mapping) if row else None


def lsh_candidates(conn: Connection, buckets: Sequence[str], first_seen: datetime,
                   article_id: str) -> list[dict[str, Any]]:
    """Earlier originals sharing at least one LSH bucket, with their text for verification."""
    if not buckets:
        return []
    ids = select(lsh_bands.c.article_id).where(lsh_bands.c.bucket.in_(list(buckets)))
    rows = conn.execute(
        select(articles.c.id, articles.c.text, articles.c.published_at, articles.c.first_seen_at)
        .where(articles.c.id.in_(ids), _before(first_seen, article_id))
        .order_by(articles.c.first_seen_at, articles.c.id)
    )
    return [dict(r._mapping) for r in rows]


def replace_bands(conn: Connection, article_id: str, buckets: Iterable[str]) -> None:
    conn.execute(delete(lsh_bands).where(lsh_bands.c.article_id == article_id))
    rows = [{"bucket": k, "article_id": article_id} for k in set(buckets)]
    if rows:
        conn.execute(lsh_bands.insert(), rows)
