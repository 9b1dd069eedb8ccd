"""The tender join scored on an independently written labelled set (notices × stories with the
true links), when it exists: precision and recall of (ocid, story) pairs must both reach 0.9."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.settings import Settings
from pipelines import tender_join
from pipelines.taxonomy import load

LABELLED = Path(__file__).with_name("data") / "fresh" / "tender_join_7.yaml"
#: Independent sets scored once, then tuned on, so dev from then on: dev2 (P 0.800, R 0.923 when
#: first scored), dev3 (P 0.769, R 0.833 when first scored, after tuning on dev2) and dev4 (the
#: third fresh set: P 0.889, R 1.000 when first scored, after tuning on dev3) and dev5 (the fourth:
#: P 0.800, R 1.000 when first scored, after tuning on dev4), dev6 (the fifth: P 0.850, R 1.000
#: when first scored, after tuning on dev5) and dev7 (the sixth: P 0.850, R 1.000 when first scored,
#: after tuning on dev6).
DEV_SETS = ("tender_join_dev.yaml", "tender_join_dev2.yaml", "tender_join_dev3.yaml", "tender_join_dev4.yaml",
            "tender_join_dev5.yaml", "tender_join_dev6.yaml", "tender_join_dev7.yaml")


def score(doc: dict) -> tuple[float, float, set, set]:
    s = Settings()
    tax = load(s.taxonomy, s.gazetteer)
    notices = [{**n, "id": n["ocid"]} for n in doc["notices"]]
    articles = [{**a, "id": str(a["id"]), "story_id": str(a["story"])} for a in doc["articles"]]
    predicted = {(m.notice, m.story) for m in tender_join.join(notices, articles, tax)}
    truth = {(link["ocid"], str(link["story"])) for link in doc.get("links") or []}
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else (1.0 if not truth else 0.0)
    recall = tp / len(truth) if truth else 1.0
    return precision, recall, predicted - truth, truth - predicted


@pytest.mark.skipif(not LABELLED.exists(), reason=f"{LABELLED} not written yet (another helper writes it)")
def test_tender_join_precision_and_recall_on_the_fresh_set() -> None:
    doc = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    precision, recall, false_pos, false_neg = score(doc)
    print(f"tender join on {LABELLED.name}: P={precision:.3f} R={recall:.3f} "
          f"({len(doc['notices'])} notices, {len(doc['articles'])} articles, {len(doc.get('links') or [])} links)")
    print(f"  false positives: {sorted(false_pos)}")
    print(f"  false negatives: {sorted(false_neg)}")
    # Scored once after tuning on dev7: P 0.947 (18 of 19), R 0.900 (18 of 20): the target.
    # Not tuned on; if a change drops it, write a new set rather than tune on this one.
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


@pytest.mark.parametrize("name", DEV_SETS)
def test_tender_join_on_the_dev_sets(name: str) -> None:
    """The sets the join was developed on (same format; not an independent measure)."""
    dev = LABELLED.parent.parent / name
    doc = yaml.safe_load(dev.read_text(encoding="utf-8"))
    precision, recall, false_pos, false_neg = score(doc)
    print(f"tender join on {dev.name}: P={precision:.3f} R={recall:.3f}")
    assert precision >= 0.9 and recall >= 0.9, (precision, recall, false_pos, false_neg)
