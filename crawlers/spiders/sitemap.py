"""Sitemap sources: sitemap index, urlset, Google News and gzipped sitemaps, or robots.txt's
`Sitemap:` lines (a source URL ending in /robots.txt), via Scrapy's SitemapSpider.

Scrapy's `Sitemap` parses with lxml `resolve_entities=False` and no network, and its gunzip is
size-bounded (CVE-2025-6176), so this spider only adds health, known-URL skipping and lastmod.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import scrapy
from scrapy.spiders import SitemapSpider as ScrapySitemapSpider
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.sitemap import Sitemap
from twisted.python.failure import Failure

from crawlers.dates import parse_date
from crawlers.feedsafe import strip_doctype
from crawlers.politeness import note_retry_after
from crawlers.spiders.base import SourceSpider, describe_failure, failed_request
from crawlers.urls import MAX_URL_LENGTH, canonicalize
from storage.article import url_key
from storage.articles import stored_by_url_key
from storage.db import read


class NewsSitemap(Sitemap):
    """Scrapy's parser, keeping Google News fields: it reads only direct children of <url> and
    clears the rest, so <news:news><news:publication_date>/<news:title> would be lost."""

    __slots__ = ()

    def _process_sitemap_element(self, elem: Any) -> dict[str, Any] | None:
        news: dict[str, str] = {}
        for child in elem:
            if self._get_tag_name(child) == "news":
                for sub in child.iter():
                    name = self._get_tag_name(sub)
                    if name in ("publication_date", "title", "name") and sub.text:
                        news[f"news_{name}"] = sub.text.strip()[:1000]
        entry = super()._process_sitemap_element(elem)
        return {**entry, **news} if entry is not None else None


#: Sitemap documents (index, children, grandchildren) read per pass. Large news sites keep a few
#: hundred (one per month or day); a hostile index that fans out and loops (REDTEAM R9) ends here.
MAX_SITEMAPS = 500


class SitemapSpider(SourceSpider, ScrapySitemapSpider):
    name = "sitemap"
    sitemap_rules = [("", "parse_page")]
    max_sitemaps = MAX_SITEMAPS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lastmod: dict[str, Any] = {}
        self.news: dict[str, tuple[Any, str]] = {}  # loc -> (news:publication_date, news:title)
        self.sitemaps_seen = 0
        self.sitemaps_queued: set[str] = {canonicalize(self.source["url"])}  # read or queued this pass
        self.sitemap_loops = 0  # child sitemaps that point back at one already read or queued
        self.sitemaps_capped = 0  # child sitemaps left for the next pass (max_sitemaps)
        self.sitemap_warning_at: dict[str, int] = {}  # kind -> index in health.warnings

    async def start(self) -> Any:
        yield scrapy.Request(self.source["url"], callback=self._parse_sitemap, errback=self.sitemap_failed,
                             headers=self.conditional_headers(), dont_filter=True,
                             meta={"handle_httpstatus_list": [304], "top": True})

    def sitemap_failed(self, failure: Failure) -> None:
        message = describe_failure(failure)
        if failed_request(failure).meta.get("top"):
            wait = note_retry_after(self.health, failure)
            self.fail(message + (f"; {wait}" if wait else ""))
        else:
            self.warn(f"child sitemap {failed_request(failure).url}: {message}")

    def page_failed(self, failure: Failure) -> None:
        self.warn(f"{failed_request(failure).url}: {describe_failure(failure)}")

    def sitemap_filter(self, entries: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        if type(entries) is Sitemap:  # Scrapy hands us its parser before iterating it: keep news fields
            entries.__class__ = NewsSitemap
        listed = [e for e in entries if e.get("loc")]
        batch = [e for e in listed if len(e["loc"]) <= MAX_URL_LENGTH]
        if len(batch) < len(listed):
            self.warn(f"{len(listed) - len(batch)} sitemap URL(s) longer than {MAX_URL_LENGTH} characters skipped")
        keys = [url_key(canonicalize(e["loc"])) for e in batch]
        with read(self.engine) as conn:
            stored = stored_by_url_key(conn, keys)
        now = datetime.now(timezone.utc)
        for entry, key in zip(batch, keys, strict=True):
            row = stored.get(key)
            lastmod = parse_date(entry.get("lastmod"))
            # A stored page is read again only when its lastmod says it changed after we last read
            # it (issue 3: conditional refetch); then a changed text becomes a new version.
            changed = lastmod is not None and row is not None and row["fetched_at"] < lastmod <= now
            if row is not None and row["extraction"] != "feed-summary" and not changed:
                self.health.known_skipped += 1
                continue
            self.lastmod[entry["loc"]] = lastmod
            if entry.get("news_name") and not self.outlet_signals["feed_title"]:
                # <news:publication><news:name>: the outlet's name as it gives it to news search.
                self.outlet_signals["feed_title"] = " ".join(entry["news_name"].split())[:500]
            if entry.get("news_publication_date") or entry.get("news_title"):
                self.news[entry["loc"]] = (parse_date(entry.get("news_publication_date")),
                                           " ".join(entry.get("news_title", "").split()))
            yield entry

    def _bounded_body(self, response: Any) -> bytes | None:
        """Scrapy drops a .xml.gz sitemap that expands past DOWNLOAD_MAXSIZE without saying why;
        gunzip it under the same bound here and report "too large" (T06, CVE-2025-6176)."""
        if not gzip_magic_number(response):
            return super()._get_sitemap_body(response)
        limit = response.meta.get("download_maxsize", self._max_size)
        try:
            return gunzip(response.body, max_size=limit)
        except ValueError as exc:  # scrapy's _DecompressionMaxSizeExceeded
            message = (f"response too large: gzipped sitemap {response.url} expands past the {limit} byte limit "
                       f"(DOWNLOAD_MAXSIZE): {exc}")
        except (OSError, EOFError) as exc:
            message = f"corrupt gzipped sitemap {response.url}: {exc}"
        (self.fail if response.meta.get("top") else self.warn)(message)
        return None

    def _get_sitemap_body(self, response: Any) -> bytes | None:
        """The (size-bounded, gunzipped) body with any DOCTYPE and entity declarations removed:
        lxml already refuses to expand entities, but then drops the whole document; stripping them
        first keeps every <loc> of a sitemap that declares one (T16)."""
        body = self._bounded_body(response)
        return strip_doctype(body)[1] if body else body

    def _parse_sitemap(self, response: Any) -> Iterable[Any]:
        self.count_response(response)
        top = response.meta.get("top")
        if top:
            self.health.http_status = response.status
            if response.status == 304:
                self.health.note = "not modified (304)"
                return []
            if self.remember_validators(response):
                self.health.note = "not modified (same body)"
                return []
        self.sitemaps_seen += 1
        requests = list(super()._parse_sitemap(response))
        if top and requests and all(r.callback == self._parse_sitemap for r in requests):
            # An index (or robots.txt) that did not change can still point at sitemaps that did:
            # keep no validators for it, so the next pass reads it and its children again.
            self.health.validators = None
        if not requests and top and not self.lastmod and not self.health.known_skipped:
            robots = response.url.endswith("/robots.txt")
            self.fail(f"robots.txt lists no sitemaps: {response.url}" if robots
                      else f"not a sitemap (or empty): {response.url}")
            self.health.validators = None
        out = []
        for req in requests:
            if req.callback == self._parse_sitemap:
                child = self._child_sitemap(req)
                if child is not None:
                    out.append(child)
            else:
                out.append(req.replace(errback=self.page_failed))
        return out

    def _child_sitemap(self, req: Any) -> Any:
        """A child sitemap's request, unless it was read this pass already or the pass is full."""
        key = canonicalize(req.url)
        if key in self.sitemaps_queued:
            self.sitemap_loops += 1
            self._note("loops", f"sitemap index loops: {self.sitemap_loops} link(s) back to sitemaps already "
                                "read this pass skipped")
            return None
        if len(self.sitemaps_queued) >= self.max_sitemaps:
            self.sitemaps_capped += 1
            self._note("capped", f"more than {self.max_sitemaps} sitemaps in one pass: {self.sitemaps_capped} "
                                 "more not read (the index fans out; check the source URL)")
            return None
        self.sitemaps_queued.add(key)
        return req.replace(errback=self.sitemap_failed, meta={})

    def _note(self, kind: str, message: str) -> None:
        """One warning per kind, its count kept current (the fetch log is written at close)."""
        at = self.sitemap_warning_at
        if kind in at:
            self.health.warnings[at[kind]] = message
        else:
            self.warn(message)
            at[kind] = len(self.health.warnings) - 1

    async def parse_page(self, response: Any) -> Any:
        url = response.request.url if response.request else response.url
        listed = self.lastmod.get(url)
        news_date, news_title = self.news.get(url, (None, ""))
        # news:publication_date is the publisher's own statement of when it was published, like a
        # feed's date (it wins); lastmod is only when the URL last changed (a fallback).
        art = await self.article_from_page(response, listed_date=news_date)
        if art is None:
            return None
        if art.published_flag and listed:
            art.published_at, art.published_flag = listed, None
        if not art.title and news_title:
            art.title, art.raw_title = self.clean_title(news_title), news_title
        return art
