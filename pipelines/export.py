"""`scrutineer export`: one contract-shaped record per stored article (JSONL) or procurement
notice (JSONL or CSV)."""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TextIO

from core.settings import Settings
from storage import articles as store
from storage import notices as notice_store
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


# -- notices (`export --kind notices`, `tenders list`) ------------------------------------------------
#: The Notice record's keys, in CONTRACT.md's order: the CSV header.
NOTICE_COLUMNS = ("ocid", "notice_id", "source", "stage", "title", "buyer", "suppliers", "value", "currency", "cpv",
                  "published_at", "deadline", "url", "matched_because", "story_ids")
_NOTICE_NUMBER = re.compile(r"/Notice/([A-Za-z0-9][A-Za-z0-9-]{0,63})(?:[/?#]|$)")


def notice_number(row: dict[str, Any]) -> str:
    """The publisher's own notice id (Find a Tender `032391-2026`, from the notice page URL that
    OCDS documents carry), else the OCDS release id."""
    m = _NOTICE_NUMBER.search(row.get("url") or "")
    return m.group(1) if m else str(row["release_id"])


def notice_story_ids(conn: Any, rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Notice id -> ids of the news stories about the same procurement (the digest's join)."""
    from pipelines.tender_join import story_ids_for_notices

    return story_ids_for_notices(conn, rows)


def notice_record(row: dict[str, Any], story_ids: list[str] | None = None) -> dict[str, Any]:
    """The Notice record exactly as CONTRACT.md shows it."""
    value = row["value"]
    deadline = row["tender_deadline"]
    return {
        "ocid": row["ocid"], "notice_id": notice_number(row), "source": row["source"], "stage": row["stage"],
        "title": row["title"], "buyer": row["buyer"], "suppliers": list(row["suppliers"] or []),
        "value": int(value) if value is not None and float(value).is_integer() else value,
        "currency": row["currency"], "cpv": list(row["cpv"] or []),
        "published_at": row["published_at"].isoformat(), "deadline": deadline.isoformat() if deadline else None,
        "url": row["url"], "matched_because": list(row["matched"] or []), "story_ids": list(story_ids or []),
    }


def notice_records(settings: Settings, rows: list[dict[str, Any]] | None = None, since: datetime | None = None,
                   until: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Notice records of `rows` (a `tenders list` selection), or of every stored release
    (published in [since, until) when given)."""
    with read(get_engine(settings.db)) as conn:
        rows = list(notice_store.all_notices(conn, since, until)) if rows is None else rows
        stories = notice_story_ids(conn, rows)
    for row in rows:
        yield notice_record(row, stories.get(row["id"]))


def csv_cell(value: Any) -> str:
    """Lists joined with "; ", None as an empty cell, numbers as JSON writes them."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_notices_csv(recs: Iterable[dict[str, Any]], out: TextIO) -> None:
    """RFC 4180 CSV (csv.writer quotes commas, quotes and newlines), header row first."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(NOTICE_COLUMNS)
    for rec in recs:
        writer.writerow([csv_cell(rec[c]) for c in NOTICE_COLUMNS])
