"""Run processing over a labelled dedup/story corpus and score it (tests/data/dedup_corpus).

Articles are stored in publication order (first-seen = published), as a collector would have met
them, then the real `process` stage runs; pair F1 compares its duplicate and story assignments
with the labels. Used by the quality-gate tests.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from pipelines import export
from pipelines.evaluate import pair_f1
from pipelines.settings import Settings
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, write


def load(path: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["articles"])


def ingest(settings: Settings, items: list[dict[str, Any]]) -> None:
    arts = []
    for it in sorted(items, key=lambda i: (i["published_at"], i["id"])):
        when = datetime.fromisoformat(str(it["published_at"]))
        arts.append(Article(url=it["url"], canonical_url=it["url"], source=it["outlet"], title=it["title"],
                            text=it["text"], published_at=when, fetched_at=when, language="en"))
    with write(get_engine(settings.db)) as conn:
        store_articles(conn, arts)


def score(settings: Settings, items: list[dict[str, Any]]) -> dict[str, float]:
    by_url = {r["url"]: r for r in export.records(settings)}
    id_of = {it["id"]: by_url[it["url"]]["id"] for it in items}
    dup_truth = {it["id"]: it["duplicate_of"] or it["id"] for it in items}
    key_of = {v: k for k, v in id_of.items()}
    dup_got = {it["id"]: key_of.get(by_url[it["url"]]["duplicate_of"] or "", it["id"]) for it in items}
    story_truth = {it["id"]: it["story"] for it in items}
    story_got = {it["id"]: by_url[it["url"]]["story_id"] for it in items}
    return {"duplicate_pair_f1": round(pair_f1(dup_truth, dup_got), 4),
            "story_pair_f1": round(pair_f1(story_truth, story_got), 4), "articles": len(items)}
