"""Extraction on a second core (crawlers/offload.py): the same fields as inline extraction, a worker
that dies mid-page loses nothing (the next pass fetches what it dropped, and nothing is stored twice),
and a worker whose crawl process is killed exits by itself."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from faultserver import cli, collect, import_sources
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from bench.loadsite import item

PROJECT_DIR = Path(__file__).resolve().parent.parent  # the source checkout these run from
PAGES = 12
CRASH = "/a/5"


def _page(i: int) -> bytes:
    it = item(7, i, datetime(2026, 11, 16, tzinfo=timezone.utc))
    paras = "".join(f"<p>{p}</p>" for p in it.body)
    return (f"<!doctype html><html lang='en'><head><title>{it.title}</title>"
            f"<meta property='article:published_time' content='{it.published.isoformat()}'></head>"
            f"<body><nav><a href='/'>Home</a></nav><article><h1>{it.title}</h1>{paras}</article>"
            f"<footer>Copyright the test press</footer></body></html>").encode()


class Site:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.hits: Counter[str] = Counter()
        server.expect_request("").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.hits[request.path] += 1
        if request.path == "/robots.txt":
            return Response("User-agent: *\nAllow: /\n", content_type="text/plain")
        if request.path == "/sitemap.xml":
            locs = "".join(f"<url><loc>{self.server.url_for(f'/a/{i}')}</loc></url>" for i in range(PAGES))
            return Response(f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                            f"{locs}</urlset>", content_type="application/xml")
        if request.path.startswith("/a/"):
            return Response(_page(int(request.path.rsplit("/", 1)[1])), content_type="text/html; charset=utf-8")
        return Response("no", status=404)


def _stored(db: str) -> Counter[str]:
    proc = cli(db, "export", "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    return Counter(json.loads(line)["url"].split("/a/", 1)[1] for line in proc.stdout.splitlines() if line.strip())


def _collect_wire(db: str, tmp_path: Path, server: HTTPServer, workers: str) -> None:
    """One sitemap source over the site, collected with the worker-death fault armed on CRASH."""
    import_sources(db, tmp_path, [{"name": "wire", "kind": "sitemap", "url": server.url_for("/sitemap.xml")}])
    collect(db, env={"SCRUTINEER_TEST_FAULT": f"extract_worker_dies:{CRASH}", "SCRUTINEER_EXTRACT_WORKERS": workers})


def _run_script(code: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)}, **kw)  # type: ignore[call-overload]


def test_offloaded_extraction_gives_the_same_fields_as_inline() -> None:
    proc = _run_script("""
import asyncio, json, sys
from pathlib import Path
from crawlers import offload
from crawlers.extract import extract_article
assert offload.start(1)
saved = sorted(Path("tests/data/site/pages/news").glob("*.html"))
pages = [(f"https://news.example/{p.stem}", p.read_bytes()) for p in saved]
async def both():
    return await asyncio.gather(*(offload.extract(u, h, "text/html; charset=utf-8") for u, h in pages))
away = asyncio.run(both())
here = [extract_article(u, h, "text/html; charset=utf-8") for u, h in pages]
offload.stop()
print(json.dumps({"pages": len(pages), "same": away == here, "texts": sum(bool(r.text) for r in away)}))
""")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["pages"] >= 3 and out["texts"] >= 3 and out["same"], out


def test_a_worker_that_dies_mid_page_loses_nothing(httpserver: HTTPServer, sqlite_url: str, tmp_path: Path) -> None:
    site = Site(httpserver)
    _collect_wire(sqlite_url, tmp_path, httpserver, workers="1")
    first = _stored(sqlite_url)
    assert CRASH.rsplit("/", 1)[1] not in first  # it died on this page: nothing half-made was stored
    assert len(first) >= 1 and max(first.values()) == 1, first  # the rest went on (inline after the death)
    listing = {json.loads(line)["name"]: json.loads(line) for line in
               cli(sqlite_url, "sources", "list", "--format", "json").stdout.splitlines() if line.strip()}
    warning = listing["wire"]["last_warning_message"] or ""
    assert "extraction worker died" in warning and CRASH in warning, listing["wire"]

    fetched_once = {f"/a/{n}" for n in first}
    collect(sqlite_url)  # the next pass, worker healthy: what was dropped is fetched and stored once
    second = _stored(sqlite_url)
    assert sorted(second) == sorted(str(i) for i in range(PAGES)) and set(second.values()) == {1}, second
    assert all(site.hits[p] == 1 for p in fetched_once), site.hits  # stored pages were not fetched again


def test_a_worker_exits_when_its_crawl_process_is_killed() -> None:
    proc = subprocess.Popen([sys.executable, "-c", """
import sys, time
from crawlers import offload
offload.start(2)
print(" ".join(map(str, offload._pool._processes)), flush=True)
time.sleep(120)
"""], cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)})
    try:
        assert proc.stdout is not None
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        proc.send_signal(signal.SIGKILL)  # the crawl process alone: not its process group
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), workers
    finally:
        if proc.poll() is None:
            proc.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited (its parent is gone; init reaps it)


def test_zero_workers_extract_inline(httpserver: HTTPServer, sqlite_url: str, tmp_path: Path) -> None:
    """SCRUTINEER_EXTRACT_WORKERS=0: no worker, so the worker-only fault never fires and all is stored."""
    Site(httpserver)
    _collect_wire(sqlite_url, tmp_path, httpserver, workers="0")
    assert sorted(_stored(sqlite_url)) == sorted(str(i) for i in range(PAGES))
