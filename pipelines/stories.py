"""Story grouping: articles from different outlets about the same event share a `story_id`.

Incremental and time-windowed: in first-seen order, an article joins the open story whose key
terms (named things, numbers and tags) it overlaps most, or starts a new one. Duplicates take
their original's story. This stage is last, so it also marks articles processed.
"""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from pipelines.settings import Settings
from pipelines.text import fold
from storage import articles as store
from storage.db import get_engine, read, write

OPEN_FOR = timedelta(days=3)
#: Weighted overlap needed to join a story; measured on the demo truth set.
JOIN_AT = 0.3
LEAD_WORDS = 120
_TOKEN = re.compile(r"[£$]?\d[\d,.]*[mbk]?\b|[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)*")
_STOP = frozenset("The A An In On At For And But Or Of To It He She They We This That These Those "
                  "Mr Mrs Ms Dr Sir Monday Tuesday Wednesday Thursday Friday Saturday Sunday "
                  "January February March April May June July August September October November "
                  "December Read More Share Comments Related".split())


def terms(title: str, text: str, tags: list[str]) -> set[str]:
    lead = " ".join((text or "").split()[:LEAD_WORDS])
    found = set()
    for m in _TOKEN.finditer(fold(f"{title}. {title}. {lead}")):
        tok = m.group(0).strip(".,")
        if tok in _STOP or len(tok) < 2:
            continue
        found.add(tok.casefold())
    return found | {f"#{t}" for t in tags}


def similarity(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b)) * min(1.0, len(a & b) / 4)


def story_id(first_article_id: str) -> str:
    return "s" + hashlib.sha256(first_article_id.encode()).hexdigest()[:15]


def assign(rows: list[dict[str, Any]], tags: dict[str, list[str]], pending_ids: set[str]) -> dict[str, str]:
    """story_id for every row, rows sorted by first-seen order; settled rows keep theirs."""
    stories: dict[str, dict[str, Any]] = {}
    out: dict[str, str] = {}
    for row in rows:
        rid = row["id"]
        if row["duplicate_of"] and row["duplicate_of"] in out:
            out[rid] = out[row["duplicate_of"]]
            continue
        t = terms(row["title"], row["text"] or row["summary"], tags.get(rid, []))
        sid = row["story_id"] if rid not in pending_ids else None
        if sid is None:
            best, best_score = None, JOIN_AT
            for cand_id, story in stories.items():
                if row["published_at"] - story["last"] > OPEN_FOR or story["first"] - row["published_at"] > OPEN_FOR:
                    continue
                s = max(similarity(t, member) for member in story["members"])
                if s >= best_score:
                    best, best_score = cand_id, s
            sid = best or story_id(rid)
        story = stories.setdefault(sid, {"members": [], "first": row["published_at"], "last": row["published_at"]})
        story["members"].append(t)
        story["first"] = min(story["first"], row["published_at"])
        story["last"] = max(story["last"], row["published_at"])
        out[rid] = sid
    return out


def run(settings: Settings) -> int:
    engine = get_engine(settings.db)
    with read(engine) as conn:
        pending = store.pending(conn)
        if not pending:
            return 0
        since = min(r["published_at"] for r in pending) - 2 * OPEN_FOR
        until = max(r["published_at"] for r in pending) + 2 * OPEN_FOR
        cols = ["id", "title", "text", "summary", "published_at", "first_seen_at", "duplicate_of", "story_id",
                "content_hash", "relevant"]
        window = list(store.all_articles(conn, since=since, until=until, columns=cols))
        tag_rows = store.tags_for(conn, [r["id"] for r in window])
    tags = {i: [t["slug"] for t in ts] for i, ts in tag_rows.items()}
    pending_ids = {r["id"] for r in pending}
    assigned = assign(window, tags, pending_ids)
    by_story: dict[str, list[dict[str, Any]]] = {}
    for row in window:
        by_story.setdefault(assigned[row["id"]], []).append(row)
    story_rows = []
    for sid, members in by_story.items():
        if not any(m["id"] in pending_ids for m in members):
            continue
        originals = [m for m in members if not m["duplicate_of"]] or members
        story_rows.append({"id": sid, "headline": originals[0]["title"],
                           "first_seen_at": min(m["published_at"] for m in members),
                           "last_seen_at": max(m["published_at"] for m in members),
                           "article_count": len(members)})
    results = [{"id": r["id"], "story_id": assigned[r["id"]], "processed_hash": r["content_hash"]}
               for r in window if r["id"] in pending_ids]
    with write(engine) as conn:
        store.save_stories(conn, story_rows)
        return store.save_results(conn, results)
