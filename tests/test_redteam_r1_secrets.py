"""REDTEAM R1 / issue 17 item 4: a password planted in a source URL (and in a feed's article link)
is refused at the door and, for a row that got in before, never shown: stdout, stderr, the fetch
log, health, `sources list` (table and JSON), health-report, export and the digest's files."""
from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from core import weeks
from core.settings import Settings
from storage import sources as store
from storage.db import get_engine, read, write
from storage.redact import redact
from storage.schema import fetch_log

PASSWORD = "Planted-Pw-7731"
TOKEN = "Tok-Planted-5519"


class _Feed(http.server.BaseHTTPRequestHandler):
    port = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if self.path.startswith("/feed"):
            now = datetime.now(timezone.utc) - timedelta(days=1)
            body = (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Desk</title><item>"
                    f"<title>Police force pilots facial recognition AI</title>"
                    f"<link>http://127.0.0.1:{self.port}/story?token={TOKEN}</link>"
                    f"<pubDate>{now.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
                    "<description>The police force trial of live facial recognition AI cameras.</description>"
                    "</item></channel></rss>").encode()
            ctype = "application/rss+xml"
        elif self.path.startswith("/story"):
            body = ("<html><head><title>Police force pilots facial recognition AI</title></head><body><article>"
                    + "<p>The police force began a trial of live facial recognition cameras this week.</p>" * 20
                    + "</article></body></html>").encode()
            ctype = "text/html"
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def feed_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    _Feed.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _cli(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrutineer.cli", *args, "--db", db], capture_output=True,
                          text=True, timeout=300)


def test_r1_credentials_refused_at_add_and_import(tmp_path: Path, sqlite_url: str) -> None:
    url = f"https://editor:{PASSWORD}@feeds.newsdesk.example/rss"
    proc = _cli("sources", "add", "--name", "locked", "--kind", "rss", "--url", url, db=sqlite_url)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == ("scrutineer: error: entry 'locked' ('locked'): field 'url': a source URL never carries "
                           "credentials (user:password@); remove them\n")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"sources": [
        {"name": "locked", "kind": "rss", "url": url},
        {"name": "open", "kind": "rss", "url": "https://feeds.newsdesk.example/rss"}]}))
    proc = _cli("sources", "import", str(tmp_path / "s.yaml"), db=sqlite_url)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["scrutineer: refused entry #1 ('locked'): field 'url': a source URL never "
                                        "carries credentials (user:password@); remove them"]
    assert PASSWORD not in proc.stdout + proc.stderr
    with read(get_engine(sqlite_url)) as conn:
        assert [s["name"] for s in store.list_sources(conn)] == ["open"]


def test_r1_planted_password_never_shown(tmp_path: Path, feed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'scrutineer.sqlite'}"
    archive = tmp_path / "archive"
    monkeypatch.setenv("SCRUTINEER_ARCHIVE_DIR", str(archive))
    settings = Settings(db=db)
    now = datetime.now(timezone.utc)
    engine = get_engine(settings.db)
    with write(engine) as conn:  # rows from before the refusal existed: written past validation
        for name, path in (("locked-feed", "/feed.xml"), ("locked-gone", "/nothing.xml")):
            store.save_source(conn, {"name": name, "kind": "rss", "schedule": "@hourly", "tags": [], "options": {},
                                     "url": f"http://editor:{PASSWORD}@127.0.0.1:{feed_port}{path}"})
        store.save_source(conn, {"name": "open-feed", "kind": "rss", "schedule": "@hourly", "tags": [],
                                 "options": {}, "url": f"http://127.0.0.1:{feed_port}/feed.xml"})
        # an old log line from before redaction, quoting the netloc as robots errors did
        conn.execute(fetch_log.insert().values({
            "source": "locked-gone", "started_at": now, "finished_at": now, "status": "error",
            "message": f"robots.txt unreachable on editor:{PASSWORD}@127.0.0.1:{feed_port}"}))
    outputs = []
    for args in (["collect"], ["process"], ["sources", "list"], ["sources", "list", "--format", "json"],
                 ["health-report"], ["export", "--format", "jsonl"],
                 ["digest", "--out", str(tmp_path / "out"), "--week", weeks.week_of(now - timedelta(days=1))],
                 ["sources", "test", "locked-feed"]):
        proc = _cli(*args, db=db)
        assert "Traceback" not in proc.stderr, (args, proc.stderr)
        outputs.append((args, proc.stdout + proc.stderr))
    assert any("Police force pilots" in out for args, out in outputs if args[0] == "export"), outputs
    with read(engine) as conn:
        # every line but the planted legacy one (id 1, read back redacted through the surfaces above)
        logged = [r.message or "" for r in conn.execute(select(fetch_log).where(fetch_log.c.id > 1))]
    assert len(logged) >= 3
    files = [p.read_text(errors="replace") for p in [*(tmp_path / "out").rglob("*"), *archive.rglob("*")]
             if p.is_file()]
    assert files
    for label, text in [*((" ".join(a), o) for a, o in outputs), *(("fetch_log", m) for m in logged),
                        *(("file", f) for f in files)]:
        assert PASSWORD not in text, (label, text[:2000])
        if label != "file":  # a reader's link to the article is the site's own URL, kept whole
            assert TOKEN not in text, (label, text[:2000])


@pytest.mark.parametrize("text, expected", [
    ("robots.txt unreachable on editor:pw@example.org", "robots.txt unreachable on ***@example.org"),
    ("https://a:b@c.example/x?token=t1&q=2&password=p", "https://***@c.example/x?token=***&q=2&password=***"),
    ("GET http://c.example/feed?api_key=k9 failed", "GET http://c.example/feed?api_key=*** failed"),
    ("mailto:unsubscribe@c.example?subject=unsubscribe-x", "mailto:unsubscribe@c.example?subject=unsubscribe-x"),
    ("reader@c.example refused", "reader@c.example refused"),
    ("smtp://user:pw@127.0.0.1:25", "smtp://***@127.0.0.1:25"),
])
def test_r1_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_r1_log_records_are_redacted() -> None:
    import io
    import logging

    from storage.redact import install_log_redaction

    install_log_redaction()
    install_log_redaction()  # idempotent: one wrapper
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("scrutineer.test.redact")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("fetching %s", f"https://editor:{PASSWORD}@feeds.newsdesk.example/rss?token={TOKEN}")
        log.warning(f"robots.txt unreachable on editor:{PASSWORD}@feeds.newsdesk.example")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert PASSWORD not in out and TOKEN not in out
    assert "https://***@feeds.newsdesk.example/rss?token=***" in out
