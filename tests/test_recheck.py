"""The recheck pass: a changed page becomes a new version plus an event, a 404 a takedown, and
the next digest reports both."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from core.settings import Settings
from pipelines import collect, digest, process, sources
from scrutineer.cli import main
from storage.db import get_engine, read
from storage.schema import article_versions

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
