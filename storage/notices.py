"""Procurement notices (OCDS releases): idempotent upsert by release, reads for the digest.

A release is immutable in OCDS (a change is a new release with a new id), so a release seen again
adds nothing; the notice id is derived from (ocid, release id) and a re-collect cannot mint a row.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select

from storage.schema import notices
from storage.upsert import insert_ignore

#: Columns a caller may set (id and first_seen_at are ours).
FIELDS = ("ocid", "release_id", "source", "title", "description", "buyer", "suppliers", "value", "currency",
          "cpv", "stage", "published_at", "tender_deadline", "url", "matched")


def notice_id(ocid: str, release_id: str) -> str:
    """sha256(ocid + release id)[:20]: stable across passes, publishers and backends."""
    return hashlib.sha256(f"{ocid}{release_id}".encode()).hexdigest()[:20]


@dataclass
class NoticeCounts:
    new: int = 0
    known: int = 0


def known_ids(conn: Connection, ids: Iterable[str]) -> set[str]:
    wanted = list(ids)
    if not wanted:
        return set()
    return {r[0] for r in conn.execute(select(notices.c.id).where(notices.c.id.in_(wanted)))}


def store_notices(conn: Connection, items: Iterable[dict[str, Any]], now: datetime | None = None) -> NoticeCounts:
    """Insert releases not stored yet; a release seen again is counted as known, never rewritten."""
    counts = NoticeCounts()
    now = now or datetime.now(timezone.utc)
    for item in items:
        row = {k: item.get(k) for k in FIELDS}
        row["id"] = notice_id(row["ocid"], row["release_id"])
        row["first_seen_at"] = now
        row["description"] = row["description"] or ""
        row["suppliers"] = list(row["suppliers"] or [])
        row["cpv"] = list(row["cpv"] or [])
        row["matched"] = list(row["matched"] or [])
        if insert_ignore(conn, notices, row, ["id"]):
            counts.new += 1
        else:
            counts.known += 1
    return counts


def list_notices(conn: Connection, source: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Newest first."""
    stmt = select(notices).order_by(notices.c.published_at.desc(), notices.c.id).limit(limit)
    if source:
        stmt = stmt.where(notices.c.source == source)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def notices_between(conn: Connection, start: datetime, end: datetime, limit: int = 200) -> list[dict[str, Any]]:
    """Notices published in [start, end), newest first, one per contracting process (its latest
    release), so a tender and its award in one week read as one line in the digest."""
    rows = conn.execute(select(notices).where(notices.c.published_at >= start, notices.c.published_at < end)
                        .order_by(notices.c.published_at.desc(), notices.c.id))
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in rows:
        if r.ocid in seen:
            continue
        seen.add(r.ocid)
        out.append(dict(r._mapping))
        if len(out) >= limit:
            break
    return out
