"""Retry-After honoured inside a crawl: a 429 or 503 that names a wait is not retried at once.

Scrapy's RetryMiddleware retries 429/503 immediately and ignores Retry-After (Miniflux
`ParseRetryDelay` does not), so a host asking for two minutes' peace would get RETRY_TIMES more
requests within a second. Here such a response goes straight to the spider's errback, which
records the instant in health; the collect stage then defers the source until then. The host
also rests for the rest of the pass: later requests to it (an entry page after another entry page
answered 429) are dropped before they are sent, by every spider in the process.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached

from pipelines.polling import retry_after_until

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
            if isinstance(health, dict):  # the source is deferred next pass, whichever request it was
                health["retry_after_until"] = max(until, health.get("retry_after_until") or until)
            return response
        return super().process_response(request, response)


def note_retry_after(health: dict[str, Any], failure: Any) -> str | None:
    """If a failed feed/sitemap request was a 429/503 with Retry-After, put the instant in health
    (the item pipeline saves it as the source's `retry_after_until`) and say so; else None."""
    response = getattr(failure.value, "response", None)
    if response is None:
        return None
    until = failure.request.meta.get("retry_after_until") if failure.request else None
    until = until or retry_after(response)
    if until is None:
        return None
    health["retry_after_until"] = until
    return f"the host asked for no requests before {until.isoformat(timespec='seconds')} (Retry-After)"
