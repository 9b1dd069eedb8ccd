"""The recheck pass: a changed page becomes a new version plus an event, a 404 a takedown, and
the next digest reports both."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from core.settings import Settings
from pipelines import collect, digest, process, sources
from scrutineer.cli import main
from storage.db import get_engine, read, write
from storage.schema import article_versions, host_leases

BODY = ("<p>The Metropolitan Police will keep using Palantir software to analyse data about its own officers "
        "for another year, the force said, while an open procurement for a replacement system is run.</p>"
        "<p>Civil liberties groups said the data platform raised questions about oversight and privacy.</p>")


OTHER = ("<p>Figures released by the Metropolitan Police show how the Palantir data platform flagged officers "
         "for review, and campaigners asked who checks the software and its algorithm.</p>"
         "<p>Police leaders said the technology had helped them act before complaints arrived.</p>")


def _page(title: str, extra: str = "", body: str = BODY) -> str:
    return (f"<html lang=en><head><title>{title}</title>"
            f"<meta property='article:published_time' content='{{when}}'></head>"
            f"<body><article><h1>{title}</h1>{body * 2}{extra}</article></body></html>")


def test_recheck_records_edits_and_takedowns(tmp_path: Path, sqlite_url: str, httpserver: HTTPServer,
                                            capsys: object) -> None:
    when = (datetime.now(timezone.utc) - timedelta(days=2)).replace(microsecond=0).isoformat()
    pages = {"/a": _page("Met keeps Palantir data tool for a year"),
             "/b": _page("Palantir pilot at the Met: what the data shows", body=OTHER)}
    for path, html in pages.items():
        httpserver.expect_request(path).respond_with_data(html.replace("{when}", when), content_type="text/html")
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    items = "".join(f"<item><title>t{p}</title><link>{httpserver.url_for(p)}</link><guid>{p}</guid></item>"
                    for p in pages)
    httpserver.expect_request("/feed.xml").respond_with_data(
        f"<rss version='2.0'><channel><title>x</title>{items}</channel></rss>", content_type="application/rss+xml")
    settings = Settings(db=sqlite_url)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"sources": [
        {"name": "ledger", "kind": "rss", "url": httpserver.url_for("/feed.xml")}]}))
    sources.import_file(settings, tmp_path / "s.yaml")
    collect.run(settings)
    process.run(settings)
    # The publisher corrects one story and takes the other down.
    httpserver.clear()
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    corrected = _page("Met keeps Palantir data tool for a year",
                      "<p>Correction: an earlier version of this article misstated the length of the extension.</p>")
    httpserver.expect_request("/a").respond_with_data(corrected.replace("{when}", when), content_type="text/html")
    httpserver.expect_request("/b").respond_with_data("gone", status=410)
    assert main(["recheck", "--since", "7", "--db", sqlite_url]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "corrected: Met keeps Palantir" in out and "taken-down: Palantir pilot" in out
    with read(get_engine(sqlite_url)) as conn:
        assert conn.execute(select(func.max(article_versions.c.version))).scalar() == 2
    week = digest.weeks.week_of(datetime.now(timezone.utc))
    html = digest.run(settings, week=week).digests[0].html
    assert 'id="corrections"' in html and "taken-down" in html and "corrected" in html


def test_recheck_takes_collects_site_leases(sqlite_url: str, httpserver: HTTPServer,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The recheck pass is launched as collect's crawls are (crawlers/runner.py): a site another
    crawl process holds is not fetched (its articles wait for the next recheck), then is once free."""
    from crawlers.runner import site_of
    from pipelines import recheck
    from storage import leases
    from storage.article import Article
    from storage.articles import events_between, store_articles
    from storage.schema import articles

    # The crawl process waits a quarter of its crawl timeout for a lease; this process gives it longer.
    monkeypatch.setenv("SCRUTINEER_CRAWL_TIMEOUT_S", "8")
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/gone").respond_with_data("gone", status=410)
    settings = Settings(db=sqlite_url, crawl_timeout_s=120)
    sources.listing(settings)  # the schema
    engine = get_engine(sqlite_url)
    now = datetime.now(timezone.utc)
    url = httpserver.url_for("/gone")
    with write(engine) as conn:
        store_articles(conn, [Article(url=url, canonical_url=url, source="ledger", title="Gone tomorrow",
                                      text=BODY, published_at=now - timedelta(days=1), fetched_at=now)])
        conn.execute(articles.update().values(relevant=True))
    site = site_of(url)
    with write(engine) as conn:
        assert leases.try_acquire(conn, site, "elsewhere.invalid:4242:1.00", ttl_s=600) is None
    assert recheck.run(settings, days=7) == 0
    assert [r for r, _ in httpserver.log if r.path == "/gone"] == []  # leased elsewhere: not fetched
    with read(engine) as conn:
        assert events_between(conn, now - timedelta(days=1), now + timedelta(days=1)) == []
    with write(engine) as conn:
        conn.execute(host_leases.delete())
    assert recheck.run(settings, days=7) == 0
    assert len([r for r, _ in httpserver.log if r.path == "/gone"]) == 1
    with read(engine) as conn:
        events = events_between(conn, now - timedelta(days=1), now + timedelta(days=1))
        assert conn.execute(host_leases.select()).all() == []  # released when the pass ended
    assert [e["kind"] for e in events] == ["taken-down"]
