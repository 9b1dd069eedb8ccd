"""RELIABILITY T01 and T02: only http(s) sources, and no private address in any spelling unless allowed.

Every target here is on loopback; the non-loopback ranges are covered by the classifier tests in
test_netpolicy.py and never dialled.
"""
from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from core.settings import Settings
from pipelines import collect, sources


def feed(path: str) -> bytes:
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title><item><title>Met Police AI {path}"
            f"</title><guid isPermaLink='false'>{path}</guid><description>Police and AI.</description></item>"
            "</channel></rss>").encode()


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        type(self).hits.append(self.path)
        body = feed(self.path) if self.path.startswith("/feed") else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def counting_server() -> Iterator[tuple[int, list[str]]]:
    _Counter.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], _Counter.hits
    server.shutdown()
    server.server_close()


def test_t01_non_http_sources_refused_and_no_file_read(tmp_path: Path, sqlite_url: str,
                                                      counting_server: tuple[int, list[str]]) -> None:
    port, _ = counting_server
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-7d1f secret contents")
    cfg = {"sources": [
        {"name": "file-url", "kind": "rss", "url": canary.as_uri()},
        {"name": "bare-path", "kind": "rss", "url": str(canary)},
        {"name": "ftp-url", "kind": "rss", "url": f"ftp://127.0.0.1:{port}/feed"},
        {"name": "good-one", "kind": "rss", "url": f"http://127.0.0.1:{port}/feed.xml"},
        {"name": "good-two", "kind": "rss", "url": f"http://127.0.0.1:{port}/feed2.xml"},
    ]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "scrutineer.cli", "sources", "import", str(tmp_path / "s.yaml"),
                           "--db", sqlite_url], capture_output=True, text=True)
    assert proc.returncode == 1
    for name in ("file-url", "bare-path", "ftp-url"):
        assert f"('{name}'): field 'url'" in proc.stderr
    settings = Settings(db=sqlite_url)
    results = {r.source: r for r in collect.run(settings)}
    assert set(results) == {"good-one", "good-two"}, results
    assert all(r.new == 1 for r in results.values()), results
    export = subprocess.run([sys.executable, "-m", "scrutineer.cli", "export", "--format", "jsonl", "--db", sqlite_url],
                            capture_output=True, text=True, check=True).stdout
    assert "CANARY-7d1f" not in export
    from crawlers import settings as crawl_settings

    assert all(crawl_settings.DOWNLOAD_HANDLERS[s] is None for s in ("file", "s3", "ftp", "data"))


SPELLINGS = ["127.0.0.1", "localhost", "2130706433", "0x7f.0.0.1", "127.1", "[::ffff:127.0.0.1]", "0.0.0.0"]


@pytest.mark.parametrize("host", SPELLINGS)
def test_t02_loopback_in_every_spelling_refused_without_the_flag(host: str, sqlite_url: str,
                                                                counting_server: tuple[int, list[str]],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    port, hits = counting_server
    monkeypatch.delenv("SCRUTINEER_ALLOW_PRIVATE_NETWORKS")
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "target", "kind": "rss", "url": f"http://{host}:{port}/feed.xml"})
    result = collect.run(settings)[0]
    assert result.status == "error" and "non-public address" in (result.message or ""), result.message
    assert hits == []
    listing = sources.listing(settings)[0]
    assert "non-public address" in (listing["last_error_message"] or "")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "127.1"])
def test_t02_same_targets_collected_with_the_flag(host: str, sqlite_url: str,
                                                  counting_server: tuple[int, list[str]]) -> None:
    port, hits = counting_server
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "target", "kind": "rss", "url": f"http://{host}:{port}/feed.xml"})
    result = collect.run(settings)[0]
    assert result.status in ("ok", "warning") and result.new == 1, result.message
    assert "/feed.xml" in hits
