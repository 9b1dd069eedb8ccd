"""RELIABILITY row T34 at full size: 200 loopback feeds × 50 items (40 followed to 2,000 article
pages), 10 of them faulty (two of each T05–T09 kind), 100 subscribers; `scrutineer run` then
`scrutineer digest --send` to an aiosmtpd sink, against a 5-minute budget and 1 GiB of RSS.

`run()` returns printable lines (wall time, CPU time, peak RSS of the whole process tree, and the
correctness checks the CI-sized test asserts), so a miss is reported with its figures, not hidden.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

BUDGET_S = 300.0
RSS_LIMIT = 1024 * 1024 * 1024


def run() -> list[str]:
    from bench.loadsite import FAULT_KINDS, Plan, run_load

    plan = Plan(feeds=190, items=50, full_text=40, faults=FAULT_KINDS * 2)
    with tempfile.TemporaryDirectory(prefix="scrutineer-load-") as tmp:
        report = run_load(plan, Path(tmp), timeout=BUDGET_S * 3)
    peak = max(report.peak_rss.values())
    faults_named = sum(1 for m in report.faulty_reported.values() if m)
    verdict = [
        f"load: budget {BUDGET_S:.0f} s: {'met' if report.total_s <= BUDGET_S else 'MISSED'} "
        f"({report.total_s:.0f} s); RSS limit 1 GiB: {'met' if peak <= RSS_LIMIT else 'MISSED'}",
        f"load: exit codes run {report.exit_codes['run']}, digest {report.exit_codes['digest']}; "
        f"missing good items {report.missing_good}; faulty sources named {faults_named}/{len(report.faulty_reported)}"
        f"; sink {report.sink_messages}/100; TextBlob unscored {report.unscored_by_textblob}",
    ]
    return report.lines() + verdict


if __name__ == "__main__":
    print("\n".join(run()))
