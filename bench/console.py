"""Console response times (issue 14): search p95 over 200,000 articles for a three-term query with
two filters, and the sources, articles and tenders pages' p95 at 50,000 articles, through a real
uvicorn server and HTTP client, on SQLite and (when SCRUTINEER_BENCH_PG_URL or
SCRUTINEER_TEST_PG_URL names a server) PostgreSQL.

Articles are synthetic (a Zipf-distributed vocabulary with the domain's words mixed in), inserted
in bulk through storage's own tables, so the FTS triggers and the GIN index do their real work.
`python -m bench.console [N_SEARCH] [N_PAGES] [sqlite|postgresql]` (both backends by default).
"""
from __future__ import annotations

import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, text

from console import auth
from console.app import create_app
from console.server import AppServer
from pipelines.settings import Settings
from storage.db import dispose_all, get_engine, write
from storage.schema import article_tags, articles, fetch_log, notices, sources

DOMAIN = ("police facial recognition live camera met palantir algorithm predictive policing data contract "
          "surveillance biometric retrospective oversight commissioner home office force officers trial "
          "vendor procurement tender privacy rights").split()
TAGS = ["facial-recognition", "predictive-policing", "palantir", "met-police", "procurement", "biometrics"]
TONES = ["positive", "neutral", "negative"]
SEARCHES = ['facial recognition police', '"live facial" met camera', 'palantir contract oversight',
            'algorithm OR predictive policing', 'surveillance privacy -football']
REPEAT = 40
PASSWORD = "bench password long"


def _vocab(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(6000)] + DOMAIN * 20


def _rows(start: int, n: int, rng: random.Random, vocab: list[str], now: datetime) -> list[dict[str, Any]]:
    weights = [1 / (i + 1) for i in range(len(vocab))]
    out = []
    for i in range(start, start + n):
        words = rng.choices(vocab, weights, k=90)
        when = now - timedelta(minutes=rng.randint(0, 60 * 24 * 7 * 26))
        out.append({"id": f"b{i:019d}", "canonical_url": f"https://bench{i % 40}.example/a/{i}",
                    "url": f"https://bench{i % 40}.example/a/{i}", "source": f"bench-{i % 40}",
                    "title": " ".join(words[:9]).capitalize(), "text": " ".join(words), "summary": "",
                    "published_at": when, "authors": [], "language": "en", "extraction": "trafilatura",
                    "first_seen_at": when, "fetched_at": when, "content_hash": f"{i:064d}", "version": 1,
                    "relevance": rng.random(), "relevant": rng.random() < 0.3, "processed_hash": f"{i:064d}",
                    "sentiment_label": rng.choice(TONES)})
    return out


def populate(url: str, upto: int, have: int) -> None:
    rng = random.Random(have)
    vocab = _vocab(random.Random(7))
    now = datetime.now(timezone.utc)
    engine = get_engine(url)
    if have == 0:
        with write(engine) as conn:
            conn.execute(insert(sources), [{"name": f"bench-{k}", "kind": "rss", "url": f"https://bench{k}.example/feed",
                                            "schedule": "@hourly", "tags": [], "options": {}, "status": "active",
                                            "created_at": now, "updated_at": now} for k in range(40)])
            conn.execute(insert(fetch_log), [{"source": f"bench-{k}", "started_at": now - timedelta(hours=h),
                                              "finished_at": now - timedelta(hours=h), "status": "ok",
                                              "items_new": 3} for k in range(40) for h in range(0, 24 * 8, 6)])
            conn.execute(insert(notices), [{"id": f"n{k:019d}", "ocid": f"ocds-b-{k}", "release_id": "1",
                                            "source": "bench-0", "title": f"Notice {k}",
                                            "buyer": rng.choice(["Metropolitan Police Service", "Home Office",
                                                                 "Kent Police"]), "suppliers": [],
                                            "value": float(rng.randint(1, 10**7)), "currency": "GBP",
                                            "cpv": [rng.choice(["72000000", "48000000", "35120000"])],
                                            "stage": rng.choice(["tender", "award"]), "published_at": now,
                                            "tender_deadline": now + timedelta(days=30), "matched": [],
                                            "first_seen_at": now}
                                           for k in range(2000)])
    for start in range(have, upto, 5000):
        batch = _rows(start, min(5000, upto - start), rng, vocab, now)
        with write(engine) as conn:
            conn.execute(insert(articles), batch)
            conn.execute(insert(article_tags), [{"article_id": r["id"], "slug": rng.choice(TAGS), "evidence": "e"}
                                                for r in batch])
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] * 1000 if len(values) >= 20 else max(values) * 1000


def measure(url: str, paths: list[str]) -> dict[str, float]:
    settings = Settings(db=url, public_url="http://127.0.0.1")
    httpd = AppServer(create_app(settings)).start()
    try:
        client = httpx.Client(base_url=httpd.url, timeout=60)
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"email": "bench@example.org", "password": PASSWORD, "csrf": token})
        out = {}
        for path in paths:
            client.get(path)  # warm
            times = []
            for _ in range(REPEAT):
                t = time.perf_counter()
                r = client.get(path)
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, (path, r.status_code)
            out[path] = _p95(times)
        return out
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Lines(list):  # type: ignore[type-arg]
    """Printed as they come (a long run shows progress), and kept for the summary."""

    def append(self, line: str) -> None:  # type: ignore[override]
        print(line, flush=True)
        super().append(line)


def bench_backend(label: str, url: str, n_pages: int, n_search: int) -> list[str]:
    settings = Settings(db=url)
    auth.add_user(settings, "bench@example.org", "viewer", PASSWORD)
    lines = _Lines()
    t = time.perf_counter()
    populate(url, n_pages, 0)
    lines.append(f"console[{label}]: {n_pages} articles inserted in {time.perf_counter() - t:.0f} s")
    pages = measure(url, ["/sources", "/articles", "/tenders"])
    for path, p95 in pages.items():
        lines.append(f"console[{label}]: {path} p95 {p95:.0f} ms at {n_pages} articles (target < 300 ms)")
    t = time.perf_counter()
    populate(url, n_search, n_pages)
    lines.append(f"console[{label}]: grown to {n_search} articles in {time.perf_counter() - t:.0f} s")
    searches = measure(url, [f"/articles?{httpx.QueryParams({'q': s, 'tone': 'negative', 'relevance': '0.2'})}"
                             for s in SEARCHES])
    worst = max(searches.values())
    for path, p95 in searches.items():
        lines.append(f"console[{label}]: search {path} p95 {p95:.0f} ms")
    lines.append(f"console[{label}]: search p95 worst {worst:.0f} ms over {n_search} articles (target < 200 ms): "
                 f"{'met' if worst < 200 else 'MISSED'}")
    return lines


def main(argv: list[str]) -> int:
    n_search = int(argv[0]) if argv else 200_000
    n_pages = int(argv[1]) if len(argv) > 1 else 50_000
    backends = argv[2:] or ["sqlite", "postgresql"]
    lines: list[str] = []
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory(prefix="scrutineer-console-bench-") as tmp:
            lines += bench_backend("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite'}", n_pages, n_search)
    pg = os.environ.get("SCRUTINEER_BENCH_PG_URL") or os.environ.get("SCRUTINEER_TEST_PG_URL")
    if not pg and "postgresql" in backends:
        print("console[postgresql]: skipped (set SCRUTINEER_BENCH_PG_URL or SCRUTINEER_TEST_PG_URL)", flush=True)
    if pg and "postgresql" in backends:
        from sqlalchemy.engine import make_url

        name = f"scrutineer_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            lines += bench_backend("postgresql", make_url(pg).set(database=name).render_as_string(hide_password=False),
                                   n_pages, n_search)
        finally:
            dispose_all()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
