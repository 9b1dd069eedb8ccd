"""Procurement notices (OCDS releases): idempotent upsert by release, reads for the digest.

A release is immutable in OCDS (a change is a new release with a new id), so a release seen again
adds nothing; the notice id is derived from (ocid, release id) and a re-collect cannot mint a row.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
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
        row["id"] = notice_id(f"{row['ocid']}", f"{row['release_id']}")
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


def all_notices(conn: Connection, since: datetime | None = None,
                until: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every stored release (published in [since, until) when given), oldest published first: the
    export's order, stable across runs."""
    stmt = select(notices).order_by(notices.c.published_at, notices.c.id)
    if since is not None:
        stmt = stmt.where(notices.c.published_at >= since)
    if until is not None:
        stmt = stmt.where(notices.c.published_at < until)
    for r in conn.execute(stmt):
        yield dict(r._mapping)


def filtered(conn: Connection, *, buyer: str | None = None, cpv: str | None = None,
             min_value: float | None = None, max_value: float | None = None, stage: str | None = None,
             closing_before: datetime | None = None, published_from: datetime | None = None,
             published_to: datetime | None = None) -> list[dict[str, Any]]:
    """`tenders list`: every stored release matching all the given filters, newest first.

    Dates, stage and value are filtered in SQL; the buyer (case-insensitive substring) and CPV
    prefix in Python, because the JSON list and Unicode case folding differ between SQLite and
    PostgreSQL and the notice table is small (the relevant few per week)."""
    stmt = select(notices).order_by(notices.c.published_at.desc(), notices.c.id)
    if stage:
        stmt = stmt.where(notices.c.stage == stage)
    if min_value is not None:
        stmt = stmt.where(notices.c.value >= min_value)
    if max_value is not None:
        stmt = stmt.where(notices.c.value <= max_value)
    if closing_before is not None:
        stmt = stmt.where(notices.c.tender_deadline < closing_before)
    if published_from is not None:
        stmt = stmt.where(notices.c.published_at >= published_from)
    if published_to is not None:
        stmt = stmt.where(notices.c.published_at < published_to)
    folded = buyer.casefold() if buyer else None
    out = []
    for r in conn.execute(stmt):
        row = dict(r._mapping)
        if folded and folded not in (row["buyer"] or "").casefold():
            continue
        if cpv and not any(str(code).startswith(cpv) for code in row["cpv"] or []):
            continue
        out.append(row)
    return out


def closing_between(conn: Connection, start: datetime, end: datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Deadline reminders: tenders whose deadline falls in [start, end), soonest first, whenever
    they were published, one per contracting process (its latest release that has a deadline)."""
    rows = conn.execute(select(notices).where(notices.c.tender_deadline >= start, notices.c.tender_deadline < end)
                        .order_by(notices.c.ocid, notices.c.published_at.desc(), notices.c.id))
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        latest.setdefault(r.ocid, dict(r._mapping))
    if latest:  # a process already awarded is no longer open for bids, whatever its old deadline
        decided = {r.ocid for r in conn.execute(select(notices.c.ocid).where(
            notices.c.ocid.in_(list(latest)), notices.c.stage.in_(("award", "contract"))))}
        latest = {k: v for k, v in latest.items() if k not in decided}
    return sorted(latest.values(), key=lambda n: (n["tender_deadline"], n["id"]))[:limit]
