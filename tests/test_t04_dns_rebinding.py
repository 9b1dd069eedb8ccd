"""RELIABILITY T04: DNS rebinding. A name that answers with an allowed address first and a private
one next (or both in one answer) never gets a request into the private address.

The resolver is injected (SCRUTINEER_TEST_RESOLVER=scripted arms tests/faults' rebinding fake in the
crawl subprocess, answering per SCRUTINEER_T04_SCRIPT in place of crawlers.guard.system_lookup); 127.0.0.2 is the
"public" stand-in (allowed by SCRUTINEER_ALLOW_PRIVATE_NETWORKS=127.0.0.2/32) and 127.0.0.1 the
private target. Both servers listen on the same port, so a connection to the wrong address would
land on the counting server on 127.0.0.1.
"""
from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from core.settings import Settings
from pipelines import collect, export, sources

pytestmark = pytest.mark.timeout(90)

FEED = ("<?xml version='1.0'?><rss version='2.0'><channel><title>R</title><item><guid isPermaLink='false'>r1</guid>"
        "<title>Rebinding report from {where}</title><description>Police and AI.</description></item>"
        "</channel></rss>")


def export_records(settings: Settings) -> list[dict[str, Any]]:
    return list(export.records(settings))


def _port_free_on_both() -> int:
    """A port that is free on 127.0.0.2 and 127.0.0.1 alike (bounded tries)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.2", 0))
            port = int(a.getsockname()[1])
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no common free port on 127.0.0.1/127.0.0.2")


@pytest.fixture
def twin_servers() -> Iterator[tuple[int, HTTPServer, HTTPServer]]:
    port = _port_free_on_both()
    public = HTTPServer(host="127.0.0.2", port=port)
    private = HTTPServer(host="127.0.0.1", port=port)
    for srv, where in ((public, "public"), (private, "private")):
        srv.start()
        srv.expect_request("/robots.txt").respond_with_data("", status=404)
        srv.expect_request("/feed.xml").respond_with_data(FEED.format(where=where),
                                                          content_type="application/rss+xml")
    yield port, public, private
    for srv in (public, private):
        srv.clear()
        srv.stop()


def _setup(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
           script: dict[str, list[object]]) -> Settings:
    monkeypatch.setenv("SCRUTINEER_TEST_RESOLVER", "scripted")
    monkeypatch.setenv("SCRUTINEER_T04_SCRIPT", json.dumps(script))
    monkeypatch.setenv("SCRUTINEER_ALLOW_PRIVATE_NETWORKS", "127.0.0.2/32")
    monkeypatch.setenv("SCRUTINEER_DOWNLOAD_TIMEOUT_S", "5")
    return Settings(db=sqlite_url)


def test_name_rebinding_to_private_on_second_lookup_refused(
        twin_servers: tuple[int, HTTPServer, HTTPServer], sqlite_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    port, public, private = twin_servers
    # 1st lookup (robots.txt) passes validation; the 2nd (the feed) rebinds to loopback.
    settings = _setup(sqlite_url, monkeypatch, {"rebind.test": [["127.0.0.2"], ["127.0.0.1"]]})
    sources.add(settings, {"name": "rebinder", "kind": "rss", "url": f"http://rebind.test:{port}/feed.xml"})
    result = collect.run(settings)[0]
    assert private.log == [], private.log
    assert [req.path for req, _ in public.log] == ["/robots.txt"]
    assert result.status == "error", result
    assert "rebind.test resolves to a non-public address 127.0.0.1" in (result.message or ""), result.message
    assert export_records(settings) == []


def test_one_answer_with_public_and_private_refused(
        twin_servers: tuple[int, HTTPServer, HTTPServer], sqlite_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    port, public, private = twin_servers
    settings = _setup(sqlite_url, monkeypatch, {"both.test": [["127.0.0.2", "127.0.0.1"]]})
    sources.add(settings, {"name": "both", "kind": "rss", "url": f"http://both.test:{port}/feed.xml"})
    result = collect.run(settings)[0]
    assert private.log == [] and public.log == []
    assert result.status == "error" and "non-public address 127.0.0.1" in (result.message or ""), result
    assert export_records(settings) == []


def test_name_that_stays_public_is_collected(
        twin_servers: tuple[int, HTTPServer, HTTPServer], sqlite_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the same setup with an honest name works, so the refusals above are the policy."""
    port, public, private = twin_servers
    settings = _setup(sqlite_url, monkeypatch, {"honest.test": [["127.0.0.2"]]})
    sources.add(settings, {"name": "honest", "kind": "rss", "url": f"http://honest.test:{port}/feed.xml"})
    result = collect.run(settings)[0]
    assert result.status == "ok" and result.new == 1, result
    assert private.log == []
    assert [r["title"] for r in export_records(settings)] == ["Rebinding report from public"]
