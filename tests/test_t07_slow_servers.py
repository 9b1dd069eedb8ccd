"""RELIABILITY T07: slow-loris and never-answering servers are cut at a *total* deadline.

Scaled down: a 3 s DOWNLOAD_TIMEOUT instead of 30 s, and a trickle of one byte every 0.5 s. The
trickle's gap is far shorter than the deadline, so a per-read (idle) timeout would never fire on
it: only a deadline on the whole request ends case (b). Scrapy's HTTP/1.1 handler arms one
`callLater(timeout, cancel)` per request, which is exactly that.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from faultserver import FaultServer, assert_ok_plus, collect, head, import_sources, respond, rss, silence, trickle

from core.settings import Settings
from pipelines import collect as collect_stage
from pipelines import sources

DEADLINE = 3.0
RETRY_TIMES = 2  # crawlers/settings.py
#: Start-up of the CLI and the crawl processes on a loaded 2-core machine.
MARGIN = 20.0


@pytest.mark.timeout(60)
def test_t07_slow_and_silent_servers_cut_at_the_total_deadline(tmp_path: Path, sqlite_url: str) -> None:
    from crawlers import settings as crawl_settings

    assert crawl_settings.RETRY_TIMES == RETRY_TIMES
    env = {"SCRUTINEER_DOWNLOAD_TIMEOUT_S": str(DEADLINE)}
    with FaultServer() as srv, FaultServer(never_read=True) as deaf:
        srv.route("/good.xml", respond(rss("good-feed")))
        srv.route("/silent.xml", silence())
        srv.route("/trickle.xml", trickle(interval=0.5))
        import_sources(sqlite_url, tmp_path, [
            {"name": "good-feed", "kind": "rss", "url": srv.url("/good.xml"), "follow_links": False},
            {"name": "silent", "kind": "rss", "url": srv.url("/silent.xml")},        # (a)
            {"name": "trickle", "kind": "rss", "url": srv.url("/trickle.xml")},      # (b)
            {"name": "never-reads", "kind": "rss", "url": deaf.url("/feed.xml")},    # (c)
        ])
        started = time.monotonic()
        collect(sqlite_url, env=env)
        wall = time.monotonic() - started
        assert_ok_plus(sqlite_url, faulty={"silent": "timed out", "trickle": "timed out", "never-reads": "timed out"},
                       good={"good-feed": 2})
        # Each slow request was tried RETRY_TIMES + 1 times, never more.
        assert srv.hits["/silent.xml"] == RETRY_TIMES + 1 and srv.hits["/trickle.xml"] == RETRY_TIMES + 1, srv.hits
        # (b) got some bytes through each time, yet was cut: the deadline is total, not per read.
        assert srv.bytes_sent["/trickle.xml"] > 0
        assert deaf.connections <= RETRY_TIMES + 1
    print(f"collect wall time {wall:.1f} s for a {DEADLINE:g} s deadline x {RETRY_TIMES + 1} attempts")
    assert wall <= DEADLINE * (RETRY_TIMES + 1) + MARGIN, wall


@pytest.mark.timeout(60)
def test_t07_trickle_is_cut_once_per_attempt_at_the_deadline(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timed on the server side: each trickle attempt lasts about the deadline, not longer."""
    monkeypatch.setenv("SCRUTINEER_DOWNLOAD_TIMEOUT_S", str(DEADLINE))
    settings = Settings(db=sqlite_url)
    with FaultServer() as srv:
        srv.route("/trickle.xml", trickle(interval=0.25))
        sources.add(settings, {"name": "trickle", "kind": "rss", "url": srv.url("/trickle.xml")})
        result = collect_stage.run(settings)[0]
        per_attempt = srv.bytes_sent["/trickle.xml"] / srv.hits["/trickle.xml"]
    assert result.status == "error" and "timed out" in (result.message or ""), result
    # About DEADLINE / 0.25 s = 12 body bytes per attempt after the headers, never more.
    body_bytes = per_attempt - len(head(200, {"Content-Type": "application/rss+xml", "Content-Length": "1000000"}))
    assert 4 <= body_bytes <= DEADLINE / 0.25 + 6, per_attempt
