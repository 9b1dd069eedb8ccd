"""RELIABILITY T05: a 200 MiB response, and an endless chunked one, are cut at DOWNLOAD_MAXSIZE.

The server streams zeros until the client hangs up and counts what it managed to send, so "the
client disconnected early" is measured on the server side. Memory is measured exactly: the crawl
subprocess is reaped with os.wait4, whose rusage gives that process's own peak RSS (ru_maxrss),
compared with the same crawl of a small, good feed.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from faultserver import FaultServer, MiB, assert_ok_plus, collect, endless_chunked, import_sources, respond, rss, zeros

from core.settings import Settings
from pipelines import collect as collect_stage

PROJECT_DIR = Path(__file__).resolve().parent.parent  # the source checkout these run from
LIMIT = 10 * MiB  # the default SCRUTINEER_DOWNLOAD_MAXSIZE


def _sources(srv: FaultServer) -> list[dict[str, object]]:
    return [
        {"name": "good-feed", "kind": "rss", "url": srv.url("/good.xml"), "follow_links": False},
        {"name": "huge-length", "kind": "rss", "url": srv.url("/huge-length.xml"), "follow_links": False},
        {"name": "huge-chunked", "kind": "rss", "url": srv.url("/huge-chunked.xml"), "follow_links": False},
        # A feed whose entry page is the huge one: the entry is kept from the feed's own summary.
        {"name": "huge-page", "kind": "rss", "url": srv.url("/with-page.xml")},
    ]


@pytest.mark.timeout(60)
def test_t05_huge_responses_aborted_at_the_limit_others_collected(tmp_path: Path, sqlite_url: str) -> None:
    assert Settings().download_maxsize == LIMIT
    with FaultServer() as srv:
        srv.route("/good.xml", respond(rss("good-feed")))
        srv.route("/huge-length.xml", zeros(200 * MiB))
        srv.route("/huge-chunked.xml", endless_chunked())
        srv.route("/with-page.xml", respond(rss("huge-page", items=1, link_base=srv.url("/pages"))))
        srv.route("/pages/huge-page/0", zeros(200 * MiB, content_type="text/html"))
        import_sources(sqlite_url, tmp_path, _sources(srv))
        collect(sqlite_url)
        listing = assert_ok_plus(sqlite_url, faulty={"huge-length": "too large", "huge-chunked": "too large"},
                                 good={"good-feed": 2, "huge-page": 1})
        # The client hung up near the limit: the server sent nowhere near 200 MiB.
        assert srv.bytes_sent["/huge-length.xml"] < 8 * MiB, srv.bytes_sent  # refused on Content-Length alone
        assert srv.bytes_sent["/huge-chunked.xml"] < LIMIT + 16 * MiB, srv.bytes_sent
        assert srv.bytes_sent["/pages/huge-page/0"] < 8 * MiB, srv.bytes_sent
        print(dict(srv.bytes_sent), {n: listing[n]["last_error_message"] for n in ("huge-length", "huge-chunked")})
        # A size refusal is final: not retried.
        assert srv.hits["/huge-length.xml"] == 1 and srv.hits["/huge-chunked.xml"] == 1, srv.hits
    assert "too large" in (listing["huge-page"]["last_warning_message"] or "")


def _peak_rss_of_crawl(settings: Settings, name: str) -> int:
    """Peak resident set (bytes) of one crawl subprocess (with its extraction worker), from the kernel's rusage."""
    proc = subprocess.Popen(collect_stage.crawl_command("rss", name), env=collect_stage.crawl_env(settings),
                            cwd=PROJECT_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0
    return usage.ru_maxrss * 1024  # Linux reports KiB


@pytest.mark.timeout(60)
def test_t05_peak_rss_rise_under_100_mb(tmp_path: Path, sqlite_url: str) -> None:
    with FaultServer() as srv:
        srv.route("/good.xml", respond(rss("good-feed")))
        srv.route("/huge-chunked.xml", endless_chunked())
        import_sources(sqlite_url, tmp_path, _sources(srv)[:3])
        settings = Settings(db=sqlite_url)
        baseline = _peak_rss_of_crawl(settings, "good-feed")
        huge = _peak_rss_of_crawl(settings, "huge-chunked")
        assert srv.bytes_sent["/huge-chunked.xml"] >= LIMIT  # it really was offered more than the limit
    print(f"peak RSS: good feed {baseline / 1e6:.0f} MB, endless chunked {huge / 1e6:.0f} MB")
    assert huge - baseline < 100 * 10**6, (baseline, huge)
