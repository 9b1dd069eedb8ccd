"""Engines and migrations: SQLite by default (WAL, busy timeout, BEGIN IMMEDIATE), PostgreSQL by URL.

Every writer opens its transaction with BEGIN IMMEDIATE on SQLite so read-then-write sequences
take the write lock up front instead of failing with "database is locked" at commit
(sqlite.org/lang_transaction.html; SQLAlchemy's pysqlite "serializable isolation" recipe).
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

#: Alembic's package-resource form: found in the installed `storage` package, wherever that is.
MIGRATIONS = "storage:migrations"
BUSY_TIMEOUT_S = 60

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class StorageError(RuntimeError):
    """A database problem worth one clear line to the user (bad URL, disk full, unreachable)."""


class StorageFull(StorageError):
    """The database cannot grow (disk or quota full). Transactions are all-or-nothing, so the
    work already committed is whole; the pass stops here and a rerun after freeing space finishes it."""


FULL_MESSAGE = "database or disk is full"
#: SQLITE_FULL's text, PostgreSQL's DiskFull (SQLSTATE 53100) texts.
_FULL_MARKERS = (FULL_MESSAGE, "No space left on device", "could not extend file")
#: BEGIN IMMEDIATE already waits BUSY_TIMEOUT_S in SQLite's busy handler; SQLITE_BUSY can still
#: come back without that wait (WAL recovery by another connection), so a few more tries.
BEGIN_ATTEMPTS = 4


def is_storage_full(exc: BaseException | str) -> bool:
    """True for an out-of-space error (the exception, or a crawl subprocess's stderr text)."""
    if isinstance(exc, str):
        return any(m in exc for m in _FULL_MARKERS) or StorageFull.__name__ in exc
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlite_errorcode", None) == 13 or getattr(orig, "sqlstate", None) == "53100":  # SQLITE_FULL
        return True
    return any(m in str(orig) for m in _FULL_MARKERS)


def _is_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlite_errorcode", None) == 5 or "database is locked" in str(orig)  # SQLITE_BUSY


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        path = Path(parsed.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # it holds addresses and unsubscribe tokens: owner-only (SQLite gives -wal/-shm the same mode)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
        except FileExistsError:
            pass
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
        options = conn.get_execution_options()
        mode = "DEFERRED" if options.get("readonly") else "IMMEDIATE"
        # Per transaction: FULL fsyncs the WAL at this commit (survives power loss), NORMAL does not.
        conn.exec_driver_sql(f"PRAGMA synchronous = {'FULL' if options.get('durable') else 'NORMAL'}")
        for attempt in range(BEGIN_ATTEMPTS):
            try:
                conn.exec_driver_sql(f"BEGIN {mode}")
                return
            except OperationalError as exc:
                if not _is_busy(exc) or attempt == BEGIN_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2 ** attempt)

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
                # A crawl process's parent migrated this very database before starting it
                # (pipelines/collect.py): checking again costs each crawl ~0.15 s of CPU.
                if os.environ.get("SCRUTINEER_SCHEMA_READY") != url:
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
    cfg.set_main_option("script_location", MIGRATIONS)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    # A read (no write lock), so starting a command never queues behind busy writers.
    with engine.connect().execution_options(readonly=True) as conn:
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(814451)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def write(engine: Engine, durable: bool = False) -> Iterator[Connection]:
    """A write transaction (BEGIN IMMEDIATE on SQLite); out of space becomes StorageFull.

    SQLite runs with synchronous=NORMAL: a crash of the process loses nothing committed, but a
    power loss can drop the last commits (never corrupting). Re-runnable work (collect, process)
    simply redoes them. `durable=True` commits with synchronous=FULL, for a row whose loss would
    break a promise: the delivery ledger's "sending" claim made before an email goes out.
    """
    try:
        with engine.connect().execution_options(durable=durable) as conn, conn.begin():
            yield conn
    except OperationalError as exc:
        if is_storage_full(exc):
            raise StorageFull(f"{FULL_MESSAGE}; nothing half-written was kept, free space and rerun") from exc
        raise


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read transaction that never takes SQLite's write lock, so readers never block writers."""
    with engine.connect().execution_options(readonly=True) as conn, conn.begin():
        yield conn
