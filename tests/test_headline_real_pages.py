"""Headlines on real pages: newspaper4k's test fixtures (issue 12), judged by hand (bench/headline_eval.py).

The pages are not in this repository (licence); `make bench-extraction` fetches them from PyPI's
sdist of newspaper4k==0.9.6 into EXTRACTION_BENCH (default ../extraction-bench). Skips without them.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.headline_eval import evaluate

BENCH = Path(os.environ.get("EXTRACTION_BENCH") or Path(__file__).resolve().parents[1].parent / "extraction-bench")
DATA = BENCH / "newspaper4k-0.9.6" / "tests" / "data"


@pytest.mark.skipif(not (DATA / "html").is_dir(),
                    reason=f"newspaper4k test pages not at {DATA} (make bench-extraction)")
def test_real_pages_yield_the_headline_a_reader_sees() -> None:
    result = evaluate(DATA)
    n, exact = result["pages"], result["exact"]
    assert n >= 20
    misses = "\n".join(f"{m['page']}: {m['ours']!r} (judged {m['want']!r})" for m in result["misses"])
    assert exact["ours"] / n >= 0.9, misses
    assert exact["ours"] > exact["old"] and exact["ours"] > exact["raw"]
