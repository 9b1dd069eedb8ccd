"""Scrapy's memory limit, measured on the crawl process's current RSS.

Scrapy's MemoryUsage reads `ru_maxrss`, and Linux carries a process's peak RSS across fork and
exec: a crawl started by a large parent (an Airflow worker, a long test session, the console)
begins "over the limit" and is shut down before its first request, which the pass then reported
as a quiet success. The current RSS of the crawl process itself is what the limit is for.
"""
from __future__ import annotations

from typing import Any

import psutil
from scrapy.extensions.memusage import MemoryUsage


class CurrentMemoryUsage(MemoryUsage):
    """MemoryUsage on the process's resident set now, not its inherited peak."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._process = psutil.Process()

    def get_virtual_size(self) -> int:
        return int(self._process.memory_info().rss)

    def _check_limit(self) -> None:
        """A pass cut short by the limit is a failure the source's health must say, not a success."""
        size = self.get_virtual_size()
        spider = getattr(self.crawler, "spider", None)
        if size > self.limit and spider is not None and hasattr(spider, "fail"):
            spider.fail(f"stopped: the crawl used {size / 2**20:.0f} MiB, over the memory limit of "
                        f"{self.limit / 2**20:.0f} MiB (MEMUSAGE_LIMIT_MB)")
        super()._check_limit()
