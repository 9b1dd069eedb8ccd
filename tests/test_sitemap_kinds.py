"""`sitemap` sources in every published shape: an index, a Google News urlset, a gzipped urlset, and
robots.txt's `Sitemap:` lines, on loopback (tests/data/site/sitemaps/, each file saying what it
proves; the pages are tests/data/site/pages/).
"""
from __future__ import annotations

import gzip
import re
from collections import Counter

import pytest
from conftest import DATA, export_records
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from crawlers.spiders.sitemap import NewsSitemap
from pipelines import collect, sources

SITE = DATA / "site"


class SitemapSite:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.hits: Counter[str] = Counter()
        self.robots = "User-agent: *\nDisallow: /private/\nSitemap: {base}/sitemap_index.xml\n"
        self.extra_news: list[str] = []
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    @property
    def base(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def xml(self, name: str) -> bytes:
        body = (SITE / "sitemaps" / name).read_text(encoding="utf-8").replace("{base}", self.base)
        for slug in self.extra_news:
            body = body.replace("</urlset>", f"<url><loc>{self.base}/news/{slug}</loc></url></urlset>")
        return body.encode()

    def handle(self, request: Request) -> Response:
        path = request.path
        self.hits[path] += 1
        if path == "/robots.txt":
            return Response(self.robots.replace("{base}", self.base), content_type="text/plain")
        if path in ("/sitemap_index.xml", "/sitemap-news.xml"):
            return Response(self.xml(path[1:]), content_type="application/xml")
        if path == "/sitemap-archive.xml.gz":
            return Response(gzip.compress(self.xml("sitemap-archive.xml")), content_type="application/gzip")
        page = SITE / "pages" / "news" / f"{path.rsplit('/', 1)[-1]}.html"
        if path.startswith("/news/") and page.exists():
            return Response(page.read_bytes(), content_type="text/html; charset=utf-8")
        return Response("no", status=404)


@pytest.fixture
def site(httpserver: HTTPServer) -> SitemapSite:
    return SitemapSite(httpserver)


def _by_slug(settings: Settings) -> dict[str, dict]:
    return {r["canonical_url"].rsplit("/", 1)[-1]: r for r in export_records(settings)}


def test_news_fields_survive_parsing() -> None:
    body = (SITE / "sitemaps" / "sitemap-news.xml").read_bytes()
    entries = list(NewsSitemap(body))
    assert [e["news_publication_date"] for e in entries] == ["2026-11-21T11:30:00+00:00", "2026-11-20T07:00:00Z"]
    assert entries[0]["news_title"] == "Peterborough split over camera vans"
    assert entries[0]["loc"].endswith("/news/peterborough-cameras")


@pytest.mark.timeout(90)
def test_index_news_and_gzipped_children(sqlite_url: str, site: SitemapSite) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "ledger-map", "kind": "sitemap", "url": site.base + "/sitemap_index.xml"})
    result = collect.run(settings, ["ledger-map"])[0]
    assert result.status == "ok" and result.new == 3, result
    got = _by_slug(settings)
    assert set(got) == {"peterborough-cameras", "met-pilot-extended", "mopac-halts-contract"}
    assert got["peterborough-cameras"]["published_at"] == "2026-11-21T11:30:00+00:00"  # news date, page has none
    assert got["met-pilot-extended"]["published_at"] == "2026-11-20T07:00:00+00:00"  # news date beats the page
    assert got["mopac-halts-contract"]["published_at"] == "2026-11-12T10:00:00+00:00"  # lastmod is no pub date

    # The index is byte-for-byte the same next pass, but a child changed: the new page is found,
    # and no stored page is fetched again.
    site.extra_news.append("rowley-warns-on-ai-crime")
    before = Counter(site.hits)
    again = collect.run(settings, ["ledger-map"])[0]
    assert again.status == "ok" and again.new == 1, again
    assert site.hits["/news/rowley-warns-on-ai-crime"] == 1
    assert all(site.hits[f"/news/{s}"] == before[f"/news/{s}"] for s in got)


@pytest.mark.timeout(90)
def test_sitemaps_listed_in_robots_txt(sqlite_url: str, site: SitemapSite) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "ledger-robots", "kind": "sitemap", "url": site.base + "/robots.txt"})
    result = collect.run(settings, ["ledger-robots"])[0]
    assert result.status == "ok" and result.new == 3, result
    assert site.hits["/sitemap-news.xml"] == 1 and site.hits["/sitemap-archive.xml.gz"] == 1

    site.robots = "User-agent: *\nDisallow:\n"
    sources.add(settings, {"name": "no-maps", "kind": "sitemap", "url": site.base + "/robots.txt"})
    empty = collect.run(settings, ["no-maps"])[0]
    assert empty.status == "error" and "robots.txt lists no sitemaps" in (empty.message or "")

