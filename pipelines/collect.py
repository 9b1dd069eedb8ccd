"""Collection stage: one `scrapy crawl` subprocess per source, a few at a time.

A subprocess per crawl because Twisted's reactor cannot restart inside one process (an Airflow
worker, a test session), and because it bounds one source's time and memory: a hung or crashed
crawl is killed and reported, and the other sources go on.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import make_url

from pipelines.errors import UserError
from pipelines.polling import after_pass, deferred_until
from pipelines.settings import PROJECT_DIR, Settings
from storage import sources as store
from storage.db import get_engine, read, write

SUPPORTED = {"rss": "rss", "sitemap": "sitemap"}


@dataclass
class CrawlResult:
    source: str
    status: str
    new: int = 0
    known: int = 0
    updated: int = 0
    message: str | None = None


def absolute_db_url(url: str) -> str:
    """Relative SQLite paths are relative to the caller's directory; a child must get the same file."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        return parsed.set(database=os.path.abspath(parsed.database)).render_as_string(hide_password=False)
    return url


def crawl_command(kind: str, name: str, dry_run: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "scrapy", "crawl", SUPPORTED[kind], "-a", f"source={name}"]
    if dry_run:
        cmd += ["-a", "dry_run=1"]
    return cmd


def crawl_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["SCRUTINEER_DB"] = absolute_db_url(settings.db)
    env["SCRAPY_SETTINGS_MODULE"] = "crawlers.settings"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_DIR), env.get("PYTHONPATH")]))
    return env


def run_crawl(settings: Settings, source: dict[str, Any], dry_run: bool = False) -> tuple[int | None, str]:
    """Run one crawl subprocess to completion or its deadline; (returncode, stderr tail)."""
    proc = subprocess.Popen(
        crawl_command(source["kind"], source["name"], dry_run), env=crawl_env(settings), cwd=PROJECT_DIR,
        stdin=subprocess.DEVNULL, stdout=None if dry_run else subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, so a kill takes any children too
    )
    try:
        _, err = proc.communicate(timeout=settings.crawl_timeout_s)
        return proc.returncode, (err or b"").decode("utf-8", "replace")[-2000:]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()  # reap: no zombies
        return None, f"crawl timed out after {settings.crawl_timeout_s:.0f} s and was killed"


def collect_one(settings: Settings, source: dict[str, Any]) -> CrawlResult:
    engine = get_engine(settings.db)
    started = datetime.now(timezone.utc)
    wait = deferred_until(source, started)
    if wait is not None:
        # The host said Retry-After: not one request before then, even for a hand-run collect.
        message = f"deferred: the host asked for no requests before {wait.isoformat()} (Retry-After)"
        with write(engine) as conn:
            store.log_fetch(conn, {"source": source["name"], "started_at": started, "finished_at": started,
                                   "status": "warning", "message": message})
        return CrawlResult(source["name"], "deferred", message=message)
    if source["kind"] not in SUPPORTED:
        message = f"source kind {source['kind']!r} is not collected by this version"
        code: int | None = 0
    else:
        code, message = run_crawl(settings, source)
    with read(engine) as conn:
        logged = [e for e in store.fetch_history(conn, source["name"], limit=5) if e["started_at"] >= started]
    if logged:
        e = logged[0]
        return CrawlResult(source["name"], e["status"], e["items_new"], e["items_known"], e["items_updated"],
                           e["message"])
    # The crawl died before writing its own report: write one for it, so health shows it.
    if code is not None and code < 0:
        message = f"crawl process killed by signal {-code}"
    elif code not in (None, 0) or not message:
        last = [line for line in message.strip().splitlines() if line.strip()]
        message = f"crawl process failed (exit {code}): {last[-1] if last else 'no output'}"
    with write(engine) as conn:
        store.log_fetch(conn, {"source": source["name"], "started_at": started,
                               "finished_at": datetime.now(timezone.utc), "status": "error",
                               "message": message[:4000]})
        store.save_polling(conn, source["name"], after_pass(source, ok=False, new=0, known=0,
                                                            now=datetime.now(timezone.utc)))
    return CrawlResult(source["name"], "error", message=message)


def run(settings: Settings, names: list[str] | None = None) -> list[CrawlResult]:
    """One collection pass over all active sources (or the named ones, paused or not)."""
    engine = get_engine(settings.db)
    with read(engine) as conn:
        registry = {s["name"]: s for s in store.list_sources(conn)}
    if names:
        missing = [n for n in names if n not in registry]
        if missing:
            raise UserError(f"no source named {missing[0]!r}")
        chosen = [registry[n] for n in names]
    else:
        chosen = [s for s in registry.values() if s["status"] == "active"]
    with ThreadPoolExecutor(max_workers=max(1, settings.crawl_parallelism)) as pool:
        return list(pool.map(lambda s: collect_one(settings, s), chosen))
