"""Issue 17 item 5: health tells the truth. The real reason per failure (a DNS failure is not
"disallowed by robots.txt"), an error cleared by the next success, "never fetched" as its own
state, and one state shared by `sources list`, the health report and the digest."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faults
import pytest
from faultserver import FaultServer, cli, collect, import_sources, respond, rss

from core.settings import Settings
from pipelines import digest, health_report, sources

SITEMAP = (b"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
           b"<url><loc>http://news.test/a</loc></url></urlset>")


def _listing(db: str) -> dict[str, dict[str, Any]]:
    proc = cli(db, "sources", "list", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return {row["name"]: row for row in map(json.loads, proc.stdout.splitlines())}


@pytest.mark.timeout(120)
def test_dns_failure_is_reported_as_dns_not_robots(tmp_path: Path, sqlite_url: str) -> None:
    env = {"SCRUTINEER_TEST_RESOLVER": "hosts", "SCRUTINEER_TEST_HOSTS": json.dumps({}),
           "PYTHONPATH": faults.pythonpath(Path(__file__).parent, Path(__file__).parent.parent)}
    import_sources(sqlite_url, tmp_path, [
        {"name": "gone-sitemap", "kind": "sitemap", "url": "http://gone.test/sitemap.xml"},
        {"name": "gone-site", "kind": "site", "url": "http://gone.test/news/"}])
    collect(sqlite_url, env=env)
    rows = _listing(sqlite_url)
    for name in ("gone-sitemap", "gone-site"):
        message = rows[name]["last_error_message"] or ""
        assert rows[name]["state"] == "failing", rows[name]
        assert message.startswith("DNS lookup failed") and "gone.test" in message, message
        assert "disallowed by robots.txt" not in message, message
        assert "DNS lookup failed" in (rows[name]["message"] or "") and rows[name]["reason"] == "dns"


class _Flaky:
    """500 (retries too) until mended, then a good feed: the 'server fixed' sequence."""

    def __init__(self) -> None:
        self.broken = True

    def __call__(self, conn: Any, req: Any) -> None:
        if self.broken:
            respond(b"down for maintenance", status=500, content_type="text/plain")(conn, req)
        else:
            respond(rss("mended"))(conn, req)


def test_an_error_is_cleared_by_the_next_success(tmp_path: Path, sqlite_url: str) -> None:
    with FaultServer() as srv:
        flaky = _Flaky()
        srv.route("/feed.xml", flaky)
        import_sources(sqlite_url, tmp_path, [{"name": "mended", "kind": "rss", "url": srv.url("/feed.xml"),
                                               "follow_links": False}])
        collect(sqlite_url, "mended")
        failing = _listing(sqlite_url)["mended"]
        assert failing["state"] == "failing" and "HTTP 500" in (failing["last_error_message"] or "")
        assert failing["reason"] == "http status"
        table = cli(sqlite_url, "sources", "list").stdout
        assert "failing" in table and "HTTP 500" in table
        flaky.broken = False
        collect(sqlite_url, "mended")
    fixed = _listing(sqlite_url)["mended"]
    assert fixed["state"] == "ok" and fixed["message"] is None and fixed["reason"] is None, fixed
    assert fixed["last_error_message"] is None and fixed["last_error"] is not None  # history kept, not shown
    table = cli(sqlite_url, "sources", "list").stdout.splitlines()
    assert "HTTP 500" not in table[1] and " ok " in table[1], table
    report = cli(sqlite_url, "health-report").stdout
    assert "mended" not in report and "1 fine" in report


def test_never_fetched_is_its_own_state_everywhere(tmp_path: Path, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "brand-new", "kind": "rss", "url": "https://feeds.newsdesk.example/rss"})
    row = _listing(sqlite_url)["brand-new"]
    assert row["state"] == "never_fetched" and "not fetched yet" in row["message"]
    table = cli(sqlite_url, "sources", "list").stdout.splitlines()[1]
    assert "never_fetched" in table
    report = health_report.build(settings)
    assert [line.name for line in report.never_fetched] == ["brand-new"] and report.problems == 1
    text = health_report.render(report)
    assert "1 never fetched, 0 fine" in text and "NEVER FETCHED" in text
    data = digest.gather(settings, "2026-W47")
    assert data.health == [{"name": "brand-new", "state": f"never_fetched: {row['message']}", "items_7d": 0}]
    assert data.coverage["silent"] == [{"name": "brand-new", "why": "never fetched"}]


@pytest.mark.parametrize("message, kind", [
    ("DNS lookup failed: address 'x.test' not found", "dns"),
    ("non-public address 10.0.0.1 refused (set SCRUTINEER_ALLOW_PRIVATE_NETWORKS to allow)", "network policy"),
    ("TLS handshake failed: certificate verify failed", "tls"),
    ("HTTP 503 from https://x.example/feed", "http status"),
    ("robots.txt answered HTTP 500: every page disallowed for this pass (RFC 9309)", "robots"),
    ("not a feed: no items and no channel", "parse"),
    ("response too large: body passed the 10485760 byte limit; download aborted", "too large"),
    ("timed out: Getting https://x.example/ took longer than 30.0 seconds.", "timeout"),
])
def test_failure_reason_kinds(message: str, kind: str) -> None:
    assert health_report.reason(message) == kind
