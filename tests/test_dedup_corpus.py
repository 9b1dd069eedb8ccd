"""Quality gates for deduplication and story grouping on the hand-labelled corpus.

corpus.yaml is the development set the thresholds were chosen on; holdout.yaml (another house
style, other events) must score within 0.05 of the floors. Runs on SQLite and on PostgreSQL.
"""
from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).parent / "data" / "dedup_corpus"
#: Story floor raised by issue 15 (same-event evidence): measured 0.9862 here, 0.9483 on the holdout;
#: with the actors-and-places rule (pipelines/actors.py) 1.00 on both.
FLOORS = {"duplicate_pair_f1": 0.98, "story_pair_f1": 0.97}


def test_corpus_quality_floors(db_url: str, tmp_path: Path) -> None:
    from core.settings import Settings
    from evaluation.corpus_eval import ingest, load, score
    from pipelines import process

    settings = Settings(db=db_url)
    items = load(CORPUS / "corpus.yaml")
    ingest(settings, items)
    process.run(settings)
    got = score(settings, items)
    print("dedup corpus:", got)
    for metric, floor in FLOORS.items():
        assert got[metric] >= floor, f"{metric} {got[metric]} below {floor}"


def test_holdout_within_005_of_floors(db_url: str) -> None:
    from core.settings import Settings
    from evaluation.corpus_eval import ingest, load, score
    from pipelines import process

    settings = Settings(db=db_url)
    items = load(CORPUS / "holdout.yaml")
    ingest(settings, items)
    process.run(settings)
    got = score(settings, items)
    print("dedup holdout:", got)
    for metric, floor in FLOORS.items():
        assert got[metric] >= floor - 0.05, f"{metric} {got[metric]} more than 0.05 below {floor}"


#: Sagas of the corpus: these story keys are steps of one continuing thread.
SAGAS = {**dict.fromkeys(("mopac-blocks-contract", "palantir-court-challenge", "met-staff-data-concerns",
                          "met-pilot-extended", "met-tender-opens"), "met-palantir"),
         "drone-trial-privacy-complaint": "drone-trial-launch"}


def test_story_threads_follow_sagas(db_url: str) -> None:
    from datetime import datetime, timezone

    from core.settings import Settings
    from evaluation.corpus_eval import ingest, load
    from evaluation.evaluate import pair_f1
    from pipelines import export, process
    from storage import articles as store
    from storage.db import get_engine, read

    settings = Settings(db=db_url)
    items = load(CORPUS / "corpus.yaml")
    ingest(settings, items)
    process.run(settings)
    by_url = {r["url"]: r for r in export.records(settings)}
    with read(get_engine(settings.db)) as conn:
        stories = {s["id"]: s for s in store.stories_since(conn, datetime(2000, 1, 1, tzinfo=timezone.utc))}
    truth, got = {}, {}
    for it in items:
        sid = by_url[it["url"]]["story_id"]
        truth[sid] = SAGAS.get(it["story"], it["story"])
        got[sid] = stories[sid]["thread_id"] or sid  # unlinked (not relevant): a thread of its own
    assert pair_f1(truth, got) >= 0.85
