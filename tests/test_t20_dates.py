"""RELIABILITY T20: dates. Missing, unparseable, future, pre-1970, zoneless, `-0000`, the ambiguous
01:30 of 2026-10-25 in London, and a `+01:00` time that is not UTC: `published_at` is always UTC,
a date that cannot be trusted becomes the first-seen time with a flag, and nothing crashes.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import time_machine
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from core.settings import Settings
from core.weeks import week_of
from crawlers.dates import parse_date, plausible
from pipelines import collect, export, sources
from storage.db import get_engine, read
from storage.schema import articles

pytestmark = pytest.mark.timeout(60)

UTC = timezone.utc
FROZEN = datetime(2026, 11, 9, 12, 0, tzinfo=UTC)

#: (text as a feed writes it, the UTC instant it means or None when it cannot be read)
READINGS = [
    ("Fri, 10 Jul 2026 09:30:00 GMT", datetime(2026, 7, 10, 9, 30, tzinfo=UTC)),
    ("Fri, 10 Jul 2026 10:30:00 +0100", datetime(2026, 7, 10, 9, 30, tzinfo=UTC)),
    ("2026-07-10T10:30:00+01:00", datetime(2026, 7, 10, 9, 30, tzinfo=UTC)),  # +01:00 is not UTC
    ("Fri, 10 Jul 2026 09:30:00 -0000", datetime(2026, 7, 10, 9, 30, tzinfo=UTC)),  # RFC 5322: UTC
    ("Fri, 10 Jul 2026 09:30:00", datetime(2026, 7, 10, 8, 30, tzinfo=UTC)),  # no zone: London (BST)
    ("2026-01-10T09:30:00", datetime(2026, 1, 10, 9, 30, tzinfo=UTC)),  # no zone: London (GMT)
    ("2026-10-25T01:30:00", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # ambiguous: first (BST)
    ("Sun, 25 Oct 2026 01:30:00", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ("yesterday", None),
    ("二〇二六年十一月九日", None),
    ("Lun, 32 Növ 2026 25:61:00 ZZZ", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "want"), READINGS)
def test_parse_date_reads_zones_right(text: str, want: datetime | None) -> None:
    got = parse_date(text)
    assert got == want
    if got is not None:
        assert got.utcoffset() == timedelta(0)


@time_machine.travel(FROZEN, tick=False)
def test_plausibility_on_a_frozen_clock() -> None:
    now = datetime.now(UTC)
    assert now == FROZEN
    assert plausible(None, now) == (FROZEN, "missing")
    assert plausible(FROZEN + timedelta(days=1), now) == (FROZEN, "future")
    assert plausible(datetime(2099, 1, 1, tzinfo=UTC), now) == (FROZEN, "future")
    assert plausible(FROZEN + timedelta(minutes=30), now) == (FROZEN + timedelta(minutes=30), None)  # clock skew
    assert plausible(datetime(1960, 1, 1, tzinfo=UTC), now) == (FROZEN, "implausible")
    assert plausible(datetime(2026, 7, 10, 9, 30, tzinfo=UTC), now) == (datetime(2026, 7, 10, 9, 30, tzinfo=UTC), None)


def _rss(items: list[tuple[str, str | None]], server: HTTPServer) -> bytes:
    out = ["<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Dates</title>"]
    for i, (title, date) in enumerate(items):
        out.append(f"<item><title>{title}</title><link>{server.url_for(f'/n/{i}')}</link>"
                   "<description>Police and AI.</description>"
                   + (f"<pubDate>{date}</pubDate>" if date is not None else "") + "</item>")
    out.append("</channel></rss>")
    return "".join(out).encode("utf-8")


def _stored(settings: Settings) -> dict[str, dict[str, Any]]:
    with read(get_engine(settings.db)) as conn:
        rows = conn.execute(select(articles.c.title, articles.c.published_at, articles.c.published_flag,
                                   articles.c.first_seen_at))
        return {r.title: dict(r._mapping) for r in rows}


def test_every_kind_of_date_in_one_feed(httpserver: HTTPServer, sqlite_url: str) -> None:
    now = datetime.now(UTC)
    items = [
        ("missing", None),
        ("yesterday", "yesterday"),
        ("high-bit", "Sáb, 3Ô Nøv 2026 ÿÿ:00:00 GMT"),
        ("plus one day", format_datetime(now + timedelta(days=1), usegmt=True)),
        ("year 2099", "Thu, 01 Jan 2099 09:00:00 GMT"),
        ("before 1970", "Thu, 01 Jan 1960 09:00:00 GMT"),
        ("no zone", "Fri, 10 Jul 2026 09:30:00"),
        ("minus zero", "Fri, 10 Jul 2026 09:30:00 -0000"),
        ("ambiguous", "Sun, 25 Oct 2026 01:30:00"),
        ("plus one hour", "Fri, 10 Jul 2026 10:30:00 +0100"),
    ]
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    # A high-bit Last-Modified header too (feedparser's http_high_bit_date): kept, sent back, no crash.
    httpserver.expect_request("/feed.xml").respond_with_data(
        _rss(items, httpserver), content_type="application/rss+xml; charset=utf-8",
        headers={"Last-Modified": "Ñon, 09 Növ 2026 09:00:00 GMT"})
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "dates", "kind": "rss", "url": httpserver.url_for("/feed.xml"),
                           "follow_links": False})
    result = collect.run(settings)[0]
    assert result.status == "ok" and result.new == len(items), result  # every entry kept
    stored = _stored(settings)
    fetched = datetime.now(UTC)
    exported = {r["title"]: r for r in export.records(settings)}
    for title, _ in items:
        iso = exported[title]["published_at"]
        assert iso.endswith("+00:00") and datetime.fromisoformat(iso).utcoffset() == timedelta(0), (title, iso)
    flags = {title: row["published_flag"] for title, row in stored.items()}
    assert flags == {"missing": "missing", "yesterday": "unparseable", "high-bit": "unparseable",
                     "plus one day": "future", "year 2099": "future", "before 1970": "implausible",
                     "no zone": None, "minus zero": None, "ambiguous": None, "plus one hour": None}
    for title in ("missing", "yesterday", "high-bit", "plus one day", "year 2099", "before 1970"):
        # First-seen time (the fetch), so never in a future digest week.
        row = stored[title]
        assert now - timedelta(seconds=5) <= row["published_at"] <= fetched, (title, row)
        assert abs(row["published_at"] - row["first_seen_at"]) < timedelta(seconds=60)
        assert week_of(row["published_at"]) <= week_of(fetched)
    assert stored["no zone"]["published_at"] == datetime(2026, 7, 10, 8, 30, tzinfo=UTC)
    assert stored["minus zero"]["published_at"] == datetime(2026, 7, 10, 9, 30, tzinfo=UTC)
    assert stored["ambiguous"]["published_at"] == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert stored["plus one hour"]["published_at"] == datetime(2026, 7, 10, 9, 30, tzinfo=UTC)
    again = collect.run(settings)[0]  # validators with high-bit bytes go back out without a crash
    assert again.status == "ok" and again.new == 0, again
