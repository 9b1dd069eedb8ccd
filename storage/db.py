"""Engines and migrations: SQLite by default (WAL, busy timeout, BEGIN IMMEDIATE), PostgreSQL by URL.

Every writer opens its transaction with BEGIN IMMEDIATE on SQLite so read-then-write sequences
take the write lock up front instead of failing with "database is locked" at commit
(sqlite.org/lang_transaction.html; SQLAlchemy's pysqlite "serializable isolation" recipe).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 60

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class StorageError(RuntimeError):
    """A database problem worth one clear line to the user (bad URL, disk full, unreachable)."""


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below (pysqlite otherwise defers BEGIN).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode is corruption-safe; a power loss can drop the last commits (see README).
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "DEFERRED" if conn.get_execution_options().get("readonly") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def get_engine(url: str) -> Engine:
    """One migrated engine per URL per process."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            try:
                if url.startswith("sqlite"):
                    engine = _sqlite_engine(url)
                else:
                    engine = create_engine(url, pool_pre_ping=True)
                migrate(engine)
            except StorageError:
                raise
            except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear line
                raise StorageError(f"cannot open database {make_url(url).render_as_string()}: {exc}") from exc
            _engines[url] = engine
        return engine


def dispose_all() -> None:
    """Forget cached engines (tests and forked workers)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def migrate(engine: Engine) -> None:
    """Apply Alembic migrations to head, serialised across processes by the database's own lock."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(814451)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction (BEGIN IMMEDIATE on SQLite)."""
    with engine.begin() as conn:
        yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read transaction that never takes SQLite's write lock, so readers never block writers."""
    with engine.connect().execution_options(readonly=True) as conn, conn.begin():
        yield conn
