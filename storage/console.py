"""Reads and small writes only the console needs: per-day volumes, tender filters, source edits.
(SQL stays in storage/; the console's pages call these.)"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, String, and_, cast, func, literal_column, or_, select, text, update

from storage.schema import article_tags, articles, notices, sources, stories


def _day(value: datetime) -> date:
    return value.astimezone(timezone.utc).date()


def daily_counts(conn: Connection, since: datetime) -> dict[str, dict[date, int]]:
    """Articles first seen per source per UTC day since `since` (the sources page's sparklines)."""
    out: dict[str, dict[date, int]] = {}
    rows = conn.execute(select(articles.c.source, articles.c.first_seen_at).where(articles.c.first_seen_at >= since))
    for name, seen in rows:
        per_day = out.setdefault(name, {})
        per_day[_day(seen)] = per_day.get(_day(seen), 0) + 1
    return out


def topic_volume(conn: Connection, start: datetime, end: datetime) -> dict[str, dict[date, int]]:
    """Relevant original articles per tag per UTC day published in [start, end)."""
    out: dict[str, dict[date, int]] = {}
    rows = conn.execute(select(article_tags.c.slug, articles.c.published_at)
                        .join(articles, articles.c.id == article_tags.c.article_id)
                        .where(articles.c.published_at >= start, articles.c.published_at < end,
                               articles.c.duplicate_of.is_(None), articles.c.relevant.is_(True)))
    for slug, when in rows:
        per_day = out.setdefault(slug, {})
        per_day[_day(when)] = per_day.get(_day(when), 0) + 1
    return out


def week_stories(conn: Connection, start: datetime, end: datetime, limit: int = 200) -> list[dict[str, Any]]:
    """Stories with articles published in [start, end), largest first, with their thread id."""
    count = func.count(articles.c.id)
    rows = conn.execute(select(stories.c.id, stories.c.headline, stories.c.thread_id, stories.c.first_seen_at,
                               stories.c.article_count, count.label("in_week"))
                        .join(articles, articles.c.story_id == stories.c.id)
                        .where(articles.c.published_at >= start, articles.c.published_at < end)
                        .group_by(stories.c.id, stories.c.headline, stories.c.thread_id, stories.c.first_seen_at,
                                  stories.c.article_count)
                        .order_by(count.desc(), stories.c.id).limit(limit))
    return [dict(r._mapping) for r in rows]


def story_articles(conn: Connection, story_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(articles.c.id, articles.c.title, articles.c.source, articles.c.published_at,
                               articles.c.duplicate_of).where(articles.c.story_id == story_id)
                        .order_by(articles.c.published_at))
    return [dict(r._mapping) for r in rows]


def thread_stories(conn: Connection, thread_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(stories).where(stories.c.thread_id == thread_id).order_by(stories.c.first_seen_at))
    return [dict(r._mapping) for r in rows]


def console_filter_notices(conn: Connection, buyer: str | None = None, cpv_prefix: str | None = None,
                           min_value: float | None = None, max_value: float | None = None,
                           stage: str | None = None, closing_after: datetime | None = None,
                           closing_before: datetime | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Tender notices for the console's filters, newest first. CPV codes live in a JSON list, so
    the prefix is matched on its text form (`"7231` inside `["72310000", …]`)."""
    stmt = select(notices)
    if buyer:
        stmt = stmt.where(func.lower(notices.c.buyer).contains(buyer.lower(), autoescape=True))
    if cpv_prefix:
        stmt = stmt.where(cast(notices.c.cpv, String).contains('"' + cpv_prefix, autoescape=True))
    if min_value is not None:
        stmt = stmt.where(notices.c.value >= min_value)
    if max_value is not None:
        stmt = stmt.where(notices.c.value <= max_value)
    if stage:
        stmt = stmt.where(notices.c.stage == stage)
    if closing_after is not None:
        stmt = stmt.where(notices.c.tender_deadline >= closing_after)
    if closing_before is not None:
        stmt = stmt.where(notices.c.tender_deadline < closing_before)
    stmt = stmt.order_by(notices.c.published_at.desc(), notices.c.id).limit(limit)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def buyer_stories(conn: Connection, buyers: list[str], since: datetime, limit: int = 20) -> list[dict[str, Any]]:
    """Stories whose articles name one of these buyers in their title (the tenders page's related news)."""
    names = [b for b in {b.strip() for b in buyers if b} if len(b) >= 4][:20]
    if not names:
        return []
    cond = or_(*(func.lower(articles.c.title).contains(b.lower(), autoescape=True) for b in names))
    if conn.dialect.name == "sqlite":
        # The title LIKEs alone read every article of the year (900 ms at 50,000 articles, bench/console.py):
        # candidates come from the FTS5 index's title column first, the LIKEs then keep exact substrings.
        phrases = [" ".join(re.findall(r"\w+", b)) for b in names]
        match = "title : (" + " OR ".join('"' + p.replace('"', '""') + '"' for p in phrases if p) + ")"
        cond = and_(literal_column("articles.rowid").in_(
            text("SELECT rowid FROM articles_fts WHERE articles_fts MATCH :buyers").bindparams(buyers=match)), cond)
    rows = conn.execute(select(stories.c.id, stories.c.headline, stories.c.last_seen_at).distinct()
                        .join(articles, articles.c.story_id == stories.c.id)
                        .where(cond, articles.c.published_at >= since)
                        .order_by(stories.c.last_seen_at.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]


def edit_source(conn: Connection, name: str, schedule: str, outlet: str | None) -> bool:
    res = conn.execute(update(sources).where(sources.c.name == name, sources.c.status != "removed")
                       .values(schedule=schedule, outlet=outlet or None, updated_at=datetime.now(timezone.utc)))
    return res.rowcount > 0


def days(end: date, n: int) -> list[date]:
    return [end - timedelta(days=n - 1 - i) for i in range(n)]
