"""The console's speed at archive scale (issue 14): search over 200,000 articles and the sources,
articles and tenders pages at 50,000, on SQLite and (when a URL is given) PostgreSQL.

`python -m bench.console` alone, or `SCRUTINEER_BENCH_ONLY=console make bench`. PostgreSQL runs in
a scratch database created from SCRUTINEER_BENCH_PG_URL or SCRUTINEER_TEST_PG_URL and dropped after.

The archive is synthetic but shaped like ours: about 600 words an article drawn from a few thousand
paragraphs over a Zipf-distributed vocabulary with the domain's words mixed in, 300 sources, three
tags an article, stories of eight, a year of publication dates, 20,000 tender notices. Rows go in
with executemany; the full-text index is dropped for the load and built once at the end (FTS5
'rebuild'; CREATE INDEX for the GIN; PostgreSQL's stored tsvector column is computed as each row
goes in), as a restore from a dump would. Pages are timed through a
real uvicorn server with a logged-in client; search is timed on storage.search.search, the function
the articles page and the API call.
"""
from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage import search
from storage.db import dispose_all, get_engine, read, write
from storage.schema import article_tags, articles, notices, sources, stories

SEARCH_AT = int(os.environ.get("SCRUTINEER_BENCH_CONSOLE_SEARCH", "200000"))
PAGES_AT = int(os.environ.get("SCRUTINEER_BENCH_CONSOLE_PAGES", "50000"))
NOTICES = 20_000
SOURCES = 300
STORY_SIZE = 8
REPEAT = int(os.environ.get("SCRUTINEER_BENCH_CONSOLE_REPEAT", "40"))
SEARCH_TARGET_MS = 200
PAGE_TARGET_MS = 300
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
DOMAIN = ("police facial recognition live camera vans met croydon palantir contract data platform force "
          "officers algorithm predictive policing custody biometric retrospective watchlist accuracy bias "
          "commissioner home office procurement tender supplier surveillance privacy rights liberty court "
          "judicial review deployment trial results arrests suspects database national analytics software "
          "drone automatic number plate recognition ethics panel oversight scrutiny committee inquiry "
          "misconduct vendor council mayor budget million pounds innovation chief constable").split()
TAGS = ["palantir", "met-police", "mopac", "facial-recognition", "procurement", "civil-liberties",
        "officer-misconduct", "ai-crime", "peterborough", "mark-rowley", "drones", "anpr"]
TONES = ("positive", "neutral", "negative")
BUYERS = ["Metropolitan Police Service", "Home Office", "West Midlands Police", "Greater Manchester Police",
          "Police Scotland", "Thames Valley Police", "Essex Police", "Kent Police", "Avon and Somerset Police",
          "British Transport Police"]
#: Three-term queries with two filters (the issue's target), several so no single plan is flattered.
SEARCHES = [("facial recognition croydon", {"tag": "facial-recognition", "tone": "negative"}),
            ("palantir contract scrutiny", {"min_relevance": 0.5, "tone": "negative"}),
            ("live camera arrests", {"week": True, "tag": "met-police"}),
            ('"facial recognition" vans -football', {"language": "en", "min_relevance": 0.7})]


def _vocabulary(rng: random.Random, size: int = 20_000) -> tuple[list[str], list[float]]:
    letters = "etaoinshrdlcumwfgypbvk"
    words = list(dict.fromkeys("".join(rng.choice(letters) for _ in range(rng.randint(3, 9)))
                               for _ in range(size)))
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    return words, cum


def _paragraphs(rng: random.Random, n: int = 4000) -> list[str]:
    words, cum = _vocabulary(rng)
    out = []
    for _ in range(n):
        body = rng.choices(words, cum_weights=cum, k=60)
        for _ in range(rng.randint(0, 6)):  # the domain's words, a few per paragraph
            body[rng.randrange(60)] = rng.choice(DOMAIN)
        out.append(" ".join(body).capitalize() + ".")
    return out


def populate(url: str, start: int, stop: int, seed: int = 14) -> None:
    """Articles [start, stop) with their tags and stories (and, when start is 0, sources and notices),
    with the full-text index dropped for the load and rebuilt once."""
    rng = random.Random(seed + start)
    paras = _paragraphs(random.Random(seed))
    engine = get_engine(url)
    pg = engine.dialect.name == "postgresql"
    with write(engine) as conn:
        if pg:
            # The GIN index on articles.search_tsv (migration 0011; ix_articles_fts before it).
            gin = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'articles' "
                                    "AND indexdef LIKE '%USING gin%'")).all()
            saved = [r.indexdef for r in gin]
            for r in gin:
                conn.execute(text(f'DROP INDEX IF EXISTS "{r.indexname}"'))
        else:
            saved = [r[0] for r in conn.execute(text(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'articles_fts_%'"))]
            for name in ("articles_fts_ai", "articles_fts_ad", "articles_fts_au"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        if start == 0:
            conn.execute(sources.insert(), [{
                "name": f"outlet-{k}", "kind": "rss", "url": f"https://outlet{k}.example/feed.xml",
                "schedule": "@hourly", "tags": [], "options": {}, "status": "active" if k % 17 else "paused",
                "created_at": NOW - timedelta(days=400), "updated_at": NOW - timedelta(days=1),
                "failures": k % 3, "next_poll_at": NOW + timedelta(minutes=k % 60),
                "outlet": f"The Outlet {k} Gazette" if k % 2 else None} for k in range(SOURCES)])
            conn.execute(notices.insert(), [_notice(rng, k) for k in range(NOTICES)])
        batch: dict[str, list[dict[str, Any]]] = {"stories": [], "articles": [], "tags": []}
        for i in range(start, stop):
            _article(rng, paras, i, batch)
            if len(batch["articles"]) >= 2000:
                _flush(conn, batch)
        _flush(conn, batch)
        if pg:
            for stmt in saved:
                conn.execute(text(stmt))
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')"))
            for stmt in saved:
                conn.execute(text(stmt))
            conn.execute(text("ANALYZE"))


def _flush(conn: Any, batch: dict[str, list[dict[str, Any]]]) -> None:
    for table, key in ((stories, "stories"), (articles, "articles"), (article_tags, "tags")):
        if batch[key]:
            conn.execute(table.insert(), batch[key])
            batch[key].clear()


def _article(rng: random.Random, paras: list[str], i: int, batch: dict[str, list[dict[str, Any]]]) -> None:
    sid = f"s{i // STORY_SIZE:019d}"
    when = NOW - timedelta(seconds=rng.randrange(365 * 86400))
    aid = f"a{i:019d}"
    body = "\n\n".join(rng.sample(paras, 10))
    title = " ".join(rng.sample(DOMAIN, 4) + body.split()[:4]).capitalize()
    relevance = rng.random()
    batch["articles"].append({
        "id": aid, "canonical_url": f"https://outlet{i % SOURCES}.example/news/{i}",
        "url": f"https://outlet{i % SOURCES}.example/news/{i}", "source": f"outlet-{i % SOURCES}", "guid": None,
        "title": title, "text": body, "summary": body[:200], "published_at": when, "authors": [],
        "language": "en" if i % 20 else "cy", "extraction": "trafilatura", "first_seen_at": when,
        "fetched_at": when, "content_hash": f"{i:064x}", "version": 1, "processed_hash": f"{i:064x}",
        "duplicate_of": None if i % 9 else (f"a{i - 1:019d}" if i else None), "story_id": sid,
        "relevance": relevance, "relevant": relevance >= 0.5, "relevance_reason": "synthetic",
        "sentiment_polarity": rng.uniform(-1, 1), "sentiment_label": rng.choice(TONES), "textblob_polarity": 0.0})
    for slug in rng.sample(TAGS, 3):
        batch["tags"].append({"article_id": aid, "slug": slug, "evidence": "A synthetic sentence about it.",
                              "polarity": rng.uniform(-1, 1)})
    if i % STORY_SIZE == 0:
        batch["stories"].append({"id": sid, "headline": title, "first_seen_at": when, "last_seen_at": when,
                                 "article_count": STORY_SIZE, "thread_id": None})


def _notice(rng: random.Random, k: int) -> dict[str, Any]:
    when = NOW - timedelta(seconds=rng.randrange(365 * 86400))
    return {"id": f"n{k:019d}", "ocid": f"ocds-bench-{k}", "release_id": f"r{k}", "source": "outlet-0",
            "title": f"Supply of {rng.choice(DOMAIN)} {rng.choice(DOMAIN)} services", "description": "Synthetic.",
            "buyer": rng.choice(BUYERS), "suppliers": [], "value": float(rng.randrange(10_000, 5_000_000)),
            "currency": "GBP", "cpv": [f"{rng.choice(['72', '48', '35', '79'])}{rng.randrange(100000, 999999)}"],
            "stage": rng.choice(("planning", "tender", "award", "contract")), "published_at": when,
            "tender_deadline": when + timedelta(days=30), "url": f"https://tenders.example/{k}", "matched": [],
            "first_seen_at": when}


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18] if len(samples) > 1 else samples[0]


def _time(call: Callable[[], Any], repeat: int = REPEAT, warm: int = 3, budget_s: float = 30.0) -> list[float]:
    """`repeat` timed calls after `warm` untimed ones; a slow call (a missed target, seconds each) stops
    early after three samples once `budget_s` is spent, so `make bench` stays bounded."""
    started = time.perf_counter()
    for _ in range(warm):
        call()
        if time.perf_counter() - started > 1.0:
            break
    out: list[float] = []
    started = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000)
        if len(out) >= 3 and time.perf_counter() - started > budget_s:
            break
    return out


def time_pages(url: str) -> dict[str, float]:
    """p95 ms of each page through a real uvicorn server, logged in as an analyst."""
    import re

    import httpx

    from console import auth
    from console.app import create_app
    from console.server import AppServer
    from core.settings import Settings

    settings = Settings(db=url, public_url="http://127.0.0.1")
    email = "bench@example.org"
    auth.add_user(settings, email, "analyst", "bench password 1")
    httpd = AppServer(create_app(settings)).start()
    try:
        with httpx.Client(base_url=httpd.url, timeout=60) as client:
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
            client.post("/login", data={"email": email, "password": "bench password 1", "csrf": token})
            pages = {"sources": "/sources", "articles": "/articles", "articles_page_20": "/articles?page=20",
                     "articles_search": "/articles?q=facial+recognition+croydon&tag=facial-recognition&tone=negative",
                     "tenders": "/tenders", "tenders_buyer": "/tenders?buyer=home+office&stage=tender"}
            out = {}
            for key, path in pages.items():
                def get(path: str = path) -> None:
                    resp = client.get(path)
                    if resp.status_code != 200:
                        raise RuntimeError(f"{path}: HTTP {resp.status_code}")
                out[key] = p95(_time(get, repeat=max(REPEAT // 2, 10)))
            return out
    finally:
        httpd.shutdown()
        httpd.server_close()


def time_search(url: str) -> dict[str, float]:
    from core import weeks

    engine = get_engine(url)
    out = {}
    for q, spec in SEARCHES:
        f = search.Filters(**{k: v for k, v in spec.items() if k != "week"})
        if spec.get("week"):
            f.start, f.end = weeks.window("2026-W40")

        def run(q: str = q, f: search.Filters = f) -> None:
            with read(engine) as conn:
                search.search(conn, q, f, limit=51)
        out[q] = p95(_time(run))
    return out


def explain(url: str, q: str, spec: dict[str, Any]) -> list[str]:
    """The plan of one search, for the report when a target is missed."""
    engine = get_engine(url)
    f = search.Filters(**{k: v for k, v in spec.items() if k != "week"})
    captured: list[Any] = []
    with read(engine) as conn:
        from sqlalchemy import event

        def grab(conn_: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            captured.append((statement, params))
        event.listen(engine, "before_cursor_execute", grab)
        try:
            search.search(conn, q, f, limit=51)
        finally:
            event.remove(engine, "before_cursor_execute", grab)
        statement, params = captured[-1]
        prefix = "EXPLAIN ANALYZE " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
        rows = conn.exec_driver_sql(prefix + statement, params).all()
    return [" | ".join(str(c) for c in r) for r in rows]


@contextmanager
def pg_database() -> Iterator[str | None]:
    base = os.environ.get("SCRUTINEER_BENCH_PG_URL") or os.environ.get("SCRUTINEER_TEST_PG_URL")
    if not base:
        yield None
        return
    name = f"scrutineer_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(url: str, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Build PAGES_AT articles, time the pages, grow to SEARCH_AT, time search."""
    fig: dict[str, Any] = {}
    t0 = time.perf_counter()
    populate(url, 0, PAGES_AT)
    fig["build_pages_s"] = time.perf_counter() - t0
    log(f"    {PAGES_AT:,} articles built in {fig['build_pages_s']:.0f} s; timing pages")
    fig["pages"] = time_pages(url)
    log(f"    pages p95 ms: {fig['pages']}")
    t0 = time.perf_counter()
    populate(url, PAGES_AT, SEARCH_AT)
    fig["build_search_s"] = time.perf_counter() - t0
    log(f"    grown to {SEARCH_AT:,} articles in {fig['build_search_s']:.0f} s; timing search")
    fig["search"] = time_search(url)
    worst = max(fig["search"], key=fig["search"].get)
    fig["worst_plan"] = explain(url, worst, dict(SEARCHES)[worst])
    log(f"    {fig}")
    return fig


def run(log: Callable[[str], None] = print) -> tuple[dict[str, Any], list[str]]:
    """Both backends; returns the figures and the side-by-side table's lines."""
    results: dict[str, Any] = {}
    backends = os.environ.get("SCRUTINEER_BENCH_CONSOLE_BACKENDS", "sqlite,postgresql").split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory(prefix="scrutineer-bench-console-") as tmp:
            log("  console: SQLite")
            results["sqlite"] = measure(f"sqlite:///{Path(tmp) / 'console.sqlite'}", log)
            dispose_all()
    if "postgresql" not in backends:
        return results, table(results)
    with pg_database() as pg_url:
        if pg_url is None:
            log("  console: PostgreSQL skipped (set SCRUTINEER_BENCH_PG_URL or SCRUTINEER_TEST_PG_URL)")
        else:
            log("  console: PostgreSQL")
            results["postgresql"] = measure(pg_url, log)
    return results, table(results)


def table(results: dict[str, Any]) -> list[str]:
    backends = [b for b in ("sqlite", "postgresql") if b in results]
    rows: list[tuple[str, ...]] = [("console p95 (ms)", "target", *backends)]
    any_fig = results[backends[0]]
    for key in any_fig["pages"]:
        target = PAGE_TARGET_MS if key in ("sources", "articles", "tenders") else None
        rows.append((f"page /{key} at {PAGES_AT:,}", f"< {target}" if target else "-",
                     *(f"{results[b]['pages'][key]:.0f}" for b in backends)))
    for q in any_fig["search"]:
        spec = dict(SEARCHES)[q]
        label = f"search {q!r} + {'/'.join(spec)} at {SEARCH_AT:,}"
        rows.append((label, f"< {SEARCH_TARGET_MS}", *(f"{results[b]['search'][q]:.0f}" for b in backends)))
    rows.append(("build (s): pages set, then growth", "-",
                 *(f"{results[b]['build_pages_s']:.0f} + {results[b]['build_search_s']:.0f}" for b in backends)))
    w = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(len(r) for r in rows))]
    lines = ["  ".join(f"{c:<{w[i]}}" if i == 0 else f"{c:>{w[i]}}" for i, c in enumerate(r)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    if "postgresql" not in results:
        lines.append("PostgreSQL: not measured (SCRUTINEER_BENCH_PG_URL / SCRUTINEER_TEST_PG_URL unset, or not chosen)")
    for b in backends:
        lines += [f"slowest search plan ({b}):", *("  " + p for p in results[b]["worst_plan"])]
    return lines


if __name__ == "__main__":
    figs, lines = run()
    print("\n".join(lines))
    sys.exit(0)
