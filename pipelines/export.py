"""`scrutineer export --format jsonl`: one contract-shaped JSON object per stored article."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pipelines.settings import Settings
from storage import articles as store
from storage.db import get_engine, read
from storage.redact import redact

BATCH = 500


def record(row: dict[str, Any], tags: list[str]) -> dict[str, Any]:
    """The Article record exactly as CONTRACT.md shows it."""
    return {
        "id": row["id"], "url": redact(row["url"]), "canonical_url": redact(row["canonical_url"]),
        "source": row["source"],
        "title": row["title"], "published_at": row["published_at"].isoformat(), "language": row["language"],
        "text": row["text"] or row["summary"], "tags": tags, "relevance": row["relevance"],
        "relevant": row["relevant"],
        "sentiment": {"polarity": row["sentiment_polarity"], "label": row["sentiment_label"]}
        if row["sentiment_label"] else None,
        "story_id": row["story_id"], "duplicate_of": row["duplicate_of"],
    }


def records(settings: Settings, since: datetime | None = None,
            until: datetime | None = None) -> Iterator[dict[str, Any]]:
    with read(get_engine(settings.db)) as conn:
        batch: list[dict[str, Any]] = []
        for row in store.all_articles(conn, since=since, until=until):
            batch.append(row)
            if len(batch) >= BATCH:
                yield from _with_tags(conn, batch)
                batch = []
        yield from _with_tags(conn, batch)


def _with_tags(conn: Any, batch: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    tags = store.tags_for(conn, [r["id"] for r in batch])
    for row in batch:
        yield record(row, [t["slug"] for t in tags[row["id"]]])


def to_jsonl(rec: dict[str, Any]) -> str:
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
