"""Offline "demo newsroom": five invented outlets served on loopback, so `scrutineer demo` and the
tests can exercise crawling, feeds, sitemaps, robots rules and de-duplication without the internet.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core.resources import package_file

__all__ = ["Newsroom", "Outlet", "Article", "load_outlets", "CONTENT_DIR", "TEMPLATE_DIR"]

#: The outlets' articles and page templates ship in this package, installed or checked out alike.
CONTENT_DIR = package_file("demo.newsroom", "content")
TEMPLATE_DIR = package_file("demo.newsroom", "templates")

_FEED_TYPES = {
    "rss": ("rss.xml", "application/rss+xml; charset=utf-8"),
    "atom": ("atom.xml", "application/atom+xml; charset=utf-8"),
    "sitemap": ("sitemap.xml", "application/xml; charset=utf-8"),
}
_HTML = "text/html; charset=utf-8"


@dataclass
class Article:
    """One page of one outlet; syndicated copies are materialised from the wire original at load time."""

    outlet: str
    path: str
    title: str
    authors: list[str]
    published: datetime
    section: str
    summary: str
    body: list[str]
    comments: list[dict[str, Any]] = field(default_factory=list)
    feed_links: list[str] = field(default_factory=lambda: [""])
    canonical: bool = True
    updated: datetime | None = None
    kicker: str = ""
    dateline: str = ""
    syndicated_from: dict[str, str] | None = None
    credit: str = ""

    @property
    def word_count(self) -> int:
        return sum(len(p.split()) for p in self.body)


@dataclass
class Outlet:
    """Static description of an outlet; base URLs are only attached when a server starts."""

    slug: str
    name: str
    template: str
    tagline: str
    feed: dict[str, Any]
    robots: dict[str, Any]
    tags: list[str]
    nav: list[str]
    articles: list[Article]

    @property
    def feed_kind(self) -> str:
        return str(self.feed["kind"])

    def article(self, path: str) -> Article | None:
        for art in self.articles:
            if art.path == path:
                return art
        return None


def _as_datetime(value: Any) -> datetime:
    # YAML may hand us a datetime already (unquoted) or a string; both must carry an offset.
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return dt


def _article_from(raw: dict[str, Any], outlet: str) -> Article:
    return Article(
        outlet=outlet,
        path=raw["path"],
        title=raw.get("title", ""),
        authors=list(raw.get("authors", [])),
        published=_as_datetime(raw["published"]),
        section=raw.get("section", ""),
        summary=raw.get("summary", ""),
        body=[" ".join(str(p).split()) for p in raw.get("body", [])],
        comments=list(raw.get("comments", [])),
        feed_links=list(raw.get("feed_links", [""])),
        canonical=bool(raw.get("canonical", True)),
        updated=_as_datetime(raw["updated"]) if raw.get("updated") else None,
        kicker=raw.get("kicker", ""),
        dateline=raw.get("dateline", ""),
        syndicated_from=raw.get("syndicated_from"),
        credit=raw.get("credit", ""),
    )


def _apply_edits(copy: Article, original: Article, edits: dict[str, Any]) -> None:
    # A syndicated copy is the wire text with the client's light edits, so near-duplicate
    # detection has something realistic (not byte-identical) to find.
    body = list(original.body)
    drop = int(edits.get("drop_last", 0))
    if drop:
        body = body[:-drop]
    for old, new in edits.get("replace", []):
        replaced = [p.replace(old, new) for p in body]
        if replaced == body:
            raise ValueError(f"edit {old!r} matched nothing in copy {copy.outlet}{copy.path}")
        body = replaced
    copy.body = body
    copy.summary = copy.summary or original.summary
    copy.title = copy.title or original.title
    copy.authors = copy.authors or list(original.authors)
    copy.section = copy.section or original.section


def load_outlets(content_dir: Path = CONTENT_DIR) -> dict[str, Outlet]:
    """Read every content/*.yaml; kept separate from the server so tests can inspect the catalogue."""
    raw_outlets: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for file in sorted(content_dir.glob("*.yaml")):
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        meta = doc["outlet"]
        raw_outlets[meta["slug"]] = (meta, doc.get("articles", []))

    outlets: dict[str, Outlet] = {}
    pending: list[tuple[Article, dict[str, Any]]] = []
    for slug, (meta, raw_articles) in raw_outlets.items():
        articles = []
        for raw in raw_articles:
            art = _article_from(raw, slug)
            if art.syndicated_from:
                pending.append((art, raw.get("edits", {})))
            articles.append(art)
        outlets[slug] = Outlet(
            slug=slug,
            name=meta["name"],
            template=meta["template"],
            tagline=meta.get("tagline", ""),
            feed=dict(meta["feed"]),
            robots=dict(meta.get("robots", {})),
            tags=list(meta.get("tags", [])),
            nav=list(meta.get("nav", [])),
            articles=articles,
        )
    for art, edits in pending:
        src = art.syndicated_from or {}
        original = outlets[src["outlet"]].article(src["path"])
        if original is None:
            raise ValueError(f"{art.outlet}{art.path}: syndicated_from points nowhere: {src}")
        _apply_edits(art, original, edits)
    for outlet in outlets.values():
        paths = [a.path for a in outlet.articles]
        if len(paths) != len(set(paths)):
            raise ValueError(f"duplicate article paths in {outlet.slug}")
        outlet.articles.sort(key=lambda a: a.published, reverse=True)
    return outlets


# --------------------------------------------------------------------------- rendering


def _rfc822(dt: datetime) -> str:
    return format_datetime(dt)


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def _isoz(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _datefmt(dt: datetime, style: str = "long") -> str:
    # Each outlet prints its visible date differently, as real sites do.
    offset = dt.utcoffset()
    zone = "GMT" if offset is not None and offset.total_seconds() == 0 else "BST"
    if style == "ledger":
        return f"{dt:%a} {dt.day} {dt:%b %Y %H.%M} {zone}"
    if style == "courier":
        hour = dt.hour % 12 or 12
        return f"{_ordinal(dt.day)} {dt:%B %Y}, {hour}:{dt:%M}{'am' if dt.hour < 12 else 'pm'}"
    if style == "wire":
        return f"{dt.day} {dt:%B %Y}, {dt:%H:%M} {zone}"
    if style == "short":
        return f"{dt.day} {dt:%b %Y}"
    return f"{dt:%A} {dt.day} {dt:%B %Y}"


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html", "xml"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        rfc822=_rfc822,
        iso=_iso,
        isoz=_isoz,
        datefmt=_datefmt,
        slugify=_slugify,
        persons=lambda names: [{"@type": "Person", "name": n} for n in names],
    )
    return env


def _related(outlet: Outlet, art: Article, limit: int = 4) -> list[Article]:
    others = [a for a in outlet.articles if a is not art]
    same_section = [a for a in others if a.section == art.section]
    ordered = sorted(same_section, key=lambda a: abs((a.published - art.published).total_seconds()))
    rest = sorted(
        (a for a in others if a not in ordered),
        key=lambda a: abs((a.published - art.published).total_seconds()),
    )
    return (ordered + rest)[:limit]


@dataclass
class _Response:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _response(status: int, ctype: str, text: str, last_modified: datetime | None = None) -> _Response:
    body = text.encode("utf-8")
    headers = {"ETag": '"' + hashlib.sha1(body).hexdigest()[:20] + '"'}
    if last_modified is not None:
        headers["Last-Modified"] = format_datetime(last_modified.astimezone(UTC), usegmt=True)
    return _Response(status, ctype, body, headers)


def _feed_entries(outlet: Outlet, base: str) -> list[dict[str, Any]]:
    guid_style = outlet.feed.get("guid", "canonical")
    entries = []
    for art in outlet.articles:
        for n, variant in enumerate(art.feed_links):
            link = base + art.path + variant
            if guid_style == "link":
                guid = link
            elif guid_style == "tag":
                guid = f"tag:{outlet.slug}.demo,2026:{art.path}" + (f":{n}" if n else "")
            elif guid_style == "code":
                guid = f"{outlet.feed.get('guid_prefix', outlet.slug.upper())}-{art.published:%Y%m%d-%H%M}"
            else:
                guid = base + art.path
            entries.append({"article": art, "link": link, "guid": guid, "guid_is_link": guid.startswith("http")})
    return entries


def _render_site(env: Environment, outlet: Outlet, base: str) -> dict[str, _Response]:
    site: dict[str, _Response] = {}
    common = {"outlet": outlet, "base": base}
    newest = outlet.articles[0].published if outlet.articles else None
    for art in outlet.articles:
        html = env.get_template(f"{outlet.template}/article.html").render(
            **common, article=art, related=_related(outlet, art), url=base + art.path
        )
        site[art.path] = _response(200, _HTML, html, art.updated or art.published)
    site["/"] = _response(200, _HTML, env.get_template(f"{outlet.template}/home.html").render(**common))
    site["/robots.txt"] = _response(200, "text/plain; charset=utf-8", env.get_template("robots.txt").render(**common))
    feed_template, feed_ctype = _FEED_TYPES[outlet.feed_kind]
    feed_text = env.get_template(feed_template).render(
        **common, entries=_feed_entries(outlet, base), updated=newest, feed_url=base + outlet.feed["path"]
    )
    site[outlet.feed["path"]] = _response(200, feed_ctype, feed_text, newest)
    return site


# --------------------------------------------------------------------------- serving


class _OutletServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], room: Newsroom, outlet: Outlet, family: int) -> None:
        self.address_family = family
        self.room = room
        self.outlet = outlet
        self.site: dict[str, _Response] = {}
        self.not_found = _response(404, _HTML, "")
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _OutletServer
    server_version = "DemoNewsroom/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # Tests and `scrutineer demo` would otherwise drown in access logs on stderr.
        return

    def _lookup(self) -> tuple[str, _Response]:
        path = urlsplit(self.path).path or "/"
        self.server.room._count(self.server.outlet.slug, path)
        site = self.server.site
        if path in site:
            return path, site[path]
        # Real CMSs redirect the slash-less form of a pretty URL; crawlers must follow it.
        for alt in (path + "/", path.rstrip("/")):
            if alt != path and alt in site and site[alt].content_type == _HTML:
                location = self.server.room.outlets[self.server.outlet.slug] + alt
                return path, _Response(301, _HTML, b"", {"Location": location})
        return path, self.server.not_found

    def _send(self, head_only: bool) -> None:
        _, resp = self._lookup()
        etag = resp.headers.get("ETag")
        if resp.status == 200 and etag and self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not head_only:
            self.wfile.write(resp.body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._send(head_only=False)

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        self._send(head_only=True)


class Newsroom:
    """Serves every outlet on its own loopback port (robots.txt is per host)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.outlets: dict[str, str] = {}
        self.catalogue: dict[str, Outlet] = load_outlets()
        self._servers: dict[str, _OutletServer] = {}
        self._threads: list[threading.Thread] = []
        self._hits: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    # -- lifecycle
    def start(self) -> Newsroom:
        if self._servers:
            return self
        env = _environment()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        host_in_url = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        try:
            for slug, outlet in self.catalogue.items():
                server = _OutletServer((self.host, 0), self, outlet, family)
                self._servers[slug] = server
                base = f"http://{host_in_url}:{server.server_address[1]}"
                self.outlets[slug] = base
                server.site = _render_site(env, outlet, base)
                server.not_found = _response(
                    404, _HTML, env.get_template(f"{outlet.template}/404.html").render(outlet=outlet, base=base)
                )
        except BaseException:
            self.stop()
            raise
        for slug, server in self._servers.items():
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"newsroom-{slug}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            if self._threads:
                server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=2)
        self._servers.clear()
        self._threads.clear()
        self.outlets = {}

    def __enter__(self) -> Newsroom:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- sources contract
    def sources(self) -> list[dict[str, Any]]:
        """The demo's entries for the project's sources YAML; only meaningful once ports are bound."""
        if not self.outlets:
            raise RuntimeError("Newsroom.start() must be called before sources()")
        result = []
        for slug, outlet in self.catalogue.items():
            kind = outlet.feed_kind
            result.append(
                {
                    "name": f"{slug}-{kind}",
                    "kind": "sitemap" if kind == "sitemap" else "rss",
                    "url": self.outlets[slug] + outlet.feed["path"],
                    "schedule": "@hourly",
                    "tags": ["demo", *outlet.tags],
                }
            )
        return result

    def write_sources_yaml(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump({"sources": self.sources()}, sort_keys=False), encoding="utf-8")
        return target

    # -- hit counting (lets tests prove a crawler stayed out of robots-disallowed paths)
    def _count(self, outlet: str, path: str) -> None:
        with self._lock:
            key = (outlet, path)
            self._hits[key] = self._hits.get(key, 0) + 1

    def hits(self, outlet: str, path: str) -> int:
        """GET (and HEAD) requests seen for that exact path; query strings are ignored."""
        path = urlsplit(path).path or "/"
        with self._lock:
            return self._hits.get((outlet, path), 0)

    def total_hits(self) -> int:
        with self._lock:
            return sum(self._hits.values())

    def reset_hits(self) -> None:
        with self._lock:
            self._hits.clear()
