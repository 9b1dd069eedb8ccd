"""REDTEAM R10 and R15: IPv6 special ranges are not global, and a trailing root dot does not turn a
loopback name or literal into a DNS lookup (it is refused with the policy's own reason)."""
from __future__ import annotations

import pytest

from core.settings import Settings
from crawlers.netpolicy import NonPublicAddress, check_address, literal_address
from pipelines import collect, sources


@pytest.mark.parametrize("address", [
    "::7f00:1",          # IPv4-compatible ::127.0.0.1
    "::a00:1",           # IPv4-compatible ::10.0.0.1
    "::ffff:0:a00:1",    # IPv4-translated ::ffff:0:10.0.0.1
    "::ffff:0:7f00:1",   # IPv4-translated loopback
    "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215)
    "fec0::1",           # site-local (RFC 3879)
])
def test_r10_ipv6_special_ranges_refused(address: str) -> None:
    with pytest.raises(NonPublicAddress, match="non-public address"):
        check_address(address, "")


def test_r10_allow_list_sees_the_embedded_ipv4() -> None:
    check_address("::ffff:0:7f00:2", "127.0.0.2/32")  # the analyst allowed that IPv4 host
    with pytest.raises(NonPublicAddress):
        check_address("::7f00:1", "127.0.0.2/32")


@pytest.mark.parametrize("host, address", [
    ("localhost.", "127.0.0.1"), ("127.0.0.3.", "127.0.0.3"), ("LocalHost", "127.0.0.1"),
    ("feeds.localhost", "127.0.0.1"), ("127.1.", "127.0.0.1"), ("example.org.", None),
])
def test_r15_trailing_dot_and_localhost_are_literals(host: str, address: str | None) -> None:
    assert literal_address(host) == address


@pytest.mark.parametrize("host", ["localhost.", "127.0.0.3.", "[::7f00:1]", "[fec0::1]"])
def test_r15_collect_reports_the_policy_reason(host: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCRUTINEER_ALLOW_PRIVATE_NETWORKS")
    settings = Settings(db=sqlite_url)
    sources.add(settings, {"name": "target", "kind": "rss", "url": f"http://{host}:9/feed.xml"})
    result = collect.run(settings)[0]
    assert result.status == "error", result
    assert "non-public address" in (result.message or "") and "DNS" not in (result.message or ""), result.message
