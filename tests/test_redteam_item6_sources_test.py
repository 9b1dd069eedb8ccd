"""Issue 17 item 6: `sources test NAME|URL` gives a verdict per item (date, headline, tags,
relevance, why it would be skipped), says when everything is already stored, exits 1 with one line
when the source cannot be fetched, has --json, and stores nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from faultserver import FaultServer, respond

from core.settings import Settings
from pipelines import collect, sources
from storage import articles as store
from storage.db import get_engine, read

ROOT = Path(__file__).resolve().parent.parent
WHEN = datetime.now(timezone.utc) - timedelta(days=2)
ITEMS = [
    ("ai-cameras", "Police force expands live facial recognition cameras",
     "The police force said its live facial recognition cameras, run by an AI algorithm, will cover the town "
     "centre; campaigners asked the police and crime commissioner for oversight of the technology."),
    ("predictive", "Constabulary trials predictive policing software",
     "The constabulary began a trial of predictive policing software that uses machine learning to direct "
     "police patrols, and officers will review the algorithm's decisions."),
    ("allotment", "Allotment society celebrates record marrow",
     "The allotment society weighed a record marrow at its summer show and served tea and cake to visitors."),
]


def _feed(base: str) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><guid isPermaLink='false'>{slug}</guid><link>{base}/story/{slug}</link>"
        f"<pubDate>{WHEN.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate><description>{text}</description></item>"
        for slug, title, text in ITEMS)
    return f"<?xml version='1.0'?><rss version='2.0'><channel><title>Desk</title>{items}</channel></rss>".encode()


@pytest.fixture
def desk() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        srv.route("/feed.xml", respond(_feed(f"http://127.0.0.1:{srv.port}")))
        for slug, title, text in ITEMS:
            page = f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>" + \
                   f"<p>{text}</p>" * 6 + "</article></body></html>"
            srv.route(f"/story/{slug}", respond(page.encode(), content_type="text/html; charset=utf-8"))
        yield srv


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrutineer.cli", "sources", "test", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env={**os.environ, **(env or {})})


def _stored(db: str) -> int:
    with read(get_engine(db)) as conn:
        return len(list(store.all_articles(conn)))


def test_verdict_table_and_json_store_nothing(desk: FaultServer, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "desk", "kind": "rss", "url": desk.url("/feed.xml")})
    proc = _cli("desk", "--db", sqlite_url)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"desk (rss, {desk.url('/feed.xml')}): ok")
    rows = {line.rsplit("  ", 1)[-1]: line for line in lines[2:-1]}
    assert set(rows) == {title for _, title, _ in ITEMS}
    assert "new, on topic" in rows[ITEMS[0][1]] and "facial-recognition" in rows[ITEMS[0][1]]
    assert "off topic" in rows[ITEMS[2][1]] and WHEN.date().isoformat() in rows[ITEMS[2][1]]
    assert lines[-1] == "3 items found: 3 would be stored (2 on topic), 0 already stored"
    assert _stored(sqlite_url) == 0
    as_json = json.loads(_cli("desk", "--json", "--db", sqlite_url).stdout)
    by_title = {v["title"]: v for v in as_json["items"]}
    on_topic = by_title[ITEMS[0][1]]
    assert on_topic["tags"] and on_topic["relevant"] is True and on_topic["relevance"] > 0.5
    assert on_topic["relevance_reason"] and on_topic["published_at"].startswith(WHEN.date().isoformat())
    assert by_title[ITEMS[2][1]]["relevant"] is False and by_title[ITEMS[2][1]]["tags"] == []
    assert as_json["status"] == "ok" and as_json["new"] == 3
    assert _stored(sqlite_url) == 0


def test_everything_already_stored_is_said_and_still_judged(desk: FaultServer, sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "desk", "kind": "rss", "url": desk.url("/feed.xml")})
    assert collect.run(settings)[0].new == 3
    proc = _cli(desk.url("/feed.xml"), "--db", sqlite_url)  # by URL: the registered source
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "3 items found, all already stored: nothing new would be stored"
    assert proc.stdout.count("already stored") == 4
    assert _stored(sqlite_url) == 3


def test_refused_by_network_policy_is_one_line_and_exit_1(desk: FaultServer, sqlite_url: str) -> None:
    proc = _cli(desk.url("/feed.xml"), "--db", sqlite_url, env={"SCRUTINEER_ALLOW_PRIVATE_NETWORKS": ""})
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "scrutineer: error: sources-test cannot be fetched: non-public address 127.0.0.1 refused "
        "(set SCRUTINEER_ALLOW_PRIVATE_NETWORKS to allow)"]
    assert desk.hits["/feed.xml"] == 0


@pytest.mark.parametrize("arg, message", [
    ("no-such-source", "no source named 'no-such-source'"),
    ("https://ed:Pw-2291@feeds.newsdesk.example/rss",
     "https://***@feeds.newsdesk.example/rss: a source URL never carries credentials (user:password@); remove them"),
    ("ftp://feeds.newsdesk.example/rss",
     "ftp://feeds.newsdesk.example/rss: only http:// and https:// URLs are collected, "
     "got 'ftp://feeds.newsdesk.example/rss'"),
])
def test_bad_targets_are_one_line(arg: str, message: str, sqlite_url: str) -> None:
    proc = _cli(arg, "--db", sqlite_url)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == f"scrutineer: error: {message}\n"
