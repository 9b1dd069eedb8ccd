"""RELIABILITY T15: malformed feeds (feedparser's bozo rules) against a loopback server.

Each source already holds one good item from an earlier pass; its feed is now one of the fixtures in
tests/data/hostile/malformed/ (cases.yaml says what each proves). Bozo with entries: the entries
are stored and health warns "not well-formed". Nothing usable: a source error, nothing stored, the
earlier item untouched. No crawl ever prints a traceback.
"""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from pipelines import collect, sources
from storage import sources as source_store
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, read, write

HOSTILE = Path(__file__).parent / "data" / "hostile" / "malformed"
CASES: dict[str, dict[str, Any]] = yaml.safe_load((HOSTILE / "cases.yaml").read_text(encoding="utf-8"))


def _earlier(db: str, name: str, feed_url: str) -> None:
    """The item a previous, healthy pass stored (stored directly: only the broken pass is under test)."""
    with write(get_engine(db)) as conn:
        store_articles(conn, [Article(url=feed_url, canonical_url=f"{feed_url}#earlier", source=name,
                                      title=f"Earlier report from {name}", summary="Filed before the feed broke.",
                                      extraction="feed-summary", published_at=datetime.now(timezone.utc))])


def _name(filename: str) -> str:
    return "bad-" + filename.split(".")[0].replace("_", "-")


def _crawl_all(settings: Settings, names: list[str]) -> dict[str, tuple[int | None, str]]:
    """Each source's crawl subprocess, a few at a time, with its exit code and stderr."""
    engine = get_engine(settings.db)
    with read(engine) as conn:
        rows = {n: source_store.get_source(conn, n) for n in names}
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(names, pool.map(lambda n: collect.run_crawl(settings, rows[n]), names), strict=True))


def _latest(settings: Settings, name: str) -> dict[str, Any]:
    with read(get_engine(settings.db)) as conn:
        return source_store.fetch_history(conn, name, limit=1)[0]


def _titles(db: str) -> dict[str, set[str]]:
    out = subprocess.run([sys.executable, "-m", "scrutineer.cli", "export", "--format", "jsonl", "--db", db],
                         capture_output=True, text=True, check=True).stdout
    by_source: dict[str, set[str]] = {}
    for line in out.splitlines():
        rec = json.loads(line)
        by_source.setdefault(rec["source"], set()).add(rec["title"])
    return by_source


@pytest.mark.timeout(120)
def test_t15_malformed_feeds(httpserver: HTTPServer, sqlite_url: str) -> None:
    serving: dict[str, tuple[bytes, str]] = {}

    def handler(request: Request) -> Response:
        body, ctype = serving[request.path]
        return Response(body, status=200, content_type=ctype)

    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    settings = Settings(db=sqlite_url)
    names = []
    for filename in CASES:
        name = _name(filename)
        path = f"/{name}.xml"
        serving[path] = ((HOSTILE / filename).read_bytes(), CASES[filename]["content_type"])
        httpserver.expect_request(path).respond_with_handler(handler)
        sources.add(settings, {"name": name, "kind": "rss", "url": httpserver.url_for(path), "follow_links": False})
        _earlier(sqlite_url, name, httpserver.url_for(path))
        names.append(name)
    second = _crawl_all(settings, names)
    after = _titles(sqlite_url)
    for filename, case in CASES.items():
        name = _name(filename)
        code, stderr = second[name]
        assert code == 0 and "Traceback" not in stderr, (filename, stderr)
        latest = _latest(settings, name)
        earlier = {f"Earlier report from {name}"}
        if case["expect"] == "warning":
            assert latest["status"] == "warning", (filename, latest)
            assert "not well-formed" in (latest["message"] or ""), (filename, latest["message"])
            assert after[name] == earlier | set(case["stored"]), (filename, after[name])
            assert latest["items_new"] == len(case["stored"])
        else:
            assert latest["status"] == "error", (filename, latest)
            assert latest["message"], filename
            assert after[name] == earlier, (filename, after[name])  # nothing stored, nothing lost
            assert latest["items_new"] == 0

    # The CLI reports the same and keeps the contract: exit 0, no traceback, errors in `sources list`.
    again = [_name("truncated.xml"), _name("html_as_feed.html")]
    proc = subprocess.run([sys.executable, "-m", "scrutineer.cli", "collect", "--db", sqlite_url,
                           *(arg for n in again for arg in ("--source", n))],
                          capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "scrutineer.cli", "sources", "list", "--format", "json", "--db", sqlite_url],
        capture_output=True, text=True, check=True).stdout
    health = {s["name"]: s for s in map(json.loads, listing.splitlines())}
    for filename, case in CASES.items():
        row = health[_name(filename)]
        if case["expect"] == "error":
            assert row["last_error"] is not None and row["last_error_message"], row
        else:
            assert row["last_error"] is None and "not well-formed" in (row["last_warning_message"] or ""), row
    assert _titles(sqlite_url) == after  # a third pass over the same bytes changes nothing
