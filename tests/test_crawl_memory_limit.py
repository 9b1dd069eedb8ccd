"""A crawl started by a large parent still crawls, and a crawl stopped by the memory limit says so.

Scrapy's MemoryUsage read `ru_maxrss`, which Linux carries across fork and exec: a parent over
the 1 GiB limit (an Airflow worker, a long test session after the console's load test) made every
crawl stop before its first request, and the pass was logged as a quiet success with nothing
fetched. crawlers/memusage.py measures the crawl's own current RSS and fails the pass when the
limit really is reached."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pytest_httpserver import HTTPServer

FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Ballast Gazette</title>
<link>https://ballast.example/</link><description>x</description>
<item><title>Met police publish facial recognition figures</title><link>https://ballast.example/a</link>
<guid>https://ballast.example/a</guid><pubDate>Mon, 16 Nov 2026 09:00:00 +0000</pubDate>
<description>The Metropolitan Police published its live facial recognition figures for the year.</description>
</item></channel></rss>"""


def test_a_crawl_from_a_parent_over_the_memory_limit_still_crawls(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(FEED, content_type="application/rss+xml")
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    script = textwrap.dedent(f"""
        ballast = bytearray(1300 * 2**20)
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1  # resident, so the crawl process inherits a peak RSS over 1 GiB
        from pipelines import collect, sources
        from core.settings import Settings
        s = Settings(db={f"sqlite:///{tmp_path / 'db.sqlite'}"!r})
        sources.add(s, {{"name": "ballast", "kind": "rss", "url": {httpserver.url_for("/feed.xml")!r},
                         "follow_links": False}})
        r = collect.run(s)[0]
        print("RESULT", r.status, r.new, r.message)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT")), done.stdout + done.stderr[-2000:])
    assert line.startswith("RESULT ok 1 "), line


def test_the_limit_measures_the_crawl_itself() -> None:
    probe = textwrap.dedent("""
        import psutil
        from crawlers.memusage import CurrentMemoryUsage
        class Me(CurrentMemoryUsage):
            def __init__(self):
                self._process = psutil.Process()
        print(Me().get_virtual_size())
    """)
    ballast = bytearray(600 * 2**20)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    child = int(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                               check=True).stdout.strip())
    del ballast
    assert child < 400 * 2**20, child  # the child's own size, not the 600 MiB its parent held
