"""RELIABILITY T12: crawler traps. A loopback site makes links up as it goes, with a hit counter:
an endless calendar (/events/2026/11/28 links the next day, for ever), /a/b/a/b/… repetition, a fresh
session id on every link, faceted ?sort=&colour=&page= explosions and an endless chain of new
paths. A `site` source must stop at its page cap, depth and repetition limits, in bounded time,
store each real story once, call a capped pass "stopped: page cap" (never an error), and re-crawl
without fetching a stored story again.
"""
from __future__ import annotations

import re
import secrets
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
from conftest import export_records
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from crawlers.spiders.site import far_future, repeats_itself, url_pattern, without_session
from pipelines import collect, sources

STORIES = 5
SORTS = ("price", "name", "newest", "rating")
COLOURS = ("red", "green", "blue", "black", "white")
PROSE = ("This is story number {n} from the trap site, written so that it reads like a real report. "
         "A council committee met to discuss how the local force shares camera footage with other agencies, "
         "and members asked who checks that the rules are followed. Officers explained the retention periods "
         "and the audit that is carried out every quarter, and promised a written answer on the questions "
         "they could not settle in the room. Residents who attended said they wanted plain information about "
         "where the cameras are and what happens to the pictures, and several asked for a public meeting in "
         "the spring. The chair thanked everyone and said the item would return in two months with a fuller "
         "report, including figures on how often footage had been requested and by whom. A campaigner said "
         "the figures would show whether the safeguards work in practice, and a councillor added that trust "
         "depends on people being able to see those numbers for themselves. ")


class TrapSite:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.hits: Counter[str] = Counter()
        self.urls: list[str] = []
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    @staticmethod
    def sid(href: str) -> str:
        """Every link carries a new session id, as badly built sites do."""
        return href + ("&" if "?" in href else "?") + f"sid={secrets.token_hex(8)}"

    def page(self, title: str, links: list[str], prose: str = "") -> Response:
        anchors = " ".join(f'<a href="{self.sid(h)}">{h}</a>' for h in links)
        body = f"<p>{prose}</p>" if prose else ""
        html = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
                f"<nav>{anchors}</nav><article><h1>{title}</h1>{body}</article></body></html>")
        return Response(html, content_type="text/html; charset=utf-8")

    def handle(self, request: Request) -> Response:
        path = request.path
        self.hits[path] += 1
        self.urls.append(request.full_path)
        if path == "/robots.txt":
            return Response("", status=404)
        if path == "/":
            return self.page("Front", [f"/news/story-{n}" for n in range(1, STORIES + 1)]
                             + ["/events/2026/11/28", "/a/b", "/shop/list?sort=price&page=1", "/deep/x1",
                                f"/news/story-1;jsessionid={secrets.token_hex(6)}"])
        m = re.fullmatch(r"/news/story-(\d+)", re.sub(r";jsessionid=\w+", "", path))
        if m:
            n = int(m.group(1))
            return self.page(f"Story {n}", ["/", f"/news/story-{n % STORIES + 1}"], PROSE.format(n=n))
        m = re.fullmatch(r"/events/(\d{4})/(\d{1,2})/(\d{1,2})", path)
        if m:
            day = date(*map(int, m.groups()))
            nxt, month = day + timedelta(days=1), [day.replace(day=d) for d in range(1, 29)]
            return self.page(f"Events {day}", [f"/events/{nxt:%Y/%m/%d}"] + [f"/events/{d:%Y/%m/%d}" for d in month])
        if path.startswith("/a/"):
            return self.page("Loop", [path + "/a/b", path + "/c", "/a/b" + path])
        if path == "/shop/list":
            page = int(request.args.get("page", "1") or 1)
            return self.page("Shop", [f"/shop/list?sort={s}&colour={c}&page={page + 1}" for s in SORTS for c in COLOURS]
                             + [f"/shop/list?sort={s}&page={page + k}" for s in SORTS for k in (1, 2)])
        if path.startswith("/deep/"):
            level = path.count("/")
            return self.page("Deeper", [f"{path}/x{level + 1}"])
        return Response("no", status=404)

    def crawled(self) -> int:
        return sum(n for p, n in self.hits.items() if p != "/robots.txt")


@pytest.fixture
def trap(httpserver: HTTPServer) -> TrapSite:
    return TrapSite(httpserver)


def test_trap_rules() -> None:
    assert without_session("http://h/a;jsessionid=AB12/b?sid=9f&page=2&PHPSESSID=x#c") == "http://h/a/b?page=2"
    assert repeats_itself("/a/b/a/b") and repeats_itself("/x/x/x") and repeats_itself("/" + "/".join("abcdefghijklm"))
    assert not repeats_itself("/news/2026/11/28/met-pilot") and not repeats_itself("/a/b/c/b")
    now = datetime(2026, 11, 27, tzinfo=timezone.utc)
    assert far_future("/events/2027/02/01", now) and not far_future("/events/2026/12/20", now)
    assert not far_future("/news/2019/05/04/story", now)
    assert url_pattern("http://h/events/2026/11/28?page=3&sort=x") == "/events/#/#/#?page&sort"


@pytest.mark.timeout(120)
def test_traps_bounded_articles_once_and_recrawl_fetches_no_story(sqlite_url: str, trap: TrapSite) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "traps", "kind": "site", "url": trap.server.url_for("/"), "max_pages": 60,
                           "max_depth": 4})
    t0 = time.monotonic()
    first = collect.run(settings, ["traps"])[0]
    wall = time.monotonic() - t0
    assert first.status != "error", first.message
    assert wall < 60
    assert trap.crawled() <= 60
    stories = {f"/news/story-{n}" for n in range(1, STORIES + 1)}
    assert {p: trap.hits[p] for p in stories} == {p: 1 for p in stories}  # session ids stripped: once each
    recs = export_records(settings)
    assert len(recs) == STORIES and len({r["canonical_url"] for r in recs}) == STORIES
    assert all("sid=" not in r["url"] for r in recs)
    assert not [p for p in trap.hits if p.startswith("/a/b/a/b")]  # repetition refused before any request
    calendar = [p for p in trap.hits if p.startswith("/events/")]
    assert len(calendar) <= 8, calendar  # a few days of the calendar, not the year
    shop = [u for u in trap.urls if u.startswith("/shop/")]
    assert len(shop) <= 8, shop  # per-path query budget
    deep = [p.count("/") - 1 for p in trap.hits if p.startswith("/deep/")]
    assert max(deep) == 4  # /deep/x1 is depth 1: the chain is followed to max_depth and no further

    before = Counter(trap.hits)
    second = collect.run(settings, ["traps"])[0]
    assert second.status != "error" and second.new == 0 and second.updated == 0, second
    assert {p: trap.hits[p] - before[p] for p in stories} == {p: 0 for p in stories}
    assert len(export_records(settings)) == STORIES


@pytest.mark.timeout(120)
def test_page_cap_is_a_stop_not_an_error(sqlite_url: str, trap: TrapSite) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "capped", "kind": "site", "url": trap.server.url_for("/"), "max_pages": 12,
                           "max_depth": 20})
    result = collect.run(settings, ["capped"])[0]
    assert trap.crawled() <= 12
    assert result.status == "warning" and "stopped: page cap (12 pages)" in (result.message or "")
    health = {s["name"]: s for s in sources.listing(settings)}["capped"]
    assert health["last_error"] is None and "stopped: page cap" in health["last_warning_message"]
