"""Tagging quality gates and evidence (issue 5).

Floors are pinned on three labelled sources that follow tests/data/TAGGING_GUIDE.md: the
independent labelled set (`tags_labelled.yaml`, dev and held-out splits scored separately), and
the unseen site's pages (`unseen_site/`, run through the same extraction the crawlers use, no
crawl). The demo newsroom's floor lives in tests/test_quality.py. A failing gate prints per-slug
precision and recall so the log names the tag that slipped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.evaluate import labelled_tag_scores, per_slug_report, tag_scores
from pipelines.taxonomy import Taxonomy, load

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
LABELLED = yaml.safe_load((DATA / "tags_labelled.yaml").read_text(encoding="utf-8"))["articles"]
UNSEEN = DATA / "unseen_site"

#: Measured at commit: dev 0.975, holdout 0.917 (never tuned on), unseen site 0.90.
FLOORS = {"dev": 0.95, "holdout": 0.91}
UNSEEN_FLOOR = 0.88  # within 0.05 of the 0.93 target on a site the tagger was never tuned on


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load(ROOT / "pipelines" / "taxonomy.yaml", ROOT / "pipelines" / "gazetteer.yaml")


def test_labelled_set_is_what_it_claims() -> None:
    assert len(LABELLED) >= 120
    ids = [a["id"] for a in LABELLED]
    assert len(set(ids)) == len(ids)
    holdout = [a for a in LABELLED if a["split"] == "holdout"]
    assert len(holdout) * 3 >= len(LABELLED) - 2
    assert all(a["split"] in ("dev", "holdout") for a in LABELLED)


def test_gold_tags_are_taxonomy_slugs(tax: Taxonomy) -> None:
    unknown = {(a["id"], t) for a in LABELLED for t in a["tags"] if t not in tax.tags}
    assert not unknown, f"gold tags that are not taxonomy slugs: {sorted(unknown)}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("split", sorted(FLOORS))
def test_tag_micro_f1_floor_on_labelled_set(tax: Taxonomy, split: str) -> None:
    got = labelled_tag_scores(tax, [a for a in LABELLED if a["split"] == split])
    print(f"tags on tags_labelled.yaml ({split}):", {k: got[k] for k in ("micro_f1", "precision", "recall")})
    assert got["micro_f1"] >= FLOORS[split], (
        f"{split} tag micro-F1 {got['micro_f1']} fell below {FLOORS[split]}\n{per_slug_report(got)}")


def _unseen_pages() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    from crawlers.extract import extract_article

    expected = yaml.safe_load((UNSEEN / "expected.yaml").read_text(encoding="utf-8"))
    base = "http://127.0.0.1:8000"
    out = []
    for want in expected["articles"]:
        html = (UNSEEN / want["path"].lstrip("/")).read_text(encoding="utf-8").replace("{BASE}", base)
        out.append((want, extract_article(base + want["path"], html)))
    return out


@pytest.mark.timeout(120)
def test_tag_f1_on_the_unseen_site(tax: Taxonomy) -> None:
    pages = _unseen_pages()
    assert all("tags" in want for want, _ in pages), "every unseen-site article needs gold tags"
    got = tag_scores((want["tags"], tax.tag(page["title"], page["text"])) for want, page in pages)
    print("tags on the unseen site:", {k: got[k] for k in ("micro_f1", "precision", "recall")})
    assert got["micro_f1"] >= UNSEEN_FLOOR, (
        f"unseen-site tag micro-F1 {got['micro_f1']} fell below {UNSEEN_FLOOR}\n{per_slug_report(got)}")


def test_every_tag_carries_the_sentence_that_matched(tax: Taxonomy) -> None:
    """Evidence is a sentence of the article (or the headline) that contains a hit for the tag."""
    checked = 0
    for a in LABELLED:
        source = f"{a['title']} {a['text']}"
        for slug, hit in tax.tag(a["title"], a["text"]).items():
            assert hit.evidence in hit.sentences, (a["id"], slug)
            evidence = hit.evidence.rstrip(".")
            assert evidence and len(evidence) <= len(source), (a["id"], slug)
            # the sentence itself holds an alias (or every side of a co-occurrence) of this tag
            names = {e.name.split("#", 1)[0] for _, _, e in tax._hits(hit.evidence) if e.kind in ("tag", "part")}
            assert slug in names, f"{a['id']} {slug}: evidence {hit.evidence!r} holds no match"
            checked += 1
    assert checked > 200


def test_evidence_sentence_holds_the_alias() -> None:
    tax = Taxonomy({"tags": [{"slug": "palantir", "aliases": ["Palantir Technologies"]},
                             {"slug": "procurement", "parent": "topics", "aliases": ["tender"]}]})
    tags = tax.tag("Council news", "The bins are late. Palantir Technologies won. A tender opens in May.")
    assert tags["palantir"].evidence == "Palantir Technologies won."
    assert tags["procurement"].evidence == "A tender opens in May."


def test_topics_need_lead_or_two_sentences_entities_one_mention() -> None:
    tax = Taxonomy({"tags": [{"slug": "palantir", "aliases": ["Palantir"]},
                             {"slug": "procurement", "parent": "topics", "aliases": ["tender"]}]})
    filler = " ".join(f"Sentence number {n} is about the weather." for n in range(5))
    late_once = tax.tag("Headline", f"{filler} Palantir ran a tender.")
    assert "palantir" in late_once and "procurement" not in late_once
    late_twice = tax.tag("Headline", f"{filler} Palantir ran a tender. The tender closed.")
    assert "procurement" in late_twice
    in_lead = tax.tag("Headline", f"A tender opened. {filler}")
    assert "procurement" in in_lead


@pytest.mark.parametrize(("title", "text", "absent"), [
    ("Met Office warns of gales", "The Met Office said police urged drivers to stay home.", "met-police"),
    ("Review: Tosca at the Met Opera", "The Metropolitan Opera orchestra played well.", "met-police"),
    ("DC policing", "Washington's Metropolitan Police Department released footage.", "met-police"),
    ("Tolkien", "Saruman looked into the Palantir of Orthanc and saw Sauron.", "palantir"),
    ("Books", "Novelist Hannah Rowley visited a police station.", "mark-rowley"),
    ("Bakery", "Mr Khan bakes bread in Bradford.", "sadiq-khan"),
    ("Ontario", "Peterborough, Ontario, approved a bus plan; the Peterborough Petes cheered.", "peterborough"),
    ("Football", "His contract runs to 2028 and the club rejected a bid in a bid to keep him.", "procurement"),
    ("Panel", "The Cambridgeshire police and crime panel met on Monday.", "cambridgeshire-police"),
])
def test_disambiguation(tax: Taxonomy, title: str, text: str, absent: str) -> None:
    assert absent not in tax.tag(title, text)


def test_unicode_variants_fold(tax: Taxonomy) -> None:
    text = "The Metropolitan Police’s Pala\u200bntir pilot continues for the force."
    tags = tax.tag("Ｍｅｔ Ｐｏｌｉｃｅ news", text)
    assert {"met-police", "palantir"} <= set(tags)
