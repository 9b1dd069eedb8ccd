"""RELIABILITY row T30: concurrent writers on one database.

Six `scrutineer collect --source X` processes (500 feed items each), `scrutineer process` and
`scrutineer export` run at once against one SQLite file (and one PostgreSQL database), while the
test itself holds a read transaction open the whole time. Expected: no "database is locked"
reaches anyone, every item is stored exactly once, `integrity_check` is ok, and the open reader
blocks no writer (in a rollback-journal database it would: the writers would time out).
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bench.loadsite import LoadSite, Plan, cli_command, cli_env
from storage.db import get_engine, read
from storage.schema import article_versions, articles

FEEDS, ITEMS = 6, 500
DEADLINE_S = 400


def _start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(cli_command(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish(proc: subprocess.Popen[str], log: list[tuple[list[str], int, str, str]]) -> str:
    out, err = proc.communicate(timeout=DEADLINE_S)
    log.append((list(map(str, proc.args))[3:], proc.returncode, out, err))  # type: ignore[arg-type]
    return out


@pytest.mark.timeout(600)
def test_t30_six_collectors_process_and_export_at_once(db_url: str, tmp_path: Path) -> None:
    with LoadSite(Plan(feeds=FEEDS, items=ITEMS)) as site:
        env = cli_env(db_url, SCRUTINEER_CRAWL_TIMEOUT_S=str(DEADLINE_S))  # generous: 2 shared cores
        done = subprocess.run(cli_command("sources", "import", str(site.write_sources_yaml(tmp_path / "s.yaml"))),
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        engine = get_engine(db_url)
        log: list[tuple[list[str], int, str, str]] = []
        exports: list[str] = []
        # A reader that stays open across every write below: it must see one snapshot and stop nobody.
        with read(engine) as reader:
            before = reader.execute(select(func.count()).select_from(articles)).scalar()
            collectors = [_start("collect", "--source", site.feed_name(i), env=env) for i in range(FEEDS)]
            deadline = time.monotonic() + DEADLINE_S
            processor = _start("process", env=env)
            exporter = _start("export", "--format", "jsonl", env=env)
            # Keep one process and one export running for as long as the collectors write.
            while any(c.poll() is None for c in collectors) and time.monotonic() < deadline:
                if processor.poll() is not None:
                    _finish(processor, log)
                    processor = _start("process", env=env)
                if exporter.poll() is not None:
                    exports.append(_finish(exporter, log))
                    exporter = _start("export", "--format", "jsonl", env=env)
                time.sleep(0.2)
            for c in collectors:
                _finish(c, log)
            _finish(processor, log)
            exports.append(_finish(exporter, log))
            during = reader.execute(select(func.count()).select_from(articles)).scalar()
            with read(engine) as fresh:  # a new reader sees every collector's work as soon as it has exited
                committed = fresh.execute(select(func.count()).select_from(articles)).scalar()
        if engine.dialect.name == "sqlite":  # WAL: a read transaction is one snapshot (PostgreSQL reads committed)
            assert before == 0 and during == 0, "the open reader saw one snapshot throughout"

        for args, code, out, err in log:
            assert code == 0, f"{args}: exit {code}: {err[-500:]}"
            assert "locked" not in (out + err).lower(), f"{args}: {err[-500:]}"
            assert "Traceback" not in err, f"{args}: {err[-800:]}"
        collect_lines = [out for args, _, out, _ in log if args[:1] == ["collect"]]
        assert len(collect_lines) == FEEDS
        for out in collect_lines:
            assert f": ok, {ITEMS} new" in out, out
        assert committed == FEEDS * ITEMS
        for dump in exports:  # every export taken mid-write is whole: valid lines, no id twice
            ids = [json.loads(line)["id"] for line in dump.splitlines()]
            assert len(ids) == len(set(ids))

        # Finish processing whatever arrived after the last concurrent `process`.
        final = subprocess.run(cli_command("process"), env=env, capture_output=True, text=True, timeout=180)
        assert final.returncode == 0, final.stderr
        _assert_final_state(engine, site)


def _assert_final_state(engine: Any, site: LoadSite) -> None:
    expected = site.expected_urls()
    with read(engine) as conn:
        urls = [r[0] for r in conn.execute(select(articles.c.canonical_url))]
        versions = conn.execute(select(func.count()).select_from(article_versions)).scalar()
        dups = conn.execute(select(func.count()).select_from(articles)
                            .where(articles.c.duplicate_of.is_not(None))).scalar()
        unprocessed = conn.execute(select(func.count()).select_from(articles).where(
            articles.c.processed_hash.is_(None))).scalar()
        if engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert len(urls) == FEEDS * ITEMS == len(set(urls))
    assert set(urls) == expected
    assert versions == FEEDS * ITEMS  # one version per item: nothing written twice
    assert dups == 0  # distinct items are not mistaken for copies of each other
    assert unprocessed == 0


@pytest.mark.timeout(60)
def test_t30_begin_is_retried_when_sqlite_answers_busy(sqlite_url: str) -> None:
    """SQLITE_BUSY can come back without the busy handler's wait (here: busy_timeout 0, standing
    in for WAL recovery by another connection); the write transaction retries BEGIN instead of
    handing "database is locked" to the user."""
    import sqlite3
    import threading

    from sqlalchemy import event

    from storage.db import dispose_all, write

    engine = get_engine(sqlite_url)
    event.listen(engine, "connect", lambda dbapi_conn, _rec: dbapi_conn.execute("PRAGMA busy_timeout = 0"))
    engine.dispose()
    holder = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.15, lambda: holder.execute("COMMIT"))
    released.start()
    try:
        with write(engine) as conn:
            conn.execute(text("CREATE TABLE t30_probe (x INTEGER)"))
    finally:
        released.join()
        holder.close()
        dispose_all()
