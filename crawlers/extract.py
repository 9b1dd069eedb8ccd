"""Page extraction: (url, html) → Article fields, built on trafilatura.

A plain function of bytes, so the spiders, `scrutineer extract` and the tests on saved pages
all run exactly the same code with no network.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import lxml.html
import trafilatura
from htmldate import find_date
from trafilatura.utils import load_html

from crawlers.charset import decode_page
from crawlers.dates import parse_date
from crawlers.headline import page_headline
from crawlers.urls import canonicalize, same_site
from storage.article import normalise_text

#: Below this many characters of body text a page is treated as having no article (login walls,
#: cookie-only shells); trafilatura's own MIN_EXTRACTED_SIZE is 250 but short briefs exist.
MIN_TEXT = 120
MAX_TITLE = 1000
_DATE_METAS = ("article:published_time", "og:article:published_time", "datePublished",
               "pubdate", "publishdate", "dc.date", "dc.date.issued", "sailthru.date")
#: Words of consent banners, paywalls and app shells (T18; trafilatura's fallback keeps them).
_WALL = re.compile(r"\b(cookies?|consent|privacy|subscribers?|subscribe|sign in|log ?in|password|"
                   r"enable javascript|accept all|reject all|register|our partners|your device|"
                   r"manage preferences)\b", re.I)


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode by BOM, HTTP charset, <meta charset>, then detection, repairing mislabels (T17)."""
    return decode_page(body, content_type)[0]


def looks_binary(text: str) -> bool:
    """A PDF, image or archive served as text/html (T18): never hand it to the HTML parser."""
    head = text[:8192]
    if head.lstrip().startswith(("%PDF-", "PK\x03\x04", "GIF8")):
        return True
    controls = sum(1 for ch in head if ch < " " and ch not in "\t\n\r\f")
    return controls > len(head) / 100


def is_article_text(text: str) -> bool:
    """False for what trafilatura returns when a page has no article (T18): a consent banner or
    login wall (its vocabulary, and fewer than three real sentences), a blob with no words (an
    inlined data URI), or one phrase repeated (a 5 MB filler <div>)."""
    words = text[:200_000].split()
    blob = sum(len(w) for w in words if len(w) > 40 and w.isascii())  # CJK runs are long, not blobs
    if not words or blob > sum(map(len, words)) / 2:
        return False
    sample = words[:20_000]
    if len(sample) >= 500 and len(set(sample)) / len(sample) < 0.05:
        return False
    if len(text) < 1500 and len(set(m.lower() for m in _WALL.findall(text))) >= 2:
        long_sentences = [s for s in re.split(r"[.!?]+\s", text) if len(s.split()) >= 8]
        return len(long_sentences) >= 3
    return True


def _ld_objects(tree: Any, limit: int = 50) -> list[dict[str, Any]]:
    """The page's JSON-LD objects, top level and inside @graph, in document order (parsed once per
    page and shared by every field that reads them)."""
    out: list[dict[str, Any]] = []
    for node in tree.iterfind(".//script[@type='application/ld+json']"):
        try:
            data = json.loads(node.text or "")
        except (ValueError, RecursionError):
            continue
        stack = [data]
        while stack and len(out) < limit:
            item = stack.pop(0)
            if isinstance(item, list):
                stack[:0] = item
            elif isinstance(item, dict):
                out.append(item)
                graph = item.get("@graph")
                if graph is not None:
                    stack.insert(0, graph)
    return out


def _ld_values(objects: list[dict[str, Any]], key: str) -> list[str]:
    """String values of `key` (or the first string of a list value) across the JSON-LD objects."""
    found: list[str] = []
    for item in objects:
        value = item.get(key)
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str)), None)
        if isinstance(value, str) and value.strip():
            found.append(value)
    return found


def _meta_dates(tree: Any, objects: list[dict[str, Any]]) -> list[str]:
    found = _ld_values(objects, "datePublished")[:10]
    for meta in tree.iterfind(".//meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in (m.lower() for m in _DATE_METAS) and meta.get("content"):
            found.append(meta.get("content"))
    for node in tree.iterfind(".//time"):
        if node.get("datetime"):
            found.append(node.get("datetime"))
            break
    return found


_MODIFIED_METAS = ("article:modified_time", "og:updated_time", "datemodified", "last-modified", "dc.date.modified")
_SECTION_METAS = ("article:section", "articlesection", "section", "parsely-section")


def _metas(tree: Any, keys: tuple[str, ...]) -> list[str]:
    out = []
    for meta in tree.iterfind(".//meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in keys and (meta.get("content") or "").strip():
            out.append(meta.get("content"))
    return out


def _modified(tree: Any, objects: list[dict[str, Any]]) -> datetime | None:
    candidates = _ld_values(objects, "dateModified") + _metas(tree, _MODIFIED_METAS)
    return next((d for d in map(parse_date, candidates) if d), None)


def _section(tree: Any, objects: list[dict[str, Any]]) -> str | None:
    for value in _ld_values(objects, "articleSection") + _metas(tree, _SECTION_METAS):
        text = normalise_text(value).replace("\n", " ")[:100]
        if text:
            return text
    return None


def _canonical(tree: Any, url: str) -> str:
    for xpath, attr in ((".//link[@rel='canonical']", "href"), (".//meta[@property='og:url']", "content")):
        node = tree.find(xpath)
        if node is not None and node.get(attr):
            candidate = canonicalize(node.get(attr), base=url)
            if same_site(candidate, url) and candidate.startswith(("http://", "https://")):
                return candidate
    return canonicalize(url)


def declared_language(declared: str | None) -> str | None:
    """The page's own `<html lang>` as a bare code ("en-GB" -> "en"), or None.

    A declaration, not a detection: the one language detector is enrichment's
    (pipelines/enrich.detect_language), which falls back to this only when too little text
    to judge. The crawler used to guess English from function words as well, a second rule that
    enrichment then overwrote."""
    if not declared:
        return None
    return declared.split("-")[0].split("_")[0].strip().lower()[:8] or None


def _authors(tree: Any, objects: list[dict[str, Any]]) -> list[str]:
    """Bylines from JSON-LD `author`, then `<meta name=author>`, then rel=author links."""
    names: list[str] = []
    for item in objects:
        author = item.get("author")
        for a in author if isinstance(author, list) else [author]:
            if isinstance(a, dict) and isinstance(a.get("name"), str):
                names.append(a["name"])
            elif isinstance(a, str):
                names.append(a)
    if not names:
        for meta in tree.iterfind(".//meta[@name]"):
            key = meta.get("name", "").lower()
            if key in ("author", "article:author", "byl", "dc.creator") and meta.get("content"):
                names.append(meta.get("content"))
    if not names:
        names = [a.text_content() for a in tree.iterfind(".//a[@rel='author']")][:5]
    out: list[str] = []
    for name in names:
        for part in re.split(r";|\band\b|,", re.sub(r"^\s*by\s+", "", name, flags=re.I)):
            part = normalise_text(part).strip()
            if part and len(part) <= 100 and part not in out:
                out.append(part)
    return out[:10]


@dataclass
class ExtractedPage:
    """What one page says, as extraction read it: crosses from the extraction worker to the spider
    (crawlers/offload.py pickles it), to `scrutineer extract` and to the evaluation harnesses."""

    url: str  #: the URL the page was fetched from, as given
    canonical_url: str  #: rel=canonical / og:url when on the same site, else the URL, canonicalised
    title: str  #: the headline as the outlet wrote it (crawlers/headline.py), without the outlet's name
    text: str  #: the article body as plain text; "" when the page holds no article
    published_at: datetime | None  #: the page's own publication date (metadata, else htmldate), UTC
    modified_at: datetime | None  #: when the page says it was last changed
    section: str | None  #: the publisher's section (article:section, articleSection)
    authors: list[str]  #: bylines, at most ten
    language: str | None  #: ISO 639-1 as the page declares it (<html lang>), else None; enrichment detects
    extraction: str  #: "trafilatura", or "no-text" for a wall, a shell or a non-article page (T18)
    charset_warning: str | None  #: set when the declared charset was wrong and repaired (T17)
    raw_title: str  #: the page's <title> as it was, for provenance and learning the outlet's name
    site_names: list[str]  #: what the page calls its outlet (og:site_name, publisher.name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def extract_article(url: str, html: str | bytes, content_type: str | None = None, *,
                    names: Sequence[str] = ()) -> ExtractedPage:
    """Article fields for one page; `extraction` is "no-text" when the page holds no article.

    `names` are what the source's outlet is known to be called already (sources file, learnt, feed).

    The page is parsed once, by trafilatura's own loader, and our metadata is read from that tree
    before trafilatura's text extraction runs on it (which prunes it). Our metadata replaces
    trafilatura's (`with_metadata` would run a second, slower date and author search); htmldate
    runs only when the page states no date of its own.
    """
    charset_warning = None
    if isinstance(html, bytes):
        html, charset_warning = decode_page(html, content_type)
    if looks_binary(html):
        html = ""
    canonical = canonicalize(url)
    title = raw_title = ""
    site_names: list[str] = []
    published: datetime | None = None
    declared_lang = None
    authors: list[str] = []
    modified: datetime | None = None
    section: str | None = None
    tree = None
    if html.strip():
        try:
            tree = load_html(html)
        except (ValueError, TypeError, RecursionError, lxml.etree.ParserError):
            tree = None
    if tree is not None:
        canonical = _canonical(tree, url)
        objects = _ld_objects(tree)
        published = next((d for d in map(parse_date, _meta_dates(tree, objects)) if d), None)
        declared_lang = tree.get("lang")
        authors = _authors(tree, objects)
        modified = _modified(tree, objects)
        section = _section(tree, objects)
        # The headline as the outlet wrote it, not the tab title with the site's name (issue 12).
        # `names`: the outlet names learnt from earlier pages of this source (crawlers/pipelines.py).
        found = page_headline(tree, objects, url=url, known_names=names, section=section)
        title, raw_title, site_names = found["title"], found["raw_title"], found["site_names"]
        if published is None:
            try:
                dated: str | None = find_date(tree, url=url, extensive_search=False, original_date=True,
                                              outputformat="%Y-%m-%dT%H:%M:%S%z")
            except (ValueError, TypeError, RecursionError):
                dated = None
            published = parse_date(dated) if dated else None
    text = ""
    if tree is not None:
        try:
            text = trafilatura.extract(tree, url=url, include_comments=False, deduplicate=False,
                                       with_metadata=False) or ""
        except (RecursionError, ValueError):
            text = ""
    title = normalise_text(title).replace("\n", " ")[:MAX_TITLE]
    raw_title = normalise_text(raw_title).replace("\n", " ")[:MAX_TITLE]
    text = normalise_text(text)
    first, _, rest = text.partition("\n")
    if title and first.strip() == title:
        text = rest
    extraction = "trafilatura" if len(text) >= MIN_TEXT and is_article_text(text) else "no-text"
    if extraction == "no-text":
        text = ""
    return ExtractedPage(
        url=url, canonical_url=canonical, title=title, text=text, published_at=published, modified_at=modified,
        section=section, authors=authors, language=declared_language(declared_lang),
        extraction=extraction, charset_warning=charset_warning, raw_title=raw_title, site_names=list(site_names),
    )
