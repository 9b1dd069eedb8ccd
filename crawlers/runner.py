"""`python -m crawlers.runner [--dry-run] NAME [NAME ...]`: crawl sources in one Scrapy process.

`python -m crawlers.runner --recheck DAYS` runs the recheck pass the same way: the one launcher of
crawls, so both take the same site leases, signal handling and extraction workers, and collect
runs both under the same deadline and process-group kill (pipelines/collect.py).

Starting Python, Scrapy, Twisted and trafilatura costs more than a second of CPU, so a pass over
200 sources as 200 `scrapy crawl` processes spends minutes starting up. `collect` instead packs
sources into a few processes, with every source of one host in the same process. Each source is
still its own spider with its own pipeline, health and fetch-log line.

Scrapy keeps its per-domain limit in each spider's own downloader, so two spiders on one host
would each take the full allowance. Here a host's allowance (CONCURRENT_REQUESTS_PER_DOMAIN) is
shared out: a host with one source gets it whole; a host with several runs up to that many of
them at once, each with an equal share (at least one request), so the host never sees more than
its limit, and one hung source does not hold up the host's others.
"""
from __future__ import annotations

import logging
import math
import os
import signal
import sys
from collections import Counter
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

#: Spiders crawling at the same time inside one process.
MAX_RUNNING = 8
#: How long a crawl process waits for a site that another process is crawling (storage/leases.py).
LEASE_WAIT_S = 60.0

#: Source kind → spider name (crawlers/spiders/); the kinds this version collects.
SPIDERS = {"rss": "rss", "sitemap": "sitemap", "site": "site", "ocds": "ocds"}


def host_of(url: str) -> str:
    """Scrapy's download-slot key: the host name, without port (so ports of one host share it)."""
    return (urlsplit(url).hostname or "").lower()


def site_of(url: str) -> str:
    """The lease key: host and port (`news.example:443`), so two servers on one machine's
    loopback, as in tests, are two sites; real news sites differ by host anyway."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{(parts.hostname or '').lower()}:{port}"


def lanes(hosts: list[str], per_host_limit: int) -> dict[str, tuple[int, int]]:
    """Per host: (spiders it may run at once, requests each may have in flight there), so that
    together they never exceed the host's per-domain limit."""
    out = {}
    for host, n in Counter(hosts).items():
        k = min(n, per_host_limit)
        out[host] = (k, max(1, per_host_limit // k))
    return out


def waves(hosts: list[str], per_host_limit: int) -> int:
    """How many rounds of spiders a batch takes at most: its deadline is this many crawl timeouts."""
    if not hosts:
        return 1
    per_host = max(math.ceil(n / lanes(hosts, per_host_limit)[h][0]) for h, n in Counter(hosts).items())
    return max(math.ceil(len(hosts) / MAX_RUNNING), per_host)


def main(args: list[str]) -> int:
    from core.settings import Settings
    from crawlers import offload

    dry_run = "--dry-run" in args  # print what would be stored, store nothing (`sources test`)
    # `--recheck DAYS`: the recheck pass (crawlers/spiders/recheck.py) instead of sources.
    days = int(args[args.index("--recheck") + 1]) if "--recheck" in args else None
    names = [a for a in args if a != "--dry-run"] if days is None else []

    settings = Settings()
    # First, while this process has one thread and no database connection (crawlers/offload.py).
    offload.start(offload.default_workers() if settings.extract_workers is None else settings.extract_workers)
    try:
        return _crawl(names, settings, dry_run, recheck_days=days)
    except KeyboardInterrupt:  # SIGINT/SIGTERM before the crawl began (see _crawl's _on_signal)
        return 130
    finally:
        offload.stop()


def _crawl(names: list[str], settings: Any, dry_run: bool = False, recheck_days: int | None = None) -> int:
    from datetime import timedelta

    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    from storage import leases
    from storage import sources as store
    from storage.articles import recheck_targets
    from storage.db import get_engine, read

    engine = get_engine(settings.db)
    targets: list[dict[str, Any]] = []
    with read(engine) as conn:
        registry = {n: store.get_source(conn, n) for n in names}
        if recheck_days is not None:  # their sites are leased before the pass starts
            targets = recheck_targets(conn, datetime.now(timezone.utc) - timedelta(days=recheck_days))
    from scrapy import signals

    from core.events import emit

    project = get_project_settings()
    if os.environ.get("SCRUTINEER_LOG_LEVEL"):  # `-v` on the command line
        project.set("LOG_LEVEL", os.environ["SCRUTINEER_LOG_LEVEL"], priority="cmdline")
    process = CrawlerProcess(project)
    # Scrapy filters by level in its handler, so every page's DEBUG lines ("Crawled", "Scraped
    # from") were still built as log records, only to be dropped there.
    logging.getLogger().setLevel(process.settings.get("LOG_LEVEL"))
    stopping: list[int] = []  # signals received

    def _on_signal(signum: int, frame: Any) -> None:
        """Before the reactor runs, unwind (leases released on the way out); once it does, stop
        from the reactor's thread (abandon), never in the middle of a batch being stored; a
        second signal exits at once."""
        from twisted.internet import reactor  # installed by CrawlerProcess above

        stopping.append(signum)
        if len(stopping) > 1:
            os._exit(130)
        if not reactor.running:
            raise KeyboardInterrupt
        reactor.callFromThread(abandon)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    pending: list[tuple[str, str, str]] = [(n, SPIDERS[src["kind"]], host_of(src["url"]))
                                           for n, src in registry.items() if src and src["kind"] in SPIDERS]
    per_host = process.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") or 1
    hosts = [host for _, _, host in pending]
    # One crawl process per site anywhere (storage/leases.py), a site being host and port; the
    # lease outlives this process's own deadline (crawl_timeout_s per wave) by a margin.
    site = {name: site_of((registry[name] or {})["url"]) for name, _, _ in pending}
    holder = leases.holder_id()
    # The recheck pass is one spider over every site its articles come from, in one wave.
    held, busy = leases.claim(engine, [*site.values(), *(site_of(t["url"]) for t in targets)], holder,
                              ttl_s=settings.crawl_timeout_s * waves(hosts, per_host) + 60,
                              wait_s=min(LEASE_WAIT_S, settings.crawl_timeout_s / 4))
    for name, _, _ in pending:
        if site[name] in busy:
            _defer(engine, name, site[name], busy[site[name]], dry_run)
    pending = [p for p in pending if site[p[0]] in held]
    plan = lanes([host for _, _, host in pending], per_host)
    running: dict[str, int] = {}

    def start_more(_: Any = None) -> Any:
        """Start spiders while there is room, skipping sources whose host has no free lane."""
        while sum(running.values()) < MAX_RUNNING and not stopping:
            pick = next((i for i, (_, _, host) in enumerate(pending) if running.get(host, 0) < plan[host][0]), None)
            if pick is None:
                return None
            name, spider, host = pending.pop(pick)
            running[host] = running.get(host, 0) + 1
            crawler = process.create_crawler(spider)
            crawler.settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", plan[host][1], priority="cmdline")
            crawler.signals.connect(
                lambda response, request, spider, name=name: emit("fetched", source=name, url=response.url,
                                                                  status=response.status),
                signal=signals.response_received, weak=False)
            d = process.crawl(crawler, source=name, **({"dry_run": "1"} if dry_run else {}))
            # A spider that fails to start must not stop the rest of the batch.
            # (Twisted's overloads do not type lambdas with bound defaults.)
            d.addErrback(lambda f, name=name: sys.stderr.write(  # type: ignore[call-overload]
                f"{name}: crawl failed: {f.getErrorMessage()}\n"))
            d.addBoth(lambda _, host=host: running.__setitem__(host, running[host] - 1))  # type: ignore[call-overload]
            d.addBoth(start_more)
        return None

    def abandon() -> None:
        """Stop now: store the whole articles already extracted, log each open source as
        interrupted (it stays due; its validators are not saved), release the leases, exit 130.
        Runs on the reactor's thread, so never in the middle of a batch being stored."""
        from crawlers import offload
        from crawlers.pipelines import StoragePipeline

        for pipeline in list(StoragePipeline.open):
            try:
                pipeline.interrupted()
            except Exception as exc:  # noqa: BLE001 - the database may be the problem; exit anyway
                sys.stderr.write(f"interrupted: could not record {pipeline.spider.source['name']}: {exc}\n")
        sys.stdout.flush()
        sys.stderr.flush()
        leases.release(engine, held, holder)
        offload.kill_workers()
        os._exit(130)

    try:
        if recheck_days is not None:
            # Read again now the sites are leased: a crawl that held one may have stored a new
            # version meanwhile, and the pass compares against the latest.
            with read(engine) as conn:
                targets = recheck_targets(conn, datetime.now(timezone.utc) - timedelta(days=recheck_days))
            _start_recheck(process, targets, held, recheck_days)
        start_more()
        if process.crawlers:
            process.start(install_signal_handlers=False)
    finally:
        leases.release(engine, held, holder)
    return 130 if stopping else 0


def _start_recheck(process: Any, targets: list[dict[str, Any]], held: set[str], days: int) -> None:
    """The recheck spider over the articles whose sites this process leased; the others (a site
    another process is crawling) wait for the next recheck, which finds them again."""
    mine = [t for t in targets if site_of(t["url"]) in held]
    if len(mine) < len(targets):
        sys.stderr.write(f"recheck: {len(targets) - len(mine)} article(s) on sites being crawled by another "
                         "process are left for the next recheck\n")
    d = process.crawl(process.create_crawler("recheck"), days=str(days), targets=mine)
    d.addErrback(lambda f: sys.stderr.write(f"recheck: crawl failed: {f.getErrorMessage()}\n"))


def _defer(engine: Any, name: str, site: str, holder: str, dry_run: bool) -> None:
    """The site is being crawled elsewhere: say so in the source's health; it stays due."""
    from storage import sources as store
    from storage.db import write

    message = (f"deferred: {site} is being crawled by another process ({holder}); "
               "this source is tried again at the next pass")
    if dry_run:
        sys.stderr.write(message + "\n")
        return
    now = datetime.now(timezone.utc)
    with write(engine) as conn:
        store.log_fetch(conn, {"source": name, "started_at": now, "finished_at": now, "status": "warning",
                               "message": message})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
