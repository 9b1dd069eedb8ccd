"""`scrutineer recheck`: re-fetch recent relevant articles and record edits, corrections and
takedowns as events the next digest reports. The crawl is launched as collect launches its own
(pipelines/collect.run_recheck_crawl, crawlers/runner.py): the same site leases, deadline,
process-group kill, progress pipe and Ctrl-C handling."""
from __future__ import annotations

from typing import Any

from core.settings import Settings
from pipelines import interrupt
from pipelines.collect import run_recheck_crawl
from pipelines.errors import UserError


def run(settings: Settings, days: int = 14, progress: Any = None) -> int:
    """Returns the crawl's exit status (0 when it ran, 130 when interrupted); events land in the database."""
    code, err = run_recheck_crawl(settings, days, progress)
    if interrupt.requested():
        return 130
    if code is None:
        raise UserError(f"recheck timed out after {settings.crawl_timeout_s:.0f} s")
    if code != 0:
        tail = [line for line in err.splitlines() if line.strip()]
        raise UserError(f"recheck crawl failed: {tail[-1] if tail else code}")
    return 0
