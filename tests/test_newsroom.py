"""Tests for the offline demo newsroom server and its ground-truth file (nothing else)."""

from __future__ import annotations

import html
import re
import sys
import urllib.error
import urllib.request
import urllib.robotparser
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # allow running the file from any working directory
    sys.path.insert(0, str(ROOT))

from demo.newsroom import Newsroom, load_outlets  # noqa: E402

TRUTH_PATH = ROOT / "tests" / "data" / "demo_truth.yaml"
TAGS = {
    "palantir",
    "met-police",
    "mopac",
    "sadiq-khan",
    "mark-rowley",
    "facial-recognition",
    "peterborough",
    "procurement",
    "officer-misconduct",
    "ai-crime",
    "civil-liberties",
}
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
}


def fetch(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode("utf-8")


@pytest.fixture(scope="module")
def room():
    with Newsroom() as newsroom:
        yield newsroom


@pytest.fixture(scope="module")
def truth() -> dict:
    return yaml.safe_load(TRUTH_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def feeds(room) -> dict[str, tuple[str, ET.Element, list[str]]]:
    """outlet -> (feed kind, parsed root, entry links in document order)."""
    result = {}
    for slug, outlet in room.catalogue.items():
        status, ctype, body = fetch(room.outlets[slug] + outlet.feed["path"])
        assert status == 200
        kind = outlet.feed_kind
        assert ctype.startswith(
            {"rss": "application/rss+xml", "atom": "application/atom+xml", "sitemap": "application/xml"}[kind]
        )
        root = ET.fromstring(body.encode("utf-8"))
        if kind == "rss":
            links = [item.findtext("link") for item in root.iter("item")]
        elif kind == "atom":
            links = [e.find("atom:link", NS).get("href") for e in root.findall("atom:entry", NS)]
        else:
            links = [u.findtext("sm:loc", namespaces=NS) for u in root.findall("sm:url", NS)]
        result[slug] = (kind, root, links)
    return result


def test_outlets_and_sources(room, tmp_path):
    assert len(room.outlets) >= 4
    for base in room.outlets.values():
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
    assert len(set(room.outlets.values())) == len(room.outlets)  # one host:port each, so robots are per host
    sources = room.sources()
    assert len(sources) == len(room.outlets)
    for src in sources:
        assert re.fullmatch(r"[a-z0-9-]+", src["name"])
        assert src["kind"] in {"rss", "sitemap"}
        assert src["schedule"] == "@hourly" and "demo" in src["tags"]
        assert any(src["url"].startswith(base + "/") for base in room.outlets.values())
    assert {s["kind"] for s in sources} == {"rss", "sitemap"}
    written = yaml.safe_load(room.write_sources_yaml(tmp_path / "cfg" / "sources.yaml").read_text())
    assert written == {"sources": sources}


def test_robots_txt_per_outlet(room, truth):
    disallowed_seen = 0
    for slug, base in room.outlets.items():
        status, ctype, body = fetch(base + "/robots.txt")
        assert status == 200 and ctype.startswith("text/plain")
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(body.splitlines())
        for path, meta in truth["articles"][slug].items():
            assert parser.can_fetch("ScrutineerBot/1.0", base + path) is (not meta["robots_disallowed"]), path
            disallowed_seen += meta["robots_disallowed"]
        if room.catalogue[slug].feed_kind == "sitemap":
            assert f"Sitemap: {base}/sitemap.xml" in body
    assert disallowed_seen >= 1


def test_feeds_parse_and_link_to_own_host(room, truth, feeds):
    kinds = {kind for kind, _, _ in feeds.values()}
    assert kinds == {"rss", "atom", "sitemap"}
    for slug, (kind, root, links) in feeds.items():
        base = room.outlets[slug]
        assert links, slug
        for link in links:
            parts = urlsplit(link)
            assert f"{parts.scheme}://{parts.netloc}" == base, link
            assert parts.path in truth["articles"][slug], link
        # every feed entry carries the metadata the pipeline relies on
        if kind == "rss":
            for item in root.iter("item"):
                for tag in ("title", "guid", "pubDate", "description"):
                    assert item.findtext(tag), (slug, tag)
                assert item.findtext("pubDate").endswith("+0000")
        elif kind == "atom":
            for entry in root.findall("atom:entry", NS):
                for tag in ("title", "id", "updated", "summary", "author/atom:name"):
                    assert entry.findtext("atom:" + tag, namespaces=NS), (slug, tag)
        else:
            for url in root.findall("sm:url", NS):
                datetime.fromisoformat(url.findtext("sm:lastmod", namespaces=NS))


def test_feed_url_variants_and_disallowed_entries(room, truth, feeds):
    all_links = [link for _, _, links in feeds.values() for link in links]
    assert any("utm_source=rss&utm_medium=feed" in link for link in all_links)
    assert any(link.endswith("#comments") for link in all_links)
    assert any(
        len(paths) != len(set(paths))
        for paths in ([urlsplit(link).path for link in links] for _, _, links in feeds.values())
    ), "one feed should list the same article under two URL variants"
    listed = {(slug, urlsplit(link).path) for slug, (_, _, links) in feeds.items() for link in links}
    disallowed = {
        (slug, p) for slug, arts in truth["articles"].items() for p, m in arts.items() if m["robots_disallowed"]
    }
    assert disallowed and disallowed <= listed  # a polite crawler must see these and skip them


def test_every_truth_article_is_served(room, truth):
    catalogue = {(slug, a.path) for slug, o in room.catalogue.items() for a in o.articles}
    assert catalogue == {(slug, p) for slug, arts in truth["articles"].items() for p in arts}
    for slug, arts in truth["articles"].items():
        for path, meta in arts.items():
            status, ctype, body = fetch(room.outlets[slug] + path)
            assert status == 200 and ctype == "text/html; charset=utf-8", path
            title = re.search(r"<title>(.*?)</title>", body, re.S)
            assert title and html.unescape(meta["title"]) in html.unescape(title.group(1)), path
            if 'rel="canonical"' in body:
                assert f'<link rel="canonical" href="{room.outlets[slug]}{path}">' in body


def test_metadata_styles_differ(room):
    bodies = {}
    for slug, outlet in room.catalogue.items():
        bodies[slug] = fetch(room.outlets[slug] + outlet.articles[0].path)[2]
    assert sum('"@type": "NewsArticle"' in b for b in bodies.values()) >= 2
    assert any('"datePublished": "2026-11-' in b and 'Z"' in b for b in bodies.values())
    assert any('property="article:published_time"' in b and 'property="og:url"' in b for b in bodies.values())
    assert any(
        "<time datetime=" in b and "ld+json" not in b and "og:" not in b and "published_time" not in b
        for b in bodies.values()
    )


def test_truth_file_shape(truth):
    assert truth["demo_week"] == "2026-W47"
    rows = [(slug, path, m) for slug, arts in truth["articles"].items() for path, m in arts.items()]
    assert len(rows) >= 30 and len(truth["articles"]) >= 4
    for _slug, path, m in rows:
        assert set(m["tags"]) <= TAGS, path
        assert m["tone"] in {"negative", "neutral", "positive"}
        assert m["relevant"] or not {"palantir", "met-police", "mopac"} & set(m["tags"]), path
        when = datetime.fromisoformat(m["published_at"].replace("Z", "+00:00"))
        assert when.isocalendar()[:2] in {(2026, 46), (2026, 47)}, path
    assert sum(not m["relevant"] for _, _, m in rows) >= 5
    assert {"positive", "neutral", "negative"} <= {m["tone"] for _, _, m in rows if m["relevant"]}
    # syndication: at least two wire stories each republished by two other outlets
    copies = defaultdict(set)
    for slug, _, m in rows:
        if m["duplicate_of"]:
            original = m["duplicate_of"]
            assert original["path"] in truth["articles"][original["outlet"]]
            assert truth["articles"][original["outlet"]][original["path"]]["duplicate_of"] is None
            assert original["outlet"] != slug
            copies[(original["outlet"], original["path"])].add(slug)
    assert sum(len(outlets) >= 2 for outlets in copies.values()) >= 2
    # at least four events reported independently by two or more outlets
    independent = defaultdict(set)
    for slug, _, m in rows:
        if m["relevant"] and not m["duplicate_of"]:
            independent[m["story"]].add(slug)
    assert sum(len(outlets) >= 2 for outlets in independent.values()) >= 4


def test_article_text_lengths_and_syndicated_edits(truth):
    outlets = load_outlets()
    for slug, arts in truth["articles"].items():
        for path, m in arts.items():
            art = outlets[slug].article(path)
            assert art is not None and art.authors and art.summary and len(art.body) >= 4
            if m["relevant"]:
                assert 250 <= art.word_count <= 600, (path, art.word_count)
            if m["duplicate_of"]:
                original = outlets[m["duplicate_of"]["outlet"]].article(m["duplicate_of"]["path"])
                assert art.title != original.title
                assert art.body != original.body and len(art.body) == len(original.body) - 1
                shared = sum(p in original.body for p in art.body)
                assert shared >= len(art.body) - 1  # an edited copy, not a rewrite


def test_hits_404_and_head(room):
    slug = "glasshouse" if "glasshouse" in room.outlets else next(iter(room.outlets))
    base = room.outlets[slug]
    path = room.catalogue[slug].articles[0].path
    before_path, before_total = room.hits(slug, path), room.total_hits()
    assert fetch(base + path + "?utm_source=rss&utm_medium=feed")[0] == 200
    assert fetch(base + path)[0] == 200
    assert room.hits(slug, path) == before_path + 2
    status, ctype, body = fetch(base + "/no/such/page")
    assert status == 404 and ctype.startswith("text/html") and "<title>" in body
    assert room.hits(slug, "/no/such/page") == 1
    assert room.total_hits() == before_total + 3
    assert room.hits(slug, "/never/requested") == 0
    other = next(s for s in room.outlets if s != slug)
    assert fetch(room.outlets[other] + path)[0] == 404  # paths are per outlet, not shared


def test_sources_requires_start():
    with pytest.raises(RuntimeError):
        Newsroom().sources()
