"""robots.txt with RFC 9309 failure semantics.

Scrapy's RobotsTxtMiddleware fails open when robots.txt errors; RFC 9309 §2.3.1.3–4 says a
server error or an unreachable file means "disallow all" for now, and a 4xx means "allow all".
"""
from __future__ import annotations

from typing import Any

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.misc import build_from_crawler

DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"
#: RFC 9309 §2.5: parse at least the first 500 KiB.
MAX_ROBOTS_BYTES = 512 * 1024


class StrictRobotsTxtMiddleware(RobotsTxtMiddleware):
    unreachable: set[str]

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self.unreachable = set()

    def _disallow_all(self, netloc: str, reason: str) -> None:
        self.unreachable.add(netloc)
        spider = self.crawler.spider
        if spider is not None and hasattr(spider, "note_robots_unreachable"):
            spider.note_robots_unreachable(netloc, reason)
        self._resolve(netloc, build_from_crawler(self._parserimpl, self.crawler, DISALLOW_ALL))

    def _resolve(self, netloc: str, parser: Any) -> None:
        pending = self._parsers[netloc]
        self._parsers[netloc] = parser
        if hasattr(pending, "callback"):
            pending.callback(parser)

    async def _parse_robots(self, response: Any, netloc: str, request: Any) -> None:
        # 429 is "slow down", not "no robots.txt": treated like a 5xx, as Google does.
        if response.status >= 500 or response.status == 429:
            self._stats.inc_value(f"robotstxt/response_status_count/{response.status}")
            self._disallow_all(netloc, f"HTTP {response.status}")
            return
        if response.status >= 400:
            self._resolve(netloc, None)  # 4xx: no robots.txt, crawl allowed
            return
        if len(response.body) > MAX_ROBOTS_BYTES:
            response = response.replace(body=response.body[:MAX_ROBOTS_BYTES])
        await super()._parse_robots(response, netloc, request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        from crawlers.guard import refusal_for

        if isinstance(exc, IgnoreRequest) and "max redirections" in str(exc):
            # RFC 9309 §2.3.1.2: past five redirects robots.txt MAY be assumed "unavailable",
            # and §2.3.1.3 lets a crawler access anything when it is unavailable (as for a 4xx).
            self._resolve(netloc, None)
            return
        self._disallow_all(netloc, refusal_for(f"http://{netloc}/") or str(exc) or type(exc).__name__)
