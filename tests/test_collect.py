"""Collection against real loopback servers: the demo newsroom, a dead host, a malformed feed."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import export_records
from pytest_httpserver import HTTPServer

from core.settings import Settings
from pipelines import collect, sources
from scrutineer.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_collected_once_robots_obeyed(collected: dict[str, Any], newsroom: Any, truth: dict[str, Any]) -> None:
    results = collected["results"]
    assert all(r.status != "error" for r in results), [(r.source, r.message) for r in results]
    recs = export_records(collected["settings"])
    urls = [r["canonical_url"] for r in recs]
    assert len(urls) == len(set(urls))  # URL variants (utm, #comments) became one article
    assert not [r["url"] for r in recs if "utm_" in r["url"]]  # and readers get links without tracking
    fetchable = [(o, p) for o, arts in truth["articles"].items() for p, v in arts.items() if not v["robots_disallowed"]]
    stored_paths = {(u.split("/", 3)[-1]) for u in urls}
    for outlet, path in fetchable:
        assert path.strip("/").rstrip("/") in {p.rstrip("/") for p in stored_paths}, (outlet, path)
    for outlet, arts in truth["articles"].items():
        for path, v in arts.items():
            if v["robots_disallowed"]:
                assert newsroom.hits(outlet, path) == 0, f"robots-disallowed {path} was fetched"


def test_published_at_is_utc_and_matches_truth(collected: dict[str, Any], newsroom: Any,
                                               truth: dict[str, Any]) -> None:
    from evaluation.evaluate import match_records

    got = match_records(export_records(collected["settings"]), truth, newsroom.outlets)
    right = 0
    for key, rec in got.items():
        outlet, path = key.split(" ", 1)
        want = truth["articles"][outlet][path]["published_at"].replace("Z", "+00:00")
        right += rec["published_at"] == want
        assert rec["published_at"].endswith("+00:00")
    assert right / len(got) >= 0.98


def test_second_collect_fetches_no_article_page_and_stores_nothing(collected: dict[str, Any], newsroom: Any) -> None:
    settings = collected["settings"]
    before = len(export_records(settings))
    hits_before = newsroom.total_hits()
    results = collect.run(settings)
    assert sum(r.new + r.updated for r in results) == 0
    assert len(export_records(settings)) == before
    # Only robots.txt and feed/sitemap requests: no article page again.
    assert newsroom.total_hits() - hits_before <= 2 * len(results)


def test_bad_sources_reported_others_collected(tmp_path: Path, sqlite_url: str, httpserver: HTTPServer,
                                               newsroom: Any) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/broken.xml").respond_with_data("<html><body>Not a feed at all</body></html>",
                                                               content_type="text/html")
    good = newsroom.sources()[0]
    cfg = {"sources": [
        good,
        {"name": "dead-host", "kind": "rss", "url": f"http://127.0.0.1:{_closed_port()}/feed.xml"},
        {"name": "malformed", "kind": "rss", "url": httpserver.url_for("/broken.xml")},
    ]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(cfg))
    settings = Settings(db=sqlite_url)
    sources.import_file(settings, path)
    results = {r.source: r for r in collect.run(settings)}
    assert results[good["name"]].status in ("ok", "warning") and results[good["name"]].new > 0
    dead = results["dead-host"]
    assert dead.status == "error" and "robots.txt unreachable" in (dead.message or "")
    assert "refused" in (dead.message or "")
    assert results["malformed"].status == "error" and "not a feed" in (results["malformed"].message or "")
    listing = {s["name"]: s for s in sources.listing(settings)}
    assert listing["dead-host"]["last_error"] is not None and listing["malformed"]["last_error"] is not None
    assert listing[good["name"]]["last_success"] is not None and listing[good["name"]]["items_7d"] > 0


def test_private_network_refused_without_flag(tmp_path: Path, sqlite_url: str, newsroom: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCRUTINEER_ALLOW_PRIVATE_NETWORKS")
    src = newsroom.sources()[1]
    outlet = src["name"].rsplit("-", 1)[0]
    settings = Settings(db=sqlite_url)
    sources.add(settings, dict(src))
    newsroom.reset_hits()
    result = collect.run(settings)[0]
    assert result.status == "error" and "non-public address" in (result.message or "")
    assert newsroom.hits(outlet, "/robots.txt") == 0 and newsroom.total_hits() == 0


def test_sources_test_is_a_dry_run(sqlite_url: str, newsroom: Any, capfd: pytest.CaptureFixture[str]) -> None:
    src = newsroom.sources()[2]
    settings = Settings(db=sqlite_url)
    sources.add(settings, dict(src))
    assert main(["sources", "test", src["name"], "--json", "--db", sqlite_url]) == 0
    out = capfd.readouterr().out
    assert out.count('"canonical_url"') >= 3
    assert export_records(settings) == []
