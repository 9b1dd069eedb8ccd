"""The sources-file entry as a pydantic model (issue 13 item 3): the same one-line messages as
the hand-written validator it replaces, and the same field named when an entry has two mistakes."""
from __future__ import annotations

from typing import Any

import pytest

from pipelines.source_entry import SourceEntry, validate
from pipelines.sources import Invalid

URL = "https://gazette.example/feed.xml"


def _refusal(raw: Any) -> str:
    with pytest.raises(Invalid) as refused:
        validate(raw, "#4")
    return str(refused.value)


@pytest.mark.parametrize("raw, message", [
    ([], "entry #4: field '(entry)': must be a mapping"),
    ({"name": "a", "kind": "rss", "url": URL, "zeta": 1, "beta": 2},
     "entry #4 ('a'): field 'beta': unknown field (known: name, kind, url, schedule, tags, follow_links, allow, "
     "max_pages, max_depth, outlet, rate, status)"),
    ({"name": "Caps", "kind": "rss", "url": URL},
     "entry #4 ('Caps'): field 'name': required; lower-case letters, digits and '-', at most 63 characters"),
    ({"name": "a", "kind": "fax", "url": URL}, "entry #4 ('a'): field 'kind': must be one of rss, sitemap, site, ocds"),
    ({"name": "a", "kind": "rss", "url": 7}, "entry #4 ('a'): field 'url': required"),
    ({"name": "a", "kind": "rss", "url": "ftp://x.example/f"},
     "entry #4 ('a'): field 'url': only http:// and https:// URLs are collected, got 'ftp://x.example/f'"),
    ({"name": "a", "kind": "rss", "url": URL, "max_depth": 2},
     "entry #4 ('a'): field 'max_depth': only for kind site"),
    ({"name": "a", "kind": "site", "url": URL, "max_depth": True},
     "entry #4 ('a'): field 'max_depth': must be a whole number from 0 to 20"),
    ({"name": "a", "kind": "site", "url": URL, "follow_links": None}, "entry #4 ('a'): field 'follow_links': "
     "must be true or false"),
    ({"name": "a", "kind": "rss", "url": URL, "outlet": "two\nlines"},
     "entry #4 ('a'): field 'outlet': must be the outlet's name on one line, at most 120 characters"),
    ({"name": "a", "kind": "rss", "url": URL, "status": "removed"}, "entry #4 ('a'): field 'status': "
     "must be one of active, paused"),
    # Two mistakes: the one the old validator met first is named.
    ({"name": "a", "kind": "ocds", "url": URL, "max_pages": 60, "follow_links": "x"},
     "entry #4 ('a'): field 'max_pages': at most 50 pages per pass for an ocds source (rate limits)"),
    ({"name": "a", "kind": "site", "url": URL, "max_pages": 0, "follow_links": "x"},
     "entry #4 ('a'): field 'follow_links': must be true or false"),
    ({"name": "a", "kind": "rss", "url": "ftp://x", "schedule": "@once"},
     "entry #4 ('a'): field 'url': only http:// and https:// URLs are collected, got 'ftp://x'"),
])
def test_refusals_keep_their_wording(raw: Any, message: str) -> None:
    assert _refusal(raw) == message


def test_a_valid_entry_is_a_typed_record_and_the_registry_row() -> None:
    raw = {"name": "harbour", "kind": "site", "url": f"  {URL}  ", "schedule": " @daily ", "tags": ["uk"],
           "max_depth": 2, "allow": ["/news/"], "outlet": "  Harbour   Gazette ", "rate": " 1/s ", "status": "paused"}
    entry = SourceEntry.model_validate(raw)
    assert (entry.url, entry.schedule, entry.outlet, entry.max_depth) == (URL, "@daily", "Harbour Gazette", 2)
    assert validate(raw, "#1") == {"name": "harbour", "kind": "site", "url": URL, "schedule": "@daily", "tags": ["uk"],
                                   "options": {"max_depth": 2, "allow": ["/news/"], "rate": "1/s"},
                                   "outlet": "Harbour Gazette", "status": "paused"}
    # Options other kinds always ignored are dropped, not refused (old files keep importing).
    assert validate({"name": "w", "kind": "rss", "url": URL, "allow": ["/x"], "max_pages": 3}, "#2")["options"] == {}
