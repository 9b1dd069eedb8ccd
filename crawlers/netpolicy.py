"""Which addresses a crawl may connect to (CONTRACT.md "Network policy").

Checked on the address actually connected, after DNS, on every hop, so a redirect, an entry
link or a rebinding resolver cannot walk a crawl into the private network (Miniflux
`IsNonPublicIP`; FreshRSS #8400).
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: IPv4-compatible (::a.b.c.d, deprecated by RFC 4291) and IPv4-translated (::ffff:0:a.b.c.d, RFC 2765)
#: forms carry an IPv4 address too; Python's is_global does not look inside them.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
#: Never public whatever they embed: local-use NAT64 (RFC 8215) and the deprecated site-local range
#: (RFC 3879), both of which Python still reports as global.
_NEVER_PUBLIC = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("fec0::/10"),
                 _IPV4_COMPATIBLE, _IPV4_TRANSLATED)
#: RFC 6761: "localhost" and every name under it are loopback by definition, with or without the root dot.
LOOPBACK_NAME = "127.0.0.1"


class NonPublicAddress(Exception):
    """Raised when a hop would connect to an address the policy refuses."""


def embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv4-mapped, 6to4 or NAT64 IPv6 address, else ip itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour:
            return ip.sixtofour
        if ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast; 100.64/10, link-local, loopback, private and reserved are not."""
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _NEVER_PUBLIC):
        return False
    ip = embedded_ipv4(ip)
    return ip.is_global and not ip.is_multicast


def parse_allowlist(value: str) -> list[Network] | None:
    """None means "allow every address" (the value "1"); [] means "allow only public"."""
    value = (value or "").strip()
    if value in ("1", "true", "yes", "all"):
        return None
    nets: list[Network] = []
    for part in value.split(","):
        part = part.strip()
        if part and part != "0":
            nets.append(ipaddress.ip_network(part, strict=False))
    return nets


def check_address(address: str, allow: str) -> None:
    """Raise NonPublicAddress unless `address` may be connected to under the policy `allow`."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if is_public(ip):
        return
    nets = parse_allowlist(allow)
    if nets is None:
        return
    candidates = {ip, embedded_ipv4(ip)}
    if any(c in net for c in candidates for net in nets if c.version == net.version):
        return
    raise NonPublicAddress(f"non-public address {ip} refused (set SCRUTINEER_ALLOW_PRIVATE_NETWORKS to allow)")


def literal_address(host: str) -> str | None:
    """The IP a host string denotes by itself, in any spelling inet_aton accepts
    (2130706433, 0x7f.0.0.1, 127.1, with or without a trailing root dot) or as an IPv6 literal;
    `localhost` and its subdomains denote loopback (RFC 6761). None for a real hostname."""
    host = host.strip("[]")
    if host.endswith(".") and ":" not in host:
        host = host[:-1]
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return LOOPBACK_NAME
    try:
        return str(ipaddress.ip_address(host.split("%")[0]))
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and any(c.isdigit() for c in host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    return None


ALLOWED_SCHEMES = ("http", "https")


def check_url_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise NonPublicAddress(f"scheme {scheme or '(none)'!r} refused: only http and https are fetched")


def may_link(url: str, allow: str) -> bool:
    """Whether readers may be shown `url` as a link: not when its host is an address (or a loopback
    name) the crawl itself would refuse under `allow` (REDTEAM R11: a feed entry linking readers to
    `https://[::1]:18003/x` or an intranet IP). Host names are not resolved here (no DNS)."""
    try:
        parts = urlsplit(url)
        literal = literal_address(parts.hostname or "")
        if literal is not None:
            check_address(literal, allow)
    except (NonPublicAddress, ValueError):
        return False
    return True
