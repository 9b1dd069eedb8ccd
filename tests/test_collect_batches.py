"""A pass crawls each host's sources in one process: robots.txt once, rules kept by every request.

Also the regression for a fail-open in Scrapy's robots middleware under the asyncio reactor: every
request that arrives while robots.txt is still downloading awaits one Deferred, and only the first
waiter got the rules (the others got None, "allow all"). A slow robots.txt makes that window wide.
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import export_records
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from core.settings import Settings
from pipelines import collect, sources

pytestmark = pytest.mark.timeout(180)


def _site(httpserver: HTTPServer, hits: Counter[str], robots_delay: float) -> None:
    def handler(request: Request) -> Response:
        hits[request.path] += 1
        if request.path == "/robots.txt":
            time.sleep(robots_delay)
            return Response("User-agent: *\nDisallow: /news/\n", content_type="text/plain")
        if request.path.startswith("/feed-"):
            n = int(request.path.split("-")[1].split(".")[0])
            items = "".join(f"<item><title>{kind} item {n}-{k}</title><link>{httpserver.url_for(f'/{kind}/{n}-{k}')}"
                            f"</link><description>Summary {n}-{k} of a {kind} story.</description></item>"
                            for k in range(6) for kind in ("news", "ok"))
            return Response(f'<?xml version="1.0"?><rss version="2.0"><channel><title>F{n}</title>{items}'
                            "</channel></rss>", content_type="application/rss+xml")
        body = " ".join(f"Paragraph sentence {i} about {request.path} and the council budget." for i in range(30))
        return Response(f"<html><head><title>Page {request.path}</title></head><body><article><h1>Page "
                        f"{request.path}</h1><p>{body}</p><p>{body}</p></article></body></html>",
                        content_type="text/html; charset=utf-8")

    httpserver.expect_request("").respond_with_handler(handler)


def _import(settings: Settings, tmp_path: Path, httpserver: HTTPServer, feeds: int) -> list[str]:
    names = [f"feed-{n}" for n in range(feeds)]
    listing = tmp_path / "sources.yaml"
    listing.write_text(yaml.safe_dump({"sources": [
        {"name": name, "kind": "rss", "url": httpserver.url_for(f"/{name}.xml")} for name in names]}))
    sources.import_file(settings, listing)
    return names


def test_one_host_one_process_robots_fetched_once_and_obeyed_by_every_waiter(
        httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRUTINEER_ALLOW_PRIVATE_NETWORKS", "1")
    hits: Counter[str] = Counter()
    _site(httpserver, hits, robots_delay=1.0)
    settings = Settings(db=f"sqlite:///{tmp_path / 'db.sqlite'}")
    names = _import(settings, tmp_path, httpserver, feeds=5)
    results = collect.run(settings)
    assert [r.source for r in results] == names
    assert all(r.status != "error" for r in results), [(r.source, r.message) for r in results]
    assert hits["/robots.txt"] == 1  # five sources, one host, one process
    assert not [p for p in hits if p.startswith("/news/")], "robots-disallowed pages were fetched"
    recs = export_records(settings)
    assert len(recs) == 5 * 12  # disallowed entries still stored from their feed summary
    full = [r for r in recs if "/ok/" in r["url"]]
    assert len(full) == 30 and all(r["text"] for r in full)


def test_a_batch_that_dies_has_its_sources_crawled_one_by_one(
        httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRUTINEER_ALLOW_PRIVATE_NETWORKS", "1")
    hits: Counter[str] = Counter()
    _site(httpserver, hits, robots_delay=0)
    settings = Settings(db=f"sqlite:///{tmp_path / 'db.sqlite'}")
    names = _import(settings, tmp_path, httpserver, feeds=3)
    calls: list[list[str]] = []

    def dying_batch(settings: Settings, batch: list[str], hosts: list[str] | None = None,
                    progress: object = None) -> tuple[int | None, str]:
        calls.append(batch)
        return -9, ""  # as if the OOM killer took the whole batch before any spider reported

    monkeypatch.setattr(collect, "run_batch_crawl", dying_batch)
    results = collect.run(settings)
    assert calls == [names]
    assert all(r.status in ("ok", "warning") for r in results), [(r.source, r.message) for r in results]
    assert len(export_records(settings)) == 3 * 12
    assert {r["source"] for r in export_records(settings)} == set(names)


def test_a_host_is_never_split_and_small_hosts_share_a_batch() -> None:
    srcs: list[dict[str, Any]] = [{"name": f"a{i}", "url": f"http://a.example/{i}"} for i in range(5)]
    srcs += [{"name": "a-port", "url": "http://A.example:8080/x"}]  # same host: Scrapy's slot ignores ports
    srcs += [{"name": f"h{i}", "url": f"https://host{i}.example/feed"} for i in range(6)]
    batches = collect.host_batches(srcs, limit=4)
    assert {s["name"] for b in batches for s in b} == {s["name"] for s in srcs}
    hosts_in = [{s["url"].split("/")[2].split(":")[0].lower() for s in b} for b in batches]
    assert any(b == {"a.example"} for b in hosts_in) and sum("a.example" in b for b in hosts_in) == 1
    a_batch = next(b for b in batches if b[0]["url"].startswith("http://a."))
    assert len(a_batch) == 6  # larger than the limit, but a host is one politeness unit
    assert sorted(len(b) for b in batches if b is not a_batch) == [2, 4]  # six one-source hosts, packed


def test_a_hosts_allowance_is_shared_among_its_spiders() -> None:
    from crawlers.runner import MAX_RUNNING, lanes, waves

    plan = lanes(["a"] + ["b"] * 2 + ["c"] * 9, per_host_limit=4)
    assert plan == {"a": (1, 4), "b": (2, 2), "c": (4, 1)}
    assert all(k * share <= 4 for k, share in plan.values())  # never more than the limit in flight
    assert waves(["c"] * 9, 4) == 3 and waves([f"h{i}" for i in range(2 * MAX_RUNNING)], 4) == 2
