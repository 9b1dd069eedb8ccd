"""REDTEAM R9: a sitemap index that loops back to itself, and one that fans out without end, is read
once per document and at most MAX_SITEMAPS documents per pass; the source is a warning that says so."""
from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator

import pytest

from core.settings import Settings
from crawlers.spiders.sitemap import MAX_SITEMAPS
from pipelines import collect, sources

INDEX = "<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{}</sitemapindex>"


class _Hostile(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []
    fan_out = True

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        type(self).hits.append(self.path)
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path == "/robots.txt":
            self.send_response(404)
            self.end_headers()
            return
        m = re.fullmatch(r"/s/(\d+)\.xml", self.path)
        n = int(m.group(1)) if m else 0
        # twelve new children per document: DEPTH_LIMIT alone would still allow 12 + 144 + 1,728
        children = ([f"/s/{12 * n + k}.xml" for k in range(1, 13)] if self.fan_out
                    else [f"/s/{(n + 1) % 3}.xml"])
        locs = [*children, "/sitemap.xml", self.path, "/SITEMAP.xml#again"]
        body = INDEX.format("".join(f"<sitemap><loc>{base}{loc}</loc></sitemap>" for loc in locs)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def hostile() -> Iterator[tuple[int, type[_Hostile]]]:
    _Hostile.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], _Hostile
    server.shutdown()
    server.server_close()


def test_r9_fan_out_and_loops_are_bounded_and_reported(sqlite_url: str, hostile: tuple[int, type[_Hostile]]) -> None:
    port, handler = hostile
    handler.fan_out = True
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "maze", "kind": "sitemap", "url": f"http://127.0.0.1:{port}/sitemap.xml"})
    result = collect.run(settings)[0]
    sitemaps = [h for h in handler.hits if h != "/robots.txt"]
    assert len(sitemaps) == len(set(sitemaps)), "a sitemap was read twice in one pass"
    assert 1 + 12 + 144 < len(sitemaps) <= MAX_SITEMAPS
    assert result.status == "warning", result
    assert "sitemap index loops" in (result.message or "") and f"more than {MAX_SITEMAPS} sitemaps" in result.message
    listed = sources.listing(settings)[0]
    assert f"more than {MAX_SITEMAPS} sitemaps" in (listed["last_warning_message"] or "")


def test_r9_plain_loop_read_once(sqlite_url: str, hostile: tuple[int, type[_Hostile]]) -> None:
    port, handler = hostile
    handler.fan_out = False
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "ring", "kind": "sitemap", "url": f"http://127.0.0.1:{port}/s/0.xml"})
    result = collect.run(settings)[0]
    sitemaps = sorted(h for h in handler.hits if h != "/robots.txt")
    assert sitemaps == ["/SITEMAP.xml", "/s/0.xml", "/s/1.xml", "/s/2.xml", "/sitemap.xml"], sitemaps
    assert result.status == "warning" and "sitemap index loops" in (result.message or ""), result
