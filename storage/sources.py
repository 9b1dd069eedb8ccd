"""The source registry and its fetch log: what analysts add, and how each source is doing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, func, literal_column, select, update

from storage.redact import redact
from storage.schema import articles, fetch_log, notices, sources
from storage.upsert import upsert


def save_source(conn: Connection, src: dict[str, Any]) -> str:
    """Add or update one source; returns "added", "updated" or "unchanged"."""
    now = datetime.now(timezone.utc)
    existing = conn.execute(select(sources).where(sources.c.name == src["name"])).first()
    fields = {k: src[k] for k in ("kind", "url", "schedule", "tags", "options")}
    fields["outlet"] = src.get("outlet")  # the file is the truth: an `outlet:` removed clears it
    if existing is None:
        upsert(conn, sources, [{"name": src["name"], **fields, "status": src.get("status") or "active",
                                "created_at": now, "updated_at": now}], ["name"])
        return "added"
    changed = {k: v for k, v in fields.items() if existing._mapping[k] != v}
    if existing.status == "removed":
        changed["status"] = "active"
    if not changed:
        return "unchanged"
    conn.execute(update(sources).where(sources.c.name == src["name"]).values(**changed, updated_at=now))
    return "updated"


def get_source(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(sources).where(sources.c.name == name)).first()
    return dict(row._mapping) if row else None


def list_sources(conn: Connection, include_removed: bool = False) -> list[dict[str, Any]]:
    stmt = select(sources).order_by(sources.c.name)
    if not include_removed:
        stmt = stmt.where(sources.c.status != "removed")
    return [dict(r._mapping) for r in conn.execute(stmt)]


def outlet_names(conn: Connection) -> dict[str, str]:
    """Source name -> the outlet name readers see: the file's `outlet`, else the learned one, else
    the source name itself (a slug is better than nothing, and tells an analyst what to set)."""
    rows = conn.execute(select(sources.c.name, sources.c.outlet, sources.c.outlet_learned))
    return {r.name: (r.outlet or r.outlet_learned or r.name) for r in rows}


def save_outlet_learned(conn: Connection, name: str, outlet: str | None) -> None:
    """What collection learnt the outlet is called (never overrides the file's `outlet`)."""
    conn.execute(update(sources).where(sources.c.name == name).values(outlet_learned=outlet))


def set_status(conn: Connection, name: str, status: str) -> bool:
    res = conn.execute(update(sources).where(sources.c.name == name)
                       .values(status=status, updated_at=datetime.now(timezone.utc)))
    return (res.rowcount or 0) > 0


def save_validators(conn: Connection, name: str, etag: str | None, last_modified: str | None,
                    body_hash: str | None) -> None:
    """Remember what the feed looked like, for the next conditional GET."""
    conn.execute(update(sources).where(sources.c.name == name)
                 .values(etag=etag, last_modified=last_modified, body_hash=body_hash))


def save_cursor(conn: Connection, name: str, cursor: str | None) -> None:
    """Where a paged source resumes next pass (None: from its own URL)."""
    conn.execute(update(sources).where(sources.c.name == name).values(cursor=cursor))


def log_fetch(conn: Connection, entry: dict[str, Any]) -> None:
    """One fetch-log line; its message is redacted (a crawl's stderr may quote a URL's userinfo)."""
    if entry.get("message"):
        entry = {**entry, "message": redact(entry["message"])}
    conn.execute(fetch_log.insert().values(**entry))


def _redacted(row: Any) -> dict[str, Any]:
    """A fetch-log row as read back: redacted again, for lines written before redaction existed."""
    out = dict(row._mapping)
    out["message"] = redact(out.get("message"))
    return out


def health(conn: Connection, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Per source: last success, last error (with message), items first seen in the last 7 days."""
    now = now or datetime.now(timezone.utc)
    out: dict[str, dict[str, Any]] = {}
    ok = conn.execute(select(fetch_log.c.source, func.max(fetch_log.c.finished_at))
                      .where(fetch_log.c.status != "error").group_by(fetch_log.c.source))
    for name, when in ok:
        out.setdefault(name, {})["last_success"] = when
    # The newest error and the newest warning separately: a later "deferred" warning must not hide
    # the error that caused it.
    for status, key in (("error", "last_error"), ("warning", "last_warning")):
        latest = (select(fetch_log.c.source, func.max(fetch_log.c.id).label("id"))
                  .where(fetch_log.c.status == status).group_by(fetch_log.c.source).subquery())
        for r in conn.execute(select(fetch_log).join(latest, fetch_log.c.id == latest.c.id)):
            h = out.setdefault(r.source, {})
            h[key] = r.finished_at
            h[key + "_message"] = redact(r.message)
    # On SQLite, unary + stops the planner walking the (source, title_key) index over every
    # article for the grouping: the week's rows come from the first_seen_at index instead.
    src = literal_column("+articles.source") if conn.dialect.name == "sqlite" else articles.c.source
    recent = conn.execute(select(src, func.count())
                          .where(articles.c.first_seen_at >= now - timedelta(days=7))
                          .group_by(src))
    for name, n in recent:
        out.setdefault(name, {})["items_7d"] = n
    # An ocds source's items are notices: counted as its items (and separately, for `sources list`).
    fresh = conn.execute(select(notices.c.source, func.count())
                         .where(notices.c.first_seen_at >= now - timedelta(days=7)).group_by(notices.c.source))
    for name, n in fresh:
        h = out.setdefault(name, {})
        h["items_7d"] = h.get("items_7d", 0) + n
        h["notices_7d"] = n
    return out


def last_fetch_id(conn: Connection) -> int:
    return int(conn.execute(select(func.max(fetch_log.c.id))).scalar() or 0)


def fetch_history(conn: Connection, name: str, limit: int = 20) -> list[dict[str, Any]]:
    rows = conn.execute(select(fetch_log).where(fetch_log.c.source == name)
                        .order_by(fetch_log.c.id.desc()).limit(limit))
    return [_redacted(r) for r in rows]


def fetches_between(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every fetch-log line in [start, end), oldest first (the digest's coverage statement)."""
    rows = conn.execute(select(fetch_log).where(fetch_log.c.finished_at >= start, fetch_log.c.finished_at < end)
                        .order_by(fetch_log.c.id))
    return [_redacted(r) for r in rows]


def save_polling(conn: Connection, name: str, values: dict[str, Any]) -> None:
    """Write the polling columns computed by core.polling.after_pass."""
    conn.execute(update(sources).where(sources.c.name == name).values(**values))

