"""Sitemap sources: sitemap index, urlset and gzipped sitemaps via Scrapy's SitemapSpider.

Scrapy's `Sitemap` parses with lxml `resolve_entities=False` and no network, and its gunzip is
size-bounded (CVE-2025-6176), so this spider only adds health, known-URL skipping and lastmod.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import scrapy
from scrapy.spiders import SitemapSpider as ScrapySitemapSpider
from twisted.python.failure import Failure

from crawlers.dates import parse_date
from crawlers.spiders.base import SourceSpider, describe_failure
from crawlers.urls import MAX_URL_LENGTH, canonicalize
from storage.articles import known_urls
from storage.db import read


class SitemapSpider(SourceSpider, ScrapySitemapSpider):
    name = "sitemap"
    sitemap_rules = [("", "parse_page")]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lastmod: dict[str, Any] = {}
        self.sitemaps_seen = 0

    async def start(self) -> Any:
        yield scrapy.Request(self.source["url"], callback=self._parse_sitemap, errback=self.sitemap_failed,
                             headers=self.conditional_headers(), dont_filter=True,
                             meta={"handle_httpstatus_list": [304], "top": True})

    def sitemap_failed(self, failure: Failure) -> None:
        message = describe_failure(failure)
        if failure.request.meta.get("top"):
            self.fail(message)
        else:
            self.warn(f"child sitemap {failure.request.url}: {message}")

    def page_failed(self, failure: Failure) -> None:
        self.warn(f"{failure.request.url}: {describe_failure(failure)}")

    def sitemap_filter(self, entries: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        batch = [e for e in entries if e.get("loc") and len(e["loc"]) <= MAX_URL_LENGTH]
        with read(self.engine) as conn:
            known = known_urls(conn, [canonicalize(e["loc"]) for e in batch])
        for entry in batch:
            if canonicalize(entry["loc"]) in known:
                self.health["known_skipped"] = self.health.get("known_skipped", 0) + 1
                continue
            self.lastmod[entry["loc"]] = parse_date(entry.get("lastmod"))
            yield entry

    def _parse_sitemap(self, response: Any) -> Iterable[Any]:
        self.count_response(response)
        top = response.meta.get("top")
        if top:
            self.health["http_status"] = response.status
            if response.status == 304:
                self.health["note"] = "not modified (304)"
                return []
            if self.remember_validators(response):
                self.health["note"] = "not modified (same body)"
                return []
        self.sitemaps_seen += 1
        requests = list(super()._parse_sitemap(response))
        if not requests and top and not self.lastmod and not self.health.get("known_skipped"):
            self.fail(f"not a sitemap (or empty): {response.url}")
            self.health["validators"] = None
        out = []
        for req in requests:
            if req.callback == self._parse_sitemap:
                out.append(req.replace(errback=self.sitemap_failed, meta={}))
            else:
                out.append(req.replace(errback=self.page_failed))
        return out

    def parse_page(self, response: Any) -> Any:
        listed = self.lastmod.get(response.request.url) if response.request else None
        art = self.article_from_page(response)
        if art.published_flag and listed:
            art.published_at, art.published_flag = listed, None
        return art
