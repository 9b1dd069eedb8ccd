"""Reads and small writes only the console needs: per-day volumes, tender filters, source edits.
(SQL stays in storage/; the console's pages call these.)"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, String, and_, case, cast, func, literal_column, or_, select, true, update

from storage.schema import article_tags, articles, notices, sources, stories


def _day(value: datetime) -> date:
    return value.astimezone(timezone.utc).date()


def daily_counts(conn: Connection, since: datetime) -> dict[str, dict[date, int]]:
    """Articles first seen per source per UTC day since `since` (the sources page's sparklines).
    Times are stored as naive UTC on both backends, so date() is the UTC day."""
    out: dict[str, dict[date, int]] = {}
    day = func.date(articles.c.first_seen_at)
    # Unary + on SQLite: read the window through the first_seen_at index, not every article by source.
    src = literal_column("+articles.source") if conn.dialect.name == "sqlite" else articles.c.source
    rows = conn.execute(select(src, day, func.count()).where(articles.c.first_seen_at >= since)
                        .group_by(src, day))
    for name, when, n in rows:
        out.setdefault(name, {})[when if isinstance(when, date) else date.fromisoformat(str(when)[:10])] = int(n)
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


def _notice_conditions(buyer: str | None = None, cpv_prefix: str | None = None, min_value: float | None = None,
                       max_value: float | None = None, stage: str | None = None,
                       closing_after: datetime | None = None, closing_before: datetime | None = None) -> list[Any]:
    """The Tenders page's filters as SQL conditions: one definition for the list, the counts and
    the saved searches, so a saved search always finds exactly what the filtered page shows."""
    cond: list[Any] = []
    if buyer:
        cond.append(func.lower(notices.c.buyer).contains(buyer.lower(), autoescape=True))
    if cpv_prefix:
        cond.append(cast(notices.c.cpv, String).contains('"' + cpv_prefix, autoescape=True))
    if min_value is not None:
        cond.append(notices.c.value >= min_value)
    if max_value is not None:
        cond.append(notices.c.value <= max_value)
    if stage:
        cond.append(notices.c.stage == stage)
    if closing_after is not None:
        cond.append(notices.c.tender_deadline >= closing_after)
    if closing_before is not None:
        cond.append(notices.c.tender_deadline < closing_before)
    return cond


def console_filter_notices(conn: Connection, limit: int = 500, **filters: Any) -> list[dict[str, Any]]:
    """Tender notices for the console's filters (see _notice_conditions), newest first. CPV codes
    live in a JSON list, so the prefix is matched on its text form (`"7231` inside `["72310000", …]`)."""
    stmt = (select(notices).where(*_notice_conditions(**filters))
            .order_by(notices.c.published_at.desc(), notices.c.id).limit(limit))
    return [dict(r._mapping) for r in conn.execute(stmt)]


def count_notices(conn: Connection, first_seen_since: datetime | None = None, **filters: Any) -> int:
    """How many notices match the filters; with `first_seen_since`, only those stored since then."""
    cond = _notice_conditions(**filters)
    if first_seen_since is not None:
        cond.append(notices.c.first_seen_at >= first_seen_since)
    return int(conn.execute(select(func.count()).select_from(notices).where(*cond)).scalar_one())


def count_notices_many(conn: Connection, filter_sets: list[dict[str, Any]],
                       first_seen_since: datetime) -> list[tuple[int, int]]:
    """(matching, matching and first stored since then) for each set of filters, in one pass over
    the notices per 50 sets: the saved-search list counted one query at a time took 1 s for 20
    searches over 20,000 notices on SQLite."""
    out: list[tuple[int, int]] = []
    for start in range(0, len(filter_sets), 50):
        columns = []
        for filters in filter_sets[start:start + 50]:
            cond = and_(true(), *_notice_conditions(**filters))
            columns.append(func.coalesce(func.sum(case((cond, 1), else_=0)), 0))
            columns.append(func.coalesce(func.sum(case((and_(cond, notices.c.first_seen_at >= first_seen_since), 1),
                                                       else_=0)), 0))
        row = conn.execute(select(*columns).select_from(notices)).one()
        out.extend((int(row[i]), int(row[i + 1])) for i in range(0, len(row), 2))
    return out


def buyer_stories(conn: Connection, buyers: list[str], since: datetime, limit: int = 20) -> list[dict[str, Any]]:
    """Stories whose articles name one of these buyers in their title (the tenders page's related news)."""
    from storage import search

    names = sorted({b.strip() for b in buyers if b and len(b.strip()) >= 4})[:10]
    if not names:
        return []
    if conn.dialect.name == "postgresql":
        # Titles only, by substring: PostgreSQL's phrase search over title and text walked the date
        # index computing a tsvector per row (23 s at 50,000 articles in bench/console.py).
        cond = or_(*(func.lower(articles.c.title).contains(n.lower(), autoescape=True) for n in names))
        candidates = select(articles.c.id).where(cond, articles.c.published_at >= since)
    else:
        # The buyers' names as phrases, through the full-text index (a LIKE would scan every title).
        query = search.Query(clauses=[[search._words(b) for b in names if search._words(b)]])
        if not query.clauses[0]:
            return []
        hits = search.matching_ids(conn, query).subquery()
        candidates = select(hits.c.id)
    rows = conn.execute(select(stories.c.id, stories.c.headline, stories.c.last_seen_at, articles.c.title)
                        .join(articles, articles.c.story_id == stories.c.id)
                        .where(articles.c.id.in_(candidates), articles.c.published_at >= since)
                        .order_by(stories.c.last_seen_at.desc()).limit(limit * 20))
    # The index finds candidates; the buyer's exact name in a title decides ("Officers at home:
    # office hours" has the words of "Home Office" in order, not the name).
    lowered = [n.lower() for n in names]
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.id not in out and any(n in (r.title or "").lower() for n in lowered):
            out[r.id] = {"id": r.id, "headline": r.headline, "last_seen_at": r.last_seen_at}
    return list(out.values())[:limit]


def edit_source(conn: Connection, name: str, schedule: str, outlet: str | None) -> bool:
    res = conn.execute(update(sources).where(sources.c.name == name, sources.c.status != "removed")
                       .values(schedule=schedule, outlet=outlet or None, updated_at=datetime.now(timezone.utc)))
    return res.rowcount > 0


def days(end: date, n: int) -> list[date]:
    return [end - timedelta(days=n - 1 - i) for i in range(n)]
