"""RELIABILITY T06: decompression bombs (gzip, deflate, br) as a feed, an entry page and a sitemap.

Each bomb is 1 GiB of zeros compressed to ~1 MB (gzip, deflate) or ~190 KB (brotli), so the wire
size is far under DOWNLOAD_MAXSIZE and only a limit applied *after* decompression stops it
(Scrapy >= 2.13.4, CVE-2025-6176). Peak memory of the crawl process is read from the kernel
(os.wait4 rusage) and compared with a crawl of a small good feed.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from faultserver import (
    FaultServer,
    MiB,
    assert_ok_plus,
    bomb,
    collect,
    encoded,
    expanded_size,
    import_sources,
    respond,
    rss,
)

from core.settings import Settings
from pipelines import collect as collect_stage

PROJECT_DIR = Path(__file__).resolve().parent.parent  # the source checkout these run from
LIMIT = 10 * MiB


def test_bombs_are_bombs() -> None:
    """The fixtures themselves: small on the wire, far beyond the limit once expanded."""
    for encoding in ("gzip", "deflate", "br"):
        blob = bomb(encoding)
        assert len(blob) < 2 * MiB
        assert expanded_size(blob, encoding, limit=8 * LIMIT) >= 8 * LIMIT


def _sitemap(urls: list[str]) -> bytes:
    locs = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    return (f"<?xml version='1.0' encoding='UTF-8'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
            f"{locs}</urlset>").encode()


PAGE = (b"<html><head><title>Met extends Palantir pilot</title></head><body><article><h1>Met extends Palantir "
        b"pilot</h1><p>The Metropolitan Police will keep its Palantir pilot for another twelve months while a new "
        b"open procurement runs, after the Mayor's Office for Policing and Crime blocked the contract.</p>"
        b"</article></body></html>")


@pytest.mark.timeout(90)
def test_t06_bombs_stop_at_the_limit_and_the_run_continues(tmp_path: Path, sqlite_url: str) -> None:
    with FaultServer() as srv:
        srv.route("/good.xml", respond(rss("good-feed")))
        for enc in ("gzip", "deflate", "br"):
            srv.route(f"/feed-{enc}.xml", encoded(bomb(enc), enc))
        srv.route("/with-page.xml", respond(rss("bomb-page", items=1, link_base=srv.url("/pages"))))
        srv.route("/pages/bomb-page/0", encoded(bomb("gzip"), "gzip", content_type="text/html"))
        srv.route("/sitemap-encoded.xml", encoded(bomb("br"), "br", content_type="application/xml"))
        srv.route("/sitemap.xml.gz", encoded(bomb("gzip"), None, content_type="application/gzip"))
        srv.route("/good-sitemap.xml", respond(_sitemap([srv.url("/story.html")]), content_type="application/xml"))
        srv.route("/story.html", respond(PAGE, content_type="text/html"))
        import_sources(sqlite_url, tmp_path, [
            {"name": "good-feed", "kind": "rss", "url": srv.url("/good.xml"), "follow_links": False},
            {"name": "bomb-gzip", "kind": "rss", "url": srv.url("/feed-gzip.xml")},
            {"name": "bomb-deflate", "kind": "rss", "url": srv.url("/feed-deflate.xml")},
            {"name": "bomb-br", "kind": "rss", "url": srv.url("/feed-br.xml")},
            {"name": "bomb-page", "kind": "rss", "url": srv.url("/with-page.xml")},
            {"name": "bomb-sitemap-br", "kind": "sitemap", "url": srv.url("/sitemap-encoded.xml")},
            {"name": "bomb-sitemap-gz", "kind": "sitemap", "url": srv.url("/sitemap.xml.gz")},
            {"name": "good-sitemap", "kind": "sitemap", "url": srv.url("/good-sitemap.xml")},
        ])
        collect(sqlite_url)
        listing = assert_ok_plus(sqlite_url, faulty={
            "bomb-gzip": "too large", "bomb-deflate": "too large", "bomb-br": "too large",
            "bomb-sitemap-br": "too large", "bomb-sitemap-gz": "too large",
        }, good={"good-feed": 2, "bomb-page": 1, "good-sitemap": 1})
        # A bomb is refused once, not fetched again by the retry middleware.
        assert all(srv.hits[f"/feed-{enc}.xml"] == 1 for enc in ("gzip", "deflate", "br")), srv.hits
    # The entry whose page was a bomb is kept from the feed's own summary, with the reason.
    assert "too large" in (listing["bomb-page"]["last_warning_message"] or "")


def _peak_rss_of_crawl(settings: Settings, kind: str, name: str) -> int:
    proc = subprocess.Popen(collect_stage.crawl_command(kind, name), env=collect_stage.crawl_env(settings),
                            cwd=PROJECT_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss * 1024  # Linux reports KiB


@pytest.mark.timeout(60)
def test_t06_no_oom_peak_rss_rise_under_100_mb(tmp_path: Path, sqlite_url: str) -> None:
    with FaultServer() as srv:
        srv.route("/good.xml", respond(rss("good-feed")))
        srv.route("/feed-br.xml", encoded(bomb("br"), "br"))
        srv.route("/sitemap.xml.gz", encoded(bomb("gzip"), None, content_type="application/gzip"))
        import_sources(sqlite_url, tmp_path, [
            {"name": "good-feed", "kind": "rss", "url": srv.url("/good.xml"), "follow_links": False},
            {"name": "bomb-br", "kind": "rss", "url": srv.url("/feed-br.xml")},
            {"name": "bomb-sitemap-gz", "kind": "sitemap", "url": srv.url("/sitemap.xml.gz")},
        ])
        settings = Settings(db=sqlite_url)
        baseline = _peak_rss_of_crawl(settings, "rss", "good-feed")
        rises = {name: _peak_rss_of_crawl(settings, kind, name) - baseline
                 for kind, name in (("rss", "bomb-br"), ("sitemap", "bomb-sitemap-gz"))}
    print(f"peak RSS of a good crawl {baseline / 1e6:.1f} MB; rise with a 1 GiB bomb: "
          + ", ".join(f"{n} {r / 1e6:+.1f} MB" for n, r in rises.items()))
    assert all(rise < 100 * 10**6 for rise in rises.values()), (baseline, rises)
