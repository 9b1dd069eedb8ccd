"""Enrichment stage: taxonomy tags with evidence, relevance with its reason, sentiment.

Deterministic per article, so a re-run overwrites with identical results.
"""
from __future__ import annotations

from typing import Any

from pipelines import relevance, sentiment
from pipelines.settings import Settings
from pipelines.taxonomy import load
from pipelines.text import sentences
from storage import articles as store
from storage.db import get_engine, read, write

BATCH = 200
LEAD_SENTENCES = 3


def substantive(tax: Any, title: str, body: str) -> dict[str, Any]:
    """Tags the article is about, not merely mentions: in the title or lead, or said twice."""
    found = tax.match(title, body)
    lead = set(tax.match(title, " ".join(sentences(body)[:LEAD_SENTENCES])))
    return {slug: hit for slug, hit in found.items() if slug in lead or hit.count >= 2}


def enrich_one(row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Results for one article row (title/text/summary/language/extraction)."""
    tax = load(settings.taxonomy)
    body = row["text"] or row["summary"] or ""
    tags = substantive(tax, row["title"], body)
    signals = tax.signal_counts(row["title"], body)
    words = len(body.split())
    rel = relevance.score(tax, tags, signals, words, settings.relevance_threshold)
    english = row.get("language") in (None, "en")
    scorable = english and row["extraction"] != "no-text" and bool(body.strip())
    tb = sentiment.polarity(body) if scorable else 0.0
    tag_rows = []
    for slug, hit in sorted(tags.items()):
        stance = sentiment.polarity(" ".join(hit.sentences)) if scorable else None
        tag_rows.append({"slug": slug, "evidence": hit.evidence[:1000], "polarity": stance})
    return {
        "id": row["id"], "tags": tag_rows, "relevance": rel.score, "relevant": rel.relevant,
        "relevance_reason": rel.reason, "textblob_polarity": tb, "sentiment_polarity": tb,
        # Pages with no article text are flagged neutral, never scored from boilerplate (T18).
        "sentiment_label": sentiment.label(tb) if scorable else "neutral",
    }


def run(settings: Settings, ids: list[str] | None = None) -> int:
    """Enrich pending articles (or the given ids); returns rows written."""
    engine = get_engine(settings.db)
    with read(engine) as conn:
        rows = store.pending(conn)
    if ids is not None:
        wanted = set(ids)
        rows = [r for r in rows if r["id"] in wanted]
    written = 0
    for start in range(0, len(rows), BATCH):
        results = [enrich_one(r, settings) for r in rows[start:start + BATCH]]
        with write(engine) as conn:
            written += store.save_results(conn, results)
    return written
