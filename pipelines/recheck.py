"""`scrutineer recheck`: re-fetch recent relevant articles and record edits, corrections and
takedowns as events the next digest reports (the crawl runs as a `scrapy crawl recheck` subprocess,
through collect's runner of crawl processes: same deadline, progress pipe and Ctrl-C handling)."""
from __future__ import annotations

import sys
from typing import Any

from core.settings import Settings
from pipelines import interrupt
from pipelines.collect import _run
from pipelines.errors import UserError


def run(settings: Settings, days: int = 14, progress: Any = None) -> int:
    """Returns the crawl's exit status (0 when it ran, 130 when interrupted); events land in the database."""
    code, err = _run([sys.executable, "-m", "scrapy", "crawl", "recheck", "-a", f"days={days}"], settings,
                     settings.crawl_timeout_s, capture_stdout=False, progress=progress)
    if interrupt.requested():
        return 130
    if code is None:
        raise UserError(f"recheck timed out after {settings.crawl_timeout_s:.0f} s")
    if code != 0:
        tail = [line for line in err.splitlines() if line.strip()]
        raise UserError(f"recheck crawl failed: {tail[-1] if tail else code}")
    return 0
