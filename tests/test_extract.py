"""Extraction on saved pages, no network: the same function the spiders and `scrutineer extract` use.

The pages are the unseen-site fixture (tests/data/unseen_site, described in its README.md);
expected.yaml beside them says what each page must yield.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from crawlers.extract import extract_article
from crawlers.urls import canonicalize, strip_tracking

SITE = Path(__file__).parent / "data" / "unseen_site"
EXPECTED = yaml.safe_load((SITE / "expected.yaml").read_text(encoding="utf-8"))
BASE = "https://harbour-gazette.example"


def _page(path: str) -> bytes:
    return (SITE / path.lstrip("/")).read_bytes().replace(b"{BASE}", BASE.encode())


@pytest.mark.parametrize("case", EXPECTED["articles"], ids=lambda c: c["path"].rsplit("/", 1)[-1])
def test_saved_page_yields_title_date_text_canonical(case: dict[str, Any]) -> None:
    fields = extract_article(BASE + case["path"] + "?utm_source=x", _page(case["path"]))
    assert fields.title == case["title"]
    assert fields.published_at is not None and fields.published_at.isoformat() == case["published_at"]
    assert case["lede"] in fields.text and fields.extraction == "trafilatura"
    assert fields.canonical_url == canonicalize(BASE + case["path"])
    assert fields.language == "en"
    for boiler in EXPECTED.get("boilerplate", []):
        assert boiler not in fields.text


def test_empty_and_binary_pages_have_no_text() -> None:
    for body in (b"", b"<html><body><div id=app></div><script>boot()</script></body></html>", bytes(range(256)) * 50):
        fields = extract_article("https://x.test/a", body)
        assert fields.extraction == "no-text" and fields.text == ""


def test_cli_extract_matches_function(tmp_path: Path) -> None:
    case = EXPECTED["articles"][0]
    page = tmp_path / "page.html"
    page.write_bytes(_page(case["path"]))
    out = subprocess.run([sys.executable, "-m", "scrutineer.cli", "extract", "--url", BASE + case["path"], str(page)],
                         capture_output=True, text=True, check=True).stdout
    rec = json.loads(out)
    assert set(rec) == {"file", "url", "canonical_url", "title", "text", "published_at", "authors", "language"}
    assert rec["title"] == case["title"] and rec["published_at"] == case["published_at"]


@pytest.mark.parametrize("url, canonical", [
    ("HTTP://Example.ORG:80/a/?utm_source=rss&b=2&a=1#comments", "http://example.org/a?a=1&b=2"),
    ("https://example.org:443/a?fbclid=x", "https://example.org/a"),
    ("https://example.org/", "https://example.org/"),
])
def test_canonical_urls(url: str, canonical: str) -> None:
    assert canonicalize(url) == canonical
    assert "utm_" not in strip_tracking(url) and "#" not in strip_tracking(url)


def test_modified_date_and_section_from_json_ld_then_meta() -> None:
    from crawlers.extract import extract_article

    body = " ".join(f"Sentence {i} about the county's new camera van and the consultation." for i in range(30))
    ld = ('{"@context":"https://schema.org","@graph":[{"@type":"NewsArticle","datePublished":"2026-11-20T09:00:00+01:00",'
          '"dateModified":"2026-11-21T18:30:00+01:00","articleSection":["Crime & Justice"]}]}')
    page = (f'<html><head><title>Van</title><script type="application/ld+json">{ld}</script></head>'
            f"<body><article><p>{body}</p></article></body></html>")
    fields = extract_article("https://paper.example/van", page)
    assert fields.published_at.isoformat() == "2026-11-20T08:00:00+00:00"
    assert fields.modified_at.isoformat() == "2026-11-21T17:30:00+00:00"  # the offset applied
    assert fields.section == "Crime & Justice"
    meta = (f'<html><head><meta property="article:modified_time" content="2026-11-22T10:00:00Z">'
            f'<meta property="article:section" content="Politics"></head><body><article><p>{body}</p>'
            "</article></body></html>")
    fields = extract_article("https://paper.example/x", meta)
    assert fields.modified_at.isoformat() == "2026-11-22T10:00:00+00:00" and fields.section == "Politics"
