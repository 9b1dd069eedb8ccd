"""`scrutineer demo`: the whole job offline, against the bundled demo newsroom.

Serves the newsroom, a procurement portal (an OCDS release package in Find a Tender's shape) and
an SMTP sink on free loopback ports, then runs the same functions the CLI and the DAGs run:
import sources and subscribers, collect, process, digest --send.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from core.resources import package_file
from core.settings import Settings
from demo.newsroom import Newsroom
from demo.smtp_sink import SmtpSink
from pipelines import collect, digest, process, sources, subscribers

DEMO_WEEK = "2026-W47"
DEMO_SUBSCRIBERS = (
    ("rights@demo.scrutineer.invalid", "rights", "Civic Rights Network"),
    ("vendor@demo.scrutineer.invalid", "vendor", "Northgate Analytics bids team"),
    ("analyst@demo.scrutineer.invalid", "analyst", "Scrutineer desk"),
)


TENDERS = package_file("demo.newsroom", "tenders.json")


@contextmanager
def tender_portal() -> Iterator[str]:
    """The demo's procurement portal on a loopback port: its base URL while the block runs."""
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            if self.path.split("?")[0] == "/ocds/releases.json":
                body, status, ctype = TENDERS.read_text(encoding="utf-8").replace("{base}", base).encode(), 200, \
                    "application/json"
            else:
                body, status, ctype = b"not found", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def run(out: Path, db: str | None = None) -> dict[str, int]:
    """The demo, with the network policy narrowed to loopback for its crawl processes and put back
    afterwards (a caller in the same process, a test session say, keeps its own policy)."""
    saved = os.environ.get("SCRUTINEER_ALLOW_PRIVATE_NETWORKS")
    try:
        return _run(out, db)
    finally:
        if saved is None:
            os.environ.pop("SCRUTINEER_ALLOW_PRIVATE_NETWORKS", None)
        else:
            os.environ["SCRUTINEER_ALLOW_PRIVATE_NETWORKS"] = saved


def _run(out: Path, db: str | None = None) -> dict[str, int]:
    started = time.monotonic()
    if out.exists():
        shutil.rmtree(out)  # the demo always starts from nothing, so it always sends
    out.mkdir(parents=True)
    db = db or f"sqlite:///{out / 'scrutineer.sqlite'}"
    # Every demo server is on loopback: allow exactly that address, nothing else private.
    os.environ["SCRUTINEER_ALLOW_PRIVATE_NETWORKS"] = "127.0.0.1/32"
    with Newsroom() as newsroom, SmtpSink() as sink, tender_portal() as portal:
        # Unsubscribe links point at a loopback `scrutineer unsubscribe-server` (its default port):
        # `digest --send` refuses without a public URL.
        settings = Settings(db=db, smtp_url=sink.url, allow_private_networks="127.0.0.1/32",
                            public_url=os.environ.get("SCRUTINEER_PUBLIC_URL") or "http://127.0.0.1:8080")
        print(f"demo newsroom: {', '.join(f'{k} {v}' for k, v in newsroom.outlets.items())}")
        sources_file = newsroom.write_sources_yaml(out / "sources.yaml")
        listing = yaml.safe_load(sources_file.read_text(encoding="utf-8"))
        listing["sources"].append({"name": "tenders-ocds", "kind": "ocds", "url": f"{portal}/ocds/releases.json",
                                   "schedule": "@daily", "tags": ["demo", "procurement"]})
        sources_file.write_text(yaml.safe_dump(listing, sort_keys=False), encoding="utf-8")
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
        "articles_new": sum(r.new for r in results if r.source != "tenders-ocds"),
        "notices_new": sum(r.new for r in results if r.source == "tenders-ocds"),
        "failed_sources": sum(r.status == "error" for r in results),
        "processed": counts["grouped"], "digests": len(report.digests), "sent": len(sink.messages),
    }
    print(f"demo finished in {time.monotonic() - started:.1f} s: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    print(f"  database: {db}")
    print(f"  digests:  {out / 'digest'} (archive: {digest.archive_dir(settings) / 'index.html'})")
    print(f"  outbox:   {outbox} ({len(sink.messages)} messages)")
    print(f"  export:   scrutineer export --format jsonl --db {db}")
    _console_login(settings, db)
    return summary


DEMO_USER = "demo@scrutineer.invalid"


def _console_login(settings: Settings, db: str) -> None:
    """A demo admin with a fresh random password, and the one command that opens the console."""
    import secrets

    from console.auth import add_user

    password = secrets.token_urlsafe(12)
    add_user(settings, DEMO_USER, "admin", password)
    print(f"  console:  SCRUTINEER_PUBLIC_URL=http://127.0.0.1:8000 scrutineer web --db {db}")
    print(f"            then open http://127.0.0.1:8000/ and log in as {DEMO_USER} / {password}")
