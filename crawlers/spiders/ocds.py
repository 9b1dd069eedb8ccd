"""OCDS sources: UK procurement notices (Find a Tender, Contracts Finder) as release packages.

Pages are followed by `links.next`, one at a time and at most `max_pages` per pass (default 10):
Find a Tender answers 429 after about a dozen requests in two minutes, so a pass stays under that
and the rest waits for the next pass, which resumes at the link where this one stopped (the
source's `cursor`; also after a Retry-After or a failed page). A pass that reaches the end of the
chain, or a page of notices all stored already, clears it: the next pass starts from the source's
own URL. A resume link the API no longer answers is dropped and the pass starts from the top.
A 429/403 with `Retry-After` is never retried within the pass: the time goes into health
(`retry_after_until`), the item pipeline stores it, and every `collect` defers the source until
then (pipelines/polling.py).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import scrapy
from twisted.python.failure import Failure

from crawlers.ocds import OcdsError, default_rules, load_package, next_link, notices_from_package
from crawlers.politeness import RETRY_AFTER_STATUSES, retry_after
from crawlers.spiders.base import SourceSpider, describe_failure
from pipelines.polling import retry_after_until
from storage.db import write
from storage.notices import store_notices

DEFAULT_MAX_PAGES = 10
#: Find a Tender also answers 403 with Retry-After when it is rate limiting.
RATE_LIMITED = (429, 403, 503)


class OcdsSpider(SourceSpider):
    name = "ocds"
    # One page at a time: the next URL is only known from the page before it anyway.
    custom_settings = {"CONCURRENT_REQUESTS_PER_DOMAIN": 1, "DEPTH_LIMIT": 0}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_pages = int(self.source["options"].get("max_pages") or DEFAULT_MAX_PAGES)
        self.pages = 0
        self.releases = 0
        self.kept = 0
        self.rules = default_rules()

    def _request(self, url: str, first: bool = False, resumed: bool = False) -> scrapy.Request:
        # dont_retry: Scrapy would retry a 429 at once, the opposite of what Retry-After asks.
        return scrapy.Request(url, callback=self.parse_page, errback=self.page_failed, dont_filter=first,
                              headers={"Accept": "application/json"},
                              meta={"handle_httpstatus_list": list(RATE_LIMITED), "dont_retry": True,
                                    "first": first, "resumed": resumed})

    async def start(self) -> Any:
        cursor = self.source.get("cursor")
        yield self._request(cursor or self.source["url"], first=True, resumed=bool(cursor))

    def page_failed(self, failure: Failure) -> list[scrapy.Request]:
        message = describe_failure(failure)
        request = failure.request
        if request.meta.get("resumed"):  # an expired or refused resume link: start from the top
            self.warn(f"resume link {request.url[:300]}: {message}; read from the source URL instead")
            self.health["cursor"] = None
            return [self._request(self.source["url"], first=True)]
        if request.meta.get("first"):
            self.fail(message)
        else:
            self.health["cursor"] = request.url  # this page is where the next pass resumes
            self.warn(f"next page {request.url[:300]}: {message}; the next pass resumes there")
        return []

    def rate_limited(self, response: Any) -> None:
        """Honour the host's Retry-After across passes; without one, back off like any failure."""
        now = datetime.now(timezone.utc)
        until = (retry_after(response, now) if response.status in RETRY_AFTER_STATUSES
                 else retry_after_until(response.headers.get("Retry-After"), now))
        if not response.meta.get("first"):
            self.health["cursor"] = response.url  # the refused page is where the next pass resumes
        if until is not None:
            self.health["retry_after_until"] = until
            self.warn(f"rate limited (HTTP {response.status}): no requests before {until.isoformat()} "
                      f"(Retry-After); {self.pages} page(s) read this pass")
        elif response.meta.get("first"):
            self.fail(f"HTTP {response.status} from {response.url[:300]}")
        else:  # what was read is stored; the next pass resumes at the refused page
            self.warn(f"HTTP {response.status} on a later page: stopped paging")

    def parse_page(self, response: Any) -> Iterator[Any]:
        try:
            yield from self._parse_page(response)
        finally:
            # The item pipeline writes health when the crawl closes, before Spider.closed runs.
            summary = f"read {self.releases} release(s) on {self.pages} page(s), kept {self.kept} notice(s)"
            cap = self.health.get("cap")
            self.health["note"] = f"{summary}; {cap}" if cap else summary

    def _parse_page(self, response: Any) -> Iterator[Any]:
        self.count_response(response)
        first = bool(response.meta.get("first"))
        if first:
            self.health["http_status"] = response.status
        if response.status in RATE_LIMITED:
            self.rate_limited(response)
            return
        self.pages += 1
        try:
            package = load_package(response.body)
            notices, read_count = notices_from_package(package, self.source["name"], self.rules)
        except OcdsError as exc:
            (self.fail if first else self.warn)(f"{response.url[:300]}: {exc}")
            self.health["cursor"] = None  # not resumed at a page that cannot be read
            return
        self.releases += read_count
        self.kept += len(notices)
        known = self.save(notices)
        nxt = next_link(package)
        if nxt is None:
            self.health["cursor"] = None
            return
        if self.pages >= self.max_pages:
            self.health["cursor"] = nxt
            self.health["cap"] = (f"stopped: page cap ({self.max_pages} pages); the next pass resumes at "
                                  "the following page")
            return
        if notices and known == len(notices):
            self.health["cursor"] = None
            self.health["cap"] = "stopped: a whole page of notices already stored"
            return
        yield self._request(nxt)

    def save(self, notices: list[dict[str, Any]]) -> int:
        """Store one page in one transaction (a killed crawl leaves whole pages); known count."""
        if self.dry_run:
            for n in notices:
                out = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in n.items()}
                sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
            return 0
        if not notices:
            return 0
        with write(self.engine) as conn:
            counts = store_notices(conn, notices)
        self.health["stored_new"] = self.health.get("stored_new", 0) + counts.new
        self.health["known_skipped"] = self.health.get("known_skipped", 0) + counts.known
        return counts.known
