"""RELIABILITY row T31: crash consistency and idempotency on SQLite.

`scrutineer collect` and `scrutineer process` are SIGKILLed (with every crawl subprocess below
them) after random delays; after each kill the database must hold whole articles only. Then
recovery: `run` twice, `sources import` twice, and a disk that fills up (`PRAGMA max_page_count`
through SCRUTINEER_TEST_FAULT=disk_full). Every item must end up stored exactly once, and the
processed result must be byte-for-byte the one a clean, never-killed `process` gives (export hash).
The seed is printed on failure; set T31_SEED to replay a run.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.loadsite import LoadSite, Plan, cli_command, cli_env, kill_tree

COLLECT_KILLS, PROCESS_KILLS = 10, 10
FEEDS, ITEMS, FULL_TEXT = 4, 60, 2  # plus one more feed imported later (import twice, disk full)


def _cli(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    began = time.monotonic()
    done = subprocess.run(cli_command(*args), env=env, capture_output=True, text=True, timeout=timeout)
    print(f"{' '.join(args[:3])}: exit {done.returncode} in {time.monotonic() - began:.1f} s")  # shown on failure
    return done


def _run_and_kill(env: dict[str, str], args: list[str], delay: float) -> bool:
    """Start the CLI, SIGKILL its whole tree after `delay` s; False when it finished first."""
    proc = subprocess.Popen(cli_command(*args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        proc.wait(timeout=30)
        return True


def _copy_db(src: Path, dst: Path) -> None:
    """A consistent copy through SQLite's backup API (the WAL included)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def _export(env: dict[str, str]) -> str:
    done = _cli(env, "export", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    return done.stdout


def _export_hash(env: dict[str, str]) -> str:
    return hashlib.sha256(_export(env).encode()).hexdigest()


def _differences(got: str, want: str) -> str:
    """Which fields of which records differ, for a failure message worth reading."""
    a = {r["id"]: r for r in map(json.loads, got.splitlines())}
    b = {r["id"]: r for r in map(json.loads, want.splitlines())}
    fields = Counter(f for i in a.keys() & b.keys() for f in a[i] if a[i][f] != b[i].get(f))
    return f"ids only here {len(a.keys() - b.keys())}, only in reference {len(b.keys() - a.keys())}, fields {fields}"


def _assert_whole(path: Path, why: str) -> dict[str, int]:
    """No half-written article: whatever a kill interrupted was rolled back as a whole."""
    with sqlite3.connect(path) as db:
        q = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        assert q("PRAGMA integrity_check") == "ok", why
        assert q("SELECT count(*) - count(DISTINCT canonical_url) FROM articles") == 0, why
        # Every article has all its versions, and the newest is the text it carries.
        assert q("SELECT count(*) FROM articles a WHERE a.version != (SELECT count(*) FROM article_versions v "
                 "WHERE v.article_id = a.id)") == 0, why
        assert q("SELECT count(*) FROM articles a WHERE NOT EXISTS (SELECT 1 FROM article_versions v WHERE "
                 "v.article_id = a.id AND v.version = a.version AND v.content_hash = a.content_hash)") == 0, why
        # Marked processed only when every stage's result is there.
        assert q("SELECT count(*) FROM articles WHERE processed_hash IS NOT NULL AND (story_id IS NULL OR "
                 "sentiment_label IS NULL OR relevance IS NULL OR url_key IS NULL)") == 0, why
        assert q("SELECT count(*) FROM articles a WHERE processed_hash IS NOT NULL AND NOT EXISTS "
                 "(SELECT 1 FROM stories s WHERE s.id = a.story_id)") == 0, why
        assert q("SELECT count(*) FROM article_tags t LEFT JOIN articles a ON a.id = t.article_id "
                 "WHERE a.id IS NULL") == 0, why
        return {"articles": q("SELECT count(*) FROM articles"),
                "processed": q("SELECT count(*) FROM articles WHERE processed_hash = content_hash")}


def _urls(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT canonical_url FROM articles")]


def _feed_summary_pages(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM articles WHERE extraction = 'feed-summary' AND source IN "
                              f"({','.join('?' * FULL_TEXT)})", [f"load-{i:03d}" for i in range(FULL_TEXT)])
                   .fetchone()[0])


def _one_clear_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, (done.returncode, done.stdout[-500:], done.stderr[-1500:])
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-1500:]
    return lines[0]


@pytest.mark.timeout(420)
def test_t31_kills_then_recovery_converge(tmp_path: Path) -> None:
    seed = int(os.environ.get("T31_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    path = tmp_path / "scrutineer.sqlite"
    # Pages get a generous deadline: a page that timed out on a busy CI box would be kept from the
    # feed summary and re-read by the next collect, a legitimate change this test would misread.
    env = cli_env(f"sqlite:///{path}", SCRUTINEER_DOWNLOAD_TIMEOUT_S="30")
    with LoadSite(Plan(feeds=FEEDS + 1, items=ITEMS, full_text=FULL_TEXT)) as site:
        first = [site.feed_name(i) for i in range(FEEDS)]
        done = _cli(env, "sources", "import", str(site.write_sources_yaml(tmp_path / "four.yaml", first)))
        assert done.returncode == 0, done.stderr

        # 1. Kills during collect: each one leaves whole batches only. Delays are drawn within the
        # time a full collect takes on this machine (measured on a scratch copy), and a run that
        # finished before its kill restarts the next one from empty, so kills land mid-work on a
        # fast idle box as on a loaded one.
        pristine, scratch = tmp_path / "pristine.sqlite", tmp_path / "scratch.sqlite"
        _copy_db(path, pristine)
        _copy_db(path, scratch)
        began = time.monotonic()
        assert _cli(cli_env(f"sqlite:///{scratch}", SCRUTINEER_DOWNLOAD_TIMEOUT_S="30"), "collect").returncode == 0
        collect_s = time.monotonic() - began
        killed = 0
        for k in range(COLLECT_KILLS):
            delay = rng.uniform(0.2, max(0.4, 0.9 * collect_s))
            if _run_and_kill(env, ["collect"], delay):
                killed += 1
            else:
                _copy_db(pristine, path)
            _assert_whole(path, f"seed {seed}: after collect kill {k} at {delay:.2f} s of {collect_s:.1f}")
        assert killed >= 3, f"seed {seed}: several collect runs should have been cut short"
        done = _cli(env, "collect")  # recovery finishes what the kills left
        assert done.returncode == 0, done.stderr
        urls = _urls(path)
        assert len(urls) == len(set(urls)) and set(urls) == site.expected_urls(range(FEEDS)), f"seed {seed}"
        # Every page was read in full (none kept from the feed summary for a retry), so the snapshot
        # below is final: a later collect has nothing to add.
        assert _feed_summary_pages(path) == 0

        # 2. Kills during process, against a clean reference processed from the same snapshot.
        snapshot, reference = tmp_path / "snapshot.sqlite", tmp_path / "reference.sqlite"
        _copy_db(path, snapshot)
        _copy_db(path, reference)
        ref_env = cli_env(f"sqlite:///{reference}")
        began = time.monotonic()
        done = _cli(ref_env, "process")
        assert done.returncode == 0, done.stderr
        process_s = time.monotonic() - began
        reference_export = _export(ref_env)
        ref_hash = hashlib.sha256(reference_export.encode()).hexdigest()
        killed = 0
        for k in range(PROCESS_KILLS):
            delay = rng.uniform(0.3, process_s)
            if _run_and_kill(env, ["process"], delay):
                killed += 1
            else:
                _copy_db(snapshot, path)  # it finished first: start the next kill from unprocessed again
            _assert_whole(path, f"seed {seed}: after process kill {k} at {delay:.2f} s of {process_s:.1f}")
        assert killed >= 3, f"seed {seed}: several process runs should have been cut short"

        # 3. `run` twice: converges to exactly the clean result, then changes nothing.
        for attempt in range(2):
            done = _cli(env, "run")
            assert done.returncode == 0, done.stderr
            assert "0 new articles" in done.stdout and not re.search(r"[1-9]\d* updated", done.stdout), done.stdout
            got = _export(env)
            assert got == reference_export, (f"seed {seed}: run {attempt + 1} differs from a clean process: "
                                             f"{_differences(got, reference_export)}")
        counts = _assert_whole(path, "after recovery")
        assert counts == {"articles": FEEDS * ITEMS, "processed": FEEDS * ITEMS}
        assert _cli(env, "process").returncode == 0
        assert _export_hash(env) == ref_hash

        # 4. `sources import` twice: the second changes nothing.
        every = site.write_sources_yaml(tmp_path / "five.yaml")
        once, twice = _cli(env, "sources", "import", str(every)), _cli(env, "sources", "import", str(every))
        assert once.returncode == twice.returncode == 0, once.stderr + twice.stderr
        assert f"{site.feed_name(FEEDS)}: added" in once.stdout
        assert [line.split(": ")[1] for line in twice.stdout.splitlines()[:-1]] == ["unchanged"] * (FEEDS + 1)

        # 5. Disk full while collecting and while processing: one clear line, nothing corrupt or half-kept.
        full = {**env, "SCRUTINEER_TEST_FAULT": "disk_full"}
        line = _one_clear_line(_cli(full, "collect", "--source", site.feed_name(FEEDS)))
        assert "database or disk is full" in line
        _assert_whole(path, "after disk full in collect")
        assert _cli(env, "collect", "--source", site.feed_name(FEEDS)).returncode == 0
        line = _one_clear_line(_cli(full, "process"))
        assert "database or disk is full" in line
        _assert_whole(path, "after disk full in process")
        assert _cli(env, "process").returncode == 0
        settled = _export_hash(env)
        assert _cli(env, "process").returncode == 0
        assert _export_hash(env) == settled
    counts = _assert_whole(path, "at the end")
    assert counts == {"articles": (FEEDS + 1) * ITEMS, "processed": (FEEDS + 1) * ITEMS}
    urls = _urls(path)
    assert len(urls) == len(set(urls)) and set(urls) == site.expected_urls()


@pytest.mark.timeout(60)
def test_t31_durable_writes_fsync_each_commit(sqlite_url: str) -> None:
    """Power loss (documented, not simulated): WAL with synchronous=NORMAL can lose the last
    commits, FULL cannot. Ordinary writes run NORMAL; `durable=True` (the delivery ledger's
    claim before SMTP) runs FULL, and the setting does not leak to the next transaction."""
    from sqlalchemy import text

    from storage.db import get_engine, write

    engine = get_engine(sqlite_url)
    seen = []
    for durable in (True, False, True):
        with write(engine, durable=durable) as conn:
            seen.append(conn.execute(text("PRAGMA synchronous")).scalar())
    assert seen == [2, 1, 2]  # FULL, NORMAL, FULL
