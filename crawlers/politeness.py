"""Retry-After honoured inside a crawl: a 429 or 503 that names a wait is not retried at once.

Scrapy's RetryMiddleware retries 429/503 immediately and ignores Retry-After (Miniflux
`ParseRetryDelay` does not), so a host asking for two minutes' peace would get RETRY_TIMES more
requests within a second. Here such a response goes straight to the spider's errback, which
records the instant in health; the collect stage then defers the source until then. The host
also rests for the rest of the pass: later requests to it (an entry page after another entry page
answered 429) are dropped before they are sent, by every spider in the process.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached

from core.polling import retry_after_until
from crawlers.report import PassReport

#: Statuses whose Retry-After means "come back later" (RFC 9110 §10.2.3, RFC 6585 §4).
RETRY_AFTER_STATUSES = (429, 503)
#: A wait at most this long is not worth a pass of its own: the normal retry is kept.
INLINE_WAIT_S = 1.0


def retry_after(response: Any, now: datetime | None = None) -> datetime | None:
    """When a 429/503 response asks us to come back, as a UTC instant; None if it does not say."""
    if response.status not in RETRY_AFTER_STATUSES:
        return None
    return retry_after_until(response.headers.get("Retry-After"), now or datetime.now(timezone.utc))


#: host → the instant it asked us to wait until, for every spider in this crawl process.
_RESTING: dict[str, datetime] = {}


class RestingHTTPHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler, refusing to send to a host that asked us to wait.

    The check has to be here, at the moment of sending: a downloader middleware sees requests when
    they enter the downloader, and up to CONCURRENT_REQUESTS of them are already queued in the
    host's slot by the time the first 429 comes back."""

    async def download_request(self, request: Any) -> Any:
        host = (urlparse_cached(request).hostname or "").lower()
        until = _RESTING.get(host)
        if until is not None and until > datetime.now(timezone.utc):
            request.meta["retry_after_until"] = until
            raise IgnoreRequest(f"{host} asked for no requests before {until.isoformat(timespec='seconds')} "
                                "(Retry-After)")
        return await super().download_request(request)


class RetryAfterMiddleware(RetryMiddleware):
    """RetryMiddleware that gives up at once when the server asked for a wait longer than a second,
    and rests the host for the rest of the pass (RestingHTTPHandler)."""

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        now = datetime.now(timezone.utc)
        until = retry_after(response, now)
        if until is not None and (until - now).total_seconds() > INLINE_WAIT_S:
            request.meta["retry_after_until"] = until
            self.crawler.stats.inc_value("retry/retry_after_honoured")
            host = (urlparse_cached(request).hostname or "").lower()
            _RESTING[host] = max(until, _RESTING.get(host, until))
            health = getattr(self.crawler.spider, "health", None)
            if isinstance(health, PassReport):  # the source is deferred next pass, whichever request it was
                health.retry_after_until = max(until, health.retry_after_until or until)
            return response
        return super().process_response(request, response)


def note_retry_after(health: PassReport, failure: Any) -> str | None:
    """If a failed feed/sitemap request was a 429/503 with Retry-After, put the instant in health
    (the item pipeline saves it as the source's `retry_after_until`) and say so; else None."""
    response = getattr(failure.value, "response", None)
    if response is None:
        return None
    until = failure.request.meta.get("retry_after_until") if failure.request else None
    until = until or retry_after(response)
    if until is None:
        return None
    health.retry_after_until = until
    return f"the host asked for no requests before {until.isoformat(timespec='seconds')} (Retry-After)"


# -- per-source pacing (`rate:` in the sources file) -------------------------------------------------
_UNITS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "min": 60, "minute": 60, "minutes": 60, "m": 60,
          "h": 3600, "hour": 3600, "hours": 3600}
_RATE = re.compile(r"^\s*(\d{1,5})\s*/\s*(\d{0,5})\s*([a-z]+)\s*$")
MAX_PERIOD_S = 24 * 3600
#: Known API hosts and the pacing they need when the sources file does not say. Find a Tender
#: answers "12 request limit in 2 minute exceeded". Contracts Finder publishes no number, only
#: that a 403 means five minutes of silence; a trip costs that much, so it gets the same one
#: request per 10 seconds (6/min) as Find a Tender rather than a guess closer to the edge.
DEFAULT_RATES = {"www.find-tender.service.gov.uk": "12/2min", "find-tender.service.gov.uk": "12/2min",
                 "www.contractsfinder.service.gov.uk": "6/min", "contractsfinder.service.gov.uk": "6/min"}
#: Contracts Finder's documented answer to "too many requests": a 403, and five minutes' rest.
CONTRACTS_FINDER_REST_S = 300


@dataclass(frozen=True)
class Rate:
    """At most `count` requests per `period_s` seconds, sent evenly: one every `interval_s`."""

    count: int
    period_s: float
    text: str

    @property
    def interval_s(self) -> float:
        return self.period_s / self.count

    def __str__(self) -> str:
        return self.text


def parse_rate(value: Any) -> Rate:
    """`12/2min`, `1/s`, `30/min`, `100/h`: a ValueError whose message is one line for the user."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("must be text like 12/2min, 1/s or 30/min")
    m = _RATE.match(value.lower())
    if not m or m.group(3) not in _UNITS:
        raise ValueError(f"{value[:40]!r} is not a rate: write N/s, N/min, N/2min, N/h (e.g. 12/2min)")
    count, mult = int(m.group(1)), int(m.group(2) or 1)
    period = mult * _UNITS[m.group(3)]
    if count < 1 or mult < 1:
        raise ValueError(f"{value[:40]!r}: the count and the period must be at least 1")
    if period > MAX_PERIOD_S:
        raise ValueError(f"{value[:40]!r}: the period is longer than a day")
    return Rate(count, float(period), value.strip())


def source_rate(source: dict[str, Any]) -> Rate | None:
    """The source's own `rate:`, else the known default for its API host, else None (unpaced)."""
    text = (source.get("options") or {}).get("rate") or DEFAULT_RATES.get(
        (urlsplit(source.get("url") or "").hostname or "").lower())
    return parse_rate(text) if text else None


def is_contracts_finder(url: str) -> bool:
    """Contracts Finder, or a server shaped like it (its OCDS search path), as in tests."""
    parts = urlsplit(url)
    return ("contractsfinder.service.gov.uk" in (parts.hostname or "").lower()
            or "/published/notices/ocds/search" in parts.path.lower())


class PacingMiddleware:
    """Holds a request marked `meta["pace"]` (seconds between requests) until its site's next slot.

    The slot is reserved in the database (storage/leases.reserve_slot), so the spacing holds
    across crawl processes and consecutive passes; a host's rest (a 429's Retry-After, written by
    the spider with rest_host) pushes the slot back the same way. A slot past
    `meta["pace_deadline"]` is not waited for: the request is dropped, and the spider's errback
    keeps its URL as the place the next pass resumes."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> PacingMiddleware:
        return cls(crawler)

    async def process_request(self, request: Any, spider: Any = None) -> None:
        if "pace" not in request.meta:
            return None
        import asyncio

        from crawlers.runner import site_of
        from storage.db import write
        from storage.leases import reserve_slot

        spider = spider or self.crawler.spider
        now = datetime.now(timezone.utc)
        with write(spider.engine) as conn:
            slot = reserve_slot(conn, site_of(request.url), float(request.meta["pace"]), now)
        deadline = request.meta.get("pace_deadline")
        if deadline is not None and slot > deadline:
            request.meta["pace_stopped"] = slot
            raise IgnoreRequest(f"the next request slot ({slot.isoformat(timespec='seconds')}) is past this "
                                "pass's deadline")
        # The loop's clock and the wall clock differ by a little: wake no earlier than the slot,
        # or RestingHTTPHandler would find the host still resting and drop the request.
        while (wait := (slot - datetime.now(timezone.utc)).total_seconds()) > 0:
            await asyncio.sleep(wait + 0.01)
        return None
