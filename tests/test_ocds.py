"""`ocds` sources: UK procurement notices from OCDS release packages (tests/data/ocds/, each file
saying what it proves), paged by links.next on loopback, filtered to policing AI/data/surveillance
work, stored once per release, rate limits honoured, hostile JSON refused; and the digest's tender
watch listing the week's notices.
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from crawlers.ocds import OcdsError, json_depth, load_package, next_link, releases_of, stage_of
from pipelines import collect, digest, sources, subscribers
from pipelines.procurement import default_rules, notices_from_package
from scrutineer.cli import main
from storage import notices as notice_store
from storage import sources as source_store
from storage.db import get_engine, read, write
from storage.schema import host_pacing

OCDS = DATA / "ocds"
API = "/api/1.0/ocdsReleasePackages"


def _package(name: str, base: str = "http://127.0.0.1:9") -> dict[str, Any]:
    return load_package((OCDS / f"{name}.json").read_bytes().replace(b"{base}", base.encode()))


# -- parsing and filtering ------------------------------------------------------------------------
def test_release_package_to_notices_with_reasons() -> None:
    kept, read_count = notices_from_package(_package("fts_page1"), "fts", default_rules())
    assert read_count == 3
    by_ocid = {n["ocid"]: n for n in kept}
    assert set(by_ocid) == {"ocds-h6vhtk-0a1b2c", "ocds-h6vhtk-0g7h8i"}  # the road resurfacing is not ours
    met = by_ocid["ocds-h6vhtk-0a1b2c"]
    assert met["title"] == "Workforce standards data platform" and met["buyer"] == "Metropolitan Police Service"
    assert (met["value"], met["currency"], met["stage"]) == (50_000_000.0, "GBP", "tender")
    assert met["cpv"] == ["72300000", "48000000"]
    assert met["tender_deadline"] == datetime(2027, 1, 15, 12, tzinfo=timezone.utc)
    assert met["published_at"] == datetime(2026, 11, 17, 9, 30, tzinfo=timezone.utc)
    assert met["url"] == "https://www.find-tender.service.gov.uk/Notice/000001-2026"
    assert "buyer: Metropolitan Police Service" in met["matched"]
    assert any(r.startswith("cpv: 723") for r in met["matched"])
    lfr = by_ocid["ocds-h6vhtk-0g7h8i"]
    assert lfr["stage"] == "award" and lfr["suppliers"] == ["Northgate Vision Systems Ltd"]
    assert lfr["value"] == 1_850_000.0 and lfr["url"].endswith("000002-2026")
    assert next_link(_package("fts_page1", "http://127.0.0.1:7")) == f"http://127.0.0.1:7{API}?page=2"


def test_planning_watched_vendor_and_missing_ocid() -> None:
    kept, read_count = notices_from_package(_package("fts_page2"), "fts", default_rules())
    assert read_count == 3 and len(kept) == 2  # the release without an ocid has no identity: skipped
    plan, palantir = kept
    assert plan["stage"] == "planning" and plan["value"] == 3_000_000.0
    assert "keyword: AI" in plan["matched"] and any(r.startswith("buyer: Mayor's Office") for r in plan["matched"])
    assert palantir["stage"] == "contract" and palantir["value"] == 950_000.0  # the contract's value wins
    assert palantir["matched"] == ["watched: Palantir"]  # a hospital trust is no police buyer
    assert next_link(_package("fts_page3")) is None
    assert notices_from_package(_package("fts_page3"), "fts", default_rules()) == ([], 1)  # police cars: not ours


def test_contracts_finder_results_shape() -> None:
    kept, _ = notices_from_package(_package("cf_search"), "cf", default_rules())
    assert [(n["buyer"], n["release_id"], n["stage"]) for n in kept] == [("Home Office", "1234", "tender")]
    assert kept[0]["url"] == "https://www.contractsfinder.service.gov.uk/Notice/aa11bb22"


def test_filter_words_are_whole_words_and_acronyms_case_sensitive() -> None:
    from pipelines.procurement import match

    rules = default_rules()
    base = {"description": "", "suppliers": [], "cpv": []}
    assert match({**base, "title": "Thai catering for the police canteen, said the buyer", "buyer": "Kent Police"},
                 rules) == []
    assert match({**base, "title": "Catering", "buyer": "Kent Police", "cpv": ["72200000"]}, rules)
    assert match({**base, "title": "An ai chatbot", "buyer": "Kent Police"}, rules) == []
    assert match({**base, "title": "An AI chatbot", "buyer": "Kent Police"}, rules)


@pytest.mark.parametrize("tags,stage", [(["tender"], "tender"), (["tenderUpdate"], "tender"),
                                        (["award", "contract"], "contract"), (["planningUpdate"], "planning"),
                                        (["compiled"], "planning")])
def test_stage_from_tags(tags: list[str], stage: str) -> None:
    assert stage_of({"tag": tags}) == stage


@pytest.mark.timeout(10)
def test_t22_deep_json_refused_without_recursion_error() -> None:
    hostile = b'{"releases": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    t0 = time.perf_counter()
    with pytest.raises(OcdsError, match="nested"):
        load_package(hostile)
    assert time.perf_counter() - t0 < 1.0
    assert json_depth(b'{"a": "[[[[[[[[", "b": [{"c": "\\"]]]"}]}') == 3  # brackets in strings do not count
    with pytest.raises(OcdsError):
        load_package(b"[1, 2]")
    with pytest.raises(OcdsError, match="no releases"):
        releases_of(load_package(b'{"uri": "x"}'))


# -- storage ----------------------------------------------------------------------------------------
def test_store_notices_is_idempotent(db_url: str) -> None:
    kept, _ = notices_from_package(_package("fts_page1"), "fts", default_rules())
    engine = get_engine(db_url)
    with write(engine) as conn:
        first = notice_store.store_notices(conn, kept)
    with write(engine) as conn:
        again = notice_store.store_notices(conn, kept + kept)
    assert (first.new, first.known) == (2, 0) and (again.new, again.known) == (0, 4)
    with read(engine) as conn:
        rows = notice_store.list_notices(conn)
        week = notice_store.notices_between(conn, datetime(2026, 11, 16, tzinfo=timezone.utc),
                                            datetime(2026, 11, 18, tzinfo=timezone.utc))
    assert len(rows) == 2 and rows[0]["suppliers"] == ["Northgate Vision Systems Ltd"]
    assert rows[0]["id"] == notice_store.notice_id("ocds-h6vhtk-0g7h8i", "ocds-h6vhtk-0g7h8i-award-1")
    assert [r["ocid"] for r in week] == ["ocds-h6vhtk-0a1b2c"]  # the award is dated 18 Nov 08:00


# -- the spider on loopback -------------------------------------------------------------------------
class TenderApi:
    """Pages 1-3 of tests/data/ocds by ?page=N, counting hits; scripted 429s and a hostile page."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.hits: Counter[str] = Counter()
        self.limited: dict[str, tuple[int, str]] = {}  # page -> (status, Retry-After value)
        self.hostile = False
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    def url(self, page: int = 1) -> str:
        return self.server.url_for(f"{API}?page={page}")

    def handle(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            return Response("", status=404)
        page = request.args.get("page", "1")
        self.hits[page] += 1
        if page in self.limited:
            status, wait = self.limited[page]
            return Response("slow down", status=status, headers={"Retry-After": wait})
        if self.hostile:
            return Response(b"[" * 100_000 + b"]" * 100_000, content_type="application/json")
        if not (OCDS / f"fts_page{page}.json").exists():  # an expired cursor, say
            return Response("no such page", status=404)
        base = self.server.url_for("/").rstrip("/")
        body = (OCDS / f"fts_page{page}.json").read_bytes().replace(b"{base}", base.encode())
        return Response(body, content_type="application/json")


@pytest.fixture
def api(httpserver: HTTPServer) -> TenderApi:
    return TenderApi(httpserver)


def _stored(settings: Settings) -> list[dict[str, Any]]:
    with read(get_engine(settings.db)) as conn:
        return notice_store.list_notices(conn)


@pytest.mark.timeout(90)
def test_pages_followed_notices_stored_once_and_second_pass_stops_early(sqlite_url: str, api: TenderApi) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1)})
    first = collect.run(settings, ["fts"])[0]
    assert first.status == "ok" and first.new == 4, first
    assert "read 7 release(s) on 3 page(s), kept 4 notice(s)" in (first.message or "")
    assert dict(api.hits) == {"1": 1, "2": 1, "3": 1}
    assert {n["ocid"] for n in _stored(settings)} == {"ocds-h6vhtk-0a1b2c", "ocds-h6vhtk-0g7h8i",
                                                      "ocds-h6vhtk-1a2b3c", "ocds-h6vhtk-1d4e5f"}
    second = collect.run(settings, ["fts"])[0]
    assert second.status == "ok" and second.new == 0 and second.known == 2, second
    assert dict(api.hits) == {"1": 2, "2": 1, "3": 1}  # page 1 all known: no further pages
    assert len(_stored(settings)) == 4


@pytest.mark.timeout(90)
def test_per_pass_page_cap(sqlite_url: str, api: TenderApi) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1), "max_pages": 2})
    result = collect.run(settings, ["fts"])[0]
    assert result.status == "ok" and "stopped: page cap (2 pages)" in (result.message or "")
    assert api.hits["3"] == 0 and api.hits["1"] == api.hits["2"] == 1


def _cursor(settings: Settings) -> str | None:
    with read(get_engine(settings.db)) as conn:
        return (source_store.get_source(conn, "fts") or {}).get("cursor")


ALL_OCIDS = {"ocds-h6vhtk-0a1b2c", "ocds-h6vhtk-0g7h8i", "ocds-h6vhtk-1a2b3c", "ocds-h6vhtk-1d4e5f"}


@pytest.mark.timeout(120)
def test_a_capped_backlog_resumes_where_the_last_pass_stopped(sqlite_url: str, api: TenderApi) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1), "max_pages": 1})
    for page in (1, 2, 3):  # one page a pass, each pass where the last one stopped
        result = collect.run(settings, ["fts"])[0]
        assert result.status == "ok", result
        assert dict(api.hits) == {str(p): 1 for p in range(1, page + 1)}, (page, api.hits)
        assert _cursor(settings) == (api.url(page + 1) if page < 3 else None)
    assert {n["ocid"] for n in _stored(settings)} == ALL_OCIDS
    collect.run(settings, ["fts"])  # the chain was read to its end: start from the top again
    assert api.hits["1"] == 2 and len(_stored(settings)) == 4


@pytest.mark.timeout(120)
def test_after_a_retry_after_the_next_pass_resumes_at_the_refused_page(sqlite_url: str, api: TenderApi) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1)})
    api.limited["2"] = (429, "90")
    assert collect.run(settings, ["fts"])[0].new == 2
    assert _cursor(settings) == api.url(2)
    del api.limited["2"]
    with write(get_engine(settings.db)) as conn:  # the minute and a half has passed
        conn.execute(source_store.sources.update().values(retry_after_until=None))
        conn.execute(host_pacing.delete())  # the host's rest, shared by every crawl process
    second = collect.run(settings, ["fts"])[0]
    assert second.status == "ok" and second.new == 2, second
    assert dict(api.hits) == {"1": 1, "2": 2, "3": 1}  # page 1 was not read again
    assert {n["ocid"] for n in _stored(settings)} == ALL_OCIDS and _cursor(settings) is None


@pytest.mark.timeout(120)
def test_a_dead_resume_link_falls_back_to_the_source_url(sqlite_url: str, api: TenderApi) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1)})
    with write(get_engine(settings.db)) as conn:
        source_store.save_cursor(conn, "fts", api.url(9))  # a cursor the API no longer knows
    result = collect.run(settings, ["fts"])[0]
    assert result.status == "warning" and "resume link" in (result.message or ""), result
    assert dict(api.hits) == {"9": 1, "1": 1, "2": 1, "3": 1}
    assert {n["ocid"] for n in _stored(settings)} == ALL_OCIDS and _cursor(settings) is None


@pytest.mark.timeout(90)
def test_429_retry_after_is_not_retried_and_defers_the_next_collect(sqlite_url: str, api: TenderApi) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1)})
    api.limited["2"] = (429, "120")
    t0 = datetime.now(timezone.utc)
    first = collect.run(settings, ["fts"])[0]
    assert first.status == "warning" and "rate limited (HTTP 429)" in (first.message or ""), first
    assert first.new == 2  # page 1 was stored before the host said stop
    assert api.hits["2"] == 1  # no retry within the pass
    with read(get_engine(settings.db)) as conn:
        src = source_store.get_source(conn, "fts")
    assert src["retry_after_until"] is not None
    assert 100 <= (src["retry_after_until"] - t0).total_seconds() <= 140
    second = collect.run(settings, ["fts"])[0]
    assert second.status == "deferred"
    assert sum(api.hits.values()) == 2  # not one request before the Retry-After time


@pytest.mark.timeout(90)
def test_403_with_http_date_retry_after_on_the_first_page(sqlite_url: str, api: TenderApi) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1)})
    when = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=10)
    api.limited["1"] = (403, format_datetime(when, usegmt=True))
    first = collect.run(settings, ["fts"])[0]
    assert first.status == "warning" and "rate limited (HTTP 403)" in (first.message or ""), first
    assert collect.run(settings, ["fts"])[0].status == "deferred"
    assert dict(api.hits) == {"1": 1} and _stored(settings) == []


@pytest.mark.timeout(90)
def test_hostile_package_is_a_clear_source_error(sqlite_url: str, api: TenderApi) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1)})
    api.hostile = True
    result = collect.run(settings, ["fts"])[0]
    assert result.status == "error" and "nested 100000 levels deep" in (result.message or ""), result
    assert "Traceback" not in (result.message or "") and _stored(settings) == []


@pytest.mark.timeout(90)
def test_sources_test_prints_notices_and_stores_nothing(sqlite_url: str, api: TenderApi,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1)})
    assert main(["sources", "test", "fts", "--json", "--db", sqlite_url]) == 0
    lines = json.loads(capfd.readouterr().out)["items"]
    assert {x["ocid"] for x in lines} >= {"ocds-h6vhtk-0a1b2c", "ocds-h6vhtk-1d4e5f"}
    assert all(x["matched"] and x["published_at"].endswith("+00:00") for x in lines)
    assert _stored(settings) == []


# -- the digest's tender watch ------------------------------------------------------------------------
def test_tender_watch_lists_the_weeks_notices(sqlite_url: str, tmp_path: Path) -> None:
    settings = Settings(db=sqlite_url, archive_dir=tmp_path / "archive")
    kept = []
    for name in ("fts_page1", "fts_page2"):
        kept += notices_from_package(_package(name), "fts", default_rules())[0]
    hostile = dict(kept[0], release_id="x-2", title="<script>alert(1)</script> Data platform",
                   url="javascript:alert(1)", published_at=datetime(2026, 11, 17, 10, 30, tzinfo=timezone.utc))
    late = dict(kept[0], ocid="ocds-late", release_id="late-1", title="Next week's notice",
                published_at=datetime(2026, 11, 24, tzinfo=timezone.utc))
    with write(get_engine(settings.db)) as conn:
        notice_store.store_notices(conn, kept + [hostile, late])
    subscribers.add(settings, "vendor@example.org", "vendor")
    subscribers.add(settings, "rights@example.org", "rights")
    report = digest.run(settings, "2026-W47")
    by_email = {d.email: d for d in report.digests}
    vendor = by_email["vendor@example.org"]
    assert "Tender watch" in vendor.html and "TENDER WATCH" in vendor.text
    assert "Live facial recognition vans for Peterborough deployments" in vendor.html
    assert 'href="https://www.find-tender.service.gov.uk/Notice/000002-2026"' in vendor.html
    assert "£50,000,000" in vendor.text and "deadline Fri 15 Jan 2027" in vendor.text
    assert "Palantir Technologies UK Ltd" in vendor.text
    assert "Next week&#39;s notice" not in vendor.html and "Next week's notice" not in vendor.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Data platform" in vendor.html  # the latest release, escaped
    assert "<script>alert" not in vendor.html and "javascript:" not in vendor.html
    # One line per contracting process: the hostile re-release of the Met tender is the same ocid.
    assert vendor.text.count("Notice (tender): ") == 1
    assert "Tender watch" not in by_email["rights@example.org"].html  # the rights profile has no tender watch
