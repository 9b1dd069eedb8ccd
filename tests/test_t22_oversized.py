"""RELIABILITY T22: oversized or hostile structure in feeds and sitemaps (OCDS depth: its own test).

Generated fixtures: 20,000 entries in one feed, a 1 MB title (feed entry and page), a link and a
<loc> longer than 2,083 characters, and one element carrying 10 MB of attributes (100,000 of
them: feedparser's strict parser was quadratic in that count). Expect per-field truncation, the
per-feed item cap with a warning, over-long URLs skipped, and bounded time and peak memory.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from crawlers.feedsafe import parse
from pipelines import sources
from storage import sources as source_store
from storage.db import get_engine, read

CAP = 100  # SCRUTINEER_MAX_FEED_ITEMS for this test (default 500)
MAX_TITLE = 1000
URL_LIMIT = 2083  # Scrapy URLLENGTH_LIMIT, the de facto browser limit
ATTRIBUTES = " ".join(f'a{i}="{"x" * 90}"' for i in range(100_000))  # ~10 MB
BIG_TITLE = "Met Police data row " + "very " * 210_000  # ~1 MB


def _rss(items: str) -> bytes:
    return f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()


def _item(title: str, guid: str, link: str = "", attrs: str = "") -> str:
    link_el = f"<link>{link}</link>" if link else ""
    return (f"<item {attrs}><title>{title}</title>{link_el}<guid isPermaLink='false'>{guid}</guid>"
            f"<description>Council officers answered questions about {guid}.</description></item>")


@pytest.mark.timeout(60)
def test_t22_ten_mb_of_attributes_parses_in_linear_time() -> None:
    body = _rss(_item("Attribute storm", "storm", attrs=ATTRIBUTES) + _item("After the storm", "after"))
    assert len(body) > 9_900_000
    started = time.perf_counter()
    feed = parse(body, {"content-type": "application/rss+xml"})
    assert time.perf_counter() - started < 20  # 100,000² lookups would not finish in an hour
    assert [e.title for e in feed.entries] == ["Attribute storm", "After the storm"]


_PEAK = ("import resource, subprocess, sys, time; t = time.time(); "
         "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
         "print(p.returncode, time.time() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
         "print(p.stdout); print(p.stderr, file=sys.stderr)")


@pytest.mark.timeout(150)
def test_t22_collect_caps_truncates_and_skips(httpserver: HTTPServer, sqlite_url: str) -> None:
    base = httpserver.url_for("").rstrip("/")
    long_link = f"{base}/story?" + "q=" + "x" * (URL_LIMIT + 50)
    served = {
        "/big.xml": (_rss("".join(_item(f"Routine notice {i}", f"notice-{i}") for i in range(20_000))),
                     "application/rss+xml"),
        "/hostile.xml": (_rss(_item(BIG_TITLE, "big-title") + _item("Link far too long", "long", link=long_link)
                              + _item("Attribute storm", "storm", attrs=ATTRIBUTES) + _item("Plain entry", "plain")),
                         "application/rss+xml"),
        "/sitemap.xml": (("<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                          f"<url><loc>{base}/page-big-title</loc></url><url><loc>{long_link}</loc></url>"
                          "</urlset>").encode(), "application/xml"),
        "/page-big-title": ((f"<html><head><title>{BIG_TITLE}</title></head><body><article><h1>{BIG_TITLE[:200]}"
                             "</h1>" + "<p>The committee asked the force to explain its new data platform.</p>" * 5
                             + "</article></body></html>").encode(), "text/html; charset=utf-8"),
    }
    asked: list[str] = []

    def handler(request: Request) -> Response:
        asked.append(request.full_path)
        body, ctype = served.get(request.path, (b"", "text/plain"))
        return Response(body, status=200 if request.path in served else 404, content_type=ctype)

    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    for path in [*served, "/story"]:
        httpserver.expect_request(path).respond_with_handler(handler)
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "big-feed", "kind": "rss", "url": f"{base}/big.xml", "follow_links": False})
    sources.add(settings, {"name": "hostile-feed", "kind": "rss", "url": f"{base}/hostile.xml", "follow_links": False})
    sources.add(settings, {"name": "hostile-sitemap", "kind": "sitemap", "url": f"{base}/sitemap.xml"})

    env = {**os.environ, "SCRUTINEER_MAX_FEED_ITEMS": str(CAP),
           "SCRUTINEER_DOWNLOAD_MAXSIZE": str(16 * 1024 * 1024)}  # 10 MB of attributes + a 1 MB title
    proc = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m", "scrutineer.cli", "collect",
                           "--db", sqlite_url], capture_output=True, text=True, env=env, timeout=140)
    code, wall, peak_kb = proc.stdout.splitlines()[0].split()
    assert code == "0" and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert float(wall) < 120, wall  # bounded time, three sources including Scrapy start-up
    assert int(peak_kb) < 800 * 1024, peak_kb  # the biggest crawl process stayed well under 800 MB

    export = subprocess.run([sys.executable, "-m", "scrutineer.cli", "export", "--format", "jsonl", "--db", sqlite_url],
                            capture_output=True, text=True, check=True).stdout
    records = [json.loads(line) for line in export.splitlines()]
    by_source: dict[str, list[dict[str, str]]] = {}
    for rec in records:
        by_source.setdefault(rec["source"], []).append(rec)
    with read(get_engine(sqlite_url)) as conn:
        latest = {n: source_store.fetch_history(conn, n, limit=1)[0] for n in by_source | {"big-feed": 1}}

    # Per-feed item cap, with a warning that says so.
    assert len(by_source["big-feed"]) == CAP
    assert {r["title"] for r in by_source["big-feed"]} == {f"Routine notice {i}" for i in range(CAP)}
    assert latest["big-feed"]["status"] == "warning"
    assert f"20000 entries; only the first {CAP}" in latest["big-feed"]["message"]

    # Per-field truncation; the over-long link skipped with a warning; the attribute storm read.
    titles = sorted(r["title"] for r in by_source["hostile-feed"])
    assert len(titles) == 3 and "Attribute storm" in titles and "Plain entry" in titles
    assert not [t for t in titles if "too long" in t]
    assert all(len(r["title"]) <= MAX_TITLE for r in records)
    assert any(r["title"].startswith("Met Police data row very very") for r in by_source["hostile-feed"])
    assert f"longer than {URL_LIMIT}" in latest["hostile-feed"]["message"]

    # Sitemap: the page with a 1 MB <title> stored truncated; the over-long <loc> never requested.
    assert [r["title"][:30] for r in by_source["hostile-sitemap"]] == ["Met Police data row very very "]
    assert not [p for p in asked if len(p) > URL_LIMIT]
    assert all(len(r["url"]) <= URL_LIMIT and len(r["canonical_url"]) <= URL_LIMIT for r in records)
