"""RELIABILITY T16: XML bombs and external entities in the feed and sitemap paths (OCDS: its own test).

The fixtures are tests/data/hostile/bombs/*.xml, each saying what it proves. Parsing is measured
in a fresh interpreter (peak RSS is a high-water mark, so it must start low); collection runs the
real crawl subprocesses against a loopback server that records every path it is asked for.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from pipelines import collect, sources
from storage import sources as source_store
from storage.db import get_engine, read

BOMBS = Path(__file__).parent / "data" / "hostile" / "bombs"
CANARY_TEXT = "CANARY-xxe-4c1d9e"
BIG = "b" * 100_000  # one 100 KB entity ...
USES = "&big;" * 10_000  # ... used 10k times: 1 GB if expanded


def fill(template: str, base: str, xxe: str, canary_uri: str) -> bytes:
    return (template.replace("{BIG}", BIG).replace("{USES}", USES).replace("{BASE}", base)
            .replace("{XXE}", xxe).replace("{CANARY}", canary_uri)).encode("utf-8")


def _hostname() -> str:
    try:
        return Path("/etc/hostname").read_text().strip()
    except OSError:
        return ""


def _leaks(text: str) -> list[str]:
    """Anything that could only be there if an entity had been expanded or a file read."""
    found = [marker for marker in (CANARY_TEXT, "hahahahaha", "bbbbbbbbbb") if marker in text]
    host = _hostname()
    if len(host) >= 6 and host in text:  # a short hostname ("vm") could occur by chance
        found.append(host)
    return found


_MEASURE = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from crawlers.feedsafe import parse
from scrapy.utils.sitemap import Sitemap
from tests.test_t16_xml_bombs import fill
out = {}
for path in sorted(Path(sys.argv[2]).glob("*.xml")):
    body = fill(path.read_text(encoding="utf-8"), "http://127.0.0.1:9", "http://127.0.0.1:9", sys.argv[3])
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if path.name.startswith("feed"):
        d = parse(body, {"content-type": "application/rss+xml"})
        fields = [str(e.get(k, "")) for e in d.entries for k in ("title", "summary")]
    else:
        fields = [str(e) for e in Sitemap(body)]
    out[path.name] = {"seconds": time.perf_counter() - t0, "rss_rise_kb": resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss - rss0, "longest": max(map(len, fields), default=0),
        "text": " ".join(fields)[:200000]}
print(json.dumps(out))
"""


@pytest.mark.timeout(60)
def test_t16_parsing_is_fast_small_and_expands_nothing(tmp_path: Path) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text(CANARY_TEXT)
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(root), str(BOMBS), canary.as_uri()],
                          capture_output=True, text=True, timeout=50, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results: dict[str, Any] = json.loads(proc.stdout)
    assert len(results) == 8
    total_rise_mb = sum(r["rss_rise_kb"] for r in results.values()) / 1024
    assert total_rise_mb < 50, results  # every bomb together, not each: < 50 MB
    for name, r in results.items():
        assert r["seconds"] < 1.0, (name, r["seconds"])
        assert r["longest"] < 100_000, (name, r["longest"])  # 51 KB of literal "&big;" at most
        assert not _leaks(r["text"]), (name, _leaks(r["text"]))


@pytest.mark.timeout(90)
def test_t16_collect_bombs_no_xxe_hits_no_file_contents(tmp_path: Path, sqlite_url: str,
                                                        httpserver: HTTPServer) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text(CANARY_TEXT)
    paths: list[str] = []
    base = httpserver.url_for("").rstrip("/")
    bodies = {f"/{p.name}": fill(p.read_text(encoding="utf-8"), base, base, canary.as_uri())
              for p in BOMBS.glob("*.xml")}

    def handler(request: Request) -> Response:
        paths.append(request.full_path)
        if request.path in bodies:
            return Response(bodies[request.path], content_type="application/xml")
        if request.path.startswith("/page-"):
            text = "<p>The harbour board met on Tuesday to agree the winter dredging plan for the channel.</p>" * 4
            return Response(f"<html><head><title>Harbour board {request.path}</title></head><body><article>"
                            f"<h1>Harbour board {request.path}</h1>{text}</article></body></html>",
                            content_type="text/html")
        return Response("", status=404)

    httpserver.expect_request(re.compile("^/.*$")).respond_with_handler(handler)
    settings = Settings(db=sqlite_url)
    for p in sorted(BOMBS.glob("*.xml")):
        kind = "rss" if p.name.startswith("feed") else "sitemap"
        sources.add(settings, {"name": p.stem.replace("_", "-"), "kind": kind, "url": f"{base}/{p.name}",
                               "follow_links": False})
    results = {r.source: r for r in collect.run(settings)}
    assert len(results) == 8

    xxe_hits = [p for p in paths if p.split("?")[0] in ("/x", "/x.dtd")]
    assert xxe_hits == []  # no external entity or DTD was ever fetched
    assert not [p for p in paths if _leaks(p) or len(p) > 300], paths  # nor put into a request

    export = subprocess.run([sys.executable, "-m", "scrutineer.cli", "export", "--format", "jsonl", "--db", sqlite_url],
                            capture_output=True, text=True, check=True).stdout
    assert not _leaks(export), _leaks(export)
    records = [json.loads(line) for line in export.splitlines()]
    stored = {r["source"] for r in records}
    for name, result in results.items():
        # Entries stored without the entity (bozo: a warning), or the document refused: never a crash.
        assert result.status in ("warning", "error", "ok"), (name, result)
        if result.status == "error":
            assert result.message and "Traceback" not in result.message, (name, result.message)
    for name in ("feed-billion-laughs", "feed-quadratic", "feed-xxe", "feed-remote-dtd"):
        assert name in stored and results[name].status == "warning", (name, results[name])
        assert "not well-formed" in (results[name].message or "")
    titles = {r["title"] for r in records}
    assert "Harvest festival moves indoors &fromdtd;" in titles  # the reference stays literal text
    # Sitemaps: the plain <loc> entries are still crawled; entity-bearing ones are read unexpanded.
    assert {"sitemap-billion-laughs", "sitemap-xxe", "sitemap-remote-dtd"} <= stored
    with read(get_engine(sqlite_url)) as conn:
        quad = source_store.fetch_history(conn, "sitemap-quadratic", limit=1)[0]
    # The DOCTYPE is stripped before lxml sees it, so the sitemap is read without the entity.
    assert quad["status"] == "ok", quad["message"]
    assert "sitemap-quadratic" in stored
    assert all(len(r["url"]) < 300 for r in records)
