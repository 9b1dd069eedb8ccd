"""Crawl throughput and re-poll cost, on a loopback site built from the demo newsroom's pages.

Two figures from issue 3, each measured side by side in one run:
- pages/s of a real `collect` crawling N article pages (one sitemap source), as a ratio to a bare
  `trafilatura.extract` loop over the same pages in memory (target >= 0.6);
- bytes and requests of a second poll of F unchanged feeds as a fraction of the first poll
  (target <= 5%): the first poll fetches every feed and every entry's page, the second should
  cost one conditional GET per feed.

The site serves N distinct pages made from the newsroom's real templates (each with its own URL,
canonical link and an extra paragraph, so nothing collapses as a duplicate), a sitemap of them,
and F RSS feeds of `items` entries each that answer `If-None-Match` with 304. It runs in the bench
process on its own threads; the crawl runs in its subprocesses, so the two do not share a GIL.
"""
from __future__ import annotations

import hashlib
import re
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import trafilatura
import yaml

_CANONICAL = re.compile(r'(<link[^>]+rel="canonical"[^>]*href=")[^"]*(")'
                        r'|(<meta[^>]+property="og:url"[^>]*content=")[^"]*(")')
_TITLE = re.compile(r"(<title>)(.*?)(</title>)", re.S)
_OG_TITLE = re.compile(r'(<meta[^>]+property="og:title"[^>]*content=")([^"]*)(")')
_FIRST_P = re.compile(r"(<p[ >])")
_WORDS = ("quarterly", "borough", "inspection", "committee", "budget", "ferry", "archive", "licence",
          "harbour", "survey", "tenancy", "reservoir", "lecture", "pantry", "allotment", "courier")


def build_pages(templates: list[tuple[str, str]], n: int, base: str) -> dict[str, bytes]:
    """N distinct article pages at base/p/<i>/: newsroom pages with their own URL and paragraph."""
    pages: dict[str, bytes] = {}
    for i in range(n):
        _, html = templates[i % len(templates)]
        path = f"/p/{i}/"
        url = base + path

        def canon(m: re.Match[str], url: str = url) -> str:
            return f"{m.group(1)}{url}{m.group(2)}" if m.group(1) else f"{m.group(3)}{url}{m.group(4)}"

        page = _CANONICAL.sub(canon, html)
        page = _TITLE.sub(lambda m, i=i: f"{m.group(1)}{m.group(2).strip()} (edition {i}){m.group(3)}", page, 1)
        page = _OG_TITLE.sub(lambda m, i=i: f"{m.group(1)}{m.group(2)} (edition {i}){m.group(3)}", page, 1)
        words = " ".join(_WORDS[(i * 7 + k) % len(_WORDS)] for k in range(40))
        extra = f"<p>Edition {i} notes: {words} {hashlib.sha1(str(i).encode()).hexdigest()}.</p>\n"
        page = _FIRST_P.sub(lambda m, extra=extra: extra + m.group(1), page, 1)
        pages[path] = page.encode("utf-8")
    return pages


class Site:
    """Pages, a sitemap and RSS feeds with ETag/304; counts requests and bytes served."""

    def __init__(self, templates: list[tuple[str, str]], pages: int, feeds: int, items: int) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.site = self  # type: ignore[attr-defined]
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.pages = build_pages(templates, pages, self.base)
        paths = list(self.pages)
        urls = "".join(f"<url><loc>{self.base}{p}</loc></url>" for p in paths)
        self.sitemap = ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/'
                        f'sitemap/0.9">{urls}</urlset>').encode()
        stamp = format_datetime(datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc), usegmt=True)
        self.feeds: dict[str, bytes] = {}
        for f in range(feeds):
            entries = "".join(
                f"<item><title>Item {f}-{k}</title><link>{self.base}{paths[(f * items + k) % len(paths)]}</link>"
                f"<guid>{self.base}{paths[(f * items + k) % len(paths)]}</guid><pubDate>{stamp}</pubDate>"
                f"<description>{escape(f'Summary of item {f}-{k}.')}</description></item>"
                for k in range(items))
            self.feeds[f"/feeds/{f}.xml"] = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
                                             f"<title>Feed {f}</title><link>{self.base}/</link>"
                                             f"<description>bench</description>{entries}</channel></rss>").encode()
        self.requests: Counter[str] = Counter()
        self.bytes = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()
            self.bytes = 0

    def count(self, kind: str, sent: int) -> None:
        with self.lock:
            self.requests[kind] += 1
            self.bytes += sent


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        site: Site = self.server.site  # type: ignore[attr-defined]
        path = self.path.split("?")[0]
        if path == "/robots.txt":
            self._send(site, "robots", 200, b"User-agent: *\nAllow: /\n", "text/plain")
        elif path == "/sitemap.xml":
            self._send(site, "sitemap", 200, site.sitemap, "application/xml")
        elif path in site.feeds:
            body = site.feeds[path]
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self._send(site, "feed", 304, b"", None, {"ETag": etag})
            else:
                self._send(site, "feed", 200, body, "application/rss+xml", {"ETag": etag})
        elif path in site.pages:
            self._send(site, "page", 200, site.pages[path], "text/html; charset=utf-8")
        else:
            self._send(site, "other", 404, b"not here", "text/plain")

    def _send(self, site: Site, kind: str, status: int, body: bytes, ctype: str | None,
              extra: dict[str, str] | None = None) -> None:
        head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'X'}"]
        if ctype:
            head.append(f"Content-Type: {ctype}")
        head.append(f"Content-Length: {len(body)}")
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        self.wfile.write(raw)
        site.count(kind, len(raw))


def _bare_rate(pages: dict[str, bytes], base: str, min_seconds: float = 3.0) -> float:
    texts = [(base + p, b.decode("utf-8")) for p, b in pages.items()]
    for url, html in texts[:50]:
        trafilatura.extract(html, url=url)
    done = 0
    start = time.perf_counter()
    while True:
        for url, html in texts:
            trafilatura.extract(html, url=url)
        done += len(texts)
        spent = time.perf_counter() - start
        if spent >= min_seconds:
            return done / spent


def crawl_throughput(templates: list[tuple[str, str]], pages: int = 2000) -> dict[str, Any]:
    """collect over one sitemap source of `pages` pages vs the bare trafilatura loop on them."""
    from core.settings import Settings
    from pipelines import collect, sources

    with Site(templates, pages, feeds=0, items=0) as site, tempfile.TemporaryDirectory() as tmp:
        before = _bare_rate(site.pages, site.base)
        settings = Settings(db=f"sqlite:///{Path(tmp) / 'crawl.sqlite'}")
        listing = Path(tmp) / "sources.yaml"
        listing.write_text(yaml.safe_dump({"sources": [{"name": "bench-sitemap", "kind": "sitemap",
                                                        "url": site.base + "/sitemap.xml"}]}))
        sources.import_file(settings, listing)
        start = time.perf_counter()
        result = collect.run(settings)[0]
        seconds = time.perf_counter() - start
        # The baseline is measured before and after the crawl and averaged, so load that comes or
        # goes during the run does not fall on one side of the ratio only.
        bare = (before + _bare_rate(site.pages, site.base)) / 2
        rate = result.new / seconds
        return {"pages": pages, "stored": result.new, "seconds": round(seconds, 2), "crawl_pages_s": round(rate, 1),
                "bare_pages_s": round(bare, 1), "ratio": round(rate / bare, 3), "status": result.status,
                "requests": dict(site.requests)}


def repoll_cost(templates: list[tuple[str, str]], feeds: int = 200, items: int = 50) -> dict[str, Any]:
    """First poll of `feeds` RSS feeds (each entry its own page) vs an immediate second poll."""
    pages = feeds * items
    from core.settings import Settings
    from pipelines import collect, sources

    with Site(templates, pages, feeds=feeds, items=items) as site, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db=f"sqlite:///{Path(tmp) / 'repoll.sqlite'}")
        listing = Path(tmp) / "sources.yaml"
        listing.write_text(yaml.safe_dump({"sources": [
            {"name": f"bench-feed-{f}", "kind": "rss", "url": f"{site.base}/feeds/{f}.xml"} for f in range(feeds)]}))
        sources.import_file(settings, listing)
        out: dict[str, Any] = {"feeds": feeds, "items_per_feed": items, "distinct_pages": pages}
        for label in ("first", "second"):
            site.reset_counts()
            start = time.perf_counter()
            results = collect.run(settings)
            out[label] = {"seconds": round(time.perf_counter() - start, 2), "bytes": site.bytes,
                          "requests": sum(site.requests.values()), "by_kind": dict(site.requests),
                          "new": sum(r.new for r in results),
                          "errors": [f"{r.source}: {r.message}" for r in results if r.status == "error"][:5]}
        out["bytes_ratio"] = round(out["second"]["bytes"] / out["first"]["bytes"], 4)
        out["requests_ratio"] = round(out["second"]["requests"] / out["first"]["requests"], 4)
        return out
