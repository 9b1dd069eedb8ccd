"""The network-policy classifier (T02's address cases that must never be dialled from here)."""
from __future__ import annotations

import pytest

from crawlers.netpolicy import NonPublicAddress, check_address, check_url_scheme, literal_address


@pytest.mark.parametrize("host, address", [
    ("127.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"), ("[::1]", "::1"), ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
    ("0.0.0.0", "0.0.0.0"), ("example.org", None), ("news.example.co.uk", None),
])
def test_literal_addresses_in_every_spelling(host: str, address: str | None) -> None:
    assert literal_address(host) == address


@pytest.mark.parametrize("address", [
    "127.0.0.1", "::1", "::ffff:127.0.0.1", "0.0.0.0", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "64:ff9b::a9fe:a9fe", "fe80::1", "fc00::1", "224.0.0.1",
])
def test_non_public_addresses_refused_by_default(address: str) -> None:
    with pytest.raises(NonPublicAddress, match="non-public address"):
        check_address(address, "")


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_allowed(address: str) -> None:
    check_address(address, "")


def test_allow_all_and_allow_list() -> None:
    check_address("127.0.0.1", "1")
    check_address("10.1.5.5", "127.0.0.1,10.1.0.0/16")
    check_address("127.0.0.2", "127.0.0.2/32")
    with pytest.raises(NonPublicAddress):
        check_address("127.0.0.1", "127.0.0.2/32")
    with pytest.raises(NonPublicAddress):  # mapped forms do not slip past an allow-list
        check_address("::ffff:127.0.0.1", "127.0.0.2/32")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x.test/", "data:text/plain,hi", "s3://b/k",
                                 "javascript:alert(1)", "gopher://x.test/", "/etc/passwd"])
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(NonPublicAddress, match="only http and https"):
        check_url_scheme(url)
