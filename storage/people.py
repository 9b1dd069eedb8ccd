"""Subscribers and the delivery ledger that makes every digest at-most-once."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, func, select, update

from storage.schema import deliveries, subscribers
from storage.upsert import insert_ignore, upsert


def _now() -> datetime:
    return datetime.now(timezone.utc)


def save_subscriber(conn: Connection, email: str, name: str | None, profile: str, topics: list[str],
                    token: str) -> None:
    """Add or re-activate; the token of an existing subscriber never changes (old links keep working).
    Addresses are stored lower-cased: ZOE@X.EXAMPLE and zoe@x.example are one subscriber."""
    email = email.strip().lower()
    existing = conn.execute(select(subscribers.c.token).where(subscribers.c.email == email)).first()
    if existing:
        conn.execute(update(subscribers).where(subscribers.c.email == email)
                     .values(name=name, profile=profile, topics=topics, status="active"))
        return
    upsert(conn, subscribers, [{"email": email, "name": name, "profile": profile, "topics": topics,
                                "token": token, "status": "active", "created_at": _now()}], ["email"])


def list_subscribers(conn: Connection, active_only: bool = True) -> list[dict[str, Any]]:
    stmt = select(subscribers).order_by(subscribers.c.email)
    if active_only:
        stmt = stmt.where(subscribers.c.status == "active")
    return [dict(r._mapping) for r in conn.execute(stmt)]


def subscriber_by_token(conn: Connection, token: str) -> dict[str, Any] | None:
    row = conn.execute(select(subscribers.c.email, subscribers.c.status).where(subscribers.c.token == token)).first()
    return dict(row._mapping) if row else None


def set_subscriber_status(conn: Connection, *, email: str | None = None, token: str | None = None,
                          status: str) -> str | None:
    """Set the status by email or token; returns the email it applied to (None when unknown)."""
    cond = subscribers.c.email == email.strip().lower() if email is not None else subscribers.c.token == token
    row = conn.execute(select(subscribers.c.email, subscribers.c.status).where(cond)).first()
    if row is None:
        return None
    if not (row.status == "removed" and status == "unsubscribed"):  # removal outranks unsubscribing
        conn.execute(update(subscribers).where(cond).values(status=status))
    return str(row.email)


def claim_delivery(conn: Connection, subscriber: str, week: str, message_id: str) -> dict[str, Any]:
    """Create the ledger row as "sending" (committed before SMTP), or return the existing one.

    The returned row has `claimed=True` only for the caller that created it or that may retry it
    (status "retry" after a transient failure); everyone else must not send.
    """
    row = {"subscriber": subscriber, "week": week, "message_id": message_id, "status": "sending",
           "attempts": 1, "error": None, "updated_at": _now()}
    if insert_ignore(conn, deliveries, row, ["subscriber", "week"]):
        return {**row, "claimed": True}
    existing = dict(conn.execute(select(deliveries).where(
        deliveries.c.subscriber == subscriber, deliveries.c.week == week)).one()._mapping)
    if existing["status"] in ("retry", "skipped"):
        res = conn.execute(update(deliveries).where(
            deliveries.c.subscriber == subscriber, deliveries.c.week == week,
            deliveries.c.status == existing["status"]).values(message_id=message_id, status="sending",
                                                               attempts=existing["attempts"] + 1,
                                                               updated_at=_now()))
        if res.rowcount == 1:
            return {**existing, "status": "sending", "claimed": True}
    return {**existing, "claimed": False}


def skip_delivery(conn: Connection, subscriber: str, week: str, message_id: str, why: str) -> bool:
    """Record that `week` had nothing to send `subscriber` ("skipped"). The week is not burnt: a
    skipped row is claimed by a later send like a retry. Never overwrites a row in any other state
    (a sent digest stays sent). True when the row is (now) skipped."""
    row = {"subscriber": subscriber, "week": week, "message_id": message_id, "status": "skipped",
           "attempts": 0, "error": why, "updated_at": _now()}
    if insert_ignore(conn, deliveries, row, ["subscriber", "week"]):
        return True
    res = conn.execute(update(deliveries).where(deliveries.c.subscriber == subscriber, deliveries.c.week == week,
                                                deliveries.c.status == "skipped")
                       .values(error=why, updated_at=_now()))
    return (res.rowcount or 0) == 1


def merge_case_duplicates(conn: Connection) -> int:
    """Fold subscribers whose addresses differ only by case into one lower-case row; returns rows
    removed. The earliest row is kept (its token is in the oldest mails); the latest row's profile,
    topics and name win (the most recent choice); an unsubscribe or removal under either spelling
    stands (removed outranks unsubscribed outranks active)."""
    c = subscribers.c  # named columns only: this runs inside migration 0010, before later columns exist
    rows = [dict(r._mapping) for r in conn.execute(select(c.email, c.name, c.profile, c.topics, c.status)
                                                   .order_by(c.created_at, c.email))]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["email"].strip().lower(), []).append(r)
    rank = {"active": 0, "unsubscribed": 1, "removed": 2}
    removed = 0
    for lower, group in groups.items():
        if len(group) == 1 and group[0]["email"] == lower:
            continue
        keep, latest = group[0], group[-1]
        status = max((g["status"] for g in group), key=lambda s: rank.get(s, 0))
        for g in group[1:]:
            conn.execute(subscribers.delete().where(subscribers.c.email == g["email"]))
            removed += 1
        conn.execute(update(subscribers).where(subscribers.c.email == keep["email"]).values(
            email=lower, status=status, profile=latest["profile"], topics=latest["topics"], name=latest["name"]))
    for d in [dict(r._mapping) for r in conn.execute(select(deliveries.c.subscriber, deliveries.c.week,
                                                            deliveries.c.status).where(
            deliveries.c.subscriber != func.lower(deliveries.c.subscriber)))]:
        lower = d["subscriber"].lower()
        twin = conn.execute(select(deliveries.c.status).where(deliveries.c.subscriber == lower,
                                                              deliveries.c.week == d["week"])).first()
        cond = (deliveries.c.subscriber == d["subscriber"]) & (deliveries.c.week == d["week"])
        if twin is None:
            conn.execute(update(deliveries).where(cond).values(subscriber=lower))
        elif d["status"] == "sent" or twin.status != "sent":
            # One person, one week: the ledger keeps the strongest evidence that it was sent.
            conn.execute(deliveries.delete().where((deliveries.c.subscriber == lower)
                                                   & (deliveries.c.week == d["week"])))
            conn.execute(update(deliveries).where(cond).values(subscriber=lower))
        else:
            conn.execute(deliveries.delete().where(cond))
    return removed


def finish_delivery(conn: Connection, subscriber: str, week: str, status: str, error: str | None = None) -> None:
    conn.execute(update(deliveries).where(deliveries.c.subscriber == subscriber, deliveries.c.week == week)
                 .values(status=status, error=error, updated_at=_now()))


def list_deliveries(conn: Connection, week: str | None = None) -> list[dict[str, Any]]:
    stmt = select(deliveries).order_by(deliveries.c.week, deliveries.c.subscriber)
    if week:
        stmt = stmt.where(deliveries.c.week == week)
    return [dict(r._mapping) for r in conn.execute(stmt)]
