"""Re-fetch articles already carried by digests and record edits, corrections and takedowns.

A subscriber who forwarded a story needs to know when it changed or vanished: a 404/410 is a
takedown, a changed text is a new version (kept with its hash and raw HTML) plus an event, called a
correction when the new text announces one. The spider yields each finding as an ArticleEvent
(crawlers/items.py); the item pipeline stores it with the new version in one transaction.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import scrapy
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from core.events import emit
from crawlers.items import ArticleEvent
from crawlers.spiders.base import SourceSpider, describe_failure, failed_request
from storage import articles as store
from storage.db import read

_CORRECTION = re.compile(r"\b(correction|clarification|an earlier version of this (article|story))\b", re.I)


class RecheckSpider(SourceSpider):
    name = "recheck"

    def __init__(self, days: str = "14", *args: Any, targets: list[dict[str, Any]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__("", *args, **kwargs)
        self.days = int(days)
        #: The articles to fetch again, passed in by the runner (crawlers/runner.py), which leased
        #: their sites; read here only for a plain `scrapy crawl recheck`.
        self.targets = targets

    def load_source(self, name: str) -> dict[str, Any]:
        return {"name": "recheck", "kind": "recheck", "url": "", "options": {}}

    async def start(self) -> Any:
        targets = self.targets
        if targets is None:
            since = datetime.now(timezone.utc) - timedelta(days=self.days)
            with read(self.engine) as conn:
                targets = store.recheck_targets(conn, since)
        for t in targets:
            yield scrapy.Request(t["url"], callback=self.parse_page, errback=self.failed, dont_filter=True,
                                 cb_kwargs={"target": t}, meta={"target": t, "handle_httpstatus_list": [404, 410]})

    async def parse_page(self, response: Any, target: dict[str, Any]) -> ArticleEvent | None:
        emit("fetched", source="recheck", url=response.url, status=response.status)
        if response.status in (404, 410):
            return ArticleEvent(target["id"], "taken-down", f"HTTP {response.status} at {response.url}")
        art = await self.article_from_page(response)
        if art is None:
            return None
        art.canonical_url = target["canonical_url"]  # the same article, whatever the page now claims
        if art.extraction == "no-text" or art.content_hash == target["content_hash"]:
            return None
        announced = _CORRECTION.search(art.text) and not _CORRECTION.search(target["text"] or "")
        kind = "corrected" if announced else "edited"
        return ArticleEvent(target["id"], kind, art.title[:300], version=art)

    def failed(self, failure: Failure) -> None:
        if failure.check(HttpError):
            return
        self.warn(f"{failed_request(failure).url}: {describe_failure(failure)}")
