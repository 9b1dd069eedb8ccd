"""Enrichment stage: taxonomy tags with evidence, relevance with its reason, sentiment.

Deterministic per article, so a re-run overwrites with identical results.
"""
from __future__ import annotations

from typing import Any

from pipelines import relevance, sentiment, tone
from pipelines.settings import Settings
from pipelines.taxonomy import load
from pipelines.text import sentences
from storage import articles as store
from storage.db import get_engine, read, write

BATCH = 200
TONE_SENTENCES = 6
STANCE_SENTENCES = 3


def lead_text(title: str, body: str, limit: int = TONE_SENTENCES) -> str:
    """Title and opening sentences: where a news report states its tone, and a bounded cost
    however long the article (the tone model was trained on paragraphs of this size)."""
    return " ".join([title, *sentences(body)[:limit]]).strip()


#: The opening this many characters decide the language: about 170 words, plenty for a news
#: article, and a third of the cost of the 3,000 used before (langid was a third of enrichment).
LANGID_CHARS = 1000


def detect_language(text: str, declared: str | None) -> str | None:
    """py3langid on the text (its model ships in the package, no download); the page's own
    declaration only when there is too little text to judge."""
    import py3langid

    if len(text) >= 40:
        return str(py3langid.classify(text[:LANGID_CHARS])[0])
    return declared


def tags_and_relevance(row: dict[str, Any], settings: Settings) -> tuple[dict[str, Any], relevance.Relevance]:
    """The taxonomy tags (slug -> evidence) and relevance of one article row: what `process`
    stores, and what `sources test` shows before anything is stored."""
    tax = load(settings.taxonomy, settings.gazetteer)
    body = row["text"] or row["summary"] or ""
    found, signals = tax.analyse(row["title"], body)
    tags = tax.substantive(found, bool(row["title"]))  # the evidence rule: pipelines/taxonomy.py
    return tags, relevance.score(tax, tags, signals, len(body.split()), settings.relevance_threshold)


def enrich_one(row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Results for one article row (title/text/summary/language/extraction)."""
    body = row["text"] or row["summary"] or ""
    tags, rel = tags_and_relevance(row, settings)
    language = detect_language(f"{row['title']}. {body}", row.get("language"))
    flag = None
    if row["extraction"] == "no-text" or not body.strip():
        flag = "no-text"  # never score boilerplate (T18)
    elif language != "en":
        flag = "not-english"  # stored and tagged, but an English model would misread it
    tag_rows = [{"slug": slug, "evidence": hit.evidence[:1000], "polarity": None}
                for slug, hit in sorted(tags.items())]
    result = {"id": row["id"], "tags": tag_rows, "relevance": rel.score, "relevant": rel.relevant,
              "relevance_reason": rel.reason, "language": language, "sentiment_flag": flag,
              "textblob_polarity": None, "sentiment_polarity": 0.0, "sentiment_label": "neutral"}
    if flag is None:
        lead = lead_text(row["title"], body)
        texts = [lead] + [" ".join(tags[t["slug"]].sentences[:STANCE_SENTENCES]) for t in tag_rows]
        scored = tone.classify(texts)
        result["sentiment_label"], result["sentiment_polarity"] = scored[0]
        for t, (_, polarity) in zip(tag_rows, scored[1:], strict=True):
            t["polarity"] = polarity  # entity-targeted stance: the sentences that mention it
        result["textblob_polarity"] = sentiment.polarity(lead)  # the baseline on the same text
    return result


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
