"""RELIABILITY T18: pages that hold no article.

Login wall, consent banner, app shell (tests/data/hostile/no_article/*.html, each saying what it
proves), plus generated ones: an empty 200, a PDF sent as text/html, a 5 MB single <div>, 10,000
nested <div>s. Each is stored with its feed title and URL and extraction "no-text", is not an
error, is left neutral and flagged by `process`, and never reaches the digest; a real article
beside them does.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lxml.html
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text as sql

from core.settings import Settings
from crawlers.extract import extract_article
from pipelines import digest, sources, subscribers
from storage.db import get_engine, read

DIR = Path(__file__).parent / "data" / "hostile" / "no_article"
CLI = [sys.executable, "-m", "scrutineer.cli"]
WEEK = "2026-W47"
REAL_TEXT = ("<p>The Metropolitan Police will keep using Palantir software for another twelve months while a new, "
             "open procurement runs, after the Mayor's Office for Policing and Crime blocked a £50m contract.</p>"
             "<p>MOPAC said the award was a clear and serious breach of procurement rules because only one "
             "supplier had been seriously considered. Palantir signalled it could challenge the decision.</p>"
             "<p>Civil liberties groups said the pilot, which pools data on 45,000 officers and staff, needs "
             "independent oversight before the force signs any longer deal.</p>")


def pages() -> dict[str, tuple[bytes, str]]:
    """path -> (body, Content-Type) for every no-article page, fixtures and generated alike."""
    out = {f"/{p.stem}": (p.read_bytes(), "text/html; charset=utf-8") for p in sorted(DIR.glob("*.html"))}
    out["/empty"] = (b"", "text/html")
    out["/pdf-as-html"] = (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
                           b"2 0 obj\n<< /Length 44 >>\nstream\n" + os.urandom(30_000)
                           + b"\nendstream\nendobj\n%%EOF\n", "text/html")
    out["/five-mb-div"] = (b"<html><head><title>Archive</title></head><body><div>"
                           + b"data-chunk " * 480_000 + b"</div></body></html>", "text/html")
    out["/deep-nesting"] = (b"<html><head><title>Deep</title></head><body>" + b"<div>" * 10_000 + b"Welcome"
                            + b"</div>" * 10_000 + b"</body></html>", "text/html")
    return out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", sorted(pages()))
def test_t18_extraction_says_no_text(path: str) -> None:
    body, ctype = pages()[path]
    fields = extract_article(f"https://ledger.test{path}", body, ctype)  # RecursionError would fail here
    assert fields.extraction == "no-text" and fields.text == "", (path, fields.text[:200])


@pytest.mark.timeout(120)
def test_t18_no_article_pages_stored_flagged_and_kept_out_of_the_digest(tmp_path: Path, sqlite_url: str,
                                                                        httpserver: HTTPServer) -> None:
    served = pages()
    served["/real-article"] = (f"<html><head><title>Met keeps Palantir pilot during new tender</title></head><body>"
                               f"<article><h1>Met keeps Palantir pilot during new tender</h1>{REAL_TEXT}</article>"
                               "</body></html>".encode(), "text/html; charset=utf-8")
    titles = {path: f"Met Police Palantir contract update {i}" for i, path in enumerate(sorted(served))}
    titles["/real-article"] = "Met keeps Palantir pilot during new tender"
    items = "".join(f"<item><title>{titles[p]}</title><link>{httpserver.url_for(p)}</link><guid>{p}</guid>"
                    f"<pubDate>Wed, 18 Nov 2026 10:{i:02d}:00 +0000</pubDate></item>"  # no description: no fallback
                    for i, p in enumerate(sorted(served)))
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/feed.xml").respond_with_data(
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Ledger</title>{items}</channel></rss>",
        content_type="application/rss+xml")
    for path, (body, ctype) in served.items():
        httpserver.expect_request(path).respond_with_data(body, content_type=ctype)
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "ledger", "kind": "rss", "url": httpserver.url_for("/feed.xml")})

    proc = subprocess.run([*CLI, "collect", "--db", sqlite_url], capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "ledger: ok, 8 new" in proc.stdout or "ledger: warning, 8 new" in proc.stdout, proc.stdout
    assert "error" not in proc.stdout.split("collected")[0]  # no-text pages are not an error storm
    proc = subprocess.run([*CLI, "process", "--db", sqlite_url], capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stderr

    with read(get_engine(sqlite_url)) as conn:
        rows = {"/" + r.url.rsplit("/", 1)[-1]: r
                for r in conn.execute(sql("SELECT url, title, text, extraction, sentiment_label, sentiment_flag, "
                                          "sentiment_polarity FROM articles"))}
    assert set(rows) == set(served)
    for path in served:
        row = rows[path]
        assert row.title == titles[path] and row.url == httpserver.url_for(path)
        if path == "/real-article":
            assert row.extraction == "trafilatura" and row.sentiment_flag is None
            continue
        assert row.extraction == "no-text" and row.text == "", path
        assert row.sentiment_label == "neutral" and row.sentiment_polarity == 0.0, path
        assert row.sentiment_flag == "no-text", path  # not scored from boilerplate, and says so

    subscribers.add(settings, "analyst@example.org", "analyst")
    out = tmp_path / "digest"
    proc = subprocess.run([*CLI, "digest", "--week", WEEK, "--out", str(out), "--db", sqlite_url],
                          capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stderr
    stem = digest.file_stem("analyst@example.org", WEEK)
    page = lxml.html.fromstring((out / f"{stem}.html").read_text(encoding="utf-8")).text_content()
    plain = (out / f"{stem}.txt").read_text(encoding="utf-8")
    assert "Met keeps Palantir pilot during new tender" in page and "Met keeps Palantir pilot" in plain
    for path, title in titles.items():
        if path != "/real-article":
            assert title not in page and title not in plain, path  # never an empty digest item
