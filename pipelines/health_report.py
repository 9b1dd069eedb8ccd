"""The daily source-health report for analysts: which sources fail, which went silent, which dropped.

Read from the registry, its health summary and the fetch log only (no crawling), so it is cheap and
can run at any time. What counts as failing, silent or below normal is `core/source_state.py`, the
one definition `sources list`, the console and the digest use too; this module groups and words it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from core.settings import Settings
from core.source_state import (  # noqa: F401 - re-exported: the report's callers and tests read them here
    LOW_SHARE,
    MIN_NORMAL_PER_DAY,
    NORMAL_DAYS,
    SILENT_DAYS,
    STATES,
    classify,
    reason,
    state,
    states,
)

LONDON = ZoneInfo("Europe/London")


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


def build(settings: Settings, now: datetime | None = None) -> Report:
    from storage import sources as store
    from storage.db import get_engine, read

    now = now or datetime.now(timezone.utc)
    with read(get_engine(settings.db)) as conn:
        registry = store.list_sources(conn)
        health = store.health(conn, now)
        log = store.fetches_between(conn, now - timedelta(days=NORMAL_DAYS + 1), now)
    active = [s for s in registry if s["status"] == "active"]
    report = Report(at=now, active=len(active), paused=sum(s["status"] == "paused" for s in registry))
    verdicts = states(active, health, log, now)
    for source in active:
        kind, why = verdicts[source["name"]]
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
