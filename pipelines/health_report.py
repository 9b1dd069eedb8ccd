"""The daily source-health report for analysts: which sources fail, which went silent, which dropped.

Read from the registry, its health summary and the fetch log only (no crawling), so it is cheap and
can run at any time. "Normal" is each source's own recent volume, not a global threshold: a wire
that usually brings 40 items a day and brought 2 is news; a blog that brings 1 a week is not.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from core.settings import Settings

LONDON = ZoneInfo("Europe/London")
#: A working source with no new item for this long is "silent".
SILENT_DAYS = 3
#: The baseline for the volume alarm: new items per day over this many days before today.
NORMAL_DAYS = 14
#: Volume alarm: today's new items below this share of the source's normal day...
LOW_SHARE = 0.25
#: ...and only for sources whose normal day has at least this many items (else noise).
MIN_NORMAL_PER_DAY = 3.0


@dataclass
class SourceLine:
    name: str
    detail: str


@dataclass
class Report:
    at: datetime
    active: int
    paused: int
    failing: list[SourceLine] = field(default_factory=list)
    silent: list[SourceLine] = field(default_factory=list)
    low_volume: list[SourceLine] = field(default_factory=list)
    never_fetched: list[SourceLine] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return len(self.failing) + len(self.silent) + len(self.low_volume) + len(self.never_fetched)

    @property
    def day(self) -> str:
        return self.at.astimezone(LONDON).date().isoformat()


def _when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def classify(source: dict[str, Any], health: dict[str, Any], fetches: list[dict[str, Any]],
             now: datetime) -> tuple[str, str] | None:
    """("failing" | "silent" | "low_volume", why) for one active source, or None when it is fine.

    `fetches` are the source's fetch-log lines of the last NORMAL_DAYS + 1 days, oldest first.
    """
    last_ok, last_err = health.get("last_success"), health.get("last_error")
    streak = source.get("failures") or 0  # the poller's count of failed passes in a row
    # A later "deferred" (Retry-After) warning counts as a non-error fetch, so the streak decides too.
    if last_err and (streak > 0 or not last_ok or last_err > last_ok):
        in_a_row = f" ({streak} passes in a row)" if streak > 1 else ""
        message = " ".join(str(health.get("last_error_message") or "no message").split())[:300]
        return "failing", f"failing since {_when(last_err)}{in_a_row}: {message}; last success {_when(last_ok)}"
    today_start = now - timedelta(days=1)
    created = source.get("created_at") or now
    new_times = [f["finished_at"] for f in fetches if (f.get("items_new") or 0) > 0]
    if created <= now - timedelta(days=SILENT_DAYS):
        if not fetches or fetches[-1]["finished_at"] < now - timedelta(days=SILENT_DAYS):
            last = fetches[-1]["finished_at"] if fetches else None
            return "silent", f"not fetched since {_when(last)}: is the scheduler running and the source due?"
        if not new_times or new_times[-1] < now - timedelta(days=SILENT_DAYS):
            last_new = new_times[-1] if new_times else None
            return "silent", (f"nothing new for {SILENT_DAYS}+ days (last new item {_when(last_new)}, "
                              f"last fetch ok {_when(last_ok)})")
    today = sum(f.get("items_new") or 0 for f in fetches if f["finished_at"] >= today_start)
    before = [f for f in fetches if f["finished_at"] < today_start]
    if before:
        # Divide by the days the source was actually watched, so a young source is not diluted.
        observed = min(NORMAL_DAYS, max(1.0, (today_start - before[0]["finished_at"]).total_seconds() / 86400))
        normal = sum(f.get("items_new") or 0 for f in before) / observed
        if normal >= MIN_NORMAL_PER_DAY and today < normal * LOW_SHARE:
            return "low_volume", (f"{today} new in the last 24 h against a normal {normal:.1f} a day "
                                  f"(last {observed:.0f} days)")
    return None


#: A source's state, the one definition `sources list`, the health report and the digest share.
#: Problems first; "warning" is a source that fetched but reported something (a skipped page, a
#: loop in its sitemap); "paused"/"removed" are the analyst's own doing.
STATES = ("failing", "never_fetched", "silent", "low_volume", "warning", "ok", "paused", "removed")


def state(source: dict[str, Any], health: dict[str, Any], fetches: list[dict[str, Any]],
          now: datetime) -> tuple[str, str]:
    """(one of STATES, why) for one registry row; `health` from storage.sources.health, `fetches`
    its fetch-log lines of the last NORMAL_DAYS + 1 days, oldest first. An error is cleared by the
    next success: only the newest outcome speaks."""
    if source.get("status") in ("paused", "removed"):
        return source["status"], ""
    if not (health.get("last_success") or health.get("last_error") or health.get("last_warning") or fetches):
        return "never_fetched", f"added {_when(source.get('created_at'))}, not fetched yet"
    verdict = classify(source, health, fetches, now)
    if verdict:
        return verdict
    last_warning, last_ok = health.get("last_warning"), health.get("last_success")
    if last_warning and (not last_ok or last_warning >= last_ok):
        return "warning", " ".join(str(health.get("last_warning_message") or "").split())[:300]
    return "ok", ""


#: What kind of failure a fetch-log message reports, first match wins (the crawler's messages
#: are written by crawlers/spiders/base.py describe_exception and the spiders' own fail/warn lines).
_REASONS = (
    ("network policy", re.compile(r"non-public address|scheme '[^']*' refused|bad URL", re.I)),
    ("dns", re.compile(r"DNS lookup failed|resolves to a", re.I)),
    ("tls", re.compile(r"TLS handshake|certificate", re.I)),
    ("timeout", re.compile(r"timed out|no answer within|crawl timed out", re.I)),
    ("too large", re.compile(r"too large|DOWNLOAD_MAXSIZE|byte limit", re.I)),
    ("robots", re.compile(r"robots\.txt", re.I)),
    ("http status", re.compile(r"\bHTTP [1-5]\d\d\b")),
    ("connection", re.compile(r"connection (refused|lost)|truncated response|broken response", re.I)),
    ("parse", re.compile(r"not a feed|not a sitemap|not JSON|not an OCDS|not well-formed|malformed|nested", re.I)),
    ("crawl process", re.compile(r"crawl process|killed by signal", re.I)),
)


def reason(message: str | None) -> str | None:
    """The failure's kind (dns, tls, http status, robots, network policy, parse, too large,
    timeout, connection, crawl process), or "other"; None without a message."""
    if not message:
        return None
    return next((kind for kind, pattern in _REASONS if pattern.search(message)), "other")


def build(settings: Settings, now: datetime | None = None) -> Report:
    from storage import sources as store
    from storage.db import get_engine, read

    now = now or datetime.now(timezone.utc)
    with read(get_engine(settings.db)) as conn:
        registry = store.list_sources(conn)
        health = store.health(conn, now)
        log = store.fetches_between(conn, now - timedelta(days=NORMAL_DAYS + 1), now)
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in sorted(log, key=lambda f: f["finished_at"]):
        by_source[entry["source"]].append(entry)
    active = [s for s in registry if s["status"] == "active"]
    report = Report(at=now, active=len(active), paused=sum(s["status"] == "paused" for s in registry))
    for source in active:
        kind, why = state(source, health.get(source["name"], {}), by_source.get(source["name"], []), now)
        if kind in ("failing", "silent", "low_volume", "never_fetched"):
            getattr(report, kind).append(SourceLine(source["name"], why))
    return report


def subject(report: Report) -> str:
    if not report.problems:
        return f"Scrutineer source health {report.day}: all {report.active} sources fine"
    never = f", {len(report.never_fetched)} never fetched" if report.never_fetched else ""
    return (f"Scrutineer source health {report.day}: {len(report.failing)} failing, {len(report.silent)} silent, "
            f"{len(report.low_volume)} below normal volume{never}")


def render(report: Report) -> str:
    """The report as plain text (the email body and the CLI output)."""
    ok = report.active - report.problems
    lines = [f"Scrutineer source health, {report.at.astimezone(LONDON).strftime('%Y-%m-%d %H:%M')} Europe/London",
             f"{report.active} active sources: {len(report.failing)} failing, {len(report.silent)} silent, "
             f"{len(report.low_volume)} below normal volume, "
             + (f"{len(report.never_fetched)} never fetched, " if report.never_fetched else "")
             + f"{ok} fine. {report.paused} paused.", ""]
    sections = (("FAILING (the last fetch failed)", report.failing),
                (f"SILENT (nothing new for {SILENT_DAYS} days or more)", report.silent),
                (f"VOLUME BELOW NORMAL (last 24 h under {LOW_SHARE:.0%} of the source's own last {NORMAL_DAYS} days)",
                 report.low_volume),
                ("NEVER FETCHED (is the scheduler running? `scrutineer collect --source NAME` tries one)",
                 report.never_fetched))
    for title, rows in sections:
        if rows:
            lines.append(title)
            lines += [f"- {r.name}: {r.detail}" for r in rows]
            lines.append("")
    if not report.problems:
        lines.append("Every active source is fetching and bringing its usual volume.")
    lines.append("Details per source: scrutineer sources list")
    return "\n".join(lines) + "\n"


def run(settings: Settings, now: datetime | None = None, send: bool = False) -> Report:
    """Build the report and, with `send`, email it to SCRUTINEER_ANALYST_EMAILS (one message).

    The Message-ID is fixed per day, so a retried send that did reach the server is recognisable
    as the same report by mail clients.
    """
    from pipelines import alerts
    from pipelines.errors import UserError

    report = build(settings, now)
    if send:
        to = alerts.analyst_emails(settings)
        if not to:
            raise UserError("SCRUTINEER_ANALYST_EMAILS is empty: nobody to send the health report to")
        alerts.send(settings, alerts.plain_message(settings, to, subject(report), render(report),
                                                   f"<health.{report.day}@scrutineer.invalid>"))
    return report
