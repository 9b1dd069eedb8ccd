"""RELIABILITY T19: duplicates. Items sharing one GUID, one GUID in two feeds, URL variants of one
story, the same feed fetched twice, a republication under a new GUID, and one event reported by
two outlets, on loopback feeds and pages.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from core.settings import Settings
from pipelines import collect, export, process, sources

pytestmark = pytest.mark.timeout(90)

REPORT = ("The Mayor's Office for Policing and Crime blocked a fifty million pound contract for the "
          "Metropolitan Police after finding a clear and serious breach of procurement rules, because only "
          "one supplier was seriously considered. Palantir said it would consider a court challenge.")


def _page(title: str, text: str) -> str:
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
            f"<p>{text}</p><p>{text}</p></article></body></html>")


def _rss(items: list[tuple[str, str, str, str]], build: str = "1") -> str:
    """items: (guid, title, link, summary)."""
    out = [f"<?xml version='1.0'?><rss version='2.0'><channel><title>T19</title><lastBuildDate>{build}</lastBuildDate>"]
    for guid, title, link, summary in items:
        out.append(f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title><link>{link}</link>"
                   f"<description>{summary}</description><pubDate>Mon, 09 Nov 2026 09:00:00 GMT</pubDate></item>")
    out.append("</channel></rss>")
    return "".join(out)


def records(settings: Settings) -> list[dict[str, Any]]:
    return list(export.records(settings))


def hits(server: HTTPServer, path: str) -> int:
    return sum(1 for req, _ in server.log if req.path == path)


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    return Settings(db=sqlite_url)


@pytest.fixture
def second_server() -> Iterator[HTTPServer]:
    other = HTTPServer(host="127.0.0.1", port=0)
    other.start()
    other.expect_request("/robots.txt").respond_with_data("", status=404)
    yield other
    other.clear()
    other.stop()


def test_items_sharing_a_guid_kept_apart_and_a_refetch_adds_nothing(httpserver: HTTPServer,
                                                                     settings: Settings) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    items = [("same-guid", f"Report {i}", httpserver.url_for(f"/r/{i}"), f"Summary number {i}.") for i in range(3)]
    bodies = iter([_rss(items, "1"), _rss(items, "2")])  # the second fetch differs only in lastBuildDate
    httpserver.expect_request("/feed.xml").respond_with_handler(
        lambda r: __import__("werkzeug").Response(next(bodies), content_type="application/rss+xml"))
    sources.add(settings, {"name": "one-guid", "kind": "rss", "url": httpserver.url_for("/feed.xml"),
                           "follow_links": False})
    first = collect.run(settings)[0]
    assert first.new == 3, first  # disambiguated by URL, not collapsed on the GUID
    assert sorted(r["title"] for r in records(settings)) == ["Report 0", "Report 1", "Report 2"]
    again = collect.run(settings)[0]
    assert again.status == "ok" and again.new == 0 and again.updated == 0, again
    assert hits(httpserver, "/feed.xml") == 2 and len(records(settings)) == 3


def test_same_guid_in_two_feeds(httpserver: HTTPServer, second_server: HTTPServer, settings: Settings) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/feed.xml").respond_with_data(_rss([
        ("shared-guid", "Gazette story", httpserver.url_for("/gazette/story"), "The gazette's own report."),
        ("wire-guid", "Wire story", httpserver.url_for("/wire/story"), "A wire report.")]),
        content_type="application/rss+xml")
    second_server.expect_request("/feed.xml").respond_with_data(_rss([
        ("shared-guid", "Courier story", second_server.url_for("/courier/story"), "The courier's own report."),
        ("wire-guid", "Wire story", httpserver.url_for("/wire/story"), "A wire report.")]),
        content_type="application/rss+xml")
    sources.add(settings, {"name": "gazette", "kind": "rss", "url": httpserver.url_for("/feed.xml"),
                           "follow_links": False})
    sources.add(settings, {"name": "courier", "kind": "rss", "url": second_server.url_for("/feed.xml"),
                           "follow_links": False})
    results = {r.source: r for r in collect.run(settings)}
    assert all(r.status == "ok" for r in results.values()), results
    recs = records(settings)
    # One GUID in two feeds naming two pages: two articles. One page listed by both: one row.
    assert sorted(r["title"] for r in recs) == ["Courier story", "Gazette story", "Wire story"]
    assert results["gazette"].new + results["courier"].new == 3


def test_url_variants_become_one_canonical_url(httpserver: HTTPServer, settings: Settings) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/story").respond_with_data(_page("MOPAC blocks contract", REPORT),
                                                          content_type="text/html")
    plain = httpserver.url_for("/story")
    https = plain.replace("http://", "https://")
    variants = [f"{plain}?utm_source=newsletter&amp;utm_medium=email", f"{plain}/", f"{plain}#comments", https, plain]
    first_feed = _rss([(f"g{i}", "MOPAC blocks contract", link, "Summary.") for i, link in enumerate(variants)])
    later_feed = _rss([("g9", "MOPAC blocks contract", https, "Summary."),
                       ("g8", "MOPAC blocks contract", f"{https}/?utm_campaign=x", "Summary.")], "2")
    bodies = iter([first_feed, later_feed])
    httpserver.expect_request("/feed.xml").respond_with_handler(
        lambda r: __import__("werkzeug").Response(next(bodies), content_type="application/rss+xml"))
    sources.add(settings, {"name": "variants", "kind": "rss", "url": httpserver.url_for("/feed.xml")})
    first = collect.run(settings)[0]
    assert first.new == 1, first
    assert hits(httpserver, "/story") == 1  # fetched once, by its plainest link
    recs = records(settings)
    assert [r["canonical_url"] for r in recs] == [plain]
    assert "utm_" not in recs[0]["url"]
    # Later the feed lists only the https twin (which this loopback server could not even serve):
    # recognised as the stored story, so no new row and no fetch.
    later = collect.run(settings)[0]
    assert later.status == "ok" and later.new == 0, later
    assert hits(httpserver, "/story") == 1
    assert [r["canonical_url"] for r in records(settings)] == [plain]


def test_republication_with_new_guid_points_at_first_seen(httpserver: HTTPServer, settings: Settings) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    for path in ("/2026/11/09/contract-blocked", "/2026/11/12/contract-blocked-republished"):
        httpserver.expect_request(path).respond_with_data(_page("MOPAC blocks Palantir contract", REPORT),
                                                          content_type="text/html")
    original = ("g-original", "MOPAC blocks Palantir contract",
                httpserver.url_for("/2026/11/09/contract-blocked"), "Summary.")
    republished = ("g-republished", "MOPAC blocks Palantir contract",
                   httpserver.url_for("/2026/11/12/contract-blocked-republished"), "Summary.")
    bodies = iter([_rss([original]), _rss([republished, original], "2")])
    httpserver.expect_request("/feed.xml").respond_with_handler(
        lambda r: __import__("werkzeug").Response(next(bodies), content_type="application/rss+xml"))
    sources.add(settings, {"name": "gazette", "kind": "rss", "url": httpserver.url_for("/feed.xml")})
    assert collect.run(settings)[0].new == 1
    assert collect.run(settings)[0].new == 1
    process.run(settings)
    by_url = {r["url"]: r for r in records(settings)}
    first = by_url[original[2]]
    copy = by_url[republished[2]]
    assert first["duplicate_of"] is None
    assert copy["duplicate_of"] == first["id"]
    assert copy["story_id"] == first["story_id"]
    process.run(settings)  # idempotent: a second pass changes nothing
    assert {r["url"]: r for r in records(settings)} == by_url


def test_one_event_two_outlets_share_a_story(httpserver: HTTPServer, second_server: HTTPServer,
                                             settings: Settings) -> None:
    ledger = [("l1", "Mayor's office halts Met Police Palantir contract over procurement breach",
               httpserver.url_for("/l1"),
               "MOPAC stopped the fifty million pound Palantir contract for the Met Police, citing a serious "
               "breach of procurement rules in which only one supplier was considered."),
              ("l2", "Peterborough shoppers split over live facial recognition van", httpserver.url_for("/l2"),
               "Cameras scanning faces on the high street drew both support and protest from residents.")]
    wire = [("w1", "Palantir may challenge MOPAC decision to block Met Police contract",
             second_server.url_for("/w1"),
             "Palantir is weighing a court challenge after MOPAC blocked its Met Police contract, finding the "
             "procurement breached rules because a single supplier was considered."),
            ("w2", "Rowley warns criminals are using AI faster than police", second_server.url_for("/w2"),
             "The commissioner said forces risk being outpaced by offenders using new tools.")]
    for server, items in ((httpserver, ledger), (second_server, wire)):
        server.expect_request("/robots.txt").respond_with_data("", status=404)
        server.expect_request("/feed.xml").respond_with_data(_rss(items), content_type="application/rss+xml")
    sources.add(settings, {"name": "ledger", "kind": "rss", "url": httpserver.url_for("/feed.xml"),
                           "follow_links": False})
    sources.add(settings, {"name": "wire", "kind": "rss", "url": second_server.url_for("/feed.xml"),
                           "follow_links": False})
    assert sum(r.new for r in collect.run(settings)) == 4
    process.run(settings)
    recs = {r["title"]: r for r in records(settings)}
    a = recs[ledger[0][1]]
    b = recs[wire[0][1]]
    assert a["source"] != b["source"]
    assert a["duplicate_of"] is None and b["duplicate_of"] is None  # different reports, not copies
    assert a["story_id"] == b["story_id"]
    assert len({r["story_id"] for r in recs.values()}) == 3
