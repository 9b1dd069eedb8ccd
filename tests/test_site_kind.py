"""`site` sources: crawl within `allow`, store articles once, walk through listings, re-crawl cheaply.

The site is tests/data/site/: a front page of teaser cards, a paginated section, four stories
(one declared in JSON-LD, one by og:type, one with no metadata at all, one only reachable via
page 2), a robots-disallowed path, a PDF and an off-site link. Each page says what it is.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, export_records
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from crawlers.pagetype import analyse
from pipelines import collect, sources
from scrutineer.cli import main

SITE = DATA / "site"
PAGES = sorted((SITE / "pages").rglob("*.html"))
ARTICLES = {"met-pilot-extended", "rowley-warns-on-ai-crime", "peterborough-cameras", "mopac-halts-contract"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(SITE / "pages")))
def test_article_or_listing(page: Path) -> None:
    body = page.read_bytes()
    expect = re.search(rb"Expect: (\w+)", body)
    assert expect is not None, "every page says what it is"
    info = analyse("http://127.0.0.1/x", body, "text/html; charset=utf-8")
    assert info.kind == expect.group(1).decode(), info.reasons


def test_links_are_absolute_without_fragments_or_nofollow() -> None:
    html = (b'<html><body><a href="/a#top">a</a><a href="b?x=1">b</a><a href="/a">again</a>'
            b'<a rel="nofollow" href="/trap">t</a><a href="mailto:x@example.org">m</a>'
            b'<a href="javascript:void(0)">j</a></body></html>')
    assert analyse("http://127.0.0.1:8/dir/page", html).links == ["http://127.0.0.1:8/a", "http://127.0.0.1:8/dir/b?x=1"]


class Site:
    """tests/data/site served on loopback, counting hits per path."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.hits: Counter[str] = Counter()
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    def page_for(self, path: str, query: dict[str, str]) -> Path | None:
        pages = SITE / "pages"
        path = re.sub(r";jsessionid=[^/]*", "", path)
        if path == "/":
            return pages / "index.html"
        if path in ("/news", "/news/"):
            return pages / "news" / ("page2.html" if query.get("page") == "2" else "index.html")
        if path in ("/about", "/about/"):
            return pages / "about.html"
        if path == "/tags/policing":
            return pages / "tags.html"
        m = re.fullmatch(r"/news/([a-z-]+)", path)
        return pages / "news" / f"{m.group(1)}.html" if m else None

    def handle(self, request: Request) -> Response:
        self.hits[request.path] += 1
        if request.path == "/robots.txt":
            return Response((SITE / "robots.txt").read_bytes(), content_type="text/plain")
        page = self.page_for(request.path, dict(request.args))
        if page is None or not page.exists():
            return Response("not here", status=404, content_type="text/plain")
        return Response(page.read_bytes(), content_type="text/html; charset=utf-8")

    def url(self, path: str = "/") -> str:
        return self.server.url_for(path)

    def article_hits(self) -> dict[str, int]:
        return {slug: self.hits[f"/news/{slug}"] for slug in ARTICLES}


@pytest.fixture
def site(httpserver: HTTPServer) -> Site:
    return Site(httpserver)


def _add(settings: Settings, site: Site, **options: Any) -> str:
    sources.add(settings, {"name": "fenland", "kind": "site", "url": site.url("/"), **options})
    return "fenland"


@pytest.mark.timeout(90)
def test_site_crawl_stores_each_article_once_and_recrawls_without_refetching(sqlite_url: str, site: Site) -> None:
    settings = Settings(db=sqlite_url)
    name = _add(settings, site, max_pages=50)
    first = collect.run(settings, [name])[0]
    assert first.status == "ok", first.message
    recs = export_records(settings)
    slugs = Counter(r["canonical_url"].rsplit("/", 1)[-1] for r in recs)
    assert set(slugs) == ARTICLES and set(slugs.values()) == {1}  # session ids, utm: one article each
    assert all("jsessionid" not in r["url"] and "sid=" not in r["url"] for r in recs)
    assert site.article_hits() == {slug: 1 for slug in ARTICLES}
    assert site.hits["/private/drafts"] == 0  # robots.txt
    assert site.hits["/files/annual-report.pdf"] == 0
    assert "4 article(s)" in (first.message or "")
    before = Counter(site.hits)
    second = collect.run(settings, [name])[0]
    assert second.status == "ok" and second.new == 0 and second.updated == 0, second
    assert site.article_hits() == {slug: 1 for slug in ARTICLES}  # no stored article fetched again
    assert site.hits["/"] == before["/"] + 1  # listings are re-read: that is where news appears
    assert len(export_records(settings)) == len(recs)


@pytest.mark.timeout(90)
def test_allow_prefixes_depth_and_page_cap(sqlite_url: str, site: Site) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "news-only", "kind": "site", "url": site.url("/"), "allow": ["/news/"],
                           "max_depth": 1})
    result = collect.run(settings, ["news-only"])[0]
    assert result.status == "ok", result.message
    assert site.hits["/about/"] == 0 and site.hits["/tags/policing"] == 0  # outside `allow`
    # Depth 1: the front page's links are read, page 2's link to the older story is not.
    assert site.hits["/news/mopac-halts-contract"] == 0 and site.hits["/news/met-pilot-extended"] == 1
    assert "depth limit" in (result.message or "")

    sources.add(settings, {"name": "capped", "kind": "site", "url": site.url("/"), "max_pages": 3})
    before = sum(site.hits.values()) - site.hits["/robots.txt"]
    capped = collect.run(settings, ["capped"])[0]
    fetched = sum(site.hits.values()) - site.hits["/robots.txt"] - before
    assert capped.status == "warning" and "stopped: page cap (3 pages)" in (capped.message or "")
    assert fetched <= 3
    listing = {s["name"]: s for s in sources.listing(settings)}
    assert listing["capped"]["last_error"] is None
    assert "stopped: page cap" in (listing["capped"]["last_warning_message"] or "")


def test_site_options_validated(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sources", "add", "--db", sqlite_url, "--name", "x", "--kind", "rss", "--url", "http://127.0.0.1/"]
    assert main(argv) == 0
    settings = Settings(db=sqlite_url)
    for raw, field in [({"kind": "rss", "max_depth": 2}, "max_depth"),
                       ({"kind": "site", "max_depth": 99}, "max_depth"),
                       ({"kind": "site", "allow": ["news"]}, "allow"),
                       ({"kind": "ocds", "max_pages": 500}, "max_pages")]:
        with pytest.raises(Exception, match=f"field '{field}'"):
            sources.add(settings, {"name": "bad", "url": "http://127.0.0.1/", **raw})
    sources.add(settings, {"name": "good", "kind": "site", "url": "http://127.0.0.1/", "allow": ["/news/"],
                           "max_pages": 10, "max_depth": 2})
    assert sources.get(settings, "good")["options"] == {"allow": ["/news/"], "max_pages": 10, "max_depth": 2}
    # `allow` and `max_pages` were accepted on every kind before `site` existed: old files still import.
    sources.add(settings, {"name": "old-feed", "kind": "rss", "url": "http://127.0.0.1/f", "allow": ["/news/"],
                           "max_pages": 5})
    assert "allow" not in sources.get(settings, "old-feed")["options"]
