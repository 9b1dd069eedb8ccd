"""`scrutineer demo`: the whole job offline, against the bundled demo newsroom.

Serves the newsroom and an SMTP sink on free loopback ports, then runs the same functions the
CLI and the DAGs run: import sources and subscribers, collect, process, digest --send.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from pipelines import collect, digest, process, sources, subscribers
from pipelines.newsroom import Newsroom
from pipelines.settings import Settings
from pipelines.smtp_sink import SmtpSink

DEMO_WEEK = "2026-W47"
DEMO_SUBSCRIBERS = (
    ("rights@demo.scrutineer.invalid", "rights", "Civic Rights Network"),
    ("vendor@demo.scrutineer.invalid", "vendor", "Northgate Analytics bids team"),
    ("analyst@demo.scrutineer.invalid", "analyst", "Scrutineer desk"),
)


def run(out: Path, db: str | None = None) -> dict[str, int]:
    started = time.monotonic()
    if out.exists():
        shutil.rmtree(out)  # the demo always starts from nothing, so it always sends
    out.mkdir(parents=True)
    db = db or f"sqlite:///{out / 'scrutineer.sqlite'}"
    # Every demo server is on loopback: allow exactly that address, nothing else private.
    os.environ["SCRUTINEER_ALLOW_PRIVATE_NETWORKS"] = "127.0.0.1/32"
    with Newsroom() as newsroom, SmtpSink() as sink:
        settings = Settings(db=db, smtp_url=sink.url, allow_private_networks="127.0.0.1/32")
        print(f"demo newsroom: {', '.join(f'{k} {v}' for k, v in newsroom.outlets.items())}")
        sources_file = newsroom.write_sources_yaml(out / "sources.yaml")
        imported, refused = sources.import_file(settings, sources_file)
        for email, profile, name in DEMO_SUBSCRIBERS:
            subscribers.add(settings, email, profile, name=name)
        results = collect.run(settings)
        for r in results:
            print(f"  collected {r.source}: {r.status}, {r.new} new" + (f" ({r.message})" if r.message else ""))
        counts = process.run(settings)
        report = digest.run(settings, week=DEMO_WEEK, out=out / "digest", send=True)
        outbox = out / "outbox"
        outbox.mkdir()
        for i, (rcpts, raw) in enumerate(sink.messages, 1):
            (outbox / f"{i:02d}-{rcpts[0].split('@')[0]}.eml").write_bytes(raw)
    summary = {
        "sources": len(imported), "refused": len(refused),
        "articles_new": sum(r.new for r in results),
        "failed_sources": sum(r.status == "error" for r in results),
        "processed": counts["grouped"], "digests": len(report.digests), "sent": len(sink.messages),
    }
    print(f"demo finished in {time.monotonic() - started:.1f} s: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    print(f"  database: {db}")
    print(f"  digests:  {out / 'digest'} (archive: {digest.archive_dir(settings) / 'index.html'})")
    print(f"  outbox:   {outbox} ({len(sink.messages)} messages)")
    print(f"  export:   scrutineer export --format jsonl --db {db}")
    return summary
