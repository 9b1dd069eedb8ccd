"""RSS 0.9x/1.0/2.0 and Atom sources: the feed through Scrapy, parsed from bytes by feedparser.

feedparser is never handed a URL or a path (it would fetch or read them itself); it gets the
downloaded bytes and the response headers, so robots, throttling and size limits all apply.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import scrapy
from twisted.python.failure import Failure

from crawlers import feedsafe
from crawlers.dates import from_struct, parse_date
from crawlers.politeness import note_retry_after
from crawlers.spiders.base import SourceSpider, describe_failure, failed_request
from crawlers.urls import MAX_URL_LENGTH, canonicalize, strip_tracking
from storage.article import Article, normalise_text, url_key
from storage.articles import stored_by_url_key
from storage.db import read

_TAGS = re.compile(r"<[^>]+>")


def _plain(html: str) -> str:
    """Feed summaries are HTML; store them as text (the digest escapes everything anyway)."""
    import html as htmlmod

    return htmlmod.unescape(_TAGS.sub(" ", html or ""))


def entry_date(entry: Any, field: str) -> datetime | None:
    """An entry's `published` or `updated` as UTC. The text is read first by crawlers.dates (a date
    without a zone is London time, `-0000` is UTC, `+01:00` is not UTC); feedparser's own parse
    (which takes a missing zone as UTC) only when that fails. `dict.get`, because feedparser
    answers `updated` with `published` when an entry has no `updated`."""
    raw = dict.get(entry, field)
    return (parse_date(raw) if isinstance(raw, str) else None) or from_struct(dict.get(entry, f"{field}_parsed"))


def entry_changed_at(entry: Any) -> datetime | None:
    """When the feed says the entry last changed: its `updated`, else its `published` (feeds that
    re-date an entry when they edit it)."""
    dates = [d for d in (entry_date(entry, "updated"), entry_date(entry, "published")) if d is not None]
    return max(dates) if dates else None


def parse_feed(body: bytes, headers: dict[str, str]) -> Any:
    """feedparser from bytes with every DOCTYPE and entity declaration dropped (T16, feedsafe)."""
    return feedsafe.parse(body, headers)


class FeedSpider(SourceSpider):
    name = "rss"

    async def start(self) -> Any:
        yield scrapy.Request(self.source["url"], callback=self.parse_feed, errback=self.feed_failed,
                             headers=self.conditional_headers(), dont_filter=True,
                             meta={"handle_httpstatus_list": [304]})

    def feed_failed(self, failure: Failure) -> None:
        wait = note_retry_after(self.health, failure)
        self.fail(describe_failure(failure) + (f"; {wait}" if wait else ""))

    def parse_feed(self, response: Any) -> Iterator[Any]:
        self.count_response(response)
        self.health.http_status = response.status
        if response.status == 304:
            self.health.note = "not modified (304)"
            return
        if self.remember_validators(response):
            self.health.note = "not modified (same body)"
            return
        headers = {k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
                   for k, v in response.headers.items()}
        headers["content-location"] = response.url
        feed = parse_feed(response.body, headers)
        if not feed.entries:
            reason = feed.get("bozo_exception") or "no entries and no feed format detected"
            self.fail(f"not a feed: {reason}" if feed.bozo else "feed has no entries")
            self.health.validators = None
            return
        if feed.bozo:
            self.warn(f"feed not well-formed: {feed.bozo_exception}")
        # The channel's <title> names the outlet ("The Capital Ledger - All stories"): entries and
        # pages lose it from their headlines, and it is a guess at the outlet's name (issue 12).
        feed_title = feed.feed.get("title") if isinstance(feed.feed.get("title"), str) else None
        self.outlet_signals["feed_title"] = feed_title[:500] if feed_title else None
        limit = self.settings_obj.max_feed_items
        if len(feed.entries) > limit:
            self.warn(f"feed has {len(feed.entries)} entries; only the first {limit} were read")
        follow = self.source["options"].get("follow_links", True)
        # One request per article: entries listing the same page under URL variants (utm_*,
        # #comments, http/https, www., trailing slash) collapse to the shortest link, so the page
        # is fetched once, without tracking.
        by_identity: dict[str, tuple[Article, str | None, datetime | None]] = {}
        for entry in feed.entries[:limit]:
            art, link = self._entry_article(entry, response.url)
            if art is None:
                continue
            key = url_key(art.canonical_url)
            kept = by_identity.get(key)
            if kept is None or (link and (not kept[1] or len(link) < len(kept[1]))):
                by_identity[key] = (art, link, entry_changed_at(entry))
        with read(self.engine) as conn:
            stored = stored_by_url_key(conn, list(by_identity))
        now = datetime.now(timezone.utc)
        for key, (art, link, changed) in by_identity.items():
            row = stored.get(key)
            if row is not None:
                # A twin of a stored page keeps the stored identity: one canonical URL per story.
                art.canonical_url = row["canonical_url"]
            full_text = row is not None and row["extraction"] != "feed-summary"
            # Conditional refetch (issue 3): a stored page is read again only when the feed says the
            # entry changed after we last read it (and not "in the future", a zone mistake).
            updated = full_text and row is not None and changed is not None and row["fetched_at"] < changed <= now
            if follow and link and (not full_text or updated):
                # dont_filter: entries are already one per identity, and a redirect that lands on a
                # URL seen before must still reach page_failed/parse_page, or the entry is lost.
                yield scrapy.Request(link, callback=self.parse_page, errback=self.page_failed,
                                     cb_kwargs={"fallback": art}, meta={"fallback": art}, dont_filter=True)
            elif full_text and not updated:
                self.health.known_skipped += 1
            else:
                yield art

    def _entry_article(self, entry: Any, base: str) -> tuple[Article | None, str | None]:
        link = entry.get("link") or ""
        guid = entry.get("id") or None
        if link:
            link = canonicalize(link, base=base) if not link.startswith(("http://", "https://")) else link
        if len(link) > MAX_URL_LENGTH:
            self.warn(f"entry link longer than {MAX_URL_LENGTH} characters skipped")
            return None, None
        page_link = link if link.startswith(("http://", "https://")) else None
        if not page_link and not normalise_text(entry.get("title", "") + entry.get("summary", "")):
            return None, None  # a fragment (a feed cut mid-<item>, T15): nothing to identify or read
        # An entry with no usable link still has an identity: the feed URL plus its guid.
        identity = canonicalize(page_link) if page_link else canonicalize(base) + "#" + (guid or entry.get("title", ""))
        published = entry_date(entry, "published") or entry_date(entry, "updated")
        content = entry.get("content") or []
        summary = (content[0].get("value") if content else "") or entry.get("summary", "")
        authors = [a.get("name", "") for a in entry.get("authors", []) if a.get("name")]
        # Until the page is fetched (and its final URL known), link readers to it without tracking.
        art = self.summary_article(url=identity if page_link else self.source["url"], canonical_url=identity,
                                   title=entry.get("title", ""), summary=_plain(summary),
                                   published=published, authors=authors, guid=guid)
        said = dict.get(entry, "published") or dict.get(entry, "updated")
        art.published_flag = art.published_flag if published or not said else "unparseable"
        return art, page_link

    async def parse_page(self, response: Any, fallback: Article) -> Article | None:
        listed = fallback.published_at if fallback.published_flag is None else None
        art = await self.article_from_page(response, fallback=fallback, listed_date=listed)
        if art is None:
            return None  # not even the summary: a stored entry would not be fetched again
        if url_key(art.canonical_url) == url_key(fallback.canonical_url):
            art.canonical_url = fallback.canonical_url  # the page's own spelling of a known identity
        if art.extraction == "no-text" and fallback.summary:
            fallback.url = strip_tracking(response.url)
            return fallback
        return art

    def page_failed(self, failure: Failure) -> Article:
        """The page is blocked or broken: keep the entry from the feed's own text, say why."""
        fallback: Article = failed_request(failure).meta["fallback"]
        self.warn(f"{fallback.url}: {describe_failure(failure)}; stored from the feed summary")
        return fallback
