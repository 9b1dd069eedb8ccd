"""RELIABILITY T13: a resolver that hangs, NXDOMAIN, and an answer with no addresses.

No real DNS: the crawl subprocesses resolve through the `hosts` fake of tests/faults, armed with
SCRUTINEER_TEST_RESOLVER=hosts and driven by SCRUTINEER_TEST_HOSTS; only `localhost` reaches the system
resolver. The hanging lookup sleeps 60 s against a 2 s DNS_TIMEOUT: the source must fail within
the timeout (per attempt), and the stuck lookup thread must not hold the crawl process open.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from faultserver import FaultServer, assert_ok_plus, collect, import_sources, respond, rss

from storage.db import get_engine, read
from storage.sources import fetch_history

DNS_TIMEOUT = 2.0
RETRY_TIMES = 2
HANG = 60.0
#: Start-up of the CLI and five crawl processes (two waves of four) on a loaded 2-core machine.
MARGIN = 30.0


@pytest.mark.timeout(60)
def test_t13_dns_failures_are_per_source_errors_within_the_timeout(tmp_path: Path, sqlite_url: str) -> None:
    hosts = {"news.test": ["127.0.0.1"], "hang.test": "hang", "nx.test": "nxdomain", "empty.test": []}
    env = {"SCRUTINEER_TEST_RESOLVER": "hosts", "SCRUTINEER_TEST_HOSTS": json.dumps(hosts),
           "SCRUTINEER_TEST_DNS_HANG_S": str(HANG), "SCRUTINEER_DNS_TIMEOUT_S": str(DNS_TIMEOUT)}
    with FaultServer() as srv:
        srv.route("/feed.xml", respond(rss("news-test")))
        srv.route("/local.xml", respond(rss("via-localhost")))
        import_sources(sqlite_url, tmp_path, [
            {"name": "news-test", "kind": "rss", "url": srv.url("/feed.xml", host="news.test"), "follow_links": False},
            {"name": "via-localhost", "kind": "rss", "url": srv.url("/local.xml", host="localhost"),
             "follow_links": False},
            {"name": "dns-hangs", "kind": "rss", "url": srv.url("/feed.xml", host="hang.test")},
            {"name": "nxdomain", "kind": "rss", "url": srv.url("/feed.xml", host="nx.test")},
            {"name": "no-addresses", "kind": "rss", "url": srv.url("/feed.xml", host="empty.test")},
        ])
        started = time.monotonic()
        collect(sqlite_url, env=env)
        wall = time.monotonic() - started
        assert_ok_plus(sqlite_url, faulty={
            "dns-hangs": "no answer within dns_timeout", "nxdomain": "name or service not known",
            "no-addresses": "returned no addresses",
        }, good={"news-test": 2, "via-localhost": 2})
        assert srv.hits["/feed.xml"] == 1  # only news.test ever reached the server
    with read(get_engine(sqlite_url)) as conn:
        (entry,) = fetch_history(conn, "dns-hangs")
    spent = (entry["finished_at"] - entry["started_at"]).total_seconds()
    print(f"dns-hangs crawl {spent:.1f} s, collect wall {wall:.1f} s, DNS timeout {DNS_TIMEOUT:g} s, hang {HANG:g} s")
    # The spider gave up after RETRY_TIMES + 1 lookups of DNS_TIMEOUT each, not after the hang ...
    assert spent <= DNS_TIMEOUT * (RETRY_TIMES + 1) + 5, spent
    # ... and the stuck lookup threads did not keep the crawl process alive until the hang ended.
    assert wall <= DNS_TIMEOUT * (RETRY_TIMES + 1) + MARGIN < HANG, wall
