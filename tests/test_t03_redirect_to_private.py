"""RELIABILITY T03: a redirect, a meta refresh or an entry link into a private address is refused
on that hop, while the hop before it (an allowed address) is fetched.

Server A on 127.0.0.2 stands in for a public host (allowed with
SCRUTINEER_ALLOW_PRIVATE_NETWORKS=127.0.0.2/32); server B on 127.0.0.1 is the private target that
must never see a request.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import export_records
from pytest_httpserver import HTTPServer

from core.settings import Settings
from pipelines import collect, sources

pytestmark = pytest.mark.timeout(90)

PAGE = ("<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        "<p>{body}</p></article></body></html>")
LONG = ("The Metropolitan Police extended its pilot of Palantir software for another year while a new "
        "and open procurement runs, after the mayor's policing office halted the larger contract. ") * 3


def _feed(items: list[tuple[str, str, str]]) -> str:
    out = ["<?xml version='1.0'?><rss version='2.0'><channel><title>A</title>"]
    for guid, title, link in items:
        out.append(f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title><link>{link}</link>"
                   f"<description>Feed summary of {title}.</description>"
                   "<pubDate>Mon, 09 Nov 2026 09:00:00 GMT</pubDate></item>")
    out.append("</channel></rss>")
    return "".join(out)


@pytest.fixture
def servers() -> Iterator[tuple[HTTPServer, HTTPServer]]:
    a = HTTPServer(host="127.0.0.2", port=0)
    b = HTTPServer(host="127.0.0.1", port=0)
    a.start()
    b.start()
    for srv in (a, b):
        srv.expect_request("/robots.txt").respond_with_data("", status=404)
        srv.expect_request("/feed.xml").respond_with_data(_feed([("b", "Private", "/x")]),
                                                          content_type="application/rss+xml")
        srv.expect_request("/inside").respond_with_data(PAGE.format(title="Inside", body=LONG),
                                                        content_type="text/html")
    yield a, b
    for srv in (a, b):
        srv.clear()
        if srv.is_running():
            srv.stop()


@pytest.fixture
def settings(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SCRUTINEER_ALLOW_PRIVATE_NETWORKS", "127.0.0.2/32")
    monkeypatch.setenv("SCRUTINEER_DOWNLOAD_TIMEOUT_S", "5")
    return Settings(db=sqlite_url)


def hits(server: HTTPServer, path: str | None = None) -> int:
    return sum(1 for req, _ in server.log if path is None or req.path == path)


@pytest.mark.parametrize("how", ["302", "meta-refresh"])
def test_feed_hop_into_private_address_refused(how: str, servers: tuple[HTTPServer, HTTPServer],
                                               settings: Settings) -> None:
    a, b = servers
    if how == "302":
        a.expect_request("/moved.xml").respond_with_data("", status=302,
                                                         headers={"Location": b.url_for("/feed.xml")})
    else:
        a.expect_request("/moved.xml").respond_with_data(
            f"<html><head><meta http-equiv='refresh' content='0;URL={b.url_for('/feed.xml')}'></head></html>",
            content_type="text/html")
    sources.add(settings, {"name": "redirector", "kind": "rss", "url": a.url_for("/moved.xml")})
    result = collect.run(settings)[0]
    assert hits(a, "/moved.xml") == 1  # the first hop is an allowed address: fetched once
    assert hits(b) == 0, b.log  # the hop into 127.0.0.1 never opened a request
    assert result.status == "error" and "non-public address 127.0.0.1" in (result.message or ""), result.message
    assert export_records(settings) == []
    listing = sources.listing(settings)[0]
    assert "non-public address" in (listing["last_error_message"] or "")


def test_entry_links_into_private_address_refused_per_item(servers: tuple[HTTPServer, HTTPServer],
                                                           settings: Settings) -> None:
    a, b = servers
    refresh = (f"<html><head><meta http-equiv='refresh' content='0; url={b.url_for('/inside')}'>"
               "<title>Moving</title></head><body>Moving.</body></html>")
    a.expect_request("/refresh").respond_with_data(refresh, content_type="text/html")
    a.expect_request("/hop").respond_with_data("", status=302, headers={"Location": b.url_for("/inside")})
    a.expect_request("/good").respond_with_data(PAGE.format(title="Good report", body=LONG),
                                                content_type="text/html")
    a.expect_request("/entries.xml").respond_with_data(_feed([
        ("1", "Good report", a.url_for("/good")),
        ("2", "Direct link", b.url_for("/inside")),
        ("3", "Meta refresh", a.url_for("/refresh")),
        ("4", "Redirected link", a.url_for("/hop")),
    ]), content_type="application/rss+xml")
    sources.add(settings, {"name": "entries", "kind": "rss", "url": a.url_for("/entries.xml"),
                           "follow_links": True})
    result = collect.run(settings)[0]
    assert hits(b) == 0, b.log
    assert hits(a, "/entries.xml") == 1 and hits(a, "/good") == 1
    assert hits(a, "/refresh") == 1 and hits(a, "/hop") == 1  # the allowed first hops were fetched
    assert result.status == "warning" and result.new == 4, result
    records = {r["title"]: r for r in export_records(settings)}
    assert "Metropolitan Police extended" in records["Good report"]["text"]
    for title in ("Direct link", "Meta refresh", "Redirected link"):
        # Kept from the feed's own summary, and the refusal names that entry's URL.
        assert records[title]["text"] == f"Feed summary of {title}."
        assert records[title]["url"] in (result.message or "")
    message = result.message or ""
    assert message.count("non-public address 127.0.0.1") == 3, message
    assert f"{b.url_for('/inside')}" in message
