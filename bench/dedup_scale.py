"""Incremental dedup + story assignment at scale, and against naive pairwise comparison.

`python -m bench.dedup_scale N DIR` stores N synthetic articles (about 1,000 a day, 15% of them
near-duplicate copies with new boilerplate and a trimmed ending) in batches, running the real
dedupe and stories stages after each batch as a live system would. It prints per-article median
and p99 at checkpoints, and peak RSS, as JSON. `--naive` times an all-pairs containment check on
the same kind of data instead.
"""
from __future__ import annotations

import json
import random
import resource
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from core.settings import Settings
from pipelines import dedupe, minhash, stories
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, write

BATCH = 1000
PER_DAY = 1000
START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def synthetic(n: int, seed: int = 11) -> list[Article]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(20000)]
    out: list[Article] = []
    for i in range(n):
        when = START + timedelta(seconds=i * 86400 // PER_DAY)
        if out and rng.random() < 0.15:
            orig = out[rng.randrange(max(0, len(out) - 500), len(out))]
            paras = orig.text.split("\n")
            text = "Syndicated by Example Wire.\n" + "\n".join(paras[:-1])
            title = orig.title + " (updated)"
        else:
            text = "\n".join(" ".join(rng.choice(vocab) for _ in range(60)) for _ in range(5))
            title = " ".join(rng.choice(vocab) for _ in range(8))
        out.append(Article(url=f"https://o{i % 50}.example/a/{i}", canonical_url=f"https://o{i % 50}.example/a/{i}",
                           source=f"o{i % 50}", title=title, text=text, published_at=when, fetched_at=when))
    return out


def run(n: int, workdir: Path) -> dict[str, object]:
    settings = Settings(db=f"sqlite:///{workdir / f'scale-{n}.sqlite'}")
    engine = get_engine(settings.db)
    arts = synthetic(n)
    checkpoints: dict[str, dict[str, float]] = {}
    timings: list[float] = []
    story_per_article: list[float] = []
    for k in range(0, n, BATCH):
        with write(engine) as conn:
            store_articles(conn, arts[k:k + BATCH])
        batch: list[float] = []
        dedupe.run(settings, timings=batch)
        began = time.perf_counter()
        stories.run(settings)
        story_per_article.append((time.perf_counter() - began) / max(1, len(batch)))
        timings.extend(batch)
        done = k + BATCH
        if done in (10_000, 50_000, 100_000, 200_000) or done >= n:
            recent = timings[-5 * BATCH:]
            checkpoints[str(min(done, n))] = {
                "dedup_median_ms": statistics.median(recent) * 1000,
                "dedup_p99_ms": statistics.quantiles(recent, n=100)[98] * 1000,
                "stories_per_article_ms": statistics.mean(story_per_article[-5:]) * 1000,
            }
    return {"articles": n, "checkpoints": checkpoints,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def naive(n: int) -> dict[str, float]:
    """All-pairs containment within the 7-day window: what LSH replaces."""
    arts = synthetic(n)
    began = time.perf_counter()
    seen: list[tuple[datetime, object]] = []
    for a in arts:
        sh = minhash.shingles(a.text)
        for when, other in seen:
            if a.published_at - when <= dedupe.WINDOW and minhash.containment(sh, other) >= dedupe.NEAR_DUPLICATE:
                break
        seen.append((a.published_at, sh))
    return {"articles": n, "seconds": time.perf_counter() - began}


if __name__ == "__main__":
    if sys.argv[1] == "--naive":
        print(json.dumps(naive(int(sys.argv[2]))))
    else:
        print(json.dumps(run(int(sys.argv[1]), Path(sys.argv[2]))))
