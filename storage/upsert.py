"""Dialect-specific INSERT … ON CONFLICT, the one write primitive every re-runnable task uses."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(conn: Connection, table: Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str],
           update: Sequence[str] | None = None) -> int:
    """Insert rows; on a key conflict overwrite `update` columns (all non-key ones by default).

    Returns the rows written (rowcount is unreliable across drivers for upserts)."""
    if not rows:
        return 0
    stmt = _insert(conn, table)
    cols = update if update is not None else [c for c in rows[0] if c not in keys]
    if cols:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                          set_={c: stmt.excluded[c] for c in cols})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(stmt, list(rows))
    return len(rows)


def insert_ignore(conn: Connection, table: Table, row: dict[str, Any], keys: Sequence[str]) -> bool:
    """Insert one row unless its key exists; True when this call created it (the race winner)."""
    # RETURNING, not rowcount: psycopg 3 under SQLAlchemy 2.1 reports -1 for these inserts.
    stmt = (_insert(conn, table).values(**row).on_conflict_do_nothing(index_elements=list(keys))
            .returning(table.c[keys[0]]))
    return conn.execute(stmt).first() is not None


def insert_new(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], key: str) -> set[Any]:
    """Insert many rows, skipping keys that exist; the keys this call created (the race winners).

    One prepared statement for the whole batch (SQLAlchemy's insertmanyvalues sends it as a few
    multi-row INSERT … RETURNING), not a statement built and compiled per row."""
    if not rows:
        return set()
    stmt = _insert(conn, table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
    return {r[0] for r in conn.execute(stmt, list(rows))}
