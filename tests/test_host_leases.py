"""One crawl process per host at a time, across processes (storage/leases.py): two sources on one
host collected by two processes at once (as two Airflow tasks would) never crawl it together; a
host leased elsewhere for longer than the wait defers the source; dead holders free their hosts."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from faultserver import cli, import_sources

from core.settings import Settings
from storage import leases
from storage.db import get_engine, read, write
from storage.schema import host_leases

PAGES = 6
DELAY = 0.3


def test_lease_taken_refused_released_expired_and_freed_by_a_dead_holder(db_url: str) -> None:
    from pipelines import sources

    sources.listing(Settings(db=db_url))  # creates the schema
    engine = get_engine(db_url)
    me, other = leases.holder_id(), "elsewhere.invalid:4242:1.00"
    with write(engine) as conn:
        assert leases.try_acquire(conn, "news.example", other, ttl_s=60) is None
        assert leases.try_acquire(conn, "news.example", me, ttl_s=60) == other  # live, unexpired: refused
        assert leases.try_acquire(conn, "wire.example", me, ttl_s=60) is None  # another host is free
    leases.release(engine, ["news.example"], me)  # not mine: nothing happens
    with write(engine) as conn:
        assert leases.try_acquire(conn, "news.example", me, ttl_s=60) == other
        later = datetime.now(timezone.utc) + timedelta(seconds=61)
        assert leases.try_acquire(conn, "news.example", me, ttl_s=60, now=later) is None  # expired: taken
    leases.release(engine, ["news.example", "wire.example"], me)
    with read(engine) as conn:
        assert conn.execute(host_leases.select()).all() == []

    dead = subprocess.run([sys.executable, "-c", "from storage.leases import holder_id; print(holder_id())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with write(engine) as conn:
        assert leases.try_acquire(conn, "news.example", dead, ttl_s=3600) is None
        assert leases.try_acquire(conn, "news.example", me, ttl_s=60) is None  # its holder has exited


class _Host:
    """A slow threaded host with two feeds of PAGES pages each; records every request's span."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, float, float]] = []
        self.lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                start = time.monotonic()
                feed = self.path.strip("/").split("/")[0].split(".")[0]
                if self.path == "/robots.txt":
                    body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
                elif self.path.endswith(".xml"):
                    time.sleep(DELAY)
                    items = "".join(f"<item><title>{feed} story {i} about facial recognition vans</title>"
                                    f"<link>{host.base}/{feed}/{i}</link><description>Summary {i}.</description>"
                                    "<pubDate>Fri, 20 Nov 2026 09:30:00 GMT</pubDate></item>" for i in range(PAGES))
                    body = (f"<?xml version='1.0'?><rss version='2.0'><channel><title>{feed}</title>"
                            f"<link>{host.base}/</link><description>d</description>{items}</channel></rss>").encode()
                    ctype = "application/rss+xml"
                else:
                    time.sleep(DELAY)
                    para = ("<p>Officers parked the live facial recognition van outside the station on "
                            f"Saturday, and {feed} readers asked who had approved it and for how long.</p>") * 6
                    body = (f"<html><head><title>{self.path}</title></head><body><article><h1>{self.path}</h1>"
                            f"{para}</article></body></html>").encode()
                    ctype = "text/html; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if self.path != "/robots.txt":
                    with host.lock:
                        host.spans.append((feed, start, time.monotonic()))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _listing(db: str) -> dict[str, dict[str, Any]]:
    proc = cli(db, "sources", "list", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return {s["name"]: s for s in (json.loads(x) for x in proc.stdout.splitlines() if x.strip())}


def _exported(db: str) -> list[dict[str, Any]]:
    proc = cli(db, "export", "--format", "jsonl")
    return [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]


def test_two_processes_never_crawl_one_host_at_once(sqlite_url: str, tmp_path: Path) -> None:
    host = _Host()
    try:
        import_sources(sqlite_url, tmp_path, [{"name": f, "kind": "rss", "url": f"{host.base}/{f}.xml"}
                                              for f in ("alpha", "beta")])
        procs = [subprocess.Popen([sys.executable, "-m", "scrutineer", "collect", "--source", f, "--db", sqlite_url],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for f in ("alpha", "beta")]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-2000:]
    finally:
        host.close()
    spans = {f: [(a, b) for g, a, b in host.spans if g == f] for f in ("alpha", "beta")}
    assert all(len(s) == PAGES + 1 for s in spans.values()), spans  # each feed and all its pages
    first, second = sorted(spans.values(), key=lambda s: min(a for a, _ in s))
    assert max(b for _, b in first) <= min(a for a, _ in second), "the two crawls overlapped on one host"
    assert sorted(r["source"] for r in _exported(sqlite_url)) == ["alpha"] * PAGES + ["beta"] * PAGES


def test_a_host_leased_elsewhere_defers_the_source(sqlite_url: str, tmp_path: Path) -> None:
    host = _Host()
    try:
        import_sources(sqlite_url, tmp_path, [{"name": "alpha", "kind": "rss", "url": f"{host.base}/alpha.xml"}])
        with write(get_engine(sqlite_url)) as conn:  # a live crawl on another machine holds the host
            site = f"127.0.0.1:{host.server.server_address[1]}"
            assert leases.try_acquire(conn, site, "elsewhere.invalid:4242:1.00", ttl_s=600) is None
        proc = cli(sqlite_url, "collect", "--source", "alpha", env={"SCRUTINEER_CRAWL_TIMEOUT_S": "8"})
        assert proc.returncode == 0, proc.stderr
    finally:
        host.close()
    assert host.spans == []  # not one request while another process had the host
    alpha = _listing(sqlite_url)["alpha"]
    assert "deferred" in (alpha["last_warning_message"] or "") and "elsewhere.invalid" in alpha["last_warning_message"]
    assert alpha["next_poll_at"] is None or alpha["next_poll_at"] <= datetime.now(timezone.utc).isoformat()  # still due
