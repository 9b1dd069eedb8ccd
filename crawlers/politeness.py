"""Retry-After honoured inside a crawl: a 429 or 503 that names a wait is not retried at once.

Scrapy's RetryMiddleware retries 429/503 immediately and ignores Retry-After (Miniflux
`ParseRetryDelay` does not), so a host asking for two minutes' peace would get RETRY_TIMES more
requests within a second. Here such a response goes straight to the spider's errback, which
records the instant in health; the collect stage then defers the source until then.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from scrapy.downloadermiddlewares.retry import RetryMiddleware

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


class RetryAfterMiddleware(RetryMiddleware):
    """RetryMiddleware that gives up at once when the server asked for a wait longer than a second."""

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        now = datetime.now(timezone.utc)
        until = retry_after(response, now)
        if until is not None and (until - now).total_seconds() > INLINE_WAIT_S:
            request.meta["retry_after_until"] = until
            self.crawler.stats.inc_value("retry/retry_after_honoured")
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
