"""robots.txt with RFC 9309 failure semantics, fetched once per host per crawl process.

Scrapy's RobotsTxtMiddleware fails open when robots.txt errors; RFC 9309 §2.3.1.3–4 says a
server error or an unreachable file means "disallow all" for now, and a 4xx means "allow all".

Two more departures from Scrapy's middleware:
- Scrapy hands every request that arrives while robots.txt is still downloading the same Deferred,
  wrapped as an asyncio Future; a Future consumes the Deferred's result, so the second and later
  waiters get None, which means "no robots.txt: allow". Each waiter here gets its own Deferred.
- The parsed rules are shared by every spider in the process (crawlers/runner.py runs a host's
  sources together), so a pass asks each host for robots.txt once, not once per source.
"""
from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from twisted.internet.defer import Deferred

DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"
#: RFC 9309 §2.5: parse at least the first 500 KiB.
MAX_ROBOTS_BYTES = 512 * 1024


#: netloc → parser (None: allow all) or a pending Deferred, shared by every spider in the process.
_PARSERS: dict[str, Any] = {}
#: netloc → why robots.txt was unreachable this pass, so every spider on that host reports it.
_UNREACHABLE: dict[str, str] = {}


def unreachable_reason(url: str) -> str | None:
    """Why robots.txt of `url`'s host could not be read this pass (DNS, TLS, policy, HTTP 5xx…), if so."""
    from urllib.parse import urlsplit

    return _UNREACHABLE.get(urlsplit(url).netloc)


class StrictRobotsTxtMiddleware(RobotsTxtMiddleware):
    unreachable: set[str]

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self._parsers = _PARSERS
        self.unreachable = set()

    async def robot_parser(self, request: Request) -> Any:
        netloc = urlparse_cached(request).netloc
        if netloc not in self._parsers:
            self._parsers[netloc] = Deferred()
            url = urlparse_cached(request)
            robots = Request(f"{url.scheme}://{netloc}/robots.txt", priority=self.DOWNLOAD_PRIORITY,
                             meta={"dont_obey_robotstxt": True}, callback=NO_CALLBACK)
            try:
                resp = await self.crawler.engine.download_async(robots)
                await self._parse_robots(resp, netloc, request)
            except Exception as exc:  # any failure to fetch is RFC 9309 "unreachable"
                self._robots_error(exc, netloc)
            self._stats.inc_value("robotstxt/request_count")
        parser = self._parsers[netloc]
        if isinstance(parser, Deferred):
            waiter: Deferred[Any] = Deferred()

            def relay(result: Any) -> Any:
                waiter.callback(result)
                return result  # keep the result for the next waiter

            parser.addBoth(relay)
            parser = await maybe_deferred_to_future(waiter)
        if netloc in _UNREACHABLE and netloc not in self.unreachable:
            self._note_unreachable(netloc, _UNREACHABLE[netloc])
        return parser

    def _note_unreachable(self, netloc: str, reason: str) -> None:
        self.unreachable.add(netloc)
        spider = self.crawler.spider
        if spider is not None and hasattr(spider, "note_robots_unreachable"):
            spider.note_robots_unreachable(netloc, reason)

    def _disallow_all(self, netloc: str, reason: str) -> None:
        _UNREACHABLE[netloc] = reason
        self._note_unreachable(netloc, reason)
        self._resolve(netloc, build_from_crawler(self._parserimpl, self.crawler, DISALLOW_ALL))

    def _resolve(self, netloc: str, parser: Any) -> None:
        pending = self._parsers[netloc]
        self._parsers[netloc] = parser
        if isinstance(pending, Deferred):
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
        from crawlers.spiders.base import describe_exception

        if isinstance(exc, IgnoreRequest) and "max redirections" in str(exc):
            # RFC 9309 §2.3.1.2: past five redirects robots.txt MAY be assumed "unavailable",
            # and §2.3.1.3 lets a crawler access anything when it is unavailable (as for a 4xx).
            self._resolve(netloc, None)
            return
        self._disallow_all(netloc, refusal_for(f"http://{netloc}/") or describe_exception(exc))
