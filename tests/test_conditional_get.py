"""Issue 3, conditional GET: ETag / Last-Modified for feeds and sitemaps plus a body hash (some
servers keep the ETag after a change); stored pages are fetched again only when the feed or
sitemap says the entry changed since we read it, and a changed text becomes a new version.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from core.settings import Settings
from pipelines import collect, export, sources
from storage.db import get_engine, read
from storage.schema import article_versions

pytestmark = pytest.mark.timeout(90)

FIRST = ("Police chiefs told the committee that the pilot flagged officers for review before any "
         "complaint was made, and that every flag was checked by a person before action was taken. ") * 3
SECOND = ("Correction: the committee heard that flags were reviewed by two people, not one, and that no "
          "officer was suspended on the strength of a flag alone, the force said in a statement. ") * 3


def _page(title: str, text: str) -> str:
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>{text}</p>"
            "</article></body></html>")


def _records(settings: Settings) -> dict[str, dict[str, Any]]:
    return {r["canonical_url"]: r for r in export.records(settings)}


def _versions(settings: Settings, article_id: str) -> list[str]:
    with read(get_engine(settings.db)) as conn:
        rows = conn.execute(select(article_versions.c.text).where(article_versions.c.article_id == article_id)
                            .order_by(article_versions.c.version))
        return [r[0] for r in rows]


def hits(server: HTTPServer, path: str) -> int:
    return sum(1 for req, _ in server.log if req.path == path)


class Site:
    """A loopback site whose feed, sitemap and pages the test edits between passes."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.pages = {"/a": _page("Pilot flags officers", FIRST), "/b": _page("Tender reopened", FIRST[::-1])}
        self.updated = {"/a": "2026-11-09T09:00:00Z", "/b": "2026-11-09T09:00:00Z"}
        self.extra_entry = False
        self.etag = '"same-forever"'
        server.expect_request("/robots.txt").respond_with_data("", status=404)
        server.expect_request("/atom.xml").respond_with_handler(self.atom)
        server.expect_request("/sitemap.xml").respond_with_handler(self.sitemap)
        for path in self.pages:
            server.expect_request(path).respond_with_handler(lambda r, p=path: Response(
                self.pages[p], content_type="text/html"))
        server.expect_request("/c").respond_with_data(_page("Third item", SECOND[::-1]), content_type="text/html")

    def atom(self, request: Request) -> Response:
        entries = "".join(
            f"<entry><id>urn:x:{p}</id><title>Entry {p}</title><link href='{self.server.url_for(p)}'/>"
            f"<published>2026-11-09T09:00:00Z</published><updated>{self.updated[p]}</updated>"
            "<summary>Short summary.</summary></entry>" for p in self.pages)
        if self.extra_entry:
            entries += (f"<entry><id>urn:x:/c</id><title>Entry /c</title><link href='{self.server.url_for('/c')}'/>"
                        "<updated>2026-11-09T10:00:00Z</updated><summary>Third.</summary></entry>")
        body = f"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'><title>F</title>{entries}</feed>"
        # A server that sends the same ETag whatever the body (issue 3) and ignores If-None-Match.
        return Response(body, content_type="application/atom+xml", headers={"ETag": self.etag})

    def sitemap(self, request: Request) -> Response:
        urls = "".join(f"<url><loc>{self.server.url_for(p)}</loc><lastmod>{self.updated[p]}</lastmod></url>"
                       for p in self.pages)
        body = f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{urls}</urlset>"
        etag = f'"{abs(hash(body))}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, content_type="application/xml", headers={"ETag": etag})


@pytest.fixture
def site(httpserver: HTTPServer) -> Site:
    return Site(httpserver)


def test_same_etag_same_body_is_not_modified_same_etag_new_body_is_read(site: Site, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "feed", "kind": "rss", "url": site.server.url_for("/atom.xml")})
    first = collect.run(settings)[0]
    assert first.status == "ok" and first.new == 2, first
    again = collect.run(settings)[0]  # 200, same ETag, same bytes
    assert again.status == "ok" and again.new == 0 and again.updated == 0
    assert "not modified (same body)" in (again.message or "")
    feed_requests = [req for req, _ in site.server.log if req.path == "/atom.xml"]
    assert feed_requests[1].headers.get("If-None-Match") == site.etag
    site.extra_entry = True  # the body changes, the ETag does not
    third = collect.run(settings)[0]
    assert third.status == "ok" and third.new == 1 and third.updated == 0, third
    assert hits(site.server, "/c") == 1
    assert hits(site.server, "/a") == 1 and hits(site.server, "/b") == 1  # stored pages not read again
    assert len(_records(settings)) == 3


def _after_our_fetch() -> str:
    """An "updated" stamp (whole seconds, as feeds give it) later than the fetch that just ended and
    not in the future: a fast collect can finish within the same second as its fetch."""
    time.sleep(1.5)
    return (datetime.now(timezone.utc) - timedelta(seconds=0.5)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_entry_updated_after_our_fetch_is_read_again_as_a_new_version(site: Site, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "feed", "kind": "rss", "url": site.server.url_for("/atom.xml")})
    assert collect.run(settings)[0].new == 2
    before = _records(settings)
    # The publisher corrects /a and says so in the feed; /b is untouched.
    site.pages["/a"] = _page("Pilot flags officers", SECOND)
    site.updated["/a"] = _after_our_fetch()
    result = collect.run(settings)[0]
    assert result.status == "ok" and result.new == 0 and result.updated == 1, result
    assert hits(site.server, "/a") == 2 and hits(site.server, "/b") == 1
    after = _records(settings)
    assert set(after) == set(before)  # the same article, not a new row
    a_url = site.server.url_for("/a").rstrip("/")
    a = after[next(k for k in after if k.startswith(a_url))]
    assert a["id"] == before[next(k for k in before if k.startswith(a_url))]["id"]
    assert "Correction" in a["text"]
    versions = _versions(settings, a["id"])
    assert len(versions) == 2 and "Police chiefs" in versions[0] and "Correction" in versions[1]
    # An entry "updated" in the future (a zone slip) is not a reason to read the page every pass.
    site.updated["/b"] = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert collect.run(settings)[0].updated == 0
    assert hits(site.server, "/b") == 1


def test_sitemap_validators_and_lastmod_refetch(site: Site, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "map", "kind": "sitemap", "url": site.server.url_for("/sitemap.xml")})
    assert collect.run(settings)[0].new == 2
    unchanged = collect.run(settings)[0]
    assert unchanged.status == "ok" and "not modified (304)" in (unchanged.message or "")
    site.pages["/b"] = _page("Tender reopened", SECOND)
    site.updated["/b"] = _after_our_fetch()
    changed = collect.run(settings)[0]
    assert changed.status == "ok" and changed.updated == 1 and changed.new == 0, changed
    assert hits(site.server, "/b") == 2 and hits(site.server, "/a") == 1
