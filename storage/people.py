"""Subscribers and the delivery ledger that makes every digest at-most-once."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select, update

from storage.schema import deliveries, subscribers
from storage.upsert import insert_ignore, upsert


def _now() -> datetime:
    return datetime.now(timezone.utc)


def save_subscriber(conn: Connection, email: str, name: str | None, profile: str, topics: list[str],
                    token: str) -> None:
    """Add or re-activate; the token of an existing subscriber never changes (old links keep working)."""
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
    cond = subscribers.c.email == email if email is not None else subscribers.c.token == token
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
    if existing["status"] == "retry":
        res = conn.execute(update(deliveries).where(
            deliveries.c.subscriber == subscriber, deliveries.c.week == week,
            deliveries.c.status == "retry").values(status="sending", attempts=existing["attempts"] + 1,
                                                   updated_at=_now()))
        if res.rowcount == 1:
            return {**existing, "status": "sending", "claimed": True}
    return {**existing, "claimed": False}


def finish_delivery(conn: Connection, subscriber: str, week: str, status: str, error: str | None = None) -> None:
    conn.execute(update(deliveries).where(deliveries.c.subscriber == subscriber, deliveries.c.week == week)
                 .values(status=status, error=error, updated_at=_now()))


def list_deliveries(conn: Connection, week: str | None = None) -> list[dict[str, Any]]:
    stmt = select(deliveries).order_by(deliveries.c.week, deliveries.c.subscriber)
    if week:
        stmt = stmt.where(deliveries.c.week == week)
    return [dict(r._mapping) for r in conn.execute(stmt)]
