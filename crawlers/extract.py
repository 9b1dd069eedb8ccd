"""Page extraction: (url, html) → Article fields, built on trafilatura.

A plain function of bytes, so the spiders, `scrutineer extract` and the tests on saved pages
all run exactly the same code with no network.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import lxml.html
import trafilatura
from w3lib.encoding import html_to_unicode

from crawlers.dates import parse_date
from crawlers.urls import canonicalize, same_site
from storage.article import normalise_text

#: Below this many characters of body text a page is treated as having no article (login walls,
#: cookie-only shells); trafilatura's own MIN_EXTRACTED_SIZE is 250 but short briefs exist.
MIN_TEXT = 120
MAX_TITLE = 1000
_DATE_METAS = ("article:published_time", "og:article:published_time", "datePublished",
               "pubdate", "publishdate", "dc.date", "dc.date.issued", "sailthru.date")
_EN_WORDS = frozenset("the and of to in that is for was on with as by at said from it an are be".split())


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode with HTTP charset, then BOM, then <meta charset>, then detection (w3lib's order)."""
    _, text = html_to_unicode(content_type, body)
    return text


def _meta_dates(tree: Any) -> list[str]:
    found: list[str] = []
    for node in tree.iterfind(".//script[@type='application/ld+json']"):
        try:
            data = json.loads(node.text or "")
        except (ValueError, RecursionError):
            continue
        stack = [data]
        while stack and len(found) < 10:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                if isinstance(item.get("datePublished"), str):
                    found.append(item["datePublished"])
                stack.extend(v for k, v in item.items() if k == "@graph")
    for meta in tree.iterfind(".//meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in (m.lower() for m in _DATE_METAS) and meta.get("content"):
            found.append(meta.get("content"))
    for node in tree.iterfind(".//time"):
        if node.get("datetime"):
            found.append(node.get("datetime"))
            break
    return found


def _canonical(tree: Any, url: str) -> str:
    for xpath, attr in ((".//link[@rel='canonical']", "href"), (".//meta[@property='og:url']", "content")):
        node = tree.find(xpath)
        if node is not None and node.get(attr):
            candidate = canonicalize(node.get(attr), base=url)
            if same_site(candidate, url) and candidate.startswith(("http://", "https://")):
                return candidate
    return canonicalize(url)


def guess_language(text: str, declared: str | None) -> str | None:
    """`<html lang>` when given, else "en" when English function words dominate; None if unsure."""
    if declared:
        return declared.split("-")[0].split("_")[0].lower()[:8] or None
    words = re.findall(r"[a-z]+", text[:4000].lower())
    if len(words) >= 20 and sum(w in _EN_WORDS for w in words) / len(words) > 0.12:
        return "en"
    return None


def extract_article(url: str, html: str | bytes, content_type: str | None = None) -> dict[str, Any]:
    """Article fields for one page; `extraction` is "no-text" when the page holds no article."""
    if isinstance(html, bytes):
        html = decode_html(html, content_type)
    canonical = canonicalize(url)
    title = ""
    published: datetime | None = None
    declared_lang = None
    try:
        tree = lxml.html.fromstring(html) if html.strip() else None
    except (ValueError, lxml.etree.ParserError):
        tree = None
    if tree is not None:
        canonical = _canonical(tree, url)
        published = next((d for d in map(parse_date, _meta_dates(tree)) if d), None)
        declared_lang = tree.get("lang")
        og = tree.find(".//meta[@property='og:title']")
        if og is not None and og.get("content"):
            title = og.get("content")
    doc = None
    try:
        doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                          include_tables=False, deduplicate=False)
    except (RecursionError, ValueError):
        doc = None
    text = ""
    authors: list[str] = []
    if doc is not None:
        title = title or doc.title or ""
        text = doc.text or ""
        authors = [a.strip() for a in re.split(r";|\band\b", doc.author or "") if a.strip()]
        if published is None and doc.date:
            published = parse_date(doc.date)
    if not title and tree is not None:
        node = tree.find(".//title")
        title = node.text_content() if node is not None else ""
    title = normalise_text(title).replace("\n", " ")[:MAX_TITLE]
    text = normalise_text(text)
    first, _, rest = text.partition("\n")
    if title and first.strip() == title:
        text = rest
    extraction = "trafilatura" if len(text) >= MIN_TEXT else "no-text"
    if extraction == "no-text":
        text = ""
    return {
        "url": url, "canonical_url": canonical, "title": title, "text": text,
        "published_at": published, "authors": authors,
        "language": guess_language(text or title, declared_lang), "extraction": extraction,
    }
