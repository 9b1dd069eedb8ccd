"""Acceptance: a news site this project has never seen, end to end through the real CLI.

Proves the criterion "against a news site this project has never seen, served on loopback and
described in a sources YAML, `scrutineer sources import`, `collect`, `process` and
`export --format jsonl` work as the contract says: every collectable article exported once,
robots-disallowed pages never fetched".

The site is `tests/data/unseen_site/` ("The Harbour Gazette", written for this test alone, with a
layout unlike the demo newsroom's). It is served by a small static server in this process; every
command runs as `python -m scrutineer.cli` in a subprocess, exactly as a user would run it. See
`tests/data/unseen_site/README.md` and `expected.yaml` for what the fixture holds.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

SITE = Path(__file__).parent / "data" / "unseen_site"
EXPECTED: dict[str, Any] = yaml.safe_load((SITE / "expected.yaml").read_text(encoding="utf-8"))
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
CONTRACT_KEYS = {"id", "url", "canonical_url", "source", "title", "published_at", "language", "text", "tags",
                 "relevance", "relevant", "sentiment", "story_id", "duplicate_of"}
COMMAND_TIMEOUT_S = 180


class StaticSite:
    """`SITE` on 127.0.0.1 with `{BASE}` filled in, counting requests per path (query ignored)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self._serve(with_body=True)

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
                self._serve(with_body=False)

            def _serve(self, with_body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                site.record(path)
                body = site.body_for(path)
                if body is None:
                    self.send_response(404)
                    payload = b"not found\n"
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                else:
                    self.send_response(200)
                    payload = body
                    self.send_header("Content-Type", CONTENT_TYPES[Path(path).suffix])
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if with_body:
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature is the base's
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="unseen-site", daemon=True)

    def __enter__(self) -> StaticSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def record(self, path: str) -> None:
        with self._lock:
            self._hits[path] += 1

    def hits(self) -> dict[str, int]:
        with self._lock:
            return dict(self._hits)

    def body_for(self, path: str) -> bytes | None:
        """The file's bytes with `{BASE}` substituted; None when it is not a page of the site."""
        if Path(path).suffix not in CONTENT_TYPES:
            return None
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        return target.read_text(encoding="utf-8").replace("{BASE}", self.base).encode("utf-8")


@pytest.fixture
def site() -> Iterator[StaticSite]:
    with StaticSite(SITE) as s:
        yield s


def _cli(args: list[str], cwd: Path, db: str) -> str:
    """Run `scrutineer ARGS --db DB` as a user would; stdout, after asserting exit status 0."""
    env = dict(os.environ)
    env["SCRUTINEER_ALLOW_PRIVATE_NETWORKS"] = "127.0.0.1/32"
    env["SCRUTINEER_CRAWL_TIMEOUT_S"] = "120"
    env.pop("SCRUTINEER_DB", None)
    proc = subprocess.run([sys.executable, "-m", "scrutineer.cli", *args, "--db", db], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    assert proc.returncode == 0, (f"scrutineer {' '.join(args)} exited {proc.returncode}\n"
                                  f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc.stdout


def _export(cwd: Path, db: str) -> list[dict[str, Any]]:
    out = _cli(["export", "--format", "jsonl"], cwd, db)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _news_hits(hits: dict[str, int]) -> dict[str, int]:
    return {p: n for p, n in hits.items() if p.startswith("/news/")}


def test_unseen_site_collected_once_robots_obeyed_exported_per_contract(site: StaticSite, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.sqlite'}"
    name = EXPECTED["source"]
    sources_yaml = tmp_path / "sources.yaml"
    sources_yaml.write_text(yaml.safe_dump({"sources": [
        {"name": name, "kind": "rss", "url": f"{site.base}{EXPECTED['feed']}", "schedule": "@hourly",
         "tags": ["uk-regional"]},
    ]}), encoding="utf-8")
    articles: dict[str, dict[str, Any]] = {a["path"]: a for a in EXPECTED["articles"]}
    disallowed: dict[str, Any] = EXPECTED["disallowed"]

    _cli(["sources", "import", str(sources_yaml)], tmp_path, db)
    _cli(["collect"], tmp_path, db)
    _cli(["process"], tmp_path, db)
    records = _export(tmp_path, db)

    hits_after_first = site.hits()
    assert hits_after_first.get(EXPECTED["feed"], 0) >= 1, hits_after_first
    assert hits_after_first.get("/robots.txt", 0) >= 1, "robots.txt was never consulted"
    assert hits_after_first.get(disallowed["path"], 0) == 0, "a robots-disallowed page was fetched"
    for path in articles:
        assert hits_after_first.get(path, 0) >= 1, f"{path} was never fetched: {hits_after_first}"

    # Every collectable article exactly once (the ?utm_ variant collapsed), nothing else.
    by_path: dict[str, dict[str, Any]] = {}
    counts: Counter[str] = Counter()
    for rec in records:
        path = urlsplit(rec["canonical_url"]).path
        counts[path] += 1
        by_path[path] = rec
    twice = {p: n for p, n in counts.items() if n > 1}
    assert not twice, f"exported more than once: {twice}"
    missing = set(articles) - set(by_path)
    assert not missing, f"collectable articles not exported: {sorted(missing)}"
    unexpected = set(by_path) - set(articles) - {disallowed["path"]}
    assert not unexpected, f"exported records the site does not have: {sorted(unexpected)}"

    for rec in records:
        assert set(rec) == CONTRACT_KEYS, f"{rec.get('canonical_url')}: keys {sorted(set(rec) ^ CONTRACT_KEYS)} differ"
        assert isinstance(rec["id"], str) and rec["id"]
        assert rec["source"] == name
        assert rec["url"].startswith(site.base + "/")
        assert isinstance(rec["tags"], list) and all(isinstance(t, str) for t in rec["tags"])
        assert isinstance(rec["relevance"], float | int) and 0.0 <= rec["relevance"] <= 1.0
        assert isinstance(rec["relevant"], bool)
        assert set(rec["sentiment"]) == {"polarity", "label"}, rec["sentiment"]
        assert rec["sentiment"]["label"] in ("negative", "neutral", "positive")
        assert -1.0 <= rec["sentiment"]["polarity"] <= 1.0
        assert isinstance(rec["story_id"], str) and rec["story_id"], "process left a record without a story"
        assert rec["published_at"].endswith("+00:00"), rec["published_at"]

    for path, want in articles.items():
        rec = by_path[path]
        assert rec["canonical_url"] == site.base + path
        assert rec["title"] == want["title"], path
        assert rec["published_at"] == want["published_at"], path
        assert rec["language"] == "en", path
        assert rec["text"].strip(), f"{path}: empty text"
        assert want["lede"] in rec["text"], f"{path}: the article body is not in the text"
        for furniture in EXPECTED["boilerplate"]:
            assert furniture not in rec["text"], f"{path}: site furniture {furniture!r} in the text"
        assert rec["duplicate_of"] is None, f"{path}: five different reports, none is a duplicate"
        assert rec["relevant"] is want["relevant"], (
            f"{path}: relevant={rec['relevant']} (relevance {rec['relevance']}), expected {want['relevant']}")

    # The disallowed page may be there from the feed's own summary, never from its body.
    if disallowed["path"] in by_path:
        rec = by_path[disallowed["path"]]
        assert disallowed["body_only"] not in rec["text"], "text of a robots-disallowed page was stored"
        assert rec["published_at"] == disallowed["published_at"]

    # A second pass right after: nothing new stored, no article page requested again.
    _cli(["collect"], tmp_path, db)
    hits_after_second = site.hits()
    assert hits_after_second.get(EXPECTED["feed"], 0) > hits_after_first[EXPECTED["feed"]], "no second pass ran"
    assert _news_hits(hits_after_second) == _news_hits(hits_after_first), "an article page was fetched again"
    assert hits_after_second.get(disallowed["path"], 0) == 0, "a robots-disallowed page was fetched"
    again = _export(tmp_path, db)
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in records), "the second collect stored something"
