"""Article or listing? Site-agnostic signals from one page, plus the links a crawl may follow.

A `site` crawl stores article pages and only walks through listing pages (section fronts, tag
pages, calendars, search results). No selector knows any one site: the signals are what
publishers declare (JSON-LD `@type`, `og:type`, a publication date) and the page's shape (one
`<article>` with enough prose, little of the text inside links), scored and thresholded.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urldefrag, urljoin

import lxml.html
from lxml import etree

from crawlers.extract import decode_html

ARTICLE_TYPES = frozenset({"article", "newsarticle", "blogposting", "reportagenews", "analysisnewsarticle",
                           "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "report",
                           "scholarlyarticle", "techarticle", "liveblogposting"})
LISTING_TYPES = frozenset({"collectionpage", "itemlist", "searchresultspage", "website", "webpage:listing"})
#: Words of prose (inside <p>) that make a page read like an article rather than a teaser list.
PROSE_WORDS = 150
THIN_WORDS = 60
MAX_LINKS = 2000
MAX_JSONLD_BYTES = 200_000
ARTICLE_SCORE = 3
_DATE_METAS = frozenset({"article:published_time", "og:article:published_time", "datepublished", "pubdate",
                         "publishdate", "dc.date", "dc.date.issued"})
_WORD = re.compile(r"\w+")


@dataclass
class PageInfo:
    kind: str  # "article" | "listing"
    score: int
    reasons: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


def _words(text: str | None) -> int:
    return len(_WORD.findall(text or ""))


def _jsonld_types(tree: Any) -> set[str]:
    """Every @type named in the page's JSON-LD (including @graph), lower-cased; bounded walk."""
    types: set[str] = set()
    for node in tree.iterfind(".//script[@type='application/ld+json']"):
        raw = (node.text or "")[:MAX_JSONLD_BYTES]
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        stack: list[tuple[Any, int]] = [(data, 0)]
        while stack and len(types) < 50:
            item, depth = stack.pop()
            if depth > 4:
                continue
            if isinstance(item, list):
                stack.extend((i, depth + 1) for i in item[:100])
            elif isinstance(item, dict):
                kind = item.get("@type")
                for t in kind if isinstance(kind, list) else [kind]:
                    if isinstance(t, str):
                        types.add(t.lower())
                if "@graph" in item:
                    stack.append((item["@graph"], depth + 1))
    return types


def _has_date(tree: Any) -> bool:
    for meta in tree.iterfind(".//meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in _DATE_METAS and meta.get("content"):
            return True
    if tree.find(".//time[@datetime]") is not None:
        return True
    return any('"datePublished"' in (n.text or "") for n in tree.iterfind(".//script[@type='application/ld+json']"))


def links_of(tree: Any, base: str) -> list[str]:
    """Absolute http(s) links in page order, without fragments or rel=nofollow, de-duplicated."""
    out: list[str] = []
    seen: set[str] = set()
    for a in tree.iterfind(".//a[@href]"):
        if "nofollow" in (a.get("rel") or "").lower().split():
            continue
        href = (a.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
            continue
        try:
            url = urldefrag(urljoin(base, href))[0]
        except ValueError:
            continue
        if url.startswith(("http://", "https://")) and url not in seen:
            seen.add(url)
            out.append(url)
            if len(out) >= MAX_LINKS:
                break
    return out


def classify(tree: Any) -> tuple[str, int, list[str]]:
    """("article" | "listing", score, the signals that fired)."""
    for bad in tree.xpath("//script[not(@type='application/ld+json')]|//style|//noscript|//template"):
        bad.drop_tree()
    score, reasons = 0, list[str]()
    types = _jsonld_types(tree)
    og = next((m.get("content", "").strip().lower() for m in tree.iterfind(".//meta")
               if (m.get("property") or m.get("name") or "").lower() == "og:type"), "")
    if types & ARTICLE_TYPES:
        score, reasons = score + 3, reasons + [f"json-ld {sorted(types & ARTICLE_TYPES)[0]}"]
    elif types & LISTING_TYPES:
        score, reasons = score - 2, reasons + [f"json-ld {sorted(types & LISTING_TYPES)[0]}"]
    if og == "article":
        score, reasons = score + 2, reasons + ["og:type article"]
    elif og == "website":
        score, reasons = score - 1, reasons + ["og:type website"]
    body = tree.find(".//body")
    body = body if body is not None else tree
    articles = body.findall(".//article")
    scope = max(articles, key=lambda a: _words(a.text_content())) if len(articles) == 1 else body
    prose = sum(_words(p.text_content()) for p in scope.iterfind(".//p"))
    total = _words(body.text_content())
    linked = sum(_words(a.text_content()) for a in body.iterfind(".//a"))
    density = linked / total if total else 1.0
    if len(articles) >= 3:
        score, reasons = score - 2, reasons + [f"{len(articles)} <article> cards"]
    elif len(articles) == 1 and prose >= PROSE_WORDS:
        score, reasons = score + 1, reasons + ["one <article> with prose"]
    if prose >= PROSE_WORDS:
        score, reasons = score + 2, reasons + [f"{prose} words of prose"]
    elif prose < THIN_WORDS:
        score, reasons = score - 2, reasons + [f"only {prose} words of prose"]
    if density > 0.5:
        score, reasons = score - 2, reasons + [f"link density {density:.2f}"]
    elif density < 0.25:
        score, reasons = score + 1, reasons + [f"link density {density:.2f}"]
    if _has_date(tree):
        score, reasons = score + 1, reasons + ["publication date"]
    return ("article" if score >= ARTICLE_SCORE else "listing"), score, reasons


def analyse(url: str, body: bytes | str, content_type: str | None = None) -> PageInfo:
    """Classify one page and list its followable links; unparseable pages are empty listings."""
    text = decode_html(body, content_type) if isinstance(body, bytes) else body
    try:
        tree = lxml.html.document_fromstring(text or "<html></html>")
    except (etree.ParserError, ValueError):
        return PageInfo("listing", 0, ["unparseable"], [])
    base_el = tree.find(".//base[@href]")
    base = urljoin(url, base_el.get("href")) if base_el is not None else url
    links = links_of(tree, base)
    kind, score, reasons = classify(tree)
    return PageInfo(kind, score, reasons, links)
