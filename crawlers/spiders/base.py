"""What every source spider shares: its registry row, its pass report, page → Article.

The pass report (crawlers/report.py, `self.health`) is what the item pipeline writes to the fetch
log when the crawl closes, so an analyst sees one line per pass saying what happened, including
why a page or feed was refused.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

import scrapy
from scrapy.exceptions import DownloadConnectionRefusedError, DownloadTimeoutError, ResponseDataLossError
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.python.failure import Failure

from core.settings import Settings
from crawlers import offload
from crawlers.dates import plausible
from crawlers.guard import refusal_for, too_large
from crawlers.headline import feed_outlet, strip_outlet
from crawlers.integrity import TruncatedBody
from crawlers.netpolicy import NonPublicAddress
from crawlers.report import PassReport, Validators
from crawlers.urls import strip_tracking
from storage import sources as source_store
from storage.article import Article, normalise_text
from storage.db import get_engine, read


def failed_request(failure: Failure) -> Any:
    """The request an errback's failure is about: Scrapy sets `failure.request`, which Twisted's
    Failure does not declare."""
    return failure.request  # type: ignore[attr-defined]


def _causes(exc: BaseException) -> list[BaseException]:
    """exc and what it wraps: Scrapy's exceptions chain Twisted's, whose ResponseFailed and
    ResponseNeverReceived carry a list of Failures (where TLS and chunking errors hide)."""
    out: list[BaseException] = []
    todo = [exc]
    while todo and len(out) < 20:
        e = todo.pop(0)
        out.append(e)
        todo += [r.value for r in getattr(e, "reasons", None) or [] if isinstance(r, Failure)]
        if e.__cause__ is not None:
            todo.append(e.__cause__)
    return out


def _tls_problem(causes: list[BaseException]) -> str | None:
    for e in causes:
        kind = f"{type(e).__module__}.{type(e).__name__}"
        if kind.startswith("service_identity") or type(e).__name__ == "VerificationError":
            return f"TLS certificate does not match the host name ({e})"[:300]
        if kind.startswith("OpenSSL.SSL"):
            text = " ".join(str(part[-1]) for part in (e.args[0] if e.args and isinstance(e.args[0], list) else [])
                            if isinstance(part, tuple)) or str(e)
            if "verify failed" in text:
                return ("TLS certificate verify failed (untrusted, self-signed or expired; a private CA goes "
                        "in SCRUTINEER_CA_BUNDLE)")
            if "version" in text or "protocol" in text:
                return f"TLS handshake failed: {text} (TLS 1.2 or newer is required)"
            return f"TLS handshake failed: {text}"[:300]
    return None


def describe_exception(exc: BaseException, request: Any = None) -> str:
    """One line an analyst can act on, for any way a download can fail (robots.txt fetches too)."""
    url = getattr(request, "url", "") or ""
    name = type(exc).__name__
    text = str(exc) or name
    if isinstance(exc, HttpError):
        resp = exc.response
        if 300 <= resp.status < 400 and not resp.headers.get("Location"):
            return f"HTTP {resp.status} redirect without a Location header from {resp.url}"
        return f"HTTP {resp.status} from {resp.url}"
    if isinstance(exc, NonPublicAddress) or "non-public address" in text or isinstance(exc, TruncatedBody):
        return text
    causes = _causes(exc)
    if any(isinstance(e, DNSLookupError) for e in causes) or name == "CannotResolveHostError":  # Scrapy ≥ 2.14 wraps it
        return (refusal_for(url) if url else None) or f"DNS lookup failed: {text}"
    if any(isinstance(e, (TimeoutError, TCPTimedOutError, DownloadTimeoutError)) for e in causes):
        return f"timed out: {text}"
    if "Forbidden by robots.txt" in text:
        from crawlers.robots import unreachable_reason

        # RFC 9309's "disallow all" after robots.txt itself failed: the cause is the real reason
        # (a DNS failure must not read as the site forbidding us).
        why = unreachable_reason(url) if url else None
        if why and why.startswith("HTTP "):
            return f"robots.txt answered {why}: every page disallowed for this pass (RFC 9309)"
        return why or "disallowed by robots.txt"
    if "max redirections reached" in text:
        hops = len(getattr(request, "meta", {}).get("redirect_urls", []))
        return f"too many redirects: gave up after {hops} hops at {url} (limit REDIRECT_MAX_TIMES)"
    size = too_large(request) if request is not None else None
    if size or "max size" in text or "DOWNLOAD_MAXSIZE" in text or ("exceeds" in text and "maxsize" in text.lower()):
        return f"response too large: {size or text}"[:500]
    tls = _tls_problem(causes)
    if tls:
        return tls
    if any(type(e).__name__ == "_MalformedChunkedDataError" for e in causes):
        return "broken response: malformed chunked transfer encoding; nothing was stored from it"
    if any(isinstance(e, ResponseDataLossError) for e in causes):
        return ("truncated response: the connection ended before the body was complete; "
                "nothing was stored from it")
    if any(isinstance(e, (ConnectionRefusedError, DownloadConnectionRefusedError)) for e in causes):
        return f"connection refused: {text}"[:500]
    if any(isinstance(e, ConnectionLost) for e in causes):
        return "connection lost before the response was complete; nothing was stored from it"
    return f"{name}: {text}"[:500]


def describe_failure(failure: Failure) -> str:
    """One line an analyst can act on, for any way a download can fail."""
    return describe_exception(failure.value, getattr(failure, "request", None))


class SourceSpider(scrapy.Spider):
    """Base for the source spiders, run by `python -m crawlers.runner NAME` (or `scrapy crawl KIND -a source=NAME`)."""

    custom_settings: dict[str, Any] = {}

    def __init__(self, source: str = "", dry_run: str = "", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings_obj = Settings()
        self.engine = get_engine(self.settings_obj.db)
        self.source = self.load_source(source)
        self.dry_run = bool(dry_run)
        self.started_at = datetime.now(timezone.utc)
        self.health = PassReport()
        # What this pass learnt about the outlet's name (issue 12): the name each page gives itself,
        # the pages' raw <title>s and the feed's <title>. The item pipeline turns them into
        # sources.outlet_learned when the pass closes.
        self.outlet_signals: dict[str, Any] = {"site_names": [], "titles": [], "feed_title": None}

    def load_source(self, name: str) -> dict[str, Any]:
        with read(self.engine) as conn:
            row = source_store.get_source(conn, name)
        if row is None:
            raise ValueError(f"unknown source {name!r}")
        return row

    # -- health ---------------------------------------------------------------------------
    def fail(self, message: str) -> None:
        self.health.fail(message)

    def warn(self, message: str) -> None:
        self.health.warn(message)

    def note_robots_unreachable(self, netloc: str, reason: str) -> None:
        self.warn(f"robots.txt unreachable on {netloc} ({reason[:200]}): disallowing all for this pass (RFC 9309)")

    def outlet_names(self) -> list[str]:
        """Names of this source's outlet known before the page: the sources file's, the learned
        one and the feed's title. A headline loses them at either end (crawlers/headline.py)."""
        names = [self.source.get("outlet"), self.source.get("outlet_learned"),
                 feed_outlet(self.outlet_signals["feed_title"])]
        return [n for n in names if n]

    def clean_title(self, title: str, section: str | None = None, url: str | None = None) -> str:
        """A feed's or sitemap's headline, or a page's, without the outlet's known names."""
        title = normalise_text(title).replace("\n", " ")[:1000]
        return strip_outlet(title, self.outlet_names(), section, url) if title else title

    def count_response(self, response: Any) -> None:
        self.health.requests += 1
        self.health.bytes += len(response.body)

    # -- pages ----------------------------------------------------------------------------
    async def article_from_page(self, response: Any, fallback: Article | None = None,
                                listed_date: datetime | None = None) -> Article | None:
        """Extract a page; feed facts (date, title, summary) fill what the page lacks.

        None when the extraction worker died on it (crawlers/offload.py): the page is reported
        and not stored, so it is still unknown and the next pass fetches it again."""
        self.count_response(response)
        content_type = response.headers.get("Content-Type", b"").decode("latin-1") or None
        # Bytes, not response.text: extraction repairs mislabelled charsets and says so (T17).
        try:
            fields = await offload.extract(response.url, response.body, content_type,
                                           names=tuple(self.outlet_names()))
        except offload.ExtractionWorkerDied as exc:
            self.warn(str(exc))
            return None
        if fields.charset_warning:
            self.warn(f"{response.url}: {fields.charset_warning}")
        if fields.extraction != "no-text":  # a wall's <title> names the wall, not the outlet
            if fields.site_names:
                self.outlet_signals["site_names"].append(fields.site_names[0])
            if fields.raw_title:
                self.outlet_signals["titles"].append(fields.raw_title)
        headline = self.clean_title(fields.title, fields.section, response.url)
        now = datetime.now(timezone.utc)
        # Feed date first (issue 3): the publisher's own feed is the most deliberate statement.
        published, flag = plausible(listed_date or fields.published_at, now)
        art = Article(
            url=strip_tracking(response.url), canonical_url=fields.canonical_url, source=self.source["name"],
            # A wall's own title ("Before you continue", "Loading…") says nothing: the feed's does (T18).
            title=(fallback.title if fallback and fallback.title and fields.extraction == "no-text" else "")
            or headline or (fallback.title if fallback else ""),
            text=fields.text, summary=fallback.summary if fallback else "",
            published_at=published, published_flag=flag, modified_at=fields.modified_at,
            section=fields.section, authors=fields.authors
            or (fallback.authors if fallback else []), language=fields.language, fetched_at=now,
            extraction=fields.extraction, guid=fallback.guid if fallback else None,
            raw_html=response.body, raw_title=fields.raw_title or "",
        )
        return art

    def summary_article(self, *, url: str, canonical_url: str, title: str, summary: str,
                        published: datetime | None, authors: list[str], guid: str | None) -> Article:
        now = datetime.now(timezone.utc)
        when, flag = plausible(published, now)
        return Article(url=url, canonical_url=canonical_url, source=self.source["name"],
                       title=self.clean_title(title), raw_title=normalise_text(title).replace("\n", " ")[:1000],
                       text="",
                       summary=normalise_text(summary), published_at=when, published_flag=flag,
                       authors=authors, fetched_at=now, extraction="feed-summary", guid=guid)

    @staticmethod
    def body_hash(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()

    def conditional_headers(self) -> dict[str, str]:
        """If-None-Match / If-Modified-Since from the last successful pass."""
        headers = {}
        if self.source.get("etag"):
            headers["If-None-Match"] = self.source["etag"]
        if self.source.get("last_modified"):
            headers["If-Modified-Since"] = self.source["last_modified"]
        return headers

    def remember_validators(self, response: Any) -> bool:
        """Store ETag/Last-Modified/body hash; True when the body is unchanged since last pass."""
        digest = self.body_hash(response.body)
        self.health.validators = Validators(
            etag=(response.headers.get("ETag") or b"").decode("latin-1") or None,
            last_modified=(response.headers.get("Last-Modified") or b"").decode("latin-1") or None,
            body_hash=digest,
        )
        return digest == self.source.get("body_hash")
