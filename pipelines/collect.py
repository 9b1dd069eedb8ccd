"""Collection stage: crawl subprocesses, one per host's sources, a few at a time.

Subprocesses because Twisted's reactor cannot restart inside one process (an Airflow worker, a
test session), and because they bound time and memory: a hung or crashed crawl is killed and
reported, and the other sources go on. A pass groups sources by host (crawlers/runner.py), so a
host's politeness limits hold across its sources and start-up is paid once per host, not once per
source; if a batch process dies, its unfinished sources are crawled again one per process, so one
hostile source cannot cost the others their pass. An Airflow task crawls exactly one source.
Crawl processes report pages and finished sources on a pipe as they go (pipelines/progress.py),
and stop on request within seconds (pipelines/interrupt.py).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import make_url

from core.events import ENV_FD, read_events
from core.polling import after_pass, deferred_until, is_due
from core.settings import Settings
from crawlers.runner import SPIDERS, host_of, waves
from pipelines import interrupt
from pipelines.errors import UserError
from storage import sources as store
from storage.db import FULL_MESSAGE, StorageFull, get_engine, is_storage_full, read, write
from storage.redact import redact

SUPPORTED = SPIDERS  # source kind → spider name
#: At most this many sources share one crawl process.
MAX_BATCH = 40


@dataclass
class CrawlResult:
    source: str
    status: str
    new: int = 0
    known: int = 0
    updated: int = 0
    message: str | None = None
    #: the source's kind: an ocds source's items are notices, and are counted as such
    kind: str = ""

    def __post_init__(self) -> None:
        self.message = redact(self.message)  # printed and returned to DAG tasks: never a password


def absolute_db_url(url: str) -> str:
    """Relative SQLite paths are relative to the caller's directory; a child must get the same file."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        return parsed.set(database=os.path.abspath(parsed.database)).render_as_string(hide_password=False)
    return url


def crawl_command(kind: str, name: str, dry_run: bool = False) -> list[str]:
    """One source's crawl process: the runner (as for batches), so it extracts on a second core."""
    if kind not in SUPPORTED:
        raise UserError(f"source kind {kind!r} is not collected by this version")
    return runner_command(*(["--dry-run"] if dry_run else []), name)


def runner_command(*args: str) -> list[str]:
    """`python -P -m crawlers.runner …` with this interpreter: it sees the same installed packages.
    -P: the working directory (kept, so relative paths in settings mean what they meant here) is not
    put first on the child's sys.path, where a folder named like one of ours would shadow it."""
    return [sys.executable, "-P", "-m", "crawlers.runner", *args]


def code_root() -> str | None:
    """Where our packages were imported from, when the child would not find them by itself: a source
    checkout run without install (`python -m scrutineer.cli` in it) or an editable install; None
    when they are installed in one of this interpreter's site directories."""
    import site

    spec = importlib.util.find_spec("crawlers")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = os.path.dirname(os.path.realpath(list(spec.submodule_search_locations)[0]))
    sites = {os.path.realpath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    return None if root in sites else root


def recheck_command(days: int) -> list[str]:
    """The recheck pass's crawl process: the same runner as collect's, so the same site leases."""
    return runner_command("--recheck", str(days))


def crawl_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["SCRUTINEER_DB"] = absolute_db_url(settings.db)
    get_engine(env["SCRUTINEER_DB"])  # migrated here, once, so the crawl need not check (storage/db.py)
    env["SCRUTINEER_SCHEMA_READY"] = env["SCRUTINEER_DB"]
    env["SCRAPY_SETTINGS_MODULE"] = "pipelines.crawl_settings"  # the crawl with the judgement (issue 13)
    root = code_root()
    if root and root not in env.get("PYTHONPATH", "").split(os.pathsep):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _run(cmd: list[str], settings: Settings, timeout: float, capture_stdout: bool,
         progress: Any = None) -> tuple[int | None, str]:
    """Run a crawl subprocess to completion, its deadline or an interrupt; (returncode, stderr tail).

    Its progress lines arrive on a pipe of their own (pipelines/progress.py) and go to `progress`.
    On an interrupt (pipelines/interrupt.py) the process is asked to stop with SIGTERM and killed
    if it is still there STOP_GRACE_S later."""
    read_fd, write_fd = os.pipe()
    env = crawl_env(settings)
    env[ENV_FD] = str(write_fd)
    if progress is not None and progress.verbosity >= 2:
        env["SCRUTINEER_LOG_LEVEL"] = "DEBUG"
    try:
        proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL,
            stdout=None if capture_stdout else subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a kill takes any children too
            pass_fds=(write_fd,),
        )
    finally:
        os.close(write_fd)
    interrupt.register(proc.pid)
    err: deque[bytes] = deque(maxlen=400)
    echo = progress is not None and progress.verbosity >= 2  # `-v`: the crawl's own log, live
    readers = [threading.Thread(target=_read_stderr, args=(proc, err, echo), daemon=True),
               threading.Thread(target=read_events, args=(read_fd, progress.event if progress else _ignore),
                                daemon=True)]
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    stop_by: float | None = None
    code: int | None = None
    try:
        while True:
            try:
                code = proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if stop_by is None and interrupt.requested():
                stop_by = now + interrupt.STOP_GRACE_S
                with contextlib.suppress(OSError):
                    proc.send_signal(signal.SIGTERM)
            if now >= deadline or (stop_by is not None and now >= stop_by):
                _kill_crawl(proc)
                if stop_by is not None:
                    return None, "interrupted: the crawl was stopped"
                return None, f"crawl timed out after {timeout:.0f} s and was killed"
    finally:
        interrupt.unregister(proc.pid)
        for t in readers:
            t.join(timeout=2)
    return code, b"".join(err).decode("utf-8", "replace")[-2000:]


def _ignore(event: dict[str, Any]) -> None:
    pass


def _read_stderr(proc: subprocess.Popen[bytes], tail: deque[bytes], echo: bool) -> None:
    for line in proc.stderr or ():
        tail.append(line)
        if echo:
            sys.stderr.write(line.decode("utf-8", "replace"))


def _kill_crawl(proc: subprocess.Popen[bytes]) -> None:
    """Kill a crawl process and its extraction workers, leaving no zombie.

    The workers go first, while the crawl process lives to reap them: a worker orphaned by a
    simultaneous kill would wait for PID 1 to reap it, and not every PID 1 does (containers).
    Then the whole process group, and this process reaps the crawl process itself."""
    import psutil

    try:
        workers = psutil.Process(proc.pid).children()
        for w in workers:
            w.kill()
        psutil.wait_procs(workers, timeout=3)  # gone once the crawl process has reaped them
    except psutil.Error:
        pass
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_crawl(settings: Settings, source: dict[str, Any], dry_run: bool = False,
              progress: Any = None) -> tuple[int | None, str]:
    """One source in its own crawl process (dry runs, Airflow tasks, isolation retries)."""
    return _run(crawl_command(source["kind"], source["name"], dry_run), settings, settings.crawl_timeout_s,
                capture_stdout=dry_run, progress=progress)


def run_recheck_crawl(settings: Settings, days: int, progress: Any = None) -> tuple[int | None, str]:
    """The recheck pass in its own crawl process, under a crawl's deadline and kill."""
    return _run(recheck_command(days), settings, settings.crawl_timeout_s, capture_stdout=False,
                progress=progress)


def run_batch_crawl(settings: Settings, names: list[str], hosts: list[str] | None = None,
                    progress: Any = None) -> tuple[int | None, str]:
    """Several sources in one process; the deadline grows with the number of spider waves the
    runner needs (crawlers/runner.py: how many spiders run at once, in all and per host)."""
    from crawlers.settings import CONCURRENT_REQUESTS_PER_DOMAIN

    rounds = waves(hosts or names, CONCURRENT_REQUESTS_PER_DOMAIN)
    return _run(runner_command(*names), settings, settings.crawl_timeout_s * rounds,
                capture_stdout=False, progress=progress)


def _log_marker(engine: Any) -> int:
    """The newest fetch-log id before a crawl: its own line is any later one (ids, not clocks,
    which may differ between this process and the crawl's)."""
    with read(engine) as conn:
        return store.last_fetch_id(conn)


def _result(engine: Any, source: dict[str, Any], marker: int, code: int | None,
            message: str) -> CrawlResult | None:
    """The source's own fetch-log line from this pass, or None when the crawl never wrote one."""
    with read(engine) as conn:
        logged = [e for e in store.fetch_history(conn, source["name"], limit=5) if e["id"] > marker]
    if not logged:
        return None
    e = logged[0]
    return CrawlResult(source["name"], e["status"], e["items_new"], e["items_known"], e["items_updated"],
                       e["message"], kind=source.get("kind", ""))


def _record_death(engine: Any, source: dict[str, Any], started: datetime, code: int | None,
                  message: str) -> CrawlResult:
    """The crawl died before writing its own report: write one for it, so health shows it."""
    if is_storage_full(message):  # nothing could be stored: the database's problem, not the source's
        raise StorageFull(f"{FULL_MESSAGE} while storing source {source['name']!r}; free space and rerun")
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
    return CrawlResult(source["name"], "error", message=message, kind=source.get("kind", ""))


def _deferred(engine: Any, source: dict[str, Any], now: datetime) -> CrawlResult | None:
    """The host said Retry-After: not one request before then, even for a hand-run collect."""
    wait = deferred_until(source, now)
    if wait is None:
        return None
    message = f"deferred: the host asked for no requests before {wait.isoformat()} (Retry-After)"
    with write(engine) as conn:
        store.log_fetch(conn, {"source": source["name"], "started_at": now, "finished_at": now,
                               "status": "warning", "message": message})
    return CrawlResult(source["name"], "deferred", message=message, kind=source.get("kind", ""))


def _unsupported(engine: Any, source: dict[str, Any], now: datetime) -> CrawlResult:
    message = f"source kind {source['kind']!r} is not collected by this version"
    with write(engine) as conn:
        store.log_fetch(conn, {"source": source["name"], "started_at": now, "finished_at": now,
                               "status": "warning", "message": message})
    return CrawlResult(source["name"], "warning", message=message, kind=source.get("kind", ""))


def _tell(progress: Any, result: CrawlResult) -> None:
    if progress is not None:
        progress.source_done(result)


def _not_crawled(source: dict[str, Any]) -> CrawlResult:
    """Interrupted before its crawl began or wrote a word: nothing written, it stays due."""
    return CrawlResult(source["name"], "interrupted", message="interrupted before it was crawled",
                       kind=source.get("kind", ""))


def collect_one(settings: Settings, source: dict[str, Any], progress: Any = None) -> CrawlResult:
    """One source in its own crawl process: the unit of an Airflow task."""
    result = _collect_one(settings, source, progress)
    if progress is not None:
        progress.source_done(result)
    return result


def _collect_one(settings: Settings, source: dict[str, Any], progress: Any = None) -> CrawlResult:
    if interrupt.requested():
        return _not_crawled(source)
    engine = get_engine(settings.db)
    started = datetime.now(timezone.utc)
    early = _deferred(engine, source, started)
    if early is not None:
        return early
    if source["kind"] not in SUPPORTED:
        return _unsupported(engine, source, started)
    marker = _log_marker(engine)
    code, message = run_crawl(settings, source, progress=progress)
    got = _result(engine, source, marker, code, message)
    if got is None and interrupt.requested():
        return _not_crawled(source)
    return got or _record_death(engine, source, started, code, message)


def host_batches(chosen: list[dict[str, Any]], limit: int = MAX_BATCH) -> list[list[dict[str, Any]]]:
    """Sources packed into batches of about `limit`, each host's sources whole in one batch.

    A host never spans two processes, so its politeness limits hold across the pass (the runner
    runs one spider per host at a time); a host with more than `limit` sources gets a batch alone.
    """
    by_host: dict[str, list[dict[str, Any]]] = {}
    for src in chosen:
        by_host.setdefault(host_of(src["url"]), []).append(src)
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    for group in sorted(by_host.values(), key=len, reverse=True):
        if current and len(current) + len(group) > limit:
            out.append(current)
            current = []
        current = current + group
    if current:
        out.append(current)
    return out


def collect_batch(settings: Settings, batch: list[dict[str, Any]], progress: Any = None) -> list[CrawlResult]:
    """Crawl a batch in one process; sources it left unreported are retried one per process."""
    if len(batch) == 1:
        return [collect_one(settings, batch[0], progress)]
    if interrupt.requested():
        skipped = [_not_crawled(src) for src in batch]
        for r in skipped:
            _tell(progress, r)
        return skipped
    engine = get_engine(settings.db)
    started = datetime.now(timezone.utc)
    results: dict[str, CrawlResult] = {}
    todo = []
    for src in batch:
        early = _deferred(engine, src, started)
        if early is None and src["kind"] not in SUPPORTED:
            early = _unsupported(engine, src, started)
        if early is not None:
            results[src["name"]] = early
            _tell(progress, early)
        else:
            todo.append(src)
    if todo:
        marker = _log_marker(engine)
        code, message = run_batch_crawl(settings, [s["name"] for s in todo], [host_of(s["url"]) for s in todo],
                                        progress)
        missing = []
        for src in todo:
            got = _result(engine, src, marker, code, message)
            if got is not None:
                results[src["name"]] = got
                _tell(progress, got)
            else:
                missing.append(src)
        if missing and interrupt.requested():  # stopped by the operator: they stay due, untouched
            for src in missing:
                results[src["name"]] = _not_crawled(src)
                _tell(progress, results[src["name"]])
        elif missing and code is None:  # the batch ran out of time: no second chance this pass
            for src in missing:
                results[src["name"]] = _record_death(engine, src, started, code, message)
                _tell(progress, results[src["name"]])
        else:  # the process died (or never started a spider): isolate the rest
            for src in missing:
                results[src["name"]] = collect_one(settings, src, progress)
    return [results[s["name"]] for s in batch]


def run(settings: Settings, names: list[str] | None = None, progress: Any = None) -> list[CrawlResult]:
    """One collection pass over all active sources (or the named ones, paused or not).

    `progress` (pipelines/progress.py) hears of pages and finished sources as they happen; after
    an interrupt (pipelines/interrupt.py) the pass ends early with the sources it did not reach
    marked "interrupted"."""
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
    order = {s["name"]: i for i, s in enumerate(chosen)}
    if progress is not None:
        progress.set_total(len(chosen))
    batches = sorted(host_batches(chosen), key=len, reverse=True)  # longest first: better packing
    with ThreadPoolExecutor(max_workers=max(1, settings.crawl_parallelism)) as pool:
        done = [r for rs in pool.map(lambda b: collect_batch(settings, b, progress), batches) for r in rs]
    return sorted(done, key=lambda r: order[r.source])


def due_sources(conn: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    """Active sources whose next poll time has come, longest-waiting (or never polled) first: the
    dispatcher DAG's work list."""
    now = now or datetime.now(timezone.utc)
    never = datetime.min.replace(tzinfo=timezone.utc)
    return sorted((s for s in store.list_sources(conn) if is_due(s, now)), key=lambda s: s.get("next_poll_at") or never)


def due_names(settings: Settings, limit: int, now: datetime | None = None) -> list[str]:
    """The names `due_sources` lists, at most `limit` (the rest wait for the next dispatcher run):
    what the collect DAG maps over, read through this module so the DAG never touches storage."""
    with read(get_engine(settings.db)) as conn:
        return [s["name"] for s in due_sources(conn, now)[:limit]]


def collect_if_active(settings: Settings, name: str) -> CrawlResult | str:
    """One source's pass as the collect DAG runs it; the source's status instead ("paused",
    "removed", "gone") when it stopped being active after the run listed it."""
    with read(get_engine(settings.db)) as conn:
        source = store.get_source(conn, name)
    if source is None or source["status"] != "active":
        return source["status"] if source else "gone"
    return collect_one(settings, source)
