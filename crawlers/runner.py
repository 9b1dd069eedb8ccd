"""`python -m crawlers.runner NAME [NAME ...]`: crawl several sources in one Scrapy process.

Starting Python, Scrapy, Twisted and trafilatura costs more than a second of CPU, so a pass over
200 sources as 200 `scrapy crawl` processes spends minutes starting up. `collect` instead gives
each host's sources to one process: the host's politeness limits (per-domain concurrency,
AutoThrottle) then hold across all of its sources, and start-up is paid once per batch. Each
source is still its own spider with its own pipeline, health and fetch-log line; at most
`MAX_RUNNING` spiders run at once, so a batch's wall time is bounded by its size.
"""
from __future__ import annotations

import sys
from collections import deque
from typing import Any

#: Spiders crawling at the same time inside one process.
MAX_RUNNING = 8

SPIDERS = {"rss": "rss", "sitemap": "sitemap", "site": "site", "ocds": "ocds"}


def main(names: list[str]) -> int:
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings
    from twisted.internet import defer

    from pipelines.settings import Settings
    from storage import sources as store
    from storage.db import get_engine, read

    engine = get_engine(Settings().db)
    with read(engine) as conn:
        registry = {n: store.get_source(conn, n) for n in names}
    process = CrawlerProcess(get_project_settings())
    queue: deque[tuple[str, str]] = deque(
        (n, SPIDERS[src["kind"]]) for n, src in registry.items() if src and src["kind"] in SPIDERS)

    def start_next(_: Any = None) -> Any:
        if not queue:
            return None
        name, spider = queue.popleft()
        d = process.crawl(spider, source=name)
        # A spider that fails to start must not stop the rest of the batch.
        d.addErrback(lambda f: sys.stderr.write(f"{name}: crawl failed: {f.getErrorMessage()}\n"))
        d.addBoth(start_next)
        return d

    for _ in range(min(MAX_RUNNING, len(queue))):
        start_next()
    if process.crawlers:
        process.start()
    else:
        defer.succeed(None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
