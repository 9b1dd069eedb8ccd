"""Issue 17: Ctrl-C stops `collect` promptly, keeps what is whole, and the next pass does the rest;
progress shows as plain lines outside a terminal, and -q / -v change how much.

The site is a real loopback HTTP server whose article pages each take a while to answer, behind
one sitemap, so a crawl is still going when the signal arrives.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

PAGES = 40
_WORDS = ("harbour", "ledger", "orchard", "quarry", "lantern", "meadow", "bridle", "cobble", "tinder", "gable")


def _page_text(i: int) -> str:
    """Invented article text, different for every page, well above the extractor's minimum."""
    return " ".join(
        f"Paragraph {k} of bulletin {i}: the parish council of Exampleton reviewed the {_WORDS[(i + k) % 10]} "
        f"survey and asked the clerk to publish the minutes with every figure checked twice."
        for k in range(4))


class SlowSite:
    """A sitemap of PAGES articles; each article page answers after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?")[0]
                if path == "/robots.txt":
                    self._send(b"User-agent: *\nAllow: /\n", "text/plain")
                elif path == "/sitemap.xml":
                    locs = "".join(f"<url><loc>{site.base}/news/{i}</loc></url>" for i in range(PAGES))
                    self._send(('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/'
                                f'schemas/sitemap/0.9">{locs}</urlset>').encode(), "application/xml")
                elif path.startswith("/news/"):
                    i = int(path.rsplit("/", 1)[1])
                    with site.lock:
                        site.page_hits += 1
                    time.sleep(site.delay)
                    body = (f"<html lang='en'><head><title>Bulletin {i}</title></head><body><article>"
                            f"<h1>Bulletin {i}</h1><p>{_page_text(i)}</p></article></body></html>")
                    self._send(body.encode(), "text/html; charset=utf-8")
                else:
                    self.send_error(404)

            def _send(self, body: bytes, ctype: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.delay = delay
        self.page_hits = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _cli(db: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "scrutineer.cli", *args, "--db", db]


def _import(db: str, tmp: Path, site: SlowSite) -> None:
    listing = tmp / "sources.yaml"
    listing.write_text(yaml.safe_dump({"sources": [
        {"name": "slow-bulletins", "kind": "sitemap", "url": site.base + "/sitemap.xml"}]}))
    proc = subprocess.run(_cli(db, "sources", "import", str(listing)), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def _stored(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT url, text FROM articles"))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_collect_exits_130_keeps_whole_articles_and_resumes(tmp_path: Path, signum: int) -> None:
    path = tmp_path / "db.sqlite"
    db = f"sqlite:///{path}"
    with SlowSite(delay=0.6) as site:
        _import(db, tmp_path, site)
        proc = subprocess.Popen(_cli(db, "collect"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 90
        while site.page_hits < 8 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None and site.page_hits >= 8, "the crawl never got going"
        sent = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
        assert proc.returncode == 130, (proc.returncode, out, err)
        assert took <= 3.0, f"exited {took:.2f} s after the signal"
        assert "collected 1 sources" in out, out
        assert "interrupted" in err, err
        assert "Traceback" not in err, err
        first = _stored(path)
        assert len(first) < PAGES, "the crawl finished before the signal: nothing was tested"
        for url, text in first.items():  # whatever was stored is whole: the page's full text
            assert text == _page_text(int(url.rsplit("/", 1)[1])), url
        with sqlite3.connect(path) as conn:
            status, message = conn.execute("SELECT status, message FROM fetch_log ORDER BY id DESC").fetchone()
            orphans = conn.execute("SELECT count(*) FROM article_versions v LEFT JOIN articles a "
                                   "ON a.id = v.article_id WHERE a.id IS NULL").fetchone()[0]
        assert status == "warning" and "interrupted" in message, (status, message)
        assert orphans == 0

        site.delay = 0.0
        again = subprocess.run(_cli(db, "collect"), capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        stored = _stored(path)
        assert len(stored) == PAGES, again.stdout
        assert all(first[u] == stored[u] for u in first)
        assert f"{PAGES - len(first)} new" in again.stdout, again.stdout


@pytest.mark.timeout(180)
def test_progress_plain_lines_and_quiet_and_verbose(tmp_path: Path) -> None:
    """Outside a terminal: one line per finished source then the summary; -q only the summary;
    -v every page fetched as well (on stderr)."""
    path = tmp_path / "db.sqlite"
    db = f"sqlite:///{path}"
    with SlowSite(delay=0.0) as site:
        _import(db, tmp_path, site)
        listing = tmp_path / "more.yaml"
        listing.write_text(yaml.safe_dump({"sources": [
            {"name": "gone-bulletins", "kind": "sitemap", "url": site.base + "/missing.xml"}]}))
        subprocess.run(_cli(db, "sources", "import", str(listing)), check=True, capture_output=True, timeout=60)

        plain = subprocess.run(_cli(db, "collect"), capture_output=True, text=True, timeout=120)
        assert plain.returncode == 0, plain.stderr
        lines = plain.stdout.splitlines()
        assert sorted(lines[:2]) == sorted([
            f"slow-bulletins: ok, {PAGES} new, 0 known, 0 updated",
            next(line for line in lines if line.startswith("gone-bulletins: error, 0 new"))]), lines
        assert lines[2:] == [f"collected 2 sources: {PAGES} new articles, 1 failed"], lines
        assert "\x1b[" not in plain.stdout  # no terminal codes in a pipe

        quiet = subprocess.run(_cli(db, "collect", "-q"), capture_output=True, text=True, timeout=120)
        assert quiet.returncode == 0, quiet.stderr
        assert quiet.stdout.splitlines() == ["collected 2 sources: 0 new articles, 1 failed"], quiet.stdout
        assert "gone-bulletins: error" in quiet.stderr  # failures still said, on stderr

        verbose = subprocess.run(_cli(db, "-v", "collect", "--source", "slow-bulletins"), capture_output=True,
                                 text=True, timeout=120)
        assert verbose.returncode == 0, verbose.stderr
        assert f"fetched {site.base}/sitemap.xml (slow-bulletins, HTTP 200)" in verbose.stderr, verbose.stderr[-3000:]
        lines = verbose.stdout.splitlines()  # the sitemap is unchanged: nothing new, the same two lines
        assert len(lines) == 2 and lines[0].startswith("slow-bulletins: ok, 0 new,"), lines
        assert lines[1] == "collected 1 sources: 0 new articles, 0 failed", lines

        both = subprocess.run(_cli(db, "collect", "-q", "-v"), capture_output=True, text=True, timeout=60)
        assert both.returncode == 2 and "-q and -v" in both.stderr


def test_reporter_plain_lines_and_events() -> None:
    """The reporter on its own: a batch's `done` event prints the source's line once, however
    many times its outcome is heard; quiet sends failures to stderr only."""
    import io
    from types import SimpleNamespace

    from pipelines.progress import Reporter

    out, err = io.StringIO(), io.StringIO()
    r = Reporter(total=2, verbosity=1, out=out, err=err)
    r.event({"ev": "fetched", "source": "a", "url": "http://a.example/1", "status": 200})
    r.event({"ev": "stored", "source": "a", "n": 3})
    r.event({"ev": "done", "source": "a", "status": "ok", "new": 3, "known": 0, "updated": 0, "message": None})
    r.source_done(SimpleNamespace(source="a", status="ok", new=3, known=0, updated=0, message=None))
    r.source_done(SimpleNamespace(source="b", status="error", new=0, known=0, updated=0, message="HTTP 404"))
    assert out.getvalue().splitlines() == ["a: ok, 3 new, 0 known, 0 updated",
                                           "b: error, 0 new, 0 known, 0 updated (HTTP 404)"]
    assert (r.fetched, r.stored, r.done, r.errors) == (1, 3, 2, 1)
    assert err.getvalue() == ""

    out, err = io.StringIO(), io.StringIO()
    q = Reporter(total=1, verbosity=0, out=out, err=err)
    q.source_done(SimpleNamespace(source="b", status="error", new=0, known=0, updated=0, message="HTTP 404"))
    q.source_done(SimpleNamespace(source="c", status="ok", new=1, known=0, updated=0, message=None))
    assert out.getvalue() == "" and err.getvalue() == "b: error, 0 new, 0 known, 0 updated (HTTP 404)\n"


def test_emit_writes_lines_to_the_parents_pipe() -> None:
    """What a crawl process sends: one JSON line per event on the inherited descriptor."""
    code = ("from core.events import emit\n"
            "emit('fetched', source='s', url='http://x.example/', status=200)\n"
            "emit('done', source='s', status='ok', new=1, known=0, updated=0, message=None)\n")
    from core.events import read_events

    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "SCRUTINEER_PROGRESS_FD": str(write_fd)},
                            pass_fds=(write_fd,))
    os.close(write_fd)
    events: list[dict[str, Any]] = []
    read_events(read_fd, events.append)
    assert proc.wait(timeout=30) == 0
    assert [e["ev"] for e in events] == ["fetched", "done"]
    assert events[1]["new"] == 1


def test_after_an_interrupt_no_crawl_starts_and_nothing_is_written(tmp_path: Path) -> None:
    """Batches still queued when the first signal arrives start no crawl and write nothing (the
    sources stay due); the request is forgotten once the command's block ends."""
    from core.settings import Settings
    from pipelines import collect, interrupt, sources

    path = tmp_path / "db.sqlite"
    settings = Settings(db=f"sqlite:///{path}")
    for i in range(3):
        sources.add(settings, {"name": f"queued-{i}", "kind": "rss", "url": f"http://queued{i}.example/feed.xml"})
    with interrupt.handling():
        interrupt.request()
        results = collect.run(settings)
    assert [(r.source, r.status) for r in results] == [(f"queued-{i}", "interrupted") for i in range(3)]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM fetch_log").fetchone()[0] == 0
    assert not interrupt.requested()
