"""RELIABILITY T09: redirect loops and long chains stop at REDIRECT_MAX_TIMES (5) hops, with no
hang, each hop fetched once; a redirect without a Location header is a clear error of its own.

Statuses cycle through 301, 302, 307 and 308, so every redirect kind Scrapy follows is covered.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from faultserver import FaultServer, assert_ok_plus, collect, import_sources, redirect, respond, rss

MAX_HOPS = 5
STATUSES = (301, 302, 307, 308)


def test_redirect_limit_in_the_crawl_settings() -> None:
    from crawlers import settings as crawl_settings

    assert crawl_settings.REDIRECT_MAX_TIMES == MAX_HOPS


@pytest.mark.timeout(60)
def test_t09_loops_and_chains_stop_after_five_hops(tmp_path: Path, sqlite_url: str) -> None:
    with FaultServer() as srv:
        srv.route("/good.xml", respond(rss("good-feed")))
        srv.route("/a", redirect(srv.url("/b"), 302))  # A -> B -> A ...
        srv.route("/b", redirect(srv.url("/a"), 301))
        for i in range(30):  # a 30-hop chain that does end in a feed
            srv.route(f"/chain/{i}", redirect(srv.url(f"/chain/{i + 1}"), STATUSES[i % 4]))
        srv.route("/chain/30", respond(rss("chain")))
        srv.route("/rel/loop", redirect("loop", 307))  # relative Location, resolving to itself
        srv.route("/no-location", redirect(None, 302))
        srv.route("/short-chain", redirect(srv.url("/chain/27"), 308))  # 4 hops: followed
        import_sources(sqlite_url, tmp_path, [
            {"name": "good-feed", "kind": "rss", "url": srv.url("/good.xml"), "follow_links": False},
            {"name": "loop", "kind": "rss", "url": srv.url("/a")},
            {"name": "chain", "kind": "rss", "url": srv.url("/chain/0")},
            {"name": "relative-loop", "kind": "rss", "url": srv.url("/rel/loop")},
            {"name": "no-location", "kind": "rss", "url": srv.url("/no-location")},
            {"name": "short-chain", "kind": "rss", "url": srv.url("/short-chain"), "follow_links": False},
        ])
        started = time.monotonic()
        collect(sqlite_url)
        wall = time.monotonic() - started
        assert_ok_plus(sqlite_url, faulty={
            "loop": "too many redirects", "chain": "too many redirects", "relative-loop": "too many redirects",
            "no-location": "without a location header",
        }, good={"good-feed": 2, "short-chain": 2})
        # The first request plus five hops, and not one more; each hop of the chain fetched once.
        assert srv.hits["/a"] + srv.hits["/b"] == MAX_HOPS + 1, srv.hits
        assert srv.hits["/rel/loop"] == MAX_HOPS + 1, srv.hits
        assert [srv.hits[f"/chain/{i}"] for i in range(MAX_HOPS + 1)] == [1] * (MAX_HOPS + 1), srv.hits
        assert not any(srv.hits[f"/chain/{i}"] for i in range(MAX_HOPS + 1, 27)), srv.hits
        assert srv.hits["/no-location"] == 1
    assert wall < 45, wall  # no hang
