"""RELIABILITY T10: politeness. 429 and 503 with Retry-After (seconds or HTTP-date), 503 storms and
304, against a loopback server with scripted statuses and a frozen clock (an unchanged ETag with a
200 is in test_conditional_get.py).

Scrapy alone ignores Retry-After and retries a 429 at once; here a response naming a wait is not
retried, its instant is stored on the source, and every `collect` before then leaves the host alone.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import time_machine
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from pipelines import collect, sources

pytestmark = pytest.mark.timeout(60)

RETRY_TIMES = 2  # crawlers/settings.py
FEED = ("<?xml version='1.0'?><rss version='2.0'><channel><title>P</title>"
        "<item><guid isPermaLink='false'>p1</guid><title>Met pilot extended</title>"
        "<description>The force keeps the software for a year.</description></item>"
        "<item><guid isPermaLink='false'>p2</guid><title>Tender reopened</title>"
        "<description>Rival vendors may bid.</description></item></channel></rss>")


def feed_hits(server: HTTPServer) -> int:
    return sum(1 for req, _ in server.log if req.path == "/feed.xml")


def _source(server: HTTPServer, settings: Settings) -> None:
    server.expect_request("/robots.txt").respond_with_data("", status=404)
    sources.add(settings, {"name": "polite", "kind": "rss", "url": server.url_for("/feed.xml"),
                           "follow_links": False})


def _stored(settings: Settings) -> dict[str, Any]:
    return sources.get(settings, "polite")


def test_429_retry_after_seconds_defers_every_collect_until_then(httpserver: HTTPServer, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    _source(httpserver, settings)
    httpserver.expect_request("/feed.xml").respond_with_data("slow down", status=429,
                                                             headers={"Retry-After": "120"})
    before = datetime.now(timezone.utc)
    first = collect.run(settings)[0]
    assert feed_hits(httpserver) == 1  # not retried at once: the host asked for two minutes
    assert first.status == "error" and "HTTP 429" in (first.message or "")
    assert "Retry-After" in (first.message or "")
    listing = sources.listing(settings)[0]
    assert "HTTP 429" in (listing["last_error_message"] or "")
    until = _stored(settings)["retry_after_until"]
    assert before + timedelta(seconds=115) <= until <= datetime.now(timezone.utc) + timedelta(seconds=125)
    # Any collect inside the window (now, and 119 s later on a frozen clock) does not touch the host.
    for offset in (0, 60, 119):
        with time_machine.travel(before + timedelta(seconds=offset), tick=False):
            result = collect.run(settings)[0]
        assert result.status == "deferred", result
        assert feed_hits(httpserver) == 1
        assert "Retry-After" in (result.message or "")


def test_http_date_retry_after_then_collected_once_it_passes(httpserver: HTTPServer, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    _source(httpserver, settings)
    statuses = iter([503])
    asked: list[datetime] = []

    def handler(request: Request) -> Response:
        if next(statuses, 200) == 503:
            # An HTTP-date (whole seconds) a few seconds after the request arrived.
            asked.append((datetime.now(timezone.utc) + timedelta(seconds=5)).replace(microsecond=0))
            return Response("maintenance", status=503,
                            headers={"Retry-After": format_datetime(asked[0], usegmt=True)})
        return Response(FEED, content_type="application/rss+xml")

    httpserver.expect_request("/feed.xml").respond_with_handler(handler)
    first = collect.run(settings)[0]
    assert first.status == "error" and "HTTP 503" in (first.message or "")
    when = asked[0]
    assert _stored(settings)["retry_after_until"] == when
    assert feed_hits(httpserver) == 1
    with time_machine.travel(when - timedelta(seconds=1), tick=False):
        assert collect.run(settings)[0].status == "deferred"
    assert feed_hits(httpserver) == 1
    time.sleep(max(0.0, (when - datetime.now(timezone.utc)).total_seconds()) + 0.5)
    after = collect.run(settings)[0]
    assert feed_hits(httpserver) == 2
    assert after.status == "ok" and after.new == 2, after


def test_503_storm_without_retry_after_bounded_then_backoff(httpserver: HTTPServer, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    _source(httpserver, settings)
    httpserver.expect_request("/feed.xml").respond_with_data("busy", status=503)
    started = datetime.now(timezone.utc)
    result = collect.run(settings)[0]
    assert feed_hits(httpserver) == RETRY_TIMES + 1
    assert result.status == "error" and "HTTP 503" in (result.message or "")
    src = _stored(settings)
    assert src["failures"] == 1 and src["retry_after_until"] is None
    # Backoff: an hourly source that failed is not due again for two hours.
    assert src["next_poll_at"] >= started + timedelta(hours=2) - timedelta(seconds=5)
    result = collect.run(settings)[0]
    assert feed_hits(httpserver) == 2 * (RETRY_TIMES + 1)  # a hand-run collect still may try
    assert _stored(settings)["failures"] == 2


def test_304_is_ok_with_no_new_items_and_requests_carry_validators(httpserver: HTTPServer, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    _source(httpserver, settings)
    stamp = "Mon, 09 Nov 2026 08:00:00 GMT"
    seen: list[dict[str, str | None]] = []

    def handler(request: Request) -> Response:
        seen.append({"inm": request.headers.get("If-None-Match"), "ims": request.headers.get("If-Modified-Since")})
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(FEED, content_type="application/rss+xml", headers={"ETag": '"v1"', "Last-Modified": stamp})

    httpserver.expect_request("/feed.xml").respond_with_handler(handler)
    first = collect.run(settings)[0]
    assert first.status == "ok" and first.new == 2
    assert seen[0] == {"inm": None, "ims": None}
    second = collect.run(settings)[0]  # the server answers 304
    assert seen[1] == {"inm": '"v1"', "ims": stamp}
    assert second.status == "ok" and second.new == 0 and second.updated == 0, second
    assert "not modified" in (second.message or "")
    listing = sources.listing(settings)[0]
    assert listing["last_error"] is None
    assert feed_hits(httpserver) == 2


def test_an_entry_page_answering_429_rests_the_host_for_the_pass(httpserver: HTTPServer, sqlite_url: str) -> None:
    """The first page to answer 429 + Retry-After stops the rest of the pass's requests to that host
    (those already in flight finish); every entry is still stored from its feed summary, and the next
    collect is deferred."""
    settings = Settings(db=sqlite_url)
    hits: list[str] = []
    items = "".join(f"<item><title>Story {n}</title><link>{httpserver.url_for(f'/p/{n}')}</link>"
                    f"<description>Summary {n} of the council story.</description></item>" for n in range(20))

    def handler(request: Request) -> Response:
        hits.append(request.path)
        if request.path == "/robots.txt":
            return Response("", status=404)
        if request.path == "/feed.xml":
            return Response(f"<?xml version='1.0'?><rss version='2.0'><channel><title>F</title>{items}"
                            "</channel></rss>", content_type="application/rss+xml")
        return Response("slow down", status=429, headers={"Retry-After": "300"})

    httpserver.expect_request("").respond_with_handler(handler)
    sources.add(settings, {"name": "busy", "kind": "rss", "url": httpserver.url_for("/feed.xml")})
    result = collect.run(settings)[0]
    pages = [p for p in hits if p.startswith("/p/")]
    assert 1 <= len(pages) <= 6, pages  # the first 429 plus what was already in flight, not 20
    assert result.status == "warning" and "Retry-After" in (result.message or "")
    assert sources.get(settings, "busy")["retry_after_until"] > datetime.now(timezone.utc) + timedelta(seconds=250)
    from conftest import export_records

    assert len(export_records(settings)) == 20  # every entry kept from the feed's own text
    again = collect.run(settings)[0]
    assert again.status == "deferred" and len(hits) == len(pages) + 2
