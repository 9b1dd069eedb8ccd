"""Article reads and writes: upsert by canonical URL, versions on changed text, processing results."""
from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from storage.article import Article, title_key, url_key
from storage.schema import article_events, article_tags, article_versions, articles, stories
from storage.upsert import insert_new, upsert


@dataclass
class UpsertCounts:
    new: int = 0
    known: int = 0
    updated: int = 0


def _now() -> datetime:
    return datetime.now(timezone.utc)


def store_articles(conn: Connection, items: Iterable[Article]) -> UpsertCounts:
    """Insert new articles, count known ones, and add a version when the text changed.

    Run inside one write transaction per batch so a killed collector leaves whole batches only.
    New articles (nearly all of a crawl) go in as one batched insert; an article whose URL is
    already stored, or repeated within the batch, takes the one-by-one path that compares texts.
    """
    counts = UpsertCounts()
    batch = list(items)
    rows = [_row(art) for art in batch]
    first: dict[str, int] = {}  # canonical URL → its first copy in the batch
    for i, row in enumerate(rows):
        first.setdefault(row["canonical_url"], i)
    created = insert_new(conn, articles, [rows[i] for i in first.values()], "canonical_url")
    fresh = sorted(i for url, i in first.items() if url in created)
    upsert(conn, article_versions, [_version(batch[i], 1, rows[i]["content_hash"], rows[i]["fetched_at"])
                                    for i in fresh], ["article_id", "version"])
    counts.new = len(fresh)
    for i in sorted(set(range(len(batch))) - set(fresh)):
        if _store_known(conn, batch[i], rows[i]):
            counts.updated += 1
        else:
            counts.known += 1
    return counts


def _row(art: Article) -> dict[str, Any]:
    fetched = art.fetched_at or _now()
    return {
        "id": art.id, "canonical_url": art.canonical_url, "url": art.url, "source": art.source,
        "guid": art.guid, "title": art.title, "text": art.text, "summary": art.summary,
        "published_at": art.published_at or fetched, "published_flag": art.published_flag,
        "authors": list(art.authors), "language": art.language, "extraction": art.extraction,
        "modified_at": art.modified_at, "section": art.section,
        "first_seen_at": fetched, "fetched_at": fetched, "content_hash": art.content_hash, "version": 1,
        "url_key": url_key(art.canonical_url), "title_key": title_key(art.title),
    }


def _store_known(conn: Connection, art: Article, row: dict[str, Any]) -> bool:
    """An already-stored URL: True when its text changed and a new version was added."""
    chash, fetched = row["content_hash"], row["fetched_at"]
    current = conn.execute(
        select(articles.c.content_hash, articles.c.version, articles.c.extraction)
        .where(articles.c.canonical_url == art.canonical_url)
    ).one()
    if current.content_hash == chash or (art.extraction == "feed-summary" and current.extraction != "feed-summary"):
        return False  # same text, or a feed-only copy of a page we already read in full
    version = current.version + 1
    conn.execute(
        update(articles).where(articles.c.canonical_url == art.canonical_url).values(
            url=art.url, title=art.title, text=art.text, summary=art.summary or articles.c.summary,
            authors=list(art.authors), language=art.language, extraction=art.extraction,
            modified_at=art.modified_at, section=art.section, fetched_at=fetched, content_hash=chash,
            version=version, title_key=title_key(art.title),
        )
    )
    upsert(conn, article_versions, [_version(art, version, chash, fetched)], ["article_id", "version"])
    return True


#: gzip level of the raw page snapshot. Measured on real news pages (~440 KB): level 9, gzip's
#: default, took 12.6 ms a page, more than a quarter of the page's whole extraction (45 ms), for
#: 27% of the size; level 1 takes 4.0 ms for 30%. The snapshot is read back rarely (rechecks).
RAW_GZIP_LEVEL = 1


def _version(art: Article, version: int, chash: str, fetched: datetime) -> dict[str, Any]:
    return {
        "article_id": art.id, "version": version, "content_hash": chash, "title": art.title,
        "text": art.text, "fetched_at": fetched, "extraction": art.extraction,
        "raw_html_gz": gzip.compress(art.raw_html, RAW_GZIP_LEVEL) if art.raw_html else None,
        "raw_title": art.raw_title or None,
    }


def raw_titles(conn: Connection, source: str, limit: int = 60) -> list[str]:
    """The newest pages' <title>s as fetched (provenance), for the name a source's titles share."""
    rows = conn.execute(
        select(article_versions.c.raw_title).join(articles, articles.c.id == article_versions.c.article_id)
        .where(articles.c.source == source, article_versions.c.raw_title.is_not(None))
        .order_by(article_versions.c.fetched_at.desc()).limit(limit))
    return [r.raw_title for r in rows if r.raw_title]


def retitle(conn: Connection, source: str, names: Sequence[str], clean: Callable[[str, str | None], str]) -> int:
    """Headlines of `source` that still hold one of the outlet's `names` (learnt after they were
    stored), replaced by `clean(title, raw_title)`; the raw title stays on the version row.
    Returns how many changed."""
    names = [n for n in names if n and len(n) >= 2]
    if not names:
        return 0
    version = and_(article_versions.c.article_id == articles.c.id, article_versions.c.version == articles.c.version)
    rows = conn.execute(
        select(articles.c.id, articles.c.title, article_versions.c.raw_title)
        .select_from(articles.outerjoin(article_versions, version))
        .where(articles.c.source == source, or_(*[articles.c.title.contains(n, autoescape=True) for n in names])))
    changed = 0
    for row in rows.all():
        title = clean(row.title, row.raw_title)
        if title and title != row.title:
            conn.execute(update(articles).where(articles.c.id == row.id)
                         .values(title=title, title_key=title_key(title)))
            changed += 1
    return changed


def known_urls(conn: Connection, canonical_urls: Sequence[str]) -> set[str]:
    """Which of these canonical URLs are stored already (full text, not a feed-summary stand-in)."""
    if not canonical_urls:
        return set()
    rows = conn.execute(select(articles.c.canonical_url).where(
        articles.c.canonical_url.in_(list(canonical_urls)), articles.c.extraction != "feed-summary"))
    return {r[0] for r in rows}


def stored_by_url_key(conn: Connection, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """For each URL-variant key (`url_key`: scheme, www., trailing slash ignored), the first-seen
    stored article with it: canonical_url, fetched_at, extraction. Lets a collector recognise an
    http/https or www. twin of a stored page, and know when it last read it (to refetch an entry
    the feed says was updated since)."""
    out: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 500):
        rows = conn.execute(
            select(articles.c.url_key, articles.c.canonical_url, articles.c.fetched_at, articles.c.extraction)
            .where(articles.c.url_key.in_(unique[start:start + 500]))
            .order_by(articles.c.first_seen_at, articles.c.id))
        for r in rows:
            out.setdefault(r.url_key, dict(r._mapping))
    return out


def pending(conn: Connection) -> list[dict[str, Any]]:
    """Articles whose current text has not been processed, oldest first (first-seen wins dedup)."""
    rows = conn.execute(
        select(articles).where(or_(articles.c.processed_hash.is_(None),
                                   articles.c.processed_hash != articles.c.content_hash))
        .order_by(articles.c.first_seen_at, articles.c.id)
    )
    return [dict(r._mapping) for r in rows]


def all_articles(conn: Connection, since: datetime | None = None, until: datetime | None = None,
                 columns: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    cols = [articles.c[c] for c in columns] if columns else [articles]
    stmt = select(*cols).order_by(articles.c.first_seen_at, articles.c.id)
    if since is not None:
        stmt = stmt.where(articles.c.published_at >= since)
    if until is not None:
        stmt = stmt.where(articles.c.published_at < until)
    for r in conn.execute(stmt):
        yield dict(r._mapping)


def save_results(conn: Connection, results: Sequence[dict[str, Any]]) -> int:
    """Overwrite processing results (deterministic, so a re-run converges to the same rows)."""
    for res in results:
        values = {k: v for k, v in res.items() if k not in ("id", "tags")}
        conn.execute(update(articles).where(articles.c.id == res["id"]).values(**values))
        if "tags" in res:
            conn.execute(delete(article_tags).where(article_tags.c.article_id == res["id"]))
            upsert(conn, article_tags, [
                {"article_id": res["id"], "slug": t["slug"], "evidence": t["evidence"],
                 "polarity": t.get("polarity")} for t in res["tags"]
            ], ["article_id", "slug"])
    return len(results)


def tags_for(conn: Connection, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return out
    for chunk_start in range(0, len(ids), 500):
        chunk = list(ids[chunk_start:chunk_start + 500])
        rows = conn.execute(select(article_tags).where(article_tags.c.article_id.in_(chunk))
                            .order_by(article_tags.c.article_id, article_tags.c.slug))
        for r in rows:
            out[r.article_id].append(dict(r._mapping))
    return out


def save_stories(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    return upsert(conn, stories, rows, ["id"])


def stories_since(conn: Connection, since: datetime, limit: int | None = None) -> list[dict[str, Any]]:
    """Stories still developing after `since` (at most the `limit` most recent), oldest first, each
    with `leads`: the titles and opening text of its original articles (candidates for a thread)."""
    stmt = select(stories).where(stories.c.last_seen_at >= since).order_by(stories.c.last_seen_at.desc(),
                                                                           stories.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = sorted((dict(r._mapping) for r in conn.execute(stmt)), key=lambda r: (r["first_seen_at"], r["id"]))
    leads: dict[str, list[str]] = {}
    ids = [r["id"] for r in rows]
    for start in range(0, len(ids), 500):
        for sid, title, text in conn.execute(
                select(articles.c.story_id, articles.c.title, func.substr(articles.c.text, 1, 600))
                .where(articles.c.story_id.in_(ids[start:start + 500]), articles.c.duplicate_of.is_(None))):
            leads.setdefault(sid, []).append(f"{title}. {text}")
    for r in rows:
        r["leads"] = leads.get(r["id"], [])
    return rows


def thread_starts(conn: Connection, thread_ids: Sequence[str], before: datetime) -> dict[str, str]:
    """For each thread, the headline of its first story seen before `before` (the saga's name)."""
    out: dict[str, str] = {}
    if not thread_ids:
        return out
    rows = conn.execute(select(stories.c.thread_id, stories.c.headline)
                        .where(stories.c.thread_id.in_(list(thread_ids)), stories.c.first_seen_at < before)
                        .order_by(stories.c.first_seen_at))
    for tid, headline in rows:
        out.setdefault(tid, headline)
    return out


def stories_by_id(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = conn.execute(select(stories).where(stories.c.id.in_(list(ids))))
    return {r.id: dict(r._mapping) for r in rows}


DIGEST_COLUMNS = ("id", "canonical_url", "url", "source", "title", "published_at", "extraction", "duplicate_of",
                  "story_id", "relevance", "relevant", "relevance_reason", "sentiment_label")


def week_articles(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Processed articles published in [start, end), without their text (a digest never needs
    it, and a busy week's text would dominate the digest's memory)."""
    rows = conn.execute(
        select(*(articles.c[c] for c in DIGEST_COLUMNS))
        .where(and_(articles.c.published_at >= start, articles.c.published_at < end,
                    articles.c.processed_hash == articles.c.content_hash))
        .order_by(articles.c.published_at, articles.c.id)
    )
    return [dict(r._mapping) for r in rows]


def tag_polarities(conn: Connection, start: datetime, end: datetime,
                   slugs: Sequence[str]) -> list[tuple[datetime, str, float]]:
    """(published_at, slug, stance polarity) of relevant original articles in [start, end)."""
    if not slugs:
        return []
    rows = conn.execute(
        select(articles.c.published_at, article_tags.c.slug, article_tags.c.polarity)
        .join(article_tags, article_tags.c.article_id == articles.c.id)
        .where(articles.c.published_at >= start, articles.c.published_at < end, articles.c.relevant.is_(True),
               articles.c.duplicate_of.is_(None), article_tags.c.slug.in_(list(slugs)),
               article_tags.c.polarity.is_not(None))
    )
    return [(r[0], r[1], r[2]) for r in rows]


def add_event(conn: Connection, article_id: str, kind: str, detail: str | None) -> None:
    """Record an edit, correction or takedown the recheck pass found."""
    conn.execute(article_events.insert().values(article_id=article_id, kind=kind, detail=detail,
                                                detected_at=datetime.now(timezone.utc)))


def events_between(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(article_events.c.kind, article_events.c.detail, article_events.c.detected_at,
               articles.c.id, articles.c.title, articles.c.url, articles.c.canonical_url, articles.c.source)
        .join(articles, articles.c.id == article_events.c.article_id)
        .where(article_events.c.detected_at >= start, article_events.c.detected_at < end)
        .order_by(article_events.c.detected_at))
    return [dict(r._mapping) for r in rows]


def recheck_targets(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Relevant original articles published since `since`: the ones digests have carried."""
    rows = conn.execute(
        select(articles.c.id, articles.c.url, articles.c.canonical_url, articles.c.content_hash, articles.c.text)
        .where(articles.c.published_at >= since, articles.c.relevant.is_(True), articles.c.duplicate_of.is_(None),
               articles.c.extraction == "trafilatura")
        .order_by(articles.c.published_at))
    return [dict(r._mapping) for r in rows if "#" not in r.canonical_url]
