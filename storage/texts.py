"""Article text reads for the digest's lede and evidence and for the tender join: bounded to the
rows asked for, since the week's listing (storage.articles.week_articles) deliberately has no text."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from storage.schema import articles


def texts_for(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """id -> {title, text, summary} for the given articles."""
    out: dict[str, dict[str, Any]] = {}
    ids = list(dict.fromkeys(ids))
    for start in range(0, len(ids), 500):
        rows = conn.execute(select(articles.c.id, articles.c.title, articles.c.text, articles.c.summary)
                            .where(articles.c.id.in_(ids[start:start + 500])))
        for r in rows:
            out[r.id] = {"title": r.title, "text": r.text, "summary": r.summary}
    return out


def relevant_between(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Relevant original articles published in [start, end), with their text and story id."""
    rows = conn.execute(
        select(articles.c.id, articles.c.story_id, articles.c.title, articles.c.text, articles.c.published_at)
        .where(articles.c.published_at >= start, articles.c.published_at < end, articles.c.relevant.is_(True),
               articles.c.duplicate_of.is_(None))
        .order_by(articles.c.published_at, articles.c.id))
    return [dict(r._mapping) for r in rows]
