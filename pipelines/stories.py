"""Story grouping: articles from different outlets about the same event share a `story_id`.

Incremental and time-windowed: in first-seen order, an article joins the open story whose TF-IDF
centroid (headline and lead) it is closest to, or starts a new one. Duplicates take
their original's story. This stage is last, so it also marks articles processed.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from datetime import timedelta
from typing import Any

from pipelines.settings import Settings
from pipelines.text import fold
from storage import articles as store
from storage.db import get_engine, read, write

OPEN_FOR = timedelta(days=3)
#: Cosine similarity to a story's centroid needed to join it; measured on the demo truth set
#: (0.15 with an 80-word lead gave the best story pair F1 of the values tried, see README).
JOIN_AT = 0.12
LEAD_WORDS = 40
#: How many of an article's strongest terms it looks up; stories sharing none are never compared.
INDEX_TERMS = 12
_WORD = re.compile(r"[a-z][a-z'-]+|\d+")
_STOP = frozenset("the a an of to in and or for on at by with from as is was are were be been that this it its "
                  "their his her they he she said says will would could has have had not but than which who "
                  "what when into over after about more also new".split())

Vector = dict[str, float]


def words(title: str, text: str) -> Counter[str]:
    """Title twice (headlines name the event) plus the lead, lower-cased, stop words dropped."""
    lead = " ".join((text or "").split()[:LEAD_WORDS])
    found = _WORD.findall(fold(f"{title} {title} {lead}").lower())
    return Counter(w for w in found if w not in _STOP and len(w) > 2)


def tfidf(docs: dict[str, Counter[str]]) -> dict[str, Vector]:
    """IDF over the window: words every story shares ("Met", "Palantir") weigh little."""
    df: Counter[str] = Counter(w for d in docs.values() for w in d)
    n = len(docs)
    return {i: {w: (1 + math.log(c)) * math.log(n / df[w]) for w, c in d.items()} for i, d in docs.items()}


def cosine(a: Vector, b: Vector) -> float:
    num = sum(v * b.get(w, 0.0) for w, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return num / (na * nb) if na and nb else 0.0


THREAD_DAYS = timedelta(days=30)
#: Headline similarity that makes a new story the next development of an earlier one (a thread,
#: the saga of many events); measured on the corpus's labelled sagas (README).
THREAD_AT = 0.1
#: A story's vector pools all its articles, so it looks up more of its strongest terms.
THREAD_INDEX_TERMS = 25
#: At most this many earlier stories are considered for a thread.
THREAD_CANDIDATES = 2000


def threads(rows: list[dict[str, Any]], new_ids: set[str]) -> dict[str, str]:
    """thread_id for each story in `new_ids`: the thread of the most similar earlier story (TF-IDF
    over its articles' headlines and leads), else a thread of its own. Earlier stories keep theirs.
    Candidates come from an inverted index of distinctive terms, as for stories."""
    vectors = tfidf({r["id"]: sum((words(lead, "") for lead in r.get("leads") or [r["headline"]]), Counter())
                     for r in rows})
    out: dict[str, str] = {}
    postings: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        vec = vectors[row["id"]]
        if row["id"] in new_ids or not row.get("thread_id"):
            best, best_score = row["id"], THREAD_AT
            top = sorted(vec, key=vec.__getitem__, reverse=True)[:THREAD_INDEX_TERMS]
            for j in sorted(set().union(*(postings.get(t, ()) for t in top))):
                earlier = rows[j]
                if row["first_seen_at"] - earlier["last_seen_at"] > THREAD_DAYS:
                    continue
                score = cosine(vec, vectors[earlier["id"]])
                if score >= best_score:
                    best, best_score = out.get(earlier["id"], earlier["id"]), score
            out[row["id"]] = best
        else:
            out[row["id"]] = row["thread_id"]
        for t in vec:
            postings.setdefault(t, []).append(i)
    settled = {r["id"] for r in rows if r.get("thread_id")}
    return {k: v for k, v in out.items() if k in new_ids or k not in settled}


def story_id(first_article_id: str) -> str:
    return "s" + hashlib.sha256(first_article_id.encode()).hexdigest()[:15]


def representative(member: dict[str, Any]) -> tuple[Any, ...]:
    """Sort key choosing the copy that speaks for a cluster: published first, then lowest id."""
    return (member["published_at"], member["id"])


def assign(rows: list[dict[str, Any]], pending_ids: set[str]) -> dict[str, str]:
    """story_id for every row; settled rows keep theirs.

    Candidate stories come from an inverted index: a new article looks up its most distinctive
    terms and is compared only with the open stories that contain one of them, not with all.
    """
    vectors = tfidf({r["id"]: words(r["title"], r["text"] or r["summary"]) for r in rows})
    centroids: dict[str, tuple[Vector, Any]] = {}
    postings: dict[str, set[str]] = {}
    out: dict[str, str] = {}
    # Each report is placed once, for its whole cluster of copies, by the copy published first
    # (ties: lowest id). Which copy is the "original" depends on crawl order (first seen), so
    # nothing here may depend on it: the story is then the same on every run.
    clusters: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        clusters.setdefault(r["duplicate_of"] or r["id"], []).append(r)
    first = {rid: min(members, key=representative) for rid, members in clusters.items()}
    ordered = sorted((r for r in rows if not r["duplicate_of"]),
                     key=lambda r: (first[r["id"]]["published_at"], first[r["id"]]["id"]))
    for row in ordered:
        rid = row["id"]
        vec = vectors[first[rid]["id"]]
        top = sorted(vec, key=vec.__getitem__, reverse=True)[:INDEX_TERMS]
        sid = row["story_id"] if rid not in pending_ids else None
        if sid is None:
            best, best_score = None, JOIN_AT
            for cand in sorted(set().union(*(postings.get(t, set()) for t in top))):
                centroid, last = centroids[cand]
                if abs(row["published_at"] - last) > OPEN_FOR:
                    continue
                score = cosine(vec, centroid)
                if score >= best_score:
                    best, best_score = cand, score
            sid = best or story_id(first[rid]["id"])  # named after the first-published copy, not the root
        centroid, last = centroids.get(sid, ({}, row["published_at"]))
        for w, x in vec.items():
            centroid[w] = centroid.get(w, 0.0) + x
        centroids[sid] = (centroid, max(last, row["published_at"]))
        for t in vec:  # stories are findable by every word; articles look up by their strongest only
            postings.setdefault(t, set()).add(sid)
        out[rid] = sid
    for row in rows:
        if row["duplicate_of"]:
            out[row["id"]] = out.get(row["duplicate_of"]) or row["story_id"] or story_id(row["duplicate_of"])
    return out


def run(settings: Settings) -> int:
    engine = get_engine(settings.db)
    with read(engine) as conn:
        pending = store.pending(conn)
        if not pending:
            return 0
        # Only stories open around the pending articles can take them: the window stays a few days
        # wide however large the archive, so the cost per article stays flat.
        since = min(r["published_at"] for r in pending) - OPEN_FOR
        until = max(r["published_at"] for r in pending) + OPEN_FOR
        cols = ["id", "title", "text", "summary", "published_at", "first_seen_at", "duplicate_of", "story_id",
                "content_hash", "relevant"]
        window = list(store.all_articles(conn, since=since, until=until, columns=cols))
    pending_ids = {r["id"] for r in pending}
    assigned = assign(window, pending_ids)
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
        written = store.save_results(conn, results)
        # The look-back is bounded (most recent stories first), so a busy archive costs the same
        # per article as a quiet one.
        known = store.stories_since(conn, min(r["first_seen_at"] for r in story_rows) - THREAD_DAYS,
                                    limit=THREAD_CANDIDATES + len(story_rows))
        linked = threads(known, {r["id"] for r in story_rows})
        store.save_stories(conn, [{**{k: v for k, v in r.items() if k != "leads"}, "thread_id": linked[r["id"]]}
                                  for r in known if r["id"] in linked])
        return written
