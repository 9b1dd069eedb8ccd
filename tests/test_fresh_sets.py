"""Structural checks on the independent fresh evaluation sets (tests/data/fresh/).

They guard the sets' integrity (ids, references, verbatim evidence, headline pages) so an edit cannot
silently break them; they never score a model, because the sets are to be scored once, elsewhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest
import yaml

FRESH = Path(__file__).parent / "data" / "fresh"
SLUGS = {
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
LABELS = {"negative", "neutral", "positive"}


def _load(name: str) -> dict:
    """A set in fresh/, or in tests/data/ once it has been scored and tuned on (dev)."""
    path = FRESH / name if (FRESH / name).exists() else FRESH.parent / name
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_stories_ids_duplicates_and_keys() -> None:
    articles = _load("stories_dev_fresh1.yaml")["articles"]
    by_id = {a["id"]: a for a in articles}
    assert len(by_id) == len(articles)
    for a in articles:
        assert a["url"].startswith("https://") and ".example/" in a["url"]
        assert "2026-11-02" <= a["published_at"][:10] <= "2026-11-29"
        if a["duplicate_of"] is not None:
            first = by_id[a["duplicate_of"]]
            assert first["story"] == a["story"]
            assert first["published_at"] < a["published_at"]
        if a["story"].startswith("offtopic-"):
            assert a["thread"] == a["story"]
    threads_per_story = {}
    for a in articles:
        threads_per_story.setdefault(a["story"], set()).add(a["thread"])
    assert all(len(t) == 1 for t in threads_per_story.values())


def test_tone_items_are_labelled() -> None:
    items = _load("tone_dev_fresh1.yaml")["items"]
    assert len({i["id"] for i in items}) == len(items)
    for i in items:
        assert i["label"] in LABELS
        assert 25 <= len(i["text"].split()) <= 120


def test_stance_evidence_is_verbatim() -> None:
    for item in _load("stance_dev_fresh1.yaml")["items"]:
        assert item["title"].lower() not in item["text"].lower()
        for s in item["stances"]:
            assert s["entity"] in SLUGS and s["stance"] in LABELS
            assert s["evidence"] in item["text"], (item["id"], s["evidence"])


def test_headline_pages_show_their_headline() -> None:
    site = FRESH / "headline_site"
    expected = yaml.safe_load((site / "expected.yaml").read_text(encoding="utf-8"))
    for src in expected["sources"]:
        assert (site / src["url"].lstrip("/")).is_file()
    for art in expected["articles"]:
        raw = (site / art["path"].lstrip("/")).read_text(encoding="utf-8")
        assert not re.search(r'(href|src)="https?://', raw), art["path"]
        h1 = lxml.html.fromstring(raw).find(".//h1")
        for span in h1.findall("span"):
            span.drop_tree()
        assert h1.text_content().strip() == art["headline"]


TENDER_SETS = {**{f"dev{i}": FRESH.parent / f"tender_join_dev{i}.yaml" for i in range(2, 8)},
               "fresh7": FRESH / "tender_join_7.yaml"}


@pytest.mark.parametrize("path", list(TENDER_SETS.values()), ids=list(TENDER_SETS))
def test_tender_links_refer_to_known_keys(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    ocids = {n["ocid"] for n in data["notices"]}
    stories = {a["story"] for a in data["articles"]}
    for n in data["notices"]:
        assert n["ocid"].endswith(n["notice_id"].split("-")[0])
        assert n["stage"] in {"planning", "tender", "award", "contract"}
    for link in data["links"]:
        assert link["ocid"] in ocids and link["story"] in stories
