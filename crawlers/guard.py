"""The private-network guard, in two places because Twisted has two paths to a socket.

Hostnames go through the resolver below, which checks the address it hands Twisted to connect to
(no window for DNS rebinding: the checked address *is* the connected one). IP literals may skip the
resolver (twisted.internet.tcp does; HostnameEndpoint, used by Scrapy 2.19, does not), so the
downloader middleware checks those, and the scheme, on every request, before any socket opens:
redirects and meta refreshes come back through it as new requests.

The same module bounds what a crawl will take in: DNS lookups have a deadline (DNS_TIMEOUT, in
daemon threads), and a body aborted at DOWNLOAD_MAXSIZE is reported as "too large".
"""
from __future__ import annotations

import os
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver, dnscache
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError

from crawlers.netpolicy import NonPublicAddress, check_address, check_url_scheme, literal_address


def _allow() -> str:
    return os.environ.get("SCRUTINEER_ALLOW_PRIVATE_NETWORKS", "")


class RefusedRequest(IgnoreRequest):
    """A request the network policy refused; the message lands in source health."""


class NetworkGuardMiddleware:
    """Refuses non-http(s) schemes and literal non-public addresses before any socket opens."""

    def process_request(self, request: Any, spider: Any = None) -> None:
        try:
            check_url_scheme(request.url)
            host = urlsplit(request.url).hostname or ""
            literal = literal_address(host)
            if literal is not None:
                check_address(literal, _allow())
        except NonPublicAddress as exc:
            raise RefusedRequest(str(exc)) from exc
        except ValueError as exc:
            raise RefusedRequest(f"bad URL {request.url[:200]!r}: {exc}") from exc


#: Host names the resolver refused or could not resolve in this crawl, with the reason. Twisted
#: reports any failure in resolution as "no results for hostname lookup", so health messages look
#: the real reason (policy refusal, NXDOMAIN, timeout, no addresses) up here.
refusals: dict[str, str] = {}


def refusal_for(url: str) -> str | None:
    return refusals.get((urlsplit(url).hostname or "").lower())


def _allowed(address: str) -> bool:
    try:
        check_address(address, _allow())
    except (NonPublicAddress, ValueError):
        return False
    return True


def system_lookup(name: str) -> list[str]:
    """name -> IPv4 addresses: the one place a crawl asks DNS. Looked up by name at each lookup, so
    a test harness can answer in its place without a switch in this module."""
    return [socket.gethostbyname(name)]


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing to hand back a non-public address.

    Lookups run in daemon threads rather than the reactor's pool: a resolver that hangs past
    DNS_TIMEOUT fails the request on time, and the stuck thread can no longer hold the crawl
    process open at exit (Twisted joins its pool's threads on shutdown).
    """

    def getHostByName(self, name: str, timeout: Any = ()) -> Any:  # noqa: N802 - Twisted's name
        key = name.lower().rstrip(".")
        d: Deferred[str] = Deferred()
        if name in dnscache:
            d.callback(dnscache[name])
        else:
            self._lookup(name, d)

        def _check(address: str) -> str:
            try:
                check_address(address, _allow())
            except NonPublicAddress as exc:
                refusals[key] = f"{name} resolves to a {exc}"
                raise
            return address

        return d.addCallback(_check)

    def _lookup(self, name: str, d: Deferred[str]) -> None:
        reactor = self.reactor
        lookup = system_lookup

        key = name.lower().rstrip(".")

        def finish(result: str | Exception) -> None:
            if d.called:
                return  # the timeout won
            if timer.active():
                timer.cancel()
            if isinstance(result, Exception):
                # Twisted's endpoint turns every failure into "no results for hostname lookup".
                refusals[key] = str(result)  # "DNS lookup failed: address 'x' not found: <why>."
                d.errback(result)
                return
            refusals.pop(key, None)
            if dnscache.limit:
                dnscache[name] = result
            d.callback(result)

        def work() -> None:
            try:
                addresses = lookup(name)
                # An answer mixing allowed and refused addresses is refused whole (Miniflux): the
                # first refused one is what _check sees, whichever address Twisted would pick.
                refused = [a for a in addresses if not _allowed(a)]
                result: str | Exception = (refused or addresses)[0] if addresses else DNSLookupError(
                    f"address {name!r} not found: the resolver returned no addresses")
            except OSError as exc:  # socket.gaierror: NXDOMAIN, SERVFAIL, ...
                result = DNSLookupError(f"address {name!r} not found: {exc}")
            except Exception as exc:  # noqa: BLE001 - any resolver failure is this source's error
                result = DNSLookupError(f"address {name!r} not found: {type(exc).__name__}: {exc}")
            try:
                reactor.callFromThread(finish, result)
            except RuntimeError:
                pass  # the crawl already ended

        timer = reactor.callLater(self.timeout, finish, DNSLookupError(
            f"address {name!r} not found: no answer within DNS_TIMEOUT ({self.timeout:g} s)"))
        threading.Thread(target=work, name=f"dns-{name}", daemon=True).start()


#: request.meta key: body bytes received so far, counted by BodySizeTracker.
TOO_LARGE = "scrutineer_too_large"


class BodySizeTracker:
    """Extension: marks a request whose body passed DOWNLOAD_MAXSIZE, so its failure reads "too large".

    Scrapy aborts such a download (good: the server sees the disconnect at the limit) but fails
    it with an empty DownloadCancelledError, indistinguishable from any other cancellation.
    """

    def __init__(self, crawler: Any) -> None:
        self.maxsize = crawler.settings.getint("DOWNLOAD_MAXSIZE")
        crawler.signals.connect(self.bytes_received, signal=signals.bytes_received)
        crawler.signals.connect(self.headers_received, signal=signals.headers_received)

    @classmethod
    def from_crawler(cls, crawler: Any) -> BodySizeTracker:
        return cls(crawler)

    def _limit(self, request: Any) -> int:
        return int(request.meta.get("download_maxsize", self.maxsize) or 0)

    def headers_received(self, headers: Any, body_length: int, request: Any, **kwargs: Any) -> None:
        limit = self._limit(request)
        if limit and body_length > limit:
            request.meta[TOO_LARGE] = f"Content-Length {body_length} bytes is over the {limit} byte limit"

    def bytes_received(self, data: bytes, request: Any, **kwargs: Any) -> None:
        got = request.meta.get("_scrutineer_bytes", 0) + len(data)
        request.meta["_scrutineer_bytes"] = got
        limit = self._limit(request)
        if limit and got > limit and TOO_LARGE not in request.meta:
            request.meta[TOO_LARGE] = f"body passed the {limit} byte limit; download aborted"


def too_large(request: Any) -> str | None:
    """Why `request` was aborted for size, if it was."""
    meta = getattr(request, "meta", None) or {}
    return meta.get(TOO_LARGE)
