"""`scrutineer recheck`: re-fetch recent relevant articles and record edits, corrections and
takedowns as events the next digest reports (the crawl runs as a `scrapy crawl recheck` subprocess)."""
from __future__ import annotations

import subprocess
import sys

from pipelines.collect import crawl_env
from pipelines.errors import UserError
from pipelines.settings import PROJECT_DIR, Settings


def run(settings: Settings, days: int = 14) -> int:
    """Returns the crawl's exit status (0 when it ran); events land in the database."""
    try:
        proc = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "recheck", "-a", f"days={days}"],
                              env=crawl_env(settings), cwd=PROJECT_DIR, capture_output=True, text=True,
                              timeout=settings.crawl_timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"recheck timed out after {settings.crawl_timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        tail = [line for line in proc.stderr.splitlines() if line.strip()]
        raise UserError(f"recheck crawl failed: {tail[-1] if tail else proc.returncode}")
    return 0
