"""Issue 16: the starter watchlist, per-source pacing against rate-limited OCDS APIs on loopback
(Find a Tender's 429s with and without Retry-After, Contracts Finder's 403), notices as data
(`tenders list`, `export --kind notices` as JSONL and CSV read back by csv and sqlite3) and the
vendor digest's tender watch and deadline reminders.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import DATA
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from crawlers.ocds import load_package
from crawlers.politeness import parse_rate, source_rate
from crawlers.spiders.ocds import search_window
from pipelines import collect, digest, sources, subscribers
from pipelines.procurement import default_rules, notices_from_package
from scrutineer.cli import main
from storage import notices as notice_store
from storage import sources as source_store
from storage.db import get_engine, read, write
from storage.leases import reserve_slot, rest_host

PROJECT_DIR = Path(__file__).resolve().parent.parent  # the source checkout these run from
OCDS = DATA / "ocds"
API = "/api/1.0/ocdsReleasePackages"
WATCHLIST = PROJECT_DIR / "sources" / "uk-police-ai.yaml"
RELEVANT = {"ocds-h6vhtk-0a1b2c", "ocds-h6vhtk-0g7h8i", "ocds-h6vhtk-1a2b3c", "ocds-h6vhtk-1d4e5f"}


# -- the watchlist, offline -------------------------------------------------------------------------
def test_watchlist_imports_https_unique_and_paced(sqlite_url: str) -> None:
    entries = yaml.safe_load(WATCHLIST.read_text(encoding="utf-8"))["sources"]
    names = [e["name"] for e in entries]
    urls = [e["url"] for e in entries]
    assert len(names) == len(set(names)), [n for n, c in Counter(names).items() if c > 1]
    assert len(urls) == len(set(urls)), [u for u, c in Counter(urls).items() if c > 1]
    assert all(urlsplit(u).scheme == "https" for u in urls), [u for u in urls if not u.startswith("https://")]
    ocds = [e for e in entries if e["kind"] == "ocds"]
    assert {urlsplit(e["url"]).hostname for e in ocds} == {"www.find-tender.service.gov.uk",
                                                           "www.contractsfinder.service.gov.uk"}
    for e in ocds:  # every OCDS source carries its own pacing, and it parses
        assert parse_rate(e["rate"]).interval_s >= 5, e
    outcome, errors = sources.import_file(Settings(db=sqlite_url), WATCHLIST)
    assert errors == [] and set(outcome) == set(names) and set(outcome.values()) == {"added"}
    with read(get_engine(sqlite_url)) as conn:
        stored = {s["name"]: s for s in source_store.list_sources(conn)}
    paused = {e["name"] for e in entries if e.get("status") == "paused"}
    assert paused and {n for n, s in stored.items() if s["status"] == "paused"} == paused
    assert stored["find-a-tender"]["options"]["rate"] == "12/2min"
    # Every kind of source the issue names is covered, and some of each is active.
    tags = Counter(t for e in entries if e.get("status") != "paused" for t in e.get("tags", []))
    for wanted in ("uk-national", "london", "cambridgeshire", "peterborough", "trade-press", "police-press",
                   "rights-group", "oversight", "city-hall", "met-police", "procurement"):
        assert tags[wanted] >= 1, wanted
    # Idempotent: a second import changes nothing, and keeps a resumed source resumed.
    sources.set_status(Settings(db=sqlite_url), "guardian-police", "active")
    again, _ = sources.import_file(Settings(db=sqlite_url), WATCHLIST)
    assert set(again.values()) == {"unchanged"}
    with read(get_engine(sqlite_url)) as conn:
        assert source_store.get_source(conn, "guardian-police")["status"] == "active"


def test_every_paused_watchlist_entry_says_what_to_check() -> None:
    lines = WATCHLIST.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("- name:")]
    for n, i in enumerate(starts):
        block = lines[i:starts[n + 1] if n + 1 < len(starts) else len(lines)]
        if any(line.strip() == "status: paused" for line in block):
            above = []
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("#"):
                above.append(lines[j])
                j -= 1
            assert any("check" in line.lower() for line in above), lines[i]


# -- rates ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,count,period", [("12/2min", 12, 120), ("1/s", 1, 1), ("30/min", 30, 60),
                                               ("100/h", 100, 3600), (" 5 / 10s ", 5, 10), ("6/MIN", 6, 60)])
def test_rates_parse(text: str, count: int, period: int) -> None:
    rate = parse_rate(text)
    assert (rate.count, rate.period_s) == (count, period)
    assert rate.interval_s == period / count


@pytest.mark.parametrize("bad", ["12", "12/", "0/min", "12/0min", "twelve/min", "12/fortnight", "5/48h", 12, True])
def test_bad_rates_are_refused_at_import_with_one_line(sqlite_url: str, tmp_path: Path, bad: Any) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"sources": [
        {"name": "fts", "kind": "ocds", "url": "https://example.org/api", "rate": bad},
        {"name": "ok", "kind": "ocds", "url": "https://example.org/api2", "rate": "1/s"}]}), encoding="utf-8")
    outcome, errors = sources.import_file(Settings(db=sqlite_url), path)
    assert list(outcome) == ["ok"] and len(errors) == 1
    message = str(errors[0])
    assert "'fts'" in message and "field 'rate'" in message and "\n" not in message


def test_default_rates_for_known_api_hosts() -> None:
    fts = source_rate({"url": "https://www.find-tender.service.gov.uk/api/1.0/ocdsReleasePackages", "options": {}})
    cf = source_rate({"url": "https://www.contractsfinder.service.gov.uk/Published/Notices/OCDS/Search",
                      "options": {}})
    assert fts is not None and (fts.count, fts.period_s) == (12, 120)
    assert cf is not None and cf.interval_s == 10
    assert source_rate({"url": "https://news.example/feed", "options": {}}) is None
    own = source_rate({"url": "https://www.find-tender.service.gov.uk/x", "options": {"rate": "1/s"}})
    assert own is not None and own.interval_s == 1


def test_request_slots_are_spaced_and_a_rest_pushes_them_back(db_url: str) -> None:
    engine = get_engine(db_url)
    t0 = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
    slots = []
    for _ in range(3):  # three processes asking at the same instant get three spaced slots
        with write(engine) as conn:
            slots.append(reserve_slot(conn, "api.example:443", 10.0, t0))
    assert slots == [t0, t0 + timedelta(seconds=10), t0 + timedelta(seconds=20)]
    with write(engine) as conn:
        rest_host(conn, "api.example:443", t0 + timedelta(minutes=5))
        rest_host(conn, "api.example:443", t0 + timedelta(minutes=1))  # a shorter rest does not shorten it
        assert reserve_slot(conn, "api.example:443", 10.0, t0) == t0 + timedelta(minutes=5)
        assert reserve_slot(conn, "other.example:443", 10.0, t0) == t0  # per host


def test_search_windows() -> None:
    now = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
    last = datetime(2026, 11, 19, 8, 0, tzinfo=timezone.utc)
    cf = search_window("https://www.contractsfinder.service.gov.uk/Published/Notices/OCDS/Search?limit=100"
                       "&stages=planning,tender", last, now)
    assert cf.endswith("?limit=100&stages=planning,tender&publishedFrom=2026-11-18&publishedTo=2026-11-21")
    fts = search_window("https://www.find-tender.service.gov.uk/api/1.0/ocdsReleasePackages?limit=100", None, now)
    assert fts.endswith("?limit=100&updatedFrom=2026-11-06T09:30:00")
    own = "https://www.find-tender.service.gov.uk/api/1.0/ocdsReleasePackages?updatedFrom=2026-01-01T00:00:00"
    assert search_window(own, last, now) == own
    assert search_window("https://example.org/feed.json", last, now) == "https://example.org/feed.json"


# -- rate-limited APIs on loopback ------------------------------------------------------------------
class LimitedApi:
    """Find a Tender's three test pages by ?page=N, answering "too many" as scripted by request
    number (robots.txt aside): `limit(n)` gives the response for the n-th API request, or None."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.requests: list[tuple[str, float, dict[str, str]]] = []  # (page, monotonic time, query)
        self.limit: Any = lambda n: None
        self.unlinked: set[int] = set()  # request numbers answered without links.next
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    def url(self, page: int = 1) -> str:
        return self.server.url_for(f"{API}?page={page}")

    def pages(self) -> list[str]:
        return [p for p, _, _ in self.requests]

    def handle(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            return Response("", status=404)
        page = request.args.get("page", "1")
        self.requests.append((page, time.monotonic(), dict(request.args)))
        limited = self.limit(len(self.requests))
        if limited is not None:
            return limited
        base = self.server.url_for("/").rstrip("/")
        body = (OCDS / f"fts_page{page}.json").read_bytes().replace(b"{base}", base.encode())
        if len(self.requests) in self.unlinked:  # Find a Tender's fault: a page without links.next
            package = json.loads(body)
            package.pop("links", None)
            body = json.dumps(package).encode()
        return Response(body, content_type="application/json")


@pytest.fixture
def api(httpserver: HTTPServer) -> LimitedApi:
    return LimitedApi(httpserver)


def _stored(settings: Settings) -> set[str]:
    with read(get_engine(settings.db)) as conn:
        return {n["ocid"] for n in notice_store.list_notices(conn)}


def _source(settings: Settings, name: str) -> dict[str, Any]:
    with read(get_engine(settings.db)) as conn:
        row = source_store.get_source(conn, name)
    assert row is not None
    return row


@pytest.mark.timeout(120)
def test_one_collect_reads_three_pages_through_429_retry_after_2(sqlite_url: str, api: LimitedApi,
                                                                  tmp_path: Path) -> None:
    settings = Settings(db=sqlite_url, archive_dir=tmp_path / "archive")
    api.limit = lambda n: (Response("12 request limit in 2 minute exceeded", status=429,
                                    headers={"Retry-After": "2"}) if n % 2 == 0 else None)
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1), "rate": "20/s"})
    result = collect.run(settings, ["fts"])[0]
    assert result.status == "ok" and result.new == 4, result
    assert api.pages() == ["1", "2", "2", "3", "3"]  # each refused page asked again, in the same pass
    assert "waited out 2 Retry-After(s)" in (result.message or "")
    # The Retry-After was waited out, not left as a rest: the page after the wait came no sooner.
    times = {i: t for i, (_, t, _) in enumerate(api.requests)}
    assert times[2] - times[1] >= 1.9 and times[4] - times[3] >= 1.9
    src = _source(settings, "fts")
    assert _stored(settings) == RELEVANT and src["cursor"] is None and src["retry_after_until"] is None

    # The vendor digest of that week lists every relevant notice and no near-miss.
    subscribers.add(settings, "vendor@example.org", "vendor")
    vendor = {d.email: d for d in digest.run(settings, "2026-W47").digests}["vendor@example.org"]
    for title in ("Workforce standards data platform", "Live facial recognition vans for Peterborough deployments",
                  "Market engagement: AI-assisted review of police workforce data",
                  "Operational data platform extension"):
        assert title in vendor.text, title
    near_misses = ("Resurfacing of rural roads", "Supply of marked response vehicles", "Facial recognition software")
    for near_miss in near_misses:
        assert near_miss not in vendor.text and near_miss not in vendor.html, near_miss


@pytest.mark.timeout(120)
def test_429_without_retry_after_rests_one_rate_period_and_the_next_run_finishes(sqlite_url: str,
                                                                                  api: LimitedApi) -> None:
    settings = Settings(db=sqlite_url)
    # The third request overruns the API's quota (someone else spent it): 429, no Retry-After.
    api.limit = lambda n: Response("12 request limit in 2 minute exceeded", status=429) if n == 3 else None
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1), "rate": "2/3s"})
    t0 = datetime.now(timezone.utc)
    first = collect.run(settings, ["fts"])[0]
    assert first.status == "warning" and "HTTP 429" in (first.message or "") and first.new == 4, first
    assert "one period of its rate 2/3s" in (first.message or "")
    src = _source(settings, "fts")
    assert src["cursor"] == api.url(3)
    rest = src["retry_after_until"]
    assert rest is not None and 2.5 <= (rest - t0).total_seconds() <= 30
    # Paced at the source's rate: one request per 1.5 s, however fast the API answers.
    times = [t for _, t, _ in api.requests]
    assert all(b - a >= 1.4 for a, b in zip(times, times[1:], strict=False)), times
    assert collect.run(settings, ["fts"])[0].status == "deferred" and len(api.requests) == 3
    while datetime.now(timezone.utc) <= rest:  # a pacing interval later
        time.sleep(0.2)
    second = collect.run(settings, ["fts"])[0]
    assert second.status == "ok" and "read 1 release(s) on 1 page(s)" in (second.message or ""), second
    assert api.pages() == ["1", "2", "3", "3"] and _stored(settings) == RELEVANT
    assert _source(settings, "fts")["cursor"] is None


@pytest.mark.timeout(120)
def test_a_long_retry_after_still_rests_the_source(sqlite_url: str, api: LimitedApi) -> None:
    settings = Settings(db=sqlite_url)
    api.limit = lambda n: Response("slow down", status=429, headers={"Retry-After": "61"}) if n == 2 else None
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1), "rate": "20/s"})
    first = collect.run(settings, ["fts"])[0]
    assert first.status == "warning" and first.new == 2 and api.pages() == ["1", "2"], first
    assert collect.run(settings, ["fts"])[0].status == "deferred" and len(api.requests) == 2


@pytest.mark.timeout(120)
def test_a_full_page_without_links_next_is_read_again_next_pass(sqlite_url: str, api: LimitedApi) -> None:
    settings = Settings(db=sqlite_url)
    api.unlinked = {1}
    sources.add(settings, {"name": "fts", "kind": "ocds", "url": api.url(1) + "&limit=3", "rate": "20/s"})
    first = collect.run(settings, ["fts"])[0]
    assert first.status == "ok" and "full page without links.next" in (first.message or ""), first
    assert _source(settings, "fts")["cursor"] == api.url(1) + "&limit=3"
    second = collect.run(settings, ["fts"])[0]
    assert second.status == "ok" and api.pages() == ["1", "1", "2", "3"], (second, api.pages())
    assert _stored(settings) == RELEVANT and _source(settings, "fts")["cursor"] is None
    api.unlinked = {5}  # the re-read page is still unlinked: the pass ends there, cleanly, once
    with write(get_engine(settings.db)) as conn:
        source_store.save_cursor(conn, "fts", api.url(1) + "&limit=3")
    third = collect.run(settings, ["fts"])[0]
    assert third.status == "ok" and api.pages()[4:] == ["1"] and _source(settings, "fts")["cursor"] is None


class ContractsFinder:
    """A Contracts Finder-shaped search endpoint: tests/data/ocds/cf_search.json, or a 403."""

    PATH = "/Published/Notices/OCDS/Search"

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.forbidden = False
        self.queries: list[dict[str, str]] = []
        #: releases of a second page (linked by `cursor`), served in Windows-1252 as some are
        self.second: list[dict[str, Any]] = []
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    def url(self) -> str:
        return self.server.url_for(f"{self.PATH}?limit=100&stages=planning,tender,award")

    def handle(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            return Response("", status=404)
        self.queries.append(dict(request.args))
        if self.forbidden:
            return Response("Forbidden", status=403)
        if request.args.get("cursor") == "P2":
            package = {"results": [{"uri": "x", "publishedDate": "2026-11-19T10:00:00Z", "releases": self.second}]}
            return Response(json.dumps(package, ensure_ascii=False).encode("cp1252"), content_type="application/json")
        package = json.loads((OCDS / "cf_search.json").read_bytes())
        if self.second:
            package["links"] = {"next": self.server.url_for(f"{self.PATH}?limit=100&cursor=P2")}
        return Response(json.dumps(package), content_type="application/json")


def _cf_release(n: int, title: str) -> dict[str, Any]:
    return {"ocid": f"ocds-b5fd17-cc{n:04d}", "id": 5000 + n, "date": "2026-11-19T09:00:00Z", "tag": ["tender"],
            "buyer": {"name": "Cambridgeshire Constabulary"},
            "tender": {"title": title, "description": "Software for analysing police custody records.",
                       "value": {"amount": 90000, "currency": "GBP"}}}


@pytest.mark.timeout(120)
def test_a_search_window_is_read_past_its_known_overlap(sqlite_url: str, httpserver: HTTPServer) -> None:
    cf = ContractsFinder(httpserver)
    cf.second = [_cf_release(1, "Custody records analytics, lot 1 (£90k)")]
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "cf", "kind": "ocds", "url": cf.url(), "rate": "20/s"})
    first = collect.run(settings, ["cf"])[0]
    assert first.status == "ok" and first.new == 2, first
    # Next hour: page 1 is the window's overlap, all known; the new notice is on page 2.
    cf.second.append(_cf_release(2, "Custody records analytics, lot 2"))
    second = collect.run(settings, ["cf"])[0]
    assert second.status == "ok" and second.new == 1 and second.known == 2, second
    assert [q.get("cursor") for q in cf.queries] == [None, "P2", None, "P2"]
    with read(get_engine(settings.db)) as conn:
        titles = {n["title"] for n in notice_store.list_notices(conn)}
    assert "Custody records analytics, lot 1 (£90k)" in titles  # Windows-1252 bytes read as such


@pytest.mark.timeout(120)
def test_contracts_finder_403_rests_five_minutes_and_health_says_so(sqlite_url: str, httpserver: HTTPServer,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    cf = ContractsFinder(httpserver)
    cf.forbidden = True
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "cf", "kind": "ocds", "url": cf.url(), "rate": "20/s"})
    t0 = datetime.now(timezone.utc)
    result = collect.run(settings, ["cf"])[0]
    assert result.status == "warning" and "five minutes" in (result.message or ""), result
    rest = _source(settings, "cf")["retry_after_until"]
    assert rest is not None and 290 <= (rest - t0).total_seconds() <= 330
    assert cf.queries[0]["publishedFrom"] and cf.queries[0]["publishedTo"] and cf.queries[0]["limit"] == "100"
    assert collect.run(settings, ["cf"])[0].status == "deferred" and len(cf.queries) == 1
    capsys.readouterr()
    assert main(["sources", "list", "--format", "json", "--db", sqlite_url]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["resting_until"] == rest.isoformat()
    assert main(["sources", "list", "--db", sqlite_url]) == 0
    table = capsys.readouterr().out
    assert "resting until" in table


@pytest.mark.timeout(120)
def test_collect_counts_notices_as_notices(sqlite_url: str, httpserver: HTTPServer,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    cf = ContractsFinder(httpserver)
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "cf", "kind": "ocds", "url": cf.url(), "rate": "20/s"})
    assert main(["collect", "--db", sqlite_url]) == 0
    out = capsys.readouterr().out
    assert "cf: ok, 1 new notices" in out and "0 new articles, 1 new notices, 0 failed" in out, out
    assert main(["sources", "list", "--format", "json", "--db", sqlite_url]) == 0
    assert json.loads(capsys.readouterr().out.strip())["items_7d"] == 1


# -- notices as data --------------------------------------------------------------------------------
HOSTILE_TITLE = 'Facial recognition, "live" and retrospective\nLot 2: £1,250,000 cap; 100% café'


def _seed(settings: Settings) -> None:
    kept: list[dict[str, Any]] = []
    for name in ("fts_page1", "fts_page2", "cf_search"):
        body = (OCDS / f"{name}.json").read_bytes().replace(b"{base}", b"http://127.0.0.1:9")
        kept += notices_from_package(load_package(body), "fts" if name != "cf_search" else "cf", default_rules())[0]
    met = next(n for n in kept if n["ocid"] == "ocds-h6vhtk-0a1b2c")
    hostile = dict(met, ocid="ocds-h6vhtk-9z9z9z", release_id="9z-1", title=HOSTILE_TITLE, value=1_250_000.5,
                   buyer="Kent Police, \"Tech\" unit", cpv=["79714000", "72300000"], suppliers=["A; B Ltd", "C, D plc"],
                   published_at=datetime(2026, 11, 10, 9, tzinfo=timezone.utc),
                   tender_deadline=datetime(2026, 11, 30, 12, tzinfo=timezone.utc),
                   url="https://www.find-tender.service.gov.uk/Notice/032391-2026")
    with write(get_engine(settings.db)) as conn:
        notice_store.store_notices(conn, kept + [hostile])


def _listed(sqlite_url: str, capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    capsys.readouterr()
    assert main(["tenders", "list", *args, "--format", "json", "--db", sqlite_url]) == 0
    return [json.loads(line)["ocid"] for line in capsys.readouterr().out.splitlines()]


def test_tenders_list_filters(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(db=sqlite_url)
    _seed(settings)
    assert len(_listed(sqlite_url, capsys)) == 6
    assert set(_listed(sqlite_url, capsys, "--buyer", "POLICE")) == {
        "ocds-h6vhtk-0a1b2c", "ocds-h6vhtk-9z9z9z"}  # Metropolitan Police Service, Kent Police
    assert set(_listed(sqlite_url, capsys, "--buyer", "constab")) == {"ocds-h6vhtk-0g7h8i"}
    assert set(_listed(sqlite_url, capsys, "--cpv", "723")) == {"ocds-h6vhtk-0a1b2c", "ocds-h6vhtk-9z9z9z"}
    assert set(_listed(sqlite_url, capsys, "--cpv", "35125000-6")) == {"ocds-h6vhtk-0g7h8i"}
    assert set(_listed(sqlite_url, capsys, "--min-value", "1000000", "--max-value", "£3,000,000")) == {
        "ocds-h6vhtk-0g7h8i", "ocds-h6vhtk-1a2b3c", "ocds-h6vhtk-9z9z9z"}
    assert set(_listed(sqlite_url, capsys, "--stage", "award")) == {"ocds-h6vhtk-0g7h8i"}
    assert set(_listed(sqlite_url, capsys, "--closing-before", "2026-12-06")) == {
        "ocds-b5fd17-aa11bb22", "ocds-h6vhtk-9z9z9z"}
    assert set(_listed(sqlite_url, capsys, "--week", "2026-W46")) == {"ocds-h6vhtk-9z9z9z"}
    assert _listed(sqlite_url, capsys, "--week", "2026-W47", "--stage", "planning", "--buyer", "mayor") == [
        "ocds-h6vhtk-1a2b3c"]
    capsys.readouterr()
    assert main(["tenders", "list", "--db", sqlite_url]) == 0
    table = capsys.readouterr().out
    assert "50,000,000 GBP" in table and table.rstrip().endswith("6 notices")
    assert "Lot 2: £1,250,000 cap" in table  # the newline in the title does not break the row


@pytest.mark.parametrize("args,needle", [(["--min-value", "lots"], "--min-value"),
                                         (["--max-value", "-5"], "--max-value"),
                                         (["--cpv", "72x"], "--cpv"),
                                         (["--stage", "bidding"], "--stage"),
                                         (["--closing-before", "31/12/2026"], "--closing-before"),
                                         (["--week", "2026-W60"], "--week"),
                                         (["--format", "xml"], "--format")])
def test_tenders_list_refuses_bad_filters_with_exit_2(sqlite_url: str, capsys: pytest.CaptureFixture[str],
                                                      args: list[str], needle: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["tenders", "list", *args, "--db", sqlite_url])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_min_above_max_is_bad_usage(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tenders", "list", "--min-value", "10", "--max-value", "5", "--db", sqlite_url]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "scrutineer: error: --min-value 10 is more than --max-value 5"


def _run(sqlite_url: str, *args: str) -> bytes:
    """The real command in its own process, in a locale that is not UTF-8: the bytes users get."""
    env = {**os.environ, "LC_ALL": "C", "PYTHONIOENCODING": "latin-1"}
    proc = subprocess.run([sys.executable, "-m", "scrutineer.cli", *args, "--db", sqlite_url], cwd=PROJECT_DIR,
                          capture_output=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    return proc.stdout


def test_notice_export_jsonl_and_csv_agree_on_real_bytes(sqlite_url: str, tmp_path: Path) -> None:
    _seed(Settings(db=sqlite_url))
    jsonl = [json.loads(line) for line in _run(sqlite_url, "export", "--kind", "notices", "--format", "jsonl")
             .decode("utf-8").splitlines()]
    assert len(jsonl) == 6
    hostile = next(r for r in jsonl if r["ocid"] == "ocds-h6vhtk-9z9z9z")
    assert list(hostile) == ["ocid", "notice_id", "source", "stage", "title", "buyer", "suppliers", "value",
                             "currency", "cpv", "published_at", "deadline", "url", "matched_because", "story_ids"]
    assert hostile["notice_id"] == "032391-2026" and hostile["title"] == HOSTILE_TITLE
    assert hostile["value"] == 1_250_000.5 and hostile["deadline"] == "2026-11-30T12:00:00+00:00"
    assert hostile["matched_because"] and hostile["story_ids"] == []
    met = next(r for r in jsonl if r["ocid"] == "ocds-h6vhtk-0a1b2c")
    assert met["value"] == 50_000_000 and isinstance(met["value"], int) and met["notice_id"] == "000001-2026"

    raw = _run(sqlite_url, "export", "--kind", "notices", "--format", "csv")
    raw.decode("utf-8")  # UTF-8 whatever the locale
    assert "£".encode() in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert [r["ocid"] for r in rows] == [r["ocid"] for r in jsonl]
    by_ocid = {r["ocid"]: r for r in rows}
    row = by_ocid["ocds-h6vhtk-9z9z9z"]
    assert row["title"] == HOSTILE_TITLE and row["buyer"] == 'Kent Police, "Tech" unit'
    assert row["suppliers"] == "A; B Ltd; C, D plc" and row["cpv"] == "79714000; 72300000"
    assert row["value"] == "1250000.5" and row["story_ids"] == "" and by_ocid["ocds-h6vhtk-0a1b2c"]["value"] == \
        "50000000"
    listed = _run(sqlite_url, "tenders", "list", "--format", "csv").decode("utf-8")
    assert sorted(csv.reader(io.StringIO(listed, newline=""))) == sorted(
        csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))  # the same rows; the list is newest first

    sqlite3 = shutil.which("sqlite3")
    if sqlite3 is None:
        pytest.skip("no sqlite3 command-line shell installed: the .import half is not run")
    path = tmp_path / "notices.csv"
    path.write_bytes(raw)
    shell = subprocess.run([sqlite3, ":memory:"], input=(
        f".import --csv {path} notices\n.mode json\nselect ocid, title, buyer, value, suppliers from notices "
        "order by rowid;\n").encode(), capture_output=True, timeout=30)
    assert shell.returncode == 0 and not shell.stderr, shell.stderr
    imported = json.loads(shell.stdout.decode("utf-8"))
    assert [r["ocid"] for r in imported] == [r["ocid"] for r in jsonl]
    back = next(r for r in imported if r["ocid"] == "ocds-h6vhtk-9z9z9z")
    assert back["title"] == HOSTILE_TITLE and back["value"] == "1250000.5"
    assert back["buyer"] == 'Kent Police, "Tech" unit' and back["suppliers"] == "A; B Ltd; C, D plc"


def test_article_export_is_unchanged_by_the_kind_option(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(Settings(db=sqlite_url))
    assert main(["export", "--format", "jsonl", "--db", sqlite_url]) == 0
    assert capsys.readouterr().out == ""  # notices are not articles
    assert main(["export", "--kind", "articles", "--format", "csv", "--db", sqlite_url]) == 2
    capsys.readouterr()
    assert main(["export", "--kind", "notices", "--format", "jsonl", "--since", "2026-11-18", "--until",
                 "2026-11-19", "--db", sqlite_url]) == 0
    assert [json.loads(line)["ocid"] for line in capsys.readouterr().out.splitlines()] == [
        "ocds-h6vhtk-0g7h8i", "ocds-b5fd17-aa11bb22"]  # published on 18 Nov, oldest first


# -- deadline reminders -----------------------------------------------------------------------------
def test_vendor_digest_reminds_of_deadlines_in_the_next_two_weeks(sqlite_url: str, tmp_path: Path) -> None:
    settings = Settings(db=sqlite_url, archive_dir=tmp_path / "archive")
    _seed(settings)
    base = {"source": "fts", "description": "", "buyer": "Cambridgeshire Constabulary", "suppliers": [],
            "value": 80_000.0, "currency": "GBP", "cpv": ["72000000"], "stage": "tender", "url": None,
            "matched": ["buyer: Cambridgeshire Constabulary"]}
    old = dict(base, ocid="ocds-old", release_id="old-1", title="Custody image matching pilot",
               published_at=datetime(2026, 10, 20, tzinfo=timezone.utc),  # weeks before the digest week
               tender_deadline=datetime(2026, 12, 1, 12, tzinfo=timezone.utc))
    later = dict(base, ocid="ocds-later", release_id="later-1", title="Body-worn video analytics",
                 published_at=datetime(2026, 10, 21, tzinfo=timezone.utc),
                 tender_deadline=datetime(2026, 12, 20, 12, tzinfo=timezone.utc))  # beyond the fortnight
    awarded = dict(base, ocid="ocds-awarded", release_id="awarded-1", title="Drone imagery triage",
                   published_at=datetime(2026, 10, 22, tzinfo=timezone.utc),
                   tender_deadline=datetime(2026, 11, 28, 12, tzinfo=timezone.utc))
    award = dict(awarded, release_id="awarded-2", stage="award", tender_deadline=None,
                 published_at=datetime(2026, 11, 2, tzinfo=timezone.utc))
    with write(get_engine(settings.db)) as conn:
        notice_store.store_notices(conn, [old, later, awarded, award])
        closing = notice_store.closing_between(conn, datetime(2026, 11, 23, tzinfo=timezone.utc),
                                               datetime(2026, 12, 7, tzinfo=timezone.utc))
    assert [n["ocid"] for n in closing] == ["ocds-h6vhtk-9z9z9z", "ocds-old", "ocds-b5fd17-aa11bb22"]
    subscribers.add(settings, "vendor@example.org", "vendor")
    subscribers.add(settings, "rights@example.org", "rights")
    by_email = {d.email: d for d in digest.run(settings, "2026-W47").digests}
    vendor = by_email["vendor@example.org"]
    section = vendor.text.split("CLOSING IN THE NEXT TWO WEEKS", 1)[1]
    assert "Custody image matching pilot" in section and "Biometric matching service for custody suites" in section
    assert "deadline" in section.lower() and "Tue 01 Dec 2026" in section
    assert "Body-worn video analytics" not in vendor.text and "Drone imagery triage" not in section
    assert 'id="closing-soon"' in vendor.html and "Custody image matching pilot" in vendor.html
    assert "CLOSING IN THE NEXT TWO WEEKS" not in by_email["rights@example.org"].text


def test_sources_add_takes_a_rate_and_refuses_a_bad_one(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["sources", "add", "--name", "fts", "--kind", "ocds", "--url", "https://example.org/api", "--db", sqlite_url]
    assert main([*base, "--rate", "12 per 2min"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("scrutineer: error: entry 'fts' ('fts'): field 'rate':") and "\n" not in err
    assert main([*base, "--rate", "12/2min"]) == 0
    assert _source(Settings(db=sqlite_url), "fts")["options"] == {"rate": "12/2min"}
