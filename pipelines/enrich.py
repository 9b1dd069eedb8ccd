"""Enrichment stage: taxonomy tags with evidence, relevance with its reason, sentiment.

Deterministic per article, so a re-run overwrites with identical results.
"""
from __future__ import annotations

from typing import Any

from core.settings import Settings
from pipelines import relevance, sentiment, tone
from pipelines.taxonomy import load
from pipelines.text import sentences
from storage import articles as store
from storage.db import get_engine, read, write

BATCH = 200
TONE_SENTENCES = 6
#: Body sentences naming an entity that are read for its stance (bounded cost per tag).
STANCE_SENTENCES = 6


def lead_text(title: str, body: str, limit: int = TONE_SENTENCES) -> str:
    """Title and opening sentences: where a news report states its tone, and a bounded cost
    however long the article (the tone model was trained on paragraphs of this size)."""
    return " ".join([title, *sentences(body)[:limit]]).strip()


def stances(title: str, hits: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """(polarity, evidence sentence) per tag, from the body sentences that name it, never the
    headline: a headline about a dispute says nothing of each party's part in it. Each sentence is
    scored on its own (one stance per sentence and entity) and the one with the clearest tone
    speaks for the entity, so the evidence shown is the sentence that carries the stance; when no
    sentence has a clear tone the stance is neutral and the evidence is the first body sentence
    naming it (the matched sentence when only the headline does)."""
    from pipelines.text import fold

    headline = {fold(s) for s in sentences(f"{title}.")} if title else set()
    body = {slug: [s for s in hit.sentences if s not in headline][:STANCE_SENTENCES] for slug, hit in hits.items()}
    flat = sorted({s for sents in body.values() for s in sents})
    polarity = dict(zip(flat, (p for _, p in tone.classify(flat, sentences=True)), strict=True))
    out = {}
    for slug, hit in hits.items():
        scored = sorted(((polarity[s], s) for s in body[slug]), key=lambda ps: -abs(ps[0]))
        if scored and tone.label_for(scored[0][0]) != "neutral":
            out[slug] = scored[0]
        else:  # neutral: a polarity the digest reads as neutral, and the sentence that matched
            pol = scored[0][0] if scored else 0.0
            out[slug] = (max(-tone.STANCE_MARGIN / 2, min(tone.STANCE_MARGIN / 2, pol)),
                         body[slug][0] if body[slug] else hit.evidence)
    return out


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
        result["sentiment_label"], result["sentiment_polarity"] = tone.classify([lead])[0]
        stance = stances(row["title"], tags)
        for t in tag_rows:
            polarity, evidence = stance[t["slug"]]
            t["polarity"], t["evidence"] = polarity, evidence[:1000]  # entity-targeted stance and its sentence
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
