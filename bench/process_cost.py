"""`python -m bench.process_cost N DIR`: the cost of `process` (dedupe, enrich, stories) on N
600-word articles in a fresh process, so peak RSS is this stage's alone, printed as JSON.

Articles are built from the demo newsroom's bodies (re-cut into 600-word texts, each with a
distinct headline and date spread over a fortnight), so taxonomy, tone and stance see real
on-topic prose. Also reports what the tone model costs: its load time, vocabulary and weights.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from core.settings import PROJECT_DIR, Settings
from pipelines import process, tone
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, write


def texts(n: int) -> list[tuple[str, str]]:
    words: list[str] = []
    titles: list[str] = []
    for path in sorted((PROJECT_DIR / "demo" / "newsroom" / "content").glob("*.yaml")):
        for a in yaml.safe_load(path.read_text(encoding="utf-8"))["articles"]:
            body = a.get("body")
            if body:
                words += " ".join(body if isinstance(body, list) else [body]).split()
                titles.append(a["title"])
    out = []
    for i in range(n):
        start = (i * 137) % max(1, len(words) - 600)
        chunk = words[start:start + 600]
        paras = [" ".join(chunk[j:j + 100]) for j in range(0, 600, 100)]
        out.append((f"{titles[i % len(titles)]} ({i})", "\n\n".join(paras)))
    return out


def main(argv: list[str]) -> int:
    n, workdir = int(argv[0]), Path(argv[1])
    settings = Settings(db=f"sqlite:///{workdir / 'process_cost.sqlite'}")
    began = time.perf_counter()
    model = tone.model()
    model_seconds = time.perf_counter() - began
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    arts = [Article(url=f"https://bench.example/a/{i}", canonical_url=f"https://bench.example/a/{i}", source="bench",
                    title=title, text=text, published_at=start + timedelta(minutes=33 * i),
                    fetched_at=start + timedelta(minutes=33 * i), language="en")
            for i, (title, text) in enumerate(texts(n))]
    with write(get_engine(settings.db)) as conn:
        store_articles(conn, arts)
    began, cpu = time.perf_counter(), time.process_time()
    counts = process.run(settings)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    print(json.dumps({"articles": n, "seconds": round(seconds, 2), "articles_per_s": round(n / seconds, 1),
                      # CPU time is what the stage costs; wall time also counts whoever else shares the cores
                      "cpu_seconds": round(cpu, 2), "articles_per_cpu_s": round(n / cpu, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "tone_model_load_s": round(model_seconds, 3), "tone_vocabulary": len(model.vocab),
                      "tone_weights_mb": round((model.w.nbytes + model.b.nbytes) / 2**20, 2), **counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
