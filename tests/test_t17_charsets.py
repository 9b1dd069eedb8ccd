"""RELIABILITY T17: wrong or conflicting charsets, in feeds and in article pages.

Known-answer fixtures in tests/data/hostile/charsets/ (cases.yaml: Content-Type to serve, the title
the bytes really say, whether the mismatch must be flagged). First the plain functions the crawl
uses, then the real thing: rss sources for the feeds and one sitemap source for the pages.
"""
from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from crawlers.extract import extract_article
from crawlers.feedsafe import parse
from pipelines import collect, sources
from storage import sources as source_store
from storage.db import get_engine, read

DIR = Path(__file__).parent / "data" / "hostile" / "charsets"
CASES: dict[str, dict[str, dict[str, Any]]] = yaml.safe_load((DIR / "cases.yaml").read_text(encoding="utf-8"))


def assert_clean(text: str, where: str) -> None:
    """Valid Unicode in NFC, and under 1% replacement characters on a known-answer fixture."""
    text.encode("utf-8")  # raises on lone surrogates
    assert unicodedata.is_normalized("NFC", text), where
    assert text.count("\ufffd") <= len(text) / 100, (where, text.count("\ufffd"))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(CASES["feeds"]))
def test_t17_feed_known_answer(name: str) -> None:
    case = CASES["feeds"][name]
    feed = parse((DIR / name).read_bytes(), {"content-type": case["content_type"]})
    assert len(feed.entries) == 1, (name, feed.get("bozo_exception"))
    entry = feed.entries[0]
    assert entry.title == case["title"]
    assert case["snippet"] in entry.summary
    assert_clean(entry.title + entry.summary, name)
    # feedparser's rules decide what is a mismatch (it is bozo); our repairs are reported the same way.
    assert bool(feed.bozo) == case["warn"], (name, feed.get("bozo_exception"))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(CASES["pages"]))
def test_t17_page_known_answer(name: str) -> None:
    case = CASES["pages"][name]
    fields = extract_article(f"http://charset.test/{name}", (DIR / name).read_bytes(), case["content_type"])
    assert fields.title == case["title"]
    assert case["snippet"] in fields.text and fields.extraction == "trafilatura"
    assert_clean(fields.title + fields.text, name)
    assert bool(fields.charset_warning) == case["warn"], (name, fields.charset_warning)


@pytest.mark.timeout(90)
def test_t17_collect_stores_clean_text_and_flags_mismatches(httpserver: HTTPServer, sqlite_url: str) -> None:
    served = {f"/{n}": ((DIR / n).read_bytes(), c["content_type"]) for kind in CASES.values() for n, c in kind.items()}
    base = httpserver.url_for("").rstrip("/")
    locs = "".join(f"<url><loc>{base}/{n}</loc></url>" for n in sorted(CASES["pages"]))
    served["/sitemap.xml"] = (f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                              f"{locs}</urlset>".encode(), "application/xml")

    def handler(request: Request) -> Response:
        if request.path not in served:
            return Response("", status=404)
        body, ctype = served[request.path]
        return Response(body, headers={"Content-Type": ctype})  # exactly this header, no charset added

    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    for path in served:
        httpserver.expect_request(path).respond_with_handler(handler)
    settings = Settings(db=sqlite_url)
    for name in CASES["feeds"]:
        sources.add(settings, {"name": name.split(".")[0].replace("_", "-"), "kind": "rss",
                               "url": f"{base}/{name}", "follow_links": False})
    sources.add(settings, {"name": "charset-pages", "kind": "sitemap", "url": f"{base}/sitemap.xml"})
    results = {r.source: r for r in collect.run(settings)}
    assert all(r.status != "error" for r in results.values()), results  # a charset lie is never an error

    out = subprocess.run([sys.executable, "-m", "scrutineer.cli", "export", "--format", "jsonl", "--db", sqlite_url],
                         capture_output=True, check=True).stdout
    records = [json.loads(line) for line in out.decode("utf-8").splitlines()]  # strict: valid UTF-8
    by_source = {r["source"]: r for r in records if r["source"] != "charset-pages"}
    pages = {r["url"].rsplit("/", 1)[-1]: r for r in records if r["source"] == "charset-pages"}
    for name, case in CASES["feeds"].items():
        src = name.split(".")[0].replace("_", "-")
        rec = by_source[src]
        assert rec["title"] == case["title"] and case["snippet"] in rec["text"], (name, rec["title"])
        assert_clean(rec["title"] + rec["text"], name)
        assert (results[src].status == "warning") == case["warn"], (name, results[src])
    assert set(pages) == set(CASES["pages"])
    with read(get_engine(sqlite_url)) as conn:
        message = source_store.fetch_history(conn, "charset-pages", limit=1)[0]["message"] or ""
    assert results["charset-pages"].status == "warning"
    for name, case in CASES["pages"].items():
        rec = pages[name]
        assert rec["title"] == case["title"] and case["snippet"] in rec["text"], (name, rec["title"])
        assert_clean(rec["title"] + rec["text"], name)
        assert (f"/{name}:" in message) == case["warn"], (name, message)
