"""The private-network guard, in two places because Twisted has two paths to a socket.

Hostnames go through the resolver below, which checks the address it hands Twisted to connect to
(no window for DNS rebinding: the checked address *is* the connected one). IP literals never reach
a resolver (twisted.internet.tcp skips it), so the downloader middleware checks those, and the
scheme, on every request: redirects and meta refreshes come back through it as new requests.
"""
from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver

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


#: Host names the resolver refused in this crawl, with the reason. Twisted reports any failure in
#: resolution as "DNS lookup failed", so health messages look the real reason up here.
refusals: dict[str, str] = {}


def refusal_for(url: str) -> str | None:
    return refusals.get((urlsplit(url).hostname or "").lower())


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing to hand back a non-public address."""

    def getHostByName(self, name: str, timeout: Any = ()) -> Any:  # noqa: N802 - Twisted's name
        d = super().getHostByName(name, timeout)

        def _check(address: str) -> str:
            try:
                check_address(address, _allow())
            except NonPublicAddress as exc:
                refusals[name.lower().rstrip(".")] = f"{name} resolves to a {exc}"
                raise
            return address

        return d.addCallback(_check)
