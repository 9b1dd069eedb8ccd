"""bench/realcrawl.py: finds real pages in the public layouts, and skips cleanly without them."""
from __future__ import annotations

import urllib.request
from pathlib import Path

from bench import realcrawl


def test_no_pages_means_the_section_is_skipped(tmp_path: Path) -> None:
    assert realcrawl.find_pages(tmp_path) == []
    assert realcrawl.run(tmp_path) is None


def test_pages_are_found_and_served_once_per_copy(tmp_path: Path) -> None:
    html = tmp_path / "newspaper4k-0.9.6" / "tests" / "data" / "html"
    html.mkdir(parents=True)
    page = ("<html><body><article>" + "<p>The lock keeper logged every barge twice.</p>" * 80
            + "</article></body></html>").encode()
    (html / "a.html").write_bytes(page)
    (html / "tiny.html").write_bytes(b"<html></html>")  # too small to be an article page: left out
    pages = realcrawl.find_pages(tmp_path)
    assert pages == [page]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with realcrawl.Site(pages, 3) as site:
        sitemap = opener.open(site.base + "/sitemap.xml", timeout=10).read().decode()
        assert site.count == 3 and sitemap.count("<loc>") == 3
        assert opener.open(site.base + "/c2/0.html", timeout=10).read() == page
