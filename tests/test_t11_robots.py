"""RELIABILITY T11: robots.txt with RFC 9309 semantics, per path hits counted on a loopback site.

Disallowed paths get 0 hits; a 404 robots.txt allows all; a 5xx or a timeout disallows all for the
pass ("robots.txt unreachable"); a file over 500 KiB is parsed at least to 500 KiB; more than five
redirects count as "unavailable" (RFC 9309 §2.3.1.2), i.e. like a 4xx: allow all.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import export_records
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from pipelines import collect, sources

pytestmark = pytest.mark.timeout(60)

BODY = ("Police forces across England are testing software that pools records on officers to flag "
        "possible misconduct before complaints arrive, and oversight bodies are asking questions. ") * 3


def _page(title: str) -> str:
    return f"<html><head><title>{title}</title></head><body><article><p>{BODY}</p></article></body></html>"


@pytest.fixture
def site(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    feed = ("<?xml version='1.0'?><rss version='2.0'><channel><title>S</title>"
            f"<item><title>News item</title><link>{httpserver.url_for('/news/a')}</link>"
            "<description>Summary of the news item.</description></item>"
            f"<item><title>Other item</title><link>{httpserver.url_for('/other/b')}</link>"
            "<description>Summary of the other item.</description></item></channel></rss>")
    httpserver.expect_request("/feed.xml").respond_with_data(feed, content_type="application/rss+xml")
    httpserver.expect_request("/news/a").respond_with_data(_page("News item"), content_type="text/html")
    httpserver.expect_request("/other/b").respond_with_data(_page("Other item"), content_type="text/html")
    yield httpserver


def hits(server: HTTPServer, path: str) -> int:
    return sum(1 for req, _ in server.log if req.path == path)


def _collect(server: HTTPServer, db: str) -> Any:
    settings = Settings(db=db)
    sources.add(settings, {"name": "site", "kind": "rss", "url": server.url_for("/feed.xml")})
    return settings, collect.run(settings)[0]


def _robots(server: HTTPServer, text: str) -> None:
    # Registered first, so it wins over the catch-all handlers some cases add.
    server.expect_request("/robots.txt").respond_with_data(text, content_type="text/plain")


def test_disallowed_path_never_fetched(site: HTTPServer, sqlite_url: str) -> None:
    _robots(site, "User-agent: *\nDisallow: /news/\n")
    settings, result = _collect(site, sqlite_url)
    assert hits(site, "/news/a") == 0
    assert hits(site, "/other/b") == 1 and hits(site, "/feed.xml") == 1
    assert result.status == "warning" and "disallowed by robots.txt" in (result.message or ""), result
    records = {r["title"]: r for r in export_records(settings)}
    assert records["News item"]["text"] == "Summary of the news item."  # kept from the feed, not the page
    assert "Police forces across England" in records["Other item"]["text"]


def test_feed_url_itself_disallowed(site: HTTPServer, sqlite_url: str) -> None:
    _robots(site, "User-agent: *\nDisallow: /feed.xml\n")
    settings, result = _collect(site, sqlite_url)
    assert hits(site, "/feed.xml") == 0
    assert result.status == "error" and "disallowed by robots.txt" in (result.message or ""), result
    assert export_records(settings) == []


def test_robots_404_allows_all(site: HTTPServer, sqlite_url: str) -> None:
    site.expect_request("/robots.txt").respond_with_data("not here", status=404)
    settings, result = _collect(site, sqlite_url)
    assert result.status == "ok" and result.new == 2, result
    assert hits(site, "/news/a") == 1 and hits(site, "/other/b") == 1


def _assert_disallowed_all(site: HTTPServer, settings: Settings, result: Any) -> None:
    assert hits(site, "/feed.xml") == 0 and hits(site, "/news/a") == 0 and hits(site, "/other/b") == 0
    assert result.status == "error" and "robots.txt unreachable" in (result.message or ""), result
    assert export_records(settings) == []
    listing = sources.listing(settings)[0]
    assert "robots.txt unreachable" in (listing["last_error_message"] or "")


def test_robots_500_disallows_all_for_this_pass(site: HTTPServer, sqlite_url: str) -> None:
    site.expect_request("/robots.txt").respond_with_data("oops", status=500)
    settings, result = _collect(site, sqlite_url)
    _assert_disallowed_all(site, settings, result)
    assert 1 <= hits(site, "/robots.txt") <= 3  # retried at most RETRY_TIMES


def test_robots_timeout_disallows_all_for_this_pass(site: HTTPServer, sqlite_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRUTINEER_DOWNLOAD_TIMEOUT_S", "1")

    def slow(request: Request) -> Response:
        time.sleep(2.5)
        return Response("User-agent: *\nDisallow:\n", content_type="text/plain")

    site.expect_request("/robots.txt").respond_with_handler(slow)
    started = time.monotonic()
    settings, result = _collect(site, sqlite_url)
    assert time.monotonic() - started < 30
    _assert_disallowed_all(site, settings, result)


def test_robots_over_500_kib_parsed_to_at_least_500_kib(site: HTTPServer, sqlite_url: str) -> None:
    padding = "".join(f"# line {i:06d} of padding that says nothing at all about crawling\n" for i in range(7000))
    text = "User-agent: *\n" + padding + "Disallow: /news/\n" + padding
    rule_at = text.index("Disallow: /news/")
    assert rule_at > 400 * 1024 and len(text.encode()) > 700 * 1024
    _robots(site, text)
    settings, result = _collect(site, sqlite_url)
    assert hits(site, "/news/a") == 0  # the rule past 400 KiB still applies
    assert hits(site, "/other/b") == 1 and result.status == "warning", result
    assert "robots.txt unreachable" not in (result.message or "")


@pytest.mark.parametrize("redirects", [5, 6])
def test_robots_redirect_chain(redirects: int, site: HTTPServer, sqlite_url: str) -> None:
    """Five redirects are followed (RFC 9309: at least five); a sixth makes robots.txt
    "unavailable", which RFC 9309 §2.3.1.3 treats like a 4xx: crawl allowed."""
    hops = ["/robots.txt"] + [f"/r{i}" for i in range(1, redirects + 1)]
    for here, there in zip(hops, hops[1:], strict=False):
        site.expect_request(here).respond_with_data("", status=302, headers={"Location": there})
    site.expect_request(hops[-1]).respond_with_data("User-agent: *\nDisallow: /news/\n", content_type="text/plain")
    settings, result = _collect(site, sqlite_url)
    fetched = [req.path for req, _ in site.log if req.path.startswith("/r")]
    assert fetched == ["/robots.txt"] + [f"/r{i}" for i in range(1, 6)]  # each hop once, never a 7th request
    assert hits(site, "/feed.xml") == 1 and hits(site, "/other/b") == 1
    if redirects == 5:
        assert hits(site, "/news/a") == 0  # the file at the end of five hops is obeyed
    else:
        assert hits(site, "/news/a") == 1 and result.new == 2, result
        assert "robots.txt unreachable" not in (result.message or "")
