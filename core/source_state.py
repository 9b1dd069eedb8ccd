"""A source's state: the one definition `sources list`, the console, the health report and the
digest share (failing, never fetched, silent, below its normal volume, warning, ok, resting).

Pure functions over what storage already returns (the registry row, its health summary, its
fetch-log lines), so every caller gives the same verdict for the same rows and the tests can
build states without a database. "Normal" is each source's own recent volume, not a global
threshold: a wire that usually brings 40 items a day and brought 2 is news; a blog that brings 1
a week is not.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from core.polling import deferred_until

#: A working source with no new item for this long is "silent".
SILENT_DAYS = 3
#: The baseline for the volume alarm: new items per day over this many days before today.
NORMAL_DAYS = 14
#: Volume alarm: today's new items below this share of the source's normal day...
LOW_SHARE = 0.25
#: ...and only for sources whose normal day has at least this many items (else noise).
MIN_NORMAL_PER_DAY = 3.0


def _when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def error_is_current(source: dict[str, Any], health: dict[str, Any]) -> bool:
    """The last error still speaks: no success since, or the poller counts failed passes in a row
    (a later "deferred" Retry-After warning is a non-error fetch, so the streak decides too)."""
    last_ok, last_err = health.get("last_success"), health.get("last_error")
    return bool(last_err) and ((source.get("failures") or 0) > 0 or not last_ok or last_err > last_ok)


def warning_is_current(health: dict[str, Any]) -> bool:
    """The last warning (a skipped page, a sitemap loop) came no earlier than the last success."""
    last_warning, last_ok = health.get("last_warning"), health.get("last_success")
    return bool(last_warning) and (not last_ok or last_warning >= last_ok)


def classify(source: dict[str, Any], health: dict[str, Any], fetches: list[dict[str, Any]],
             now: datetime) -> tuple[str, str] | None:
    """("failing" | "silent" | "low_volume", why) for one active source, or None when it is fine.

    `fetches` are the source's fetch-log lines of the last NORMAL_DAYS + 1 days, oldest first.
    """
    last_ok, last_err = health.get("last_success"), health.get("last_error")
    streak = source.get("failures") or 0  # the poller's count of failed passes in a row
    if error_is_current(source, health):
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
    if warning_is_current(health):
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


def by_source(log: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The fetch log grouped per source, oldest first (what `state` expects)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in sorted(log, key=lambda f: f["finished_at"]):
        out.setdefault(entry["source"], []).append(entry)
    return out


def states(registry: list[dict[str, Any]], health: dict[str, dict[str, Any]], log: list[dict[str, Any]],
           now: datetime) -> dict[str, tuple[str, str]]:
    """`state` for every registry row: `health` from storage.sources.health, `log` the fetch log
    of the last NORMAL_DAYS + 1 days (storage.sources.fetches_between), in any order."""
    grouped = by_source(log)
    return {s["name"]: state(s, health.get(s["name"], {}), grouped.get(s["name"], []), now) for s in registry}


def resting_until(source: dict[str, Any], now: datetime) -> datetime | None:
    """Until when a host asked for quiet (Retry-After, Contracts Finder's 403): shown beside the
    state, never instead of it, since a resting source can also be failing or fine."""
    return deferred_until(source, now)
