"""Outlet names per source and clean stored headlines (issue 12), through real collection.

The demo newsroom's <title>s all carry the outlet's name (" | Comment | The Capital Ledger",
" – Glasshouse", " - Meridian Press Association"); what is stored must be the headline, and each
source must be known by its outlet's name. The sources file's `outlet:` overrides what is learnt.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import export_records
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from core.settings import Settings
from pipelines import collect, sources
from scrutineer.cli import main
from storage import sources as source_store
from storage.db import get_engine, read, write
from storage.schema import article_versions, articles


def _outlets(settings: Settings) -> dict[str, str]:
    with read(get_engine(settings.db)) as conn:
        return source_store.outlet_names(conn)


def test_demo_stored_titles_are_the_headlines(collected: dict[str, Any], newsroom: Any, truth: dict[str, Any]) -> None:
    from evaluation.evaluate import match_records

    got = match_records(export_records(collected["settings"]), truth, newsroom.outlets)
    assert len(got) >= 30, "the demo was not collected"
    misses = [f"{key}: {rec['title']!r} != {truth['articles'][key.split(' ', 1)[0]][key.split(' ', 1)[1]]['title']!r}"
              for key, rec in got.items()
              if rec["title"] != truth["articles"][key.split(" ", 1)[0]][key.split(" ", 1)[1]]["title"]]
    assert (len(got) - len(misses)) / len(got) >= 0.98, "\n".join(misses)
    names = {o.name for o in newsroom.catalogue.values()}
    assert not [r["title"] for r in got.values() if any(n in r["title"] for n in names)]


def test_demo_outlets_learnt_from_pages_and_feeds(collected: dict[str, Any], newsroom: Any) -> None:
    outlets = _outlets(collected["settings"])
    for src in newsroom.sources():
        slug = src["name"].rsplit("-", 1)[0]
        assert outlets[src["name"]] == newsroom.catalogue[slug].name, src["name"]


def test_demo_keeps_the_raw_title_as_provenance(collected: dict[str, Any]) -> None:
    with read(get_engine(collected["settings"].db)) as conn:
        rows = conn.execute(select(articles.c.title, article_versions.c.raw_title)
                            .join(article_versions, article_versions.c.article_id == articles.c.id)
                            .where(articles.c.extraction != "feed-summary")).all()
    assert rows
    assert all(r.raw_title and r.title in r.raw_title for r in rows)
    assert sum(r.raw_title != r.title for r in rows) >= len(rows) // 2  # most <title>s carried a name


SUFFIX_ONLY = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{headline} - Meridian Press Association</title></head>
<body><div class="copy"><h3>{headline}</h3>
<p>{headline}. Officers and campaigners gave evidence to the committee for several hours on Tuesday,
and the chair said a report would follow before the end of the month, with recommendations.</p>
<p>The force said the system had been tested for bias and would be reviewed independently.</p></div>
</body></html>"""
HEADLINES = ["Force pauses camera van trial after complaints", "Watchdog to audit predictive policing tool",
             "Chief constable: the drones will fly only by day", "Met AI - the row explained"]


def test_outlet_learnt_from_the_suffix_titles_share_and_headlines_cleaned(
        tmp_path: Path, sqlite_url: str, httpserver: HTTPServer) -> None:
    """Pages that name their outlet only in the <title>, a feed titled with its initials: the
    outlet is learnt from the suffix the titles share, and the stored headlines lose it; a
    headline with its own " - " keeps it."""
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    items = []
    for i, headline in enumerate(HEADLINES):
        path = f"/copy/{i}.html"
        httpserver.expect_request(path).respond_with_data(SUFFIX_ONLY.format(headline=headline),
                                                          content_type="text/html; charset=utf-8")
        # The feed's own item titles carry the suffix too.
        items.append(f"<item><title>{headline} - Meridian Press Association</title>"
                     f"<link>{httpserver.url_for(path)}</link>"
                     f"<pubDate>Fri, 20 Nov 2026 10:0{i}:00 GMT</pubDate></item>")
    httpserver.expect_request("/top.xml").respond_with_data(
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>MPA Top News</title>{''.join(items)}</channel></rss>",
        content_type="application/rss+xml")
    settings = Settings(db=sqlite_url)
    assert sources.add(settings, {"name": "mpa-wire", "kind": "rss", "url": httpserver.url_for("/top.xml")}) == "added"
    results = collect.run(settings)
    assert results[0].status in ("ok", "warning") and results[0].new == len(HEADLINES), results
    assert _outlets(settings) == {"mpa-wire": "Meridian Press Association"}
    with read(get_engine(sqlite_url)) as conn:
        stored = sorted(conn.execute(select(articles.c.title)).scalars())
        raw = sorted(conn.execute(select(article_versions.c.raw_title)).scalars())
    assert stored == sorted(HEADLINES)
    assert raw == sorted(f"{h} - Meridian Press Association" for h in HEADLINES)


def test_outlet_in_sources_file_overrides_the_learnt_one(tmp_path: Path, sqlite_url: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(db=sqlite_url)
    path = tmp_path / "sources.yaml"
    entry = {"name": "ledger-rss", "kind": "rss", "url": "https://ledger.example/feed.xml",
             "outlet": "  The Capital   Ledger "}
    path.write_text(yaml.safe_dump({"sources": [entry]}), encoding="utf-8")
    assert main(["sources", "import", str(path), "--db", sqlite_url]) == 0
    with write(get_engine(sqlite_url)) as conn:
        source_store.save_outlet_learned(conn, "ledger-rss", "Ledger Live")
    assert _outlets(settings) == {"ledger-rss": "The Capital Ledger"}
    assert sources.import_file(settings, path)[0] == {"ledger-rss": "unchanged"}
    # Dropping `outlet:` from the file hands the name back to what was learnt.
    path.write_text(yaml.safe_dump({"sources": [{k: v for k, v in entry.items() if k != "outlet"}]}), encoding="utf-8")
    assert sources.import_file(settings, path)[0] == {"ledger-rss": "updated"}
    assert _outlets(settings) == {"ledger-rss": "Ledger Live"}
    capsys.readouterr()

    assert main(["sources", "add", "--name", "echo-sitemap", "--kind", "sitemap", "--url",
                 "https://echo.example/sitemap.xml", "--outlet", "Peterborough Echo", "--db", sqlite_url]) == 0
    assert main(["sources", "add", "--name", "bare", "--kind", "rss", "--url", "https://bare.example/rss",
                 "--db", sqlite_url]) == 0
    capsys.readouterr()
    assert main(["sources", "list", "--format", "json", "--db", sqlite_url]) == 0
    listed = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert listed["echo-sitemap"]["outlet"] == "Peterborough Echo"
    assert listed["ledger-rss"]["outlet"] == "Ledger Live" and listed["ledger-rss"]["outlet_learned"] == "Ledger Live"
    assert listed["bare"]["outlet"] is None
    assert main(["sources", "list", "--db", sqlite_url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:2] == ["name", "outlet"]
    assert any(line.startswith("echo-sitemap") and "Peterborough Echo" in line for line in table)


@pytest.mark.parametrize("outlet", [["The", "Ledger"], "", "x" * 121, "Two\nlines", 7])
def test_bad_outlet_refused_by_entry_and_field(tmp_path: Path, sqlite_url: str, outlet: Any,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": [{"name": "ledger", "kind": "rss", "url": "https://l.example/f",
                                                 "outlet": outlet}]}), encoding="utf-8")
    assert main(["sources", "import", str(path), "--db", sqlite_url]) == 1
    err = capsys.readouterr().err
    assert "('ledger'): field 'outlet'" in err and "Traceback" not in err


LOGO_H1 = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{headline} | Northgate Wire</title>
</head><body><header><h1 class="logo"><a href="/">Northgate Wire</a></h1></header>
<div class="story"><h2>{headline}</h2>
<p>Officers and campaigners gave evidence to the committee for several hours on Tuesday, and the chair
said a report would follow before the end of the month, with recommendations for the force.</p>
<p>The force said the system had been tested for bias and would be reviewed independently.</p></div>
</body></html>"""


def test_logo_h1_is_never_the_stored_headline(sqlite_url: str, httpserver: HTTPServer) -> None:
    """A site whose every page has the outlet's name as its <h1> and nothing else naming it: the
    pass learns the name from the titles' shared suffix and the headlines come from the <title>."""
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    headlines = ["Force buys AI triage tool for 999 calls", "Palantir – the row explained"]
    urls = []
    for i, headline in enumerate(headlines):
        path = f"/story/{i}"
        httpserver.expect_request(path).respond_with_data(LOGO_H1.format(headline=headline),
                                                          content_type="text/html; charset=utf-8")
        urls.append(f"<url><loc>{httpserver.url_for(path)}</loc><lastmod>2026-11-20</lastmod></url>")
    httpserver.expect_request("/sitemap.xml").respond_with_data(
        "<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        + "".join(urls) + "</urlset>", content_type="application/xml")
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "ngw-sitemap", "kind": "sitemap", "url": httpserver.url_for("/sitemap.xml")})
    results = collect.run(settings)
    assert results[0].new == len(headlines), results
    assert _outlets(settings) == {"ngw-sitemap": "Northgate Wire"}
    with read(get_engine(sqlite_url)) as conn:
        assert sorted(conn.execute(select(articles.c.title)).scalars()) == sorted(headlines)
