"""Page extraction on the crawl process's other cores.

A crawl process is one Python interpreter: Scrapy's downloading, our storage and trafilatura's
extraction all took turns on one core, and extraction alone was about half of it. Here the crawl
process forks a small pool of extraction workers when it starts, and spiders `await extract(...)`:
the reactor keeps downloading and storing while a worker extracts, so a crawl uses two cores.

Why fork, and why first: a forked worker starts in milliseconds with trafilatura already imported,
and forking is safe only while the process has one thread and no open database connection, which
is true at the top of `crawlers.runner.main` and nowhere later. A process that never starts the
pool (a plain `scrapy crawl`, such as the recheck pass) extracts inline, with the same result.

What can go wrong, and what happens:
- a page that kills its worker (a crash inside lxml) breaks the pool: that page and the others in
  flight raise `ExtractionWorkerDied`, are not stored this pass (so the next pass fetches them
  again), and the rest of the crawl extracts inline;
- the crawl process is killed: workers are in its process group (collect kills the group), and
  each also exits by itself within a second once its parent is gone.
"""
from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from crawlers.extract import ExtractedPage, extract_article

_pool: ProcessPoolExecutor | None = None


class ExtractionWorkerDied(RuntimeError):
    """The worker extracting this page died; the page is left for the next pass."""


def default_workers() -> int:
    """One per core, at most 4: the crawl process itself mostly waits on the network, so a worker
    on its core too uses what it leaves (measured on 2 cores: 0.73-0.75x of bare extraction speed
    with 2 workers, 0.60-0.71x with 1)."""
    return max(1, min(4, os.cpu_count() or 1))


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _in_worker(url: str, html: bytes | str, content_type: str | None,
               names: tuple[str, ...] = ()) -> ExtractedPage:
    return extract_article(url, html, content_type, names=names)


def _worker_init(parent: int) -> None:
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def start(workers: int) -> bool:
    """Fork the extraction workers (call before any thread or connection exists); False when
    workers is 0 or this platform cannot fork, and extraction stays inline."""
    global _pool
    if workers <= 0 or _pool is not None or "fork" not in multiprocessing.get_all_start_methods():
        return False
    # Objects that exist now are never collected in the workers: without this their first
    # garbage collection touches every one and copies the parent's memory page by page.
    gc.freeze()
    _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                initializer=_worker_init, initargs=(os.getpid(),))
    _pool.submit(int).result()  # with fork, every worker starts here, while this process has one thread
    return True


def stop() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None


def kill_workers() -> None:
    """Kill and reap the workers at once (an interrupted crawl exits without waiting for pages)."""
    global _pool
    pool, _pool = _pool, None
    if pool is None:
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        p.kill()
    for p in procs:
        p.join(1.0)


async def extract(url: str, html: bytes | str, content_type: str | None = None,
                  names: tuple[str, ...] = ()) -> ExtractedPage:
    """`extract_article` in a worker when the pool runs, else here; the same fields either way.
    `names`: what the source's outlet is known to be called (cut from the headline)."""
    global _pool
    pool = _pool
    if pool is None:
        return extract_article(url, html, content_type, names=names)
    try:
        return await asyncio.wrap_future(pool.submit(_in_worker, url, html, content_type, tuple(names)))
    except BrokenProcessPool as exc:
        if _pool is pool:
            _pool = None  # the rest of this crawl extracts inline; the next pass forks afresh
            pool.shutdown(wait=False, cancel_futures=True)
        raise ExtractionWorkerDied(f"the extraction worker died while extracting {url}; "
                                   "the page was not stored and will be fetched again next pass") from exc
