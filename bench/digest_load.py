"""Digest build for a synthetic busy week: 50,000 processed articles, 200 subscribers.

Run in its own process (`python -m bench.digest_load DIR`) so its peak RSS is its own. The rows are
written straight into the schema, as processing would have left them: the benchmark measures the
digest stage, not collection.
"""
from __future__ import annotations

import json
import random
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

from core import weeks
from core.settings import Settings
from pipelines import digest, subscribers
from storage.db import get_engine, write
from storage.schema import article_tags, articles, stories

WEEK = "2026-W47"
ARTICLES = 50_000
SUBSCRIBERS = 200
STORY_SIZE = 8
SLUGS = ["palantir", "met-police", "mopac", "facial-recognition", "procurement", "civil-liberties",
         "officer-misconduct", "ai-crime", "peterborough", "mark-rowley"]


def populate(settings: Settings, n: int = ARTICLES, seed: int = 7) -> None:
    rng = random.Random(seed)
    start, _ = weeks.window(WEEK)
    engine = get_engine(settings.db)
    story_rows, art_rows, tag_rows = [], [], []
    for i in range(n):
        sid = f"s{i // STORY_SIZE:015d}"
        when = start + timedelta(seconds=rng.randrange(7 * 86400 - 1))
        aid = f"a{i:019d}"
        relevant = rng.random() < 0.6
        art_rows.append({
            "id": aid, "canonical_url": f"https://outlet{i % 300}.example/news/{i}",
            "url": f"https://outlet{i % 300}.example/news/{i}",
            "source": f"outlet-{i % 300}", "guid": None, "title": f"Synthetic report {i} on police technology",
            "text": "Police technology report. " * 20, "summary": "", "published_at": when, "published_flag": None,
            "authors": [], "language": "en", "extraction": "trafilatura", "first_seen_at": when, "fetched_at": when,
            "content_hash": f"{i:064x}", "version": 1, "processed_hash": f"{i:064x}",
            "duplicate_of": None if i % 5 else (f"a{i - 1:019d}" if i else None), "story_id": sid,
            "relevance": rng.random() if relevant else 0.1, "relevant": relevant, "relevance_reason": "synthetic",
            "sentiment_polarity": rng.uniform(-1, 1), "sentiment_label": "neutral", "textblob_polarity": 0.0,
        })
        for slug in rng.sample(SLUGS, 3):
            tag_rows.append({"article_id": aid, "slug": slug, "evidence": "A synthetic sentence about it.",
                             "polarity": rng.uniform(-1, 1)})
        if i % STORY_SIZE == 0:
            story_rows.append({"id": sid, "headline": f"Synthetic story {i}", "first_seen_at": when,
                               "last_seen_at": when, "article_count": STORY_SIZE})
    with write(engine) as conn:
        for table, rows in ((stories, story_rows), (articles, art_rows), (article_tags, tag_rows)):
            for k in range(0, len(rows), 5000):
                conn.execute(table.insert(), rows[k:k + 5000])
    profiles = ["rights", "vendor", "analyst"]
    for k in range(SUBSCRIBERS):
        subscribers.add(settings, f"reader{k}@example.org", profiles[k % 3],
                        topics=[SLUGS[k % len(SLUGS)]] if k % 4 == 0 else None)


def main(workdir: Path) -> dict[str, float]:
    settings = Settings(db=f"sqlite:///{workdir / 'digest-load.sqlite'}", archive_dir=workdir / "archive")
    populate(settings)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report = digest.run(settings, week=WEEK)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "digests": len(report.digests), "articles": ARTICLES,
            "peak_rss_mb": peak_mb, "rss_before_mb": rss_before / 1024}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
