"""OCDS sources: UK procurement notices (Find a Tender, Contracts Finder) as release packages.

Pages are followed by `links.next`, one at a time and at most `max_pages` per pass (default 10),
each request paced by the source's `rate:` (or its API host's default: Find a Tender 12/2min)
through a slot reserved in the database, so every crawl process together stays under the limit
and a backlog is read in one pass instead of tripping the limit and resting. The next pass
resumes at the link where this one stopped (the source's `cursor`); a pass that reaches the end
of the chain (no `links.next`), or a page of notices all stored already, clears it. A resume
link the API no longer answers is dropped and the pass starts from the top.

When the host still says "too many": a `Retry-After` up to INLINE_RETRY_MAX_S is waited out
inside the pass and the page asked again; a longer one rests the source until then (health's
`retry_after_until`, honoured by every `collect`). A 429 without `Retry-After` (Find a Tender's
"12 request limit in 2 minute exceeded") rests it for one period of its rate; Contracts Finder's
403 rests it the five minutes its documentation asks for.

Every notice of a page is yielded as one item (crawlers/items.py): the processing side judges which
matter (pipelines/procurement.py) and the storage pipeline stores those; the next page is asked for
once its page is stored, since "a whole page of notices already stored" ends the pass. A host's
rest after a "too many" is an item too.

A start URL without its own date window is given one (search_window): from a day before the
source's last good pass, or a fortnight back on the first. Such a window is read to its end (or
the page cap): a page of known notices there is the overlap with the last pass, not the end.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import scrapy
from scrapy import signals
from twisted.python.failure import Failure

from core.polling import retry_after_until
from crawlers.items import HostRest, NoticePage
from crawlers.ocds import OcdsError, load_package, next_link, parse_notices
from crawlers.politeness import (
    CONTRACTS_FINDER_REST_S,
    RETRY_AFTER_STATUSES,
    is_contracts_finder,
    retry_after,
    source_rate,
)
from crawlers.spiders.base import SourceSpider, describe_failure, failed_request
from storage import sources as source_store
from storage.db import read

DEFAULT_MAX_PAGES = 10
#: Find a Tender also answers 403 with Retry-After when it is rate limiting.
RATE_LIMITED = (429, 403, 503)
#: A Retry-After at most this long is waited out inside the pass (Find a Tender's load balancer
#: asks for seconds); a longer one rests the source until the next pass.
INLINE_RETRY_MAX_S = 60.0
#: Retries of one page inside a pass, so a host answering 429 for ever cannot hold the crawl.
INLINE_RETRIES_PER_PAGE = 3
#: Without a rate (an unknown host), a 429 without Retry-After rests the source this long.
FALLBACK_REST_S = 120.0
#: Kept free at the end of the crawl deadline, so the pass ends cleanly before it is killed.
DEADLINE_MARGIN_S = 20.0
#: A Contracts Finder search window's first start, when the source has never had a good pass.
FIRST_WINDOW_DAYS = 14


def page_limit(url: str) -> int:
    """Releases a full page holds: the URL's `limit`, else the APIs' default of 100."""
    value = dict(parse_qsl(urlsplit(url).query)).get("limit", "")
    return int(value) if value.isdigit() and 0 < int(value) <= 1000 else 100


def is_windowed(url: str) -> bool:
    """A search by date window (Contracts Finder's search, Find a Tender's release packages): its
    pages run oldest first, so a page of known notices is the window's overlap, not the end."""
    parts = urlsplit(url)
    return is_contracts_finder(url) or (
        (parts.hostname or "").lower().endswith("find-tender.service.gov.uk")
        and parts.path.rstrip("/").lower().endswith("/ocdsreleasepackages"))


def search_window(url: str, last_success: datetime | None, now: datetime) -> str:
    """The start URL with its date window filled, unless it names its own: Contracts Finder's
    search takes publishedFrom/publishedTo (dates), Find a Tender's release packages updatedFrom
    (`YYYY-MM-DDTHH:MM:SS`). Without one, both page from the oldest notice they hold."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    keys = {k.lower() for k, _ in query}
    start = (last_success - timedelta(days=1)) if last_success else now - timedelta(days=FIRST_WINDOW_DAYS)
    if is_contracts_finder(url):
        if "publishedfrom" in keys:
            return url
        query += [("publishedFrom", start.strftime("%Y-%m-%d")),
                  ("publishedTo", (now + timedelta(days=1)).strftime("%Y-%m-%d"))]
    elif is_windowed(url):
        if "updatedfrom" in keys:
            return url
        query.append(("updatedFrom", start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")))
    else:
        return url
    return urlunsplit(parts._replace(query=urlencode(query, safe=":,")))


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
        self.rate = source_rate(self.source)
        self.deadline = self.started_at + timedelta(
            seconds=max(10.0, self.settings_obj.crawl_timeout_s - DEADLINE_MARGIN_S))

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> OcdsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.stored, signal=signals.item_scraped)
        return spider

    def _request(self, url: str, first: bool = False, resumed: bool = False, attempt: int = 0) -> scrapy.Request:
        # dont_retry: Scrapy would retry a 429 at once, the opposite of what Retry-After asks.
        # pace: crawlers/politeness.PacingMiddleware holds it until the host's next slot.
        return scrapy.Request(url, callback=self.parse_page, errback=self.page_failed,
                              dont_filter=first or attempt > 0, headers={"Accept": "application/json"},
                              meta={"handle_httpstatus_list": list(RATE_LIMITED), "dont_retry": True,
                                    "first": first, "resumed": resumed, "attempt": attempt,
                                    "pace": self.rate.interval_s if self.rate else 0.0,
                                    "pace_deadline": self.deadline})

    def _last_success(self) -> datetime | None:
        with read(self.engine) as conn:
            history = source_store.fetch_history(conn, self.source["name"], limit=50)
        return next((e["finished_at"] for e in history if e["status"] != "error"), None)

    def start_url(self) -> str:
        return search_window(self.source["url"], self._last_success(), datetime.now(timezone.utc))

    async def start(self) -> Any:
        cursor = self.source.get("cursor")
        yield self._request(cursor or self.start_url(), first=True, resumed=bool(cursor))

    def page_failed(self, failure: Failure) -> list[scrapy.Request]:
        request = failed_request(failure)
        if request.meta.get("pace_stopped"):  # out of time for this pass: resume here next time
            self.health.resume_at(None if request.meta.get("first") and not request.meta.get("resumed")
                                  else request.url)
            self.health.cap = ("stopped: the next request slot under the source's rate is past this pass's "
                               "deadline; the next pass resumes there")
            return []
        message = describe_failure(failure)
        if request.meta.get("resumed"):  # an expired or refused resume link: start from the top
            self.warn(f"resume link {request.url[:300]}: {message}; read from the source URL instead")
            self.health.resume_at(None)
            return [self._request(self.start_url(), first=True)]
        if request.meta.get("first"):
            self.fail(message)
        else:
            self.health.resume_at(request.url)  # this page is where the next pass resumes
            self.warn(f"next page {request.url[:300]}: {message}; the next pass resumes there")
        return []

    def _rest(self, until: datetime, then: scrapy.Request | None = None) -> HostRest:
        """No request to this site before `until`, from this or any other crawl process."""
        from crawlers.runner import site_of

        return HostRest(site_of(self.source["url"]), until, then)

    def stored(self, item: Any, response: Any = None, spider: Any = None) -> None:
        """The pipelines are done with an item: go on where it says (crawlers/items.py)."""
        if isinstance(item, NoticePage):
            self.kept += len(item.notices)
            if item.then is not None and item.stop_when_known and item.notices and item.known == len(item.notices):
                self.health.resume_at(None)
                self.health.cap = "stopped: a whole page of notices already stored"
            elif item.then is not None:
                self.crawler.engine.crawl(item.then)
            self._summarise()
        elif isinstance(item, HostRest) and item.then is not None:
            self.crawler.engine.crawl(item.then)

    def rate_limited(self, response: Any) -> HostRest | None:
        """The host said "too many". A short Retry-After is waited out and the page asked again
        (the rest returned carries the request); anything else rests the source (health's
        retry_after_until)."""
        now = datetime.now(timezone.utc)
        first, attempt = bool(response.meta.get("first")), int(response.meta.get("attempt") or 0)
        until = (retry_after(response, now) if response.status in RETRY_AFTER_STATUSES
                 else retry_after_until(response.headers.get("Retry-After"), now))
        if (until is not None and (until - now).total_seconds() <= INLINE_RETRY_MAX_S and until < self.deadline
                and attempt < INLINE_RETRIES_PER_PAGE):
            self.health.retry_after_until = None  # set by RetryAfterMiddleware; waited out here
            self.health.waited += 1
            again = self._request(response.url, first=first, resumed=bool(response.meta.get("resumed")),
                                  attempt=attempt + 1)
            return self._rest(until, again)
        reason = "Retry-After"
        if until is None and response.status == 429:
            period = self.rate.period_s if self.rate else FALLBACK_REST_S
            until, reason = now + timedelta(seconds=period), (
                f"429 without Retry-After: resting one period of its rate {self.rate}" if self.rate
                else "429 without Retry-After")
        elif until is None and response.status == 403 and is_contracts_finder(response.url):
            until, reason = now + timedelta(seconds=CONTRACTS_FINDER_REST_S), \
                "Contracts Finder's 403 means its rate limit: five minutes without requests"
        if not first or response.meta.get("resumed"):
            self.health.resume_at(response.url)  # the refused page is where the next pass resumes
        if until is not None:
            self.health.retry_after_until = until
            self.warn(f"rate limited (HTTP {response.status}): resting until {until.isoformat(timespec='seconds')} "
                      f"({reason}); {self.pages} page(s) read this pass")
            return self._rest(until)
        if first:
            self.fail(f"HTTP {response.status} from {response.url[:300]}")
        else:  # what was read is stored; the next pass resumes at the refused page
            self.warn(f"HTTP {response.status} on a later page: stopped paging")
        return None

    def _summarise(self) -> None:
        # The item pipeline writes health when the crawl closes, before Spider.closed runs.
        summary = f"read {self.releases} release(s) on {self.pages} page(s), kept {self.kept} notice(s)"
        if self.health.waited:
            summary += f"; waited out {self.health.waited} Retry-After(s)"
        cap = self.health.cap
        self.health.note = f"{summary}; {cap}" if cap else summary

    def parse_page(self, response: Any) -> Iterator[Any]:
        try:
            yield from self._parse_page(response)
        finally:
            self._summarise()

    def _parse_page(self, response: Any) -> Iterator[Any]:
        self.count_response(response)
        first = bool(response.meta.get("first"))
        if first:
            self.health.http_status = response.status
        if response.status in RATE_LIMITED:
            rest = self.rate_limited(response)
            if rest is not None:
                yield rest
            return
        self.pages += 1
        try:
            package = load_package(response.body)
            notices, read_count = parse_notices(package, self.source["name"])
        except OcdsError as exc:
            (self.fail if first else self.warn)(f"{response.url[:300]}: {exc}")
            self.health.resume_at(None)  # not resumed at a page that cannot be read
            return
        self.releases += read_count
        page = NoticePage(self.source["name"], response.url, notices, read_count)
        nxt = next_link(package)
        if nxt is None:
            # A full page without links.next is Find a Tender's known fault (kingfisher-collect
            # #1306), not the end: the next pass reads it again, once, and goes on if it links on.
            again = response.meta.get("first") and response.meta.get("resumed")
            if read_count >= page_limit(response.url) and not again:
                self.health.resume_at(response.url)
                self.health.cap = ("stopped: a full page without links.next; the next pass reads it again "
                                   "to find the rest")
            else:
                self.health.resume_at(None)
        elif self.pages >= self.max_pages:
            self.health.resume_at(nxt)
            self.health.cap = (f"stopped: page cap ({self.max_pages} pages); the next pass resumes at "
                               "the following page")
        else:
            # A page of notices all stored already is where the last pass began, unless this is a
            # date window (its overlap) or the page the last pass left off at.
            resumed_here = response.meta.get("first") and response.meta.get("resumed")
            page.then = self._request(nxt)
            page.stop_when_known = not is_windowed(self.source["url"]) and not resumed_here
        yield page
