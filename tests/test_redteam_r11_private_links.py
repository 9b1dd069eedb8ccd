"""REDTEAM R11: a feed entry whose link points at a loopback or private host is kept (from its
summary) but never shown to readers as a link."""
from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import lxml.html
import pytest

from core import weeks
from core.settings import Settings
from pipelines import collect, process, sources, subscribers
from pipelines.digest import safe_link
from scrutineer.cli import main

WHEN = datetime.now(timezone.utc) - timedelta(days=1)
LINKS = ["http://[::1]:18003/x", "http://10.20.30.40/story", "http://127.0.0.9./y", "http://[::7f00:9]/z"]


class _Feed(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if not self.path.startswith("/feed"):
            self.send_response(404)
            self.end_headers()
            return
        items = "".join(
            f"<item><title>Police force {i} expands live facial recognition AI cameras</title><link>{link}</link>"
            f"<pubDate>{WHEN.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<description>Police force {i} said its live facial recognition AI cameras will watch more streets, "
            "and campaigners questioned the algorithm's accuracy and the police's oversight.</description></item>"
            for i, link in enumerate(LINKS))
        body = f"<?xml version='1.0'?><rss version='2.0'><channel><title>Desk</title>{items}</channel></rss>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def feed_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url", LINKS + ["http://127.0.0.1:8080/a", "http://0x7f.1/b", "http://localhost./c"])
def test_r11_private_links_not_linked(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRUTINEER_ALLOW_PRIVATE_NETWORKS", "")
    assert safe_link(url) is None
    assert safe_link("https://news.example.org/police-ai") == "https://news.example.org/police-ai"


def test_r11_digest_shows_the_item_without_a_link(tmp_path: Path, feed_port: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRUTINEER_ALLOW_PRIVATE_NETWORKS", "127.0.0.1/32")  # the feed itself only
    db = f"sqlite:///{tmp_path / 'scrutineer.sqlite'}"
    settings = Settings(db=db)
    sources.add(settings, {"name": "desk", "kind": "rss", "url": f"http://127.0.0.1:{feed_port}/feed.xml"})
    subscribers.add(settings, "analyst@newsdesk.example", "analyst")
    assert collect.run(settings)[0].new == len(LINKS)
    process.run(settings)
    out = tmp_path / "out"
    assert main(["digest", "--week", weeks.week_of(WHEN), "--out", str(out), "--db", db]) == 0
    page = next(out.glob("*.html")).read_text()
    tree = lxml.html.fromstring(page)
    assert "facial recognition" in tree.text_content()
    hrefs = [a.get("href", "") for a in tree.iter("a")]
    for bad in ("[::1]", "10.20.30.40", "127.0.0.9", "[::7f00:9]"):
        assert not any(bad in h for h in hrefs), hrefs
