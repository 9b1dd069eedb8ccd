"""Site sources: crawl a site from its start URL, store article pages, walk through listings.

Bounded every way a crawler gets trapped (Archive-It crawler-trap guidance; RELIABILITY T12):
`max_pages` requests per pass, a link depth limit, no path that repeats itself (/a/b/a/b), no
date far in the future (endless calendars), session ids stripped before a URL is ever requested,
a budget of query variants per path (faceted ?sort=&page= explosions), and URL patterns that
keep yielding listing pages and never an article are abandoned after a few. Article pages stored
by an earlier pass are never fetched again; listing pages are, since that is where news appears.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import scrapy
from twisted.python.failure import Failure

from crawlers.pagetype import analyse
from crawlers.spiders.base import SourceSpider, describe_failure, failed_request
from crawlers.urls import MAX_URL_LENGTH, canonicalize, strip_tracking
from storage.articles import known_urls
from storage.db import read

DEFAULT_MAX_PAGES = 200
DEFAULT_MAX_DEPTH = 3
MAX_SEGMENTS = 12
#: Query variants (sort orders, filters, page numbers) fetched per path in one pass.
QUERY_VARIANTS_PER_PATH = 8
#: Requests per URL pattern (digits blanked, query values dropped) before one proves an article.
PATTERN_TRIAL = 4
#: How far ahead a dated URL may point: news is not published next year (calendar traps).
FUTURE_DATES = timedelta(days=31)
SKIP_EXTENSIONS = (".pdf", ".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".ico", ".css", ".js", ".json",
                   ".xml", ".rss", ".atom", ".zip", ".gz", ".mp3", ".mp4", ".mov", ".avi", ".doc", ".docx",
                   ".xls", ".xlsx", ".ppt", ".pptx", ".woff", ".woff2", ".ttf", ".exe", ".dmg", ".csv")
SESSION_KEYS = re.compile(r"^(jsessionid|phpsessid|sid|sessid|sessionid|session_id|session|aspsessionid\w*|"
                          r"cfid|cftoken|zenid|oscsid|s_sid|sess)$", re.IGNORECASE)
_PATH_SESSION = re.compile(r";(jsessionid|phpsessid|sid|sessionid)=[^/?#]*|/\(S\([a-z0-9]+\)\)", re.IGNORECASE)
_DATE_IN_URL = re.compile(r"(?<!\d)((?:19|20)\d{2})[/-](0?[1-9]|1[0-2])(?:[/-](0?[1-9]|[12]\d|3[01]))?(?!\d)")
_DIGITS = re.compile(r"\d+")
_TOKEN = re.compile(r"^(?=.*\d)(?=.*[a-z])[a-z0-9_-]{16,}$", re.IGNORECASE)


# -- pure helpers (tested directly) ------------------------------------------------------------
def without_session(url: str) -> str:
    """The URL minus session ids (query keys and ;jsessionid= path parameters), fragment and
    tracking: what we request, so one page is one request however many sessions link to it."""
    parts = urlsplit(strip_tracking(url))
    path = _PATH_SESSION.sub("", parts.path) or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not SESSION_KEYS.match(k)]
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


def repeats_itself(path: str) -> bool:
    """True for /a/b/a/b, /x/x/x and absurdly deep paths: generated link loops, not pages."""
    segs = [s for s in path.split("/") if s]
    if len(segs) > MAX_SEGMENTS:
        return True
    counts: dict[str, int] = {}
    for s in segs:
        counts[s] = counts.get(s, 0) + 1
        if counts[s] >= 3 and not s.isdigit():
            return True
    for k in range(2, len(segs) // 2 + 1):
        for i in range(len(segs) - 2 * k + 1):
            if segs[i:i + k] == segs[i + k:i + 2 * k]:
                return True
    return False


def far_future(url: str, now: datetime) -> bool:
    """A date in the URL more than a month ahead: a calendar page, not news."""
    for m in _DATE_IN_URL.finditer(url):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
        try:
            when = datetime(year, month, day, tzinfo=timezone.utc)
        except ValueError:
            continue
        if when > now + FUTURE_DATES:
            return True
    return False


def url_pattern(url: str) -> str:
    """Digits blanked, token-like segments starred, query values dropped: /events/#/#/#, /list?page&sort."""
    parts = urlsplit(url)
    segs = ["*" if _TOKEN.match(s) else _DIGITS.sub("#", s) for s in parts.path.split("/")]
    keys = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True)})
    return "/".join(segs) + ("?" + "&".join(keys) if keys else "")


def allowed(url: str, host: str, prefixes: list[str]) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or (parts.netloc or "").lower() != host:
        return False
    if parts.path.lower().endswith(SKIP_EXTENSIONS):
        return False
    return any(parts.path.startswith(p) for p in prefixes)


# -- the spider --------------------------------------------------------------------------------
class SiteSpider(SourceSpider):
    name = "site"
    # Our own depth rule below; Scrapy's stays as a backstop above the largest allowed max_depth.
    custom_settings = {"DEPTH_LIMIT": 25}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts = self.source["options"]
        start = urlsplit(self.source["url"])
        self.host = (start.netloc or "").lower()
        self.allowed_domains = [start.hostname or ""]
        self.prefixes: list[str] = list(opts.get("allow") or ["/"])
        self.max_pages = int(opts.get("max_pages") or DEFAULT_MAX_PAGES)
        self.max_depth = int(opts.get("max_depth", DEFAULT_MAX_DEPTH))
        self.now = datetime.now(timezone.utc)
        self.scheduled = 0
        self.seen: set[str] = set()
        self.query_variants: dict[str, set[str]] = {}
        self.pattern_requests: dict[str, int] = {}
        self.pattern_articles: dict[str, int] = {}
        self.waiting: dict[str, list[tuple[str, int]]] = {}  # pattern -> links held until it proves itself
        self.counts = {"articles": 0, "listings": 0}
        self.skipped: dict[str, int] = {}
        self.failures = 0

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def summary(self) -> None:
        """Health is written when the crawl closes, before Spider.closed runs: keep it current."""
        held = sum(len(v) for v in self.waiting.values())
        counts = dict(self.skipped, **({"link(s) of listing-only URL patterns": held} if held else {}))
        skipped = ", ".join(f"{n} {r}" for r, n in sorted(counts.items()))
        self.health.note = (f"crawled {self.scheduled} page(s): {self.counts['articles']} article(s), "
                               f"{self.counts['listings']} listing(s)" + (f"; skipped {skipped}" if skipped else ""))

    def request(self, url: str, depth: int, first: bool = False) -> scrapy.Request:
        self.scheduled += 1
        pattern = url_pattern(url)
        self.pattern_requests[pattern] = self.pattern_requests.get(pattern, 0) + 1
        return scrapy.Request(url, callback=self.parse_page, errback=self.page_failed, dont_filter=first,
                              meta={"site_depth": depth, "first": first, "pattern": pattern})

    async def start(self) -> Any:
        url = without_session(self.source["url"])
        self.seen.add(canonicalize(url))
        self.summary()
        yield self.request(url, 0, first=True)

    def page_failed(self, failure: Failure) -> None:
        message = describe_failure(failure)
        if failed_request(failure).meta.get("first"):
            self.fail(message)
        elif message == "disallowed by robots.txt":  # the site's wish, not a fault: counted only
            self.skip("link(s) disallowed by robots.txt")
        else:
            self.failures += 1
            if self.failures <= 5:
                self.warn(f"{failed_request(failure).url[:300]}: {message}")
            elif self.failures == 6:
                self.warn("more pages failed; not listed")
        self.summary()

    async def parse_page(self, response: Any) -> AsyncIterator[Any]:
        try:
            async for out in self._parse_page(response):
                yield out
        finally:
            self.summary()

    async def _parse_page(self, response: Any) -> AsyncIterator[Any]:
        depth = int(response.meta.get("site_depth", 0))
        if response.meta.get("first"):
            self.health.http_status = response.status
        ctype = response.headers.get("Content-Type", b"").decode("latin-1").lower()
        if ctype and "html" not in ctype:
            self.count_response(response)
            self.skip("non-HTML response(s)")
            return
        info = analyse(response.url, response.body, ctype or None)
        pattern = response.meta.get("pattern") or url_pattern(response.url)
        if info.kind == "article" and not response.meta.get("first"):
            self.counts["articles"] += 1
            self.pattern_articles[pattern] = self.pattern_articles.get(pattern, 0) + 1
            art = await self.article_from_page(response)
            if art is not None:
                yield art
            for url, d in self.waiting.pop(pattern, []):  # the pattern proved itself: release its links
                req = self.admit(url, d, held=True)
                if req is not None:
                    yield req
        else:
            self.count_response(response)
            self.counts["listings"] += 1
        if depth >= self.max_depth:
            if info.links:
                self.skip("link(s) past the depth limit")
            return
        for req in self.follow(info.links, depth + 1):
            yield req

    def follow(self, links: list[str], depth: int) -> Iterator[scrapy.Request]:
        fresh: list[str] = []
        for link in links:
            if len(link) > MAX_URL_LENGTH:
                self.skip("over-long URL(s)")
                continue
            url = without_session(link)
            if not allowed(url, self.host, self.prefixes):
                continue  # off-site or outside `allow`: not ours, not worth a count
            key = canonicalize(url)
            if key in self.seen:
                continue
            self.seen.add(key)
            fresh.append(url)
        if not fresh:
            return
        with read(self.engine) as conn:
            known = known_urls(conn, [canonicalize(u) for u in fresh])
        for url in fresh:
            if canonicalize(url) in known:
                self.skip("article(s) stored by an earlier pass")
                self.health.known_skipped += 1
                continue
            req = self.admit(url, depth)
            if req is not None:
                yield req

    def admit(self, url: str, depth: int, held: bool = False) -> scrapy.Request | None:
        """The trap rules, in order; a request, or None with the reason counted."""
        parts = urlsplit(url)
        if repeats_itself(parts.path):
            self.skip("repeating path(s)")
            return None
        if far_future(url, self.now):
            self.skip("calendar date(s) ahead")
            return None
        if parts.query:
            variants = self.query_variants.setdefault(parts.path, set())
            if parts.query not in variants and len(variants) >= QUERY_VARIANTS_PER_PATH:
                self.skip("query variant(s) over the per-path budget")
                return None
            variants.add(parts.query)
        pattern = url_pattern(url)
        if not self.pattern_articles.get(pattern) and self.pattern_requests.get(pattern, 0) >= PATTERN_TRIAL:
            if not held:  # kept until an article of this pattern turns up, if one does
                self.waiting.setdefault(pattern, []).append((url, depth))
            return None
        if self.scheduled >= self.max_pages:
            if "page cap" not in " ".join(self.health.warnings):
                self.warn(f"stopped: page cap ({self.max_pages} pages)")
            self.skip("link(s) over the page cap")
            return None
        return self.request(url, depth)
