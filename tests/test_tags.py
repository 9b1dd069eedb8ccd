"""Tagging quality gates and evidence (issue 5).

Floors are pinned on five labelled sources that follow tests/data/TAGGING_GUIDE.md: the
independent labelled set (`tags_labelled.yaml`, dev and held-out splits scored separately; its
held-out split was measured once after dev-only tuning and is now spent), a second set
(`tags_holdout_2.yaml`, held out for one evaluation and a dev set since: its errors drove the
matcher changes of commit 92fa402), a fresh held-out set written and committed before the tagger
ever ran on it (`tags_holdout_3.yaml`), and the unseen site's pages (`unseen_site/`, run through the
same extraction the crawlers use, no crawl). The demo newsroom's floor lives in
tests/test_quality.py. A failing gate prints per-slug
precision and recall so the log names the tag that slipped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from crawlers.extract import ExtractedPage
from evaluation.evaluate import labelled_tag_scores, per_slug_report, tag_scores
from pipelines.taxonomy import Taxonomy, load

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
LABELLED = yaml.safe_load((DATA / "tags_labelled.yaml").read_text(encoding="utf-8"))["articles"]
HOLDOUT_2 = yaml.safe_load((DATA / "tags_holdout_2.yaml").read_text(encoding="utf-8"))["articles"]
HOLDOUT_3 = yaml.safe_load((DATA / "tags_holdout_3.yaml").read_text(encoding="utf-8"))["articles"]
UNSEEN = DATA / "unseen_site"

#: Measured at 92fa402: dev 0.9945 (tuned on); holdout 0.9457 (spent: scored more than once, its
#: errors seen in a baseline run, not tuned on); floors are the measured figures rounded down.
FLOORS = {"dev": 0.99, "holdout": 0.94}
#: First and only held-out measurement 0.9236 (P 0.946, R 0.903); then used as a dev set (overlap
#: bug, plural context words, vocabulary): 0.9836 at 92fa402. A tuned-on figure, not held-out evidence.
HOLDOUT_2_FLOOR = 0.98
#: Measured once, before any change was made with it in view (file at 6949258, matcher at 92fa402):
#: 0.9322 (P 0.988, R 0.882). The held-out figure that speaks for the issue's 0.93 target.
HOLDOUT_3_FLOOR = 0.93
UNSEEN_FLOOR = 0.90  # measured 0.90 on a site the tagger was never tuned on


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


@pytest.mark.parametrize("name", ["tags_holdout_2.yaml", "tags_holdout_3.yaml"])
def test_fresh_holdout_is_what_it_claims(tax: Taxonomy, name: str) -> None:
    articles = {"tags_holdout_2.yaml": HOLDOUT_2, "tags_holdout_3.yaml": HOLDOUT_3}[name]
    others = {a["id"] for a in LABELLED + HOLDOUT_2 + HOLDOUT_3 if a not in articles}
    assert len(articles) >= 60
    ids = [a["id"] for a in articles]
    assert len(set(ids)) == len(ids)
    assert not set(ids) & others
    unknown = {(a["id"], t) for a in articles for t in a["tags"] if t not in tax.tags}
    assert not unknown, f"gold tags that are not taxonomy slugs: {sorted(unknown)}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "floor"), [("tags_holdout_2.yaml", HOLDOUT_2_FLOOR),
                                             ("tags_holdout_3.yaml", HOLDOUT_3_FLOOR)])
def test_tag_micro_f1_floor_on_fresh_holdout(tax: Taxonomy, name: str, floor: float) -> None:
    got = labelled_tag_scores(tax, {"tags_holdout_2.yaml": HOLDOUT_2, "tags_holdout_3.yaml": HOLDOUT_3}[name])
    print(f"tags on {name}:", {k: got[k] for k in ("micro_f1", "precision", "recall")})
    assert got["micro_f1"] >= floor, f"{name} tag micro-F1 {got['micro_f1']} fell below {floor}\n{per_slug_report(got)}"


def _unseen_pages() -> list[tuple[dict[str, Any], ExtractedPage]]:
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
    got = tag_scores((want["tags"], tax.tag(page.title, page.text)) for want, page in pages)
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
    ("How to keep a brisket tender", "A tender brisket needs a low oven and a long rest.", "procurement"),
    ("Takeover", "A rival made a takeover bid. The bidder must make a firm offer by Friday.", "procurement"),
    ("Transfers", "The winger signed a two-year contract with the club.", "procurement"),
    ("Scotland", "Scotland's biometrics commissioner published a report.", "biometrics-commissioner"),
    ("Game review", "Players spy on one another across the board.", "civil-liberties"),
    ("Health", "Recordings were stored under strict data protection rules.", "civil-liberties"),
])
def test_disambiguation(tax: Taxonomy, title: str, text: str, absent: str) -> None:
    assert absent not in tax.tag(title, text)


@pytest.mark.parametrize(("title", "text", "present"), [
    ("Van in town", "Police parked a facial recognition van in the square.",
     {"facial-recognition", "live-facial-recognition"}),
    ("Fly-tipping", "Hidden cameras will read number plates in the lanes.", {"anpr"}),
    ("Phones", "The force bought kiosks for extracting data from seized phones.", {"digital-forensics"}),
    ("Scotland", "Scotland's biometrics commissioner warned about custody images.",
     {"scottish-biometrics-commissioner"}),
    ("Takeover", "The council's preferred bidder was named. A supplier deal was agreed with the council.",
     {"procurement"}),
])
def test_described_and_overlapping_mentions(tax: Taxonomy, title: str, text: str, present: set[str]) -> None:
    assert present <= set(tax.tag(title, text))


def test_a_longer_phrase_keeps_another_tags_phrase_at_the_same_start_only() -> None:
    tax = Taxonomy({"tags": [{"slug": "fr", "parent": "technologies", "aliases": ["facial recognition"]},
                             {"slug": "lfr", "parent": "technologies", "aliases": ["facial recognition van"]},
                             {"slug": "sbc", "aliases": ["Scottish Biometrics Commissioner"]},
                             {"slug": "bc", "aliases": ["Biometrics Commissioner"]}]})
    assert {"fr", "lfr"} <= set(tax.tag("News", "A facial recognition van arrived."))
    got = tax.tag("News", "The Scottish Biometrics Commissioner spoke.")
    assert "sbc" in got and "bc" not in got  # a phrase starting inside the winner stays hidden


def test_an_unconfirmed_weak_phrase_hides_nothing() -> None:
    tax = Taxonomy({"tags": [{"slug": "ico", "weak": ["Information Commissioner's Office"], "context": ["fine"]},
                             {"slug": "cl", "aliases": ["Information Commissioner"]}]})
    got = tax.tag("News", "The Information Commissioner's Office wrote to us.")
    assert "cl" in got and "ico" not in got
    assert {"cl", "ico"} <= set(tax.tag("News", "The Information Commissioner's Office set a fine."))


def test_context_and_veto_words_take_plurals() -> None:
    tax = Taxonomy({"tags": [{"slug": "cl", "parent": "topics", "weak": ["bias"], "context": ["tool"],
                              "context_scope": "sentence"},
                             {"slug": "pr", "parent": "topics", "weak": ["contract"], "context": ["signed"],
                              "veto": ["striker"]}]})
    assert "cl" in tax.tag("News", "Such tools can reinforce bias.")
    assert "pr" in tax.tag("News", "The council signed a contract.")
    assert "pr" not in tax.tag("News", "The strikers signed a contract.")


def test_vetoable_phrases_need_no_context_but_yield_to_a_veto() -> None:
    tax = Taxonomy({"tags": [{"slug": "pr", "parent": "topics", "vetoable": ["tender"], "veto": ["oven"],
                              "context": ["supplier"], "context_scope": "sentence"}]})
    assert "pr" in tax.tag("News", "A tender opens in May.")
    assert "pr" in tax.tag("News", "Two tenders open in May.")
    assert "pr" not in tax.tag("Cookery", "A tender joint needs a slow oven.")


def test_unicode_variants_fold(tax: Taxonomy) -> None:
    text = "The Metropolitan Police’s Pala\u200bntir pilot continues for the force."
    tags = tax.tag("Ｍｅｔ Ｐｏｌｉｃｅ news", text)
    assert {"met-police", "palantir"} <= set(tags)


def test_hyphens_plurals_and_possessives_match() -> None:
    tax = Taxonomy({"tags": [{"slug": "facial-recognition", "parent": "technologies",
                              "aliases": ["facial recognition"]},
                             {"slug": "procurement", "parent": "topics", "aliases": ["tender", "face-scanning"]},
                             {"slug": "palantir", "aliases": ["Palantir"]}]})
    tags = tax.tag("Facial-recognition tenders", "Palantir's bid. Face scanning ahead.")
    assert {"facial-recognition", "procurement", "palantir"} <= set(tags)
    assert "procurement" in tax.tag("News", "Face scanning starts.")
    assert "palantir" not in tax.tag("News", "The Palantirs of fiction.")  # entities take no plural
    assert "procurement" not in tax.tag("News", "Tenderness matters.")


def test_sentence_scoped_context_needs_another_word_in_that_sentence() -> None:
    tax = Taxonomy({"tags": [{"slug": "procurement", "parent": "topics", "weak": ["contract", "supplier"],
                              "context_scope": "sentence", "context": ["supplier", "awarded"]}]})
    assert "procurement" in tax.tag("News", "The contract was awarded in May.")
    assert "procurement" not in tax.tag("News", "He signed a contract. The supplier was late.")
    assert "procurement" not in tax.tag("News", "The supplier was late.")  # an alias is not its own context
    assert "procurement" in tax.tag("News", "The supplier was awarded it.")


def test_veto_words_cancel_weak_aliases_even_inside_excluded_phrases() -> None:
    tax = Taxonomy({"tags": [{"slug": "met-police", "weak": ["Met"], "case_sensitive_weak": True,
                              "context": ["police"], "veto": ["Met Gala"], "exclude": ["Met Gala"]}]})
    assert "met-police" in tax.tag("News", "The Met said police would attend.")
    assert "met-police" not in tax.tag("News", "The Met Gala was busy; the Met said police would attend.")
