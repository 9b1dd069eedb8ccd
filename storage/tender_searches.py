"""Saved tender searches: rows of the Tenders page's filters under a unique name.

Validation lives in pipelines/tender_searches.py; these functions store what they are given.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from storage.schema import tender_searches

#: The filter columns, in the Tenders page's order.
FILTERS = ("buyer", "cpv", "min_value", "max_value", "stage", "closing_from", "closing_to")


def list_searches(conn: Connection) -> list[dict[str, Any]]:
    """By name, case-insensitively, so the list reads like an index."""
    rows = conn.execute(select(tender_searches).order_by(func.lower(tender_searches.c.name), tender_searches.c.id))
    return [dict(r._mapping) for r in rows]


def get_search(conn: Connection, search_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(tender_searches).where(tender_searches.c.id == search_id)).first()
    return dict(row._mapping) if row else None


def name_taken(conn: Connection, name: str, except_id: int | None = None) -> str | None:
    """The name of another search called this, case-insensitively ("Police IT" and "police it"
    side by side in a list would only confuse), or None."""
    stmt = select(tender_searches.c.name).where(func.lower(tender_searches.c.name) == name.lower())
    if except_id is not None:
        stmt = stmt.where(tender_searches.c.id != except_id)
    return conn.execute(stmt.limit(1)).scalar()


def create_search(conn: Connection, name: str, filters: dict[str, Any], created_by: str,
                  now: datetime | None = None) -> int:
    now = now or datetime.now(timezone.utc)
    values = {k: filters.get(k) for k in FILTERS}
    res = conn.execute(insert(tender_searches).values(name=name, created_by=created_by, created_at=now,
                                                      updated_at=now, **values))
    new_id = res.inserted_primary_key[0] if res.inserted_primary_key else None
    if new_id is None:  # pragma: no cover - every supported driver returns the key
        new_id = conn.execute(select(tender_searches.c.id).where(tender_searches.c.name == name)).scalar_one()
    return int(new_id)


def update_search(conn: Connection, search_id: int, name: str, filters: dict[str, Any],
                  now: datetime | None = None) -> bool:
    """Replaces the name and every filter; False when there is no such search."""
    values = {k: filters.get(k) for k in FILTERS}
    res = conn.execute(update(tender_searches).where(tender_searches.c.id == search_id)
                       .values(name=name, updated_at=now or datetime.now(timezone.utc), **values))
    return res.rowcount > 0


def delete_search(conn: Connection, search_id: int) -> bool:
    return conn.execute(delete(tender_searches).where(tender_searches.c.id == search_id)).rowcount > 0
