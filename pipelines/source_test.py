"""`scrutineer sources test NAME|URL`: what one collection pass of a source would bring, and why.

The source is crawled for real, by the same crawl process `collect` runs, but into a throwaway
SQLite registry holding only that source: nothing reaches the real database, every item the source
lists is fetched (none is skipped as known), and the pass's own fetch-log line says whether the
source could be fetched at all. Each item is then judged against the real database (already stored
or new) and by the same tag and relevance functions `process` uses (pipelines/enrich.py).
"""
from __future__ import annotations

import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.settings import Settings
from pipelines.errors import UserError
from storage.redact import redact

#: The registry name a URL that is not registered is tested under.
ADHOC_NAME = "sources-test"


@dataclass
class Verdict:
    url: str
    canonical_url: str
    title: str
    published_at: str | None
    tags: list[str]
    relevance: float
    relevant: bool
    relevance_reason: str
    extraction: str
    stored: bool  # already in the real database
    would_store: bool
    why: str  # why it would be skipped, or what it would be
    ocid: str | None = None  # procurement notices (ocds sources) only
    matched: list[str] | None = None  # the procurement rules that kept the notice


@dataclass
class TestReport:
    source: str
    kind: str
    url: str
    status: str  # the pass's fetch-log status: ok | warning | error
    message: str | None
    items: list[Verdict] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(v.would_store for v in self.items)

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "url": redact(self.url), "status": self.status,
                "message": self.message, "new": self.new, "items": [asdict(v) for v in self.items]}


def target(settings: Settings, name_or_url: str, kind: str | None) -> dict[str, Any]:
    """The registry row to test: a registered source by name or URL, else an ad-hoc one (validated
    exactly as `sources add` would, so credentials and non-http schemes are refused the same way)."""
    from pipelines import sources
    from storage import sources as store
    from storage.db import get_engine, read

    is_url = "://" in name_or_url
    with read(get_engine(settings.db)) as conn:
        registry = store.list_sources(conn)
    for row in registry:
        if (row["name"] == name_or_url) if not is_url else (row["url"] == name_or_url.strip()):
            return row
    if not is_url:
        raise UserError(f"no source named {name_or_url!r}")
    try:
        return sources.validate({"name": ADHOC_NAME, "kind": kind or "rss", "url": name_or_url}, "URL")
    except sources.Invalid as exc:
        raise UserError(f"{name_or_url if '@' not in name_or_url else redact(name_or_url)}: {exc.problem}") from None


def run(settings: Settings, name_or_url: str, kind: str | None = None) -> TestReport:
    """Crawl the source into a throwaway registry and judge each item; nothing is stored for real."""
    from pipelines import collect

    src = target(settings, name_or_url, kind)
    if src["kind"] not in collect.SUPPORTED:
        raise UserError(f"source kind {src['kind']!r} is not collected by this version")
    with tempfile.TemporaryDirectory(prefix="scrutineer-test-") as tmp:
        scratch = settings.model_copy(update={"db": f"sqlite:///{Path(tmp) / 'test.sqlite'}",
                                              "archive_dir": Path(tmp) / "archive"})
        _register(scratch, src)
        code, err = _crawl(scratch, src)
        entry, rows, notices = _results(scratch, src["name"])
        from storage.db import dispose_all

        dispose_all()  # close the scratch database before its directory goes
    if entry is None:
        last = [line for line in (err or "").strip().splitlines() if line.strip()]
        why = redact(last[-1]) if last else "no output"
        raise UserError(f"{src['name']}: the test crawl failed (exit {code}): {why}")
    report = TestReport(src["name"], src["kind"], src["url"], entry["status"], redact(entry["message"]))
    report.items = _judge(settings, rows) + _judge_notices(settings, notices)
    return report


def _register(scratch: Settings, src: dict[str, Any]) -> None:
    from storage import sources as store
    from storage.db import get_engine, write

    with write(get_engine(scratch.db)) as conn:
        store.save_source(conn, {k: src[k] for k in ("name", "kind", "url", "schedule", "tags", "options")})


def _crawl(scratch: Settings, src: dict[str, Any]) -> tuple[int | None, str]:
    from pipelines import collect

    try:
        proc = subprocess.run(collect.crawl_command(src["kind"], src["name"]), env=collect.crawl_env(scratch),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=scratch.crawl_timeout_s)
    except subprocess.TimeoutExpired:
        raise UserError(f"{src['name']}: no answer within {scratch.crawl_timeout_s:.0f} s "
                        "(SCRUTINEER_CRAWL_TIMEOUT_S)") from None
    return proc.returncode, proc.stderr.decode("utf-8", "replace")[-2000:]


def _results(scratch: Settings, name: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]],
                                                     list[dict[str, Any]]]:
    from storage import articles as store
    from storage import notices as notice_store
    from storage import sources as source_store
    from storage.db import get_engine, read

    with read(get_engine(scratch.db)) as conn:
        history = source_store.fetch_history(conn, name, limit=1)
        rows = list(store.all_articles(conn))
        notices = notice_store.list_notices(conn, source=name)
    return (history[0] if history else None), rows, notices


def _judge_notices(settings: Settings, notices: list[dict[str, Any]]) -> list[Verdict]:
    """Procurement notices (ocds sources): kept by the procurement rules, so each is on topic."""
    from storage import notices as notice_store
    from storage.db import get_engine, read

    with read(get_engine(settings.db)) as conn:
        known = notice_store.known_ids(conn, [n["id"] for n in notices])
    out = []
    for n in notices:
        matched = [str(m) for m in (n["matched"] or [])]
        stored = n["id"] in known
        out.append(Verdict(url=redact(n["url"] or ""), canonical_url=n["ocid"], title=n["title"],
                           published_at=n["published_at"].isoformat(), tags=matched, relevance=1.0,
                           relevant=True, relevance_reason="matched: " + ("; ".join(matched) or "-"),
                           extraction="ocds-notice", stored=stored, would_store=not stored,
                           why="already stored" if stored else f"new {n['stage']} notice",
                           ocid=n["ocid"], matched=matched))
    return out


def _judge(settings: Settings, rows: list[dict[str, Any]]) -> list[Verdict]:
    from pipelines.enrich import tags_and_relevance
    from storage.article import url_key
    from storage.articles import stored_by_url_key
    from storage.db import get_engine, read

    with read(get_engine(settings.db)) as conn:
        known = stored_by_url_key(conn, [url_key(r["canonical_url"]) for r in rows])
    out = []
    for row in sorted(rows, key=lambda r: r["published_at"], reverse=True):
        tags, rel = tags_and_relevance(row, settings)
        stored = url_key(row["canonical_url"]) in known
        if stored:
            why = "already stored"
        elif row["extraction"] == "no-text" or not (row["text"] or row["summary"] or "").strip():
            why = "stored, but no article text was found (never scored)"
        elif not rel.relevant:
            why = f"stored, but off topic (relevance {rel.score:.2f} < {settings.relevance_threshold:.2f})"
        else:
            why = "new, on topic" + (" (feed summary only)" if row["extraction"] == "feed-summary" else "")
        published = row["published_at"]
        out.append(Verdict(url=redact(row["url"]), canonical_url=redact(row["canonical_url"]),
                           title=row["title"], tags=sorted(tags),
                           published_at=published.isoformat() if published else None,
                           relevance=rel.score, relevant=rel.relevant, relevance_reason=rel.reason,
                           extraction=row["extraction"], stored=stored, would_store=not stored, why=why))
    return out


def render(report: TestReport) -> str:
    """The verdict table and a one-line summary."""
    lines = [f"{report.source} ({report.kind}, {redact(report.url)}): {report.status}"
             + (f": {report.message}" if report.message else "")]
    if report.items:
        lines.append(f"{'date':<10}  {'rel':>4}  {'verdict':<44}  {'tags':<40}  headline")
        for v in report.items:
            date = (v.published_at or "")[:10] or "-"
            tags = ",".join(v.tags) or "-"
            headline = " ".join(v.title.split())[:90]
            lines.append(f"{date:<10}  {v.relevance:>4.2f}  {v.why[:44]:<44}  {tags[:40]:<40}  {headline}")
    found, new = len(report.items), report.new
    on_topic = sum(v.would_store and v.relevant for v in report.items)
    if not found:
        lines.append("no items found")
    elif not new:
        lines.append(f"{found} items found, all already stored: nothing new would be stored")
    else:
        lines.append(f"{found} items found: {new} would be stored ({on_topic} on topic), {found - new} already stored")
    return "\n".join(lines) + "\n"

