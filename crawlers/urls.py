"""URL canonicalisation: one article, one identity, however a feed decorates its link."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from w3lib.url import safe_url_string

#: Query keys that never change what a page says (campaign and click tracking).
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "ga_", "hsa_", "oly_")
TRACKING_KEYS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "ref", "ref_src",
                           "cmpid", "ocid", "_ga", "at_medium", "at_campaign", "s_cid", "share", "ito"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2083


def _without_tracking(query: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)
            if not (k.lower().startswith(TRACKING_PREFIXES) or k.lower() in TRACKING_KEYS)]


def canonicalize(url: str, base: str | None = None) -> str:
    """Lower-case scheme and host, drop default port, fragment, tracking parameters and a
    trailing slash, sort the remaining query (w3lib-style), percent-encode safely."""
    if base:
        url = urljoin(base, url)
    url = safe_url_string(url.strip())
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    query = _without_tracking(parts.query)
    path = parts.path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def strip_tracking(url: str) -> str:
    """The URL as fetched, minus tracking parameters and fragment: what readers are linked to."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(_without_tracking(parts.query)), ""))


def same_site(a: str, b: str) -> bool:
    """True when two URLs share host and port (ignoring a leading www.): a page may name its own
    canonical, never another site's, or a hostile page could overwrite someone else's article."""
    def origin(url: str) -> tuple[str, int | None]:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().removeprefix("www.")
        return host, parts.port or DEFAULT_PORTS.get(parts.scheme.lower())

    oa = origin(a)
    return bool(oa[0]) and oa == origin(b)
