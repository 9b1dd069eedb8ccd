"""When each source is next polled: its schedule, adapted to how much is new, and its failures.

A source's cron schedule is its *base* interval. After each pass the interval moves within
[base / 4, base * 4] (and never below 5 minutes or above 1 day): a pass that found mostly known
items stretches it, a pass that found mostly new items shortens it, so a quiet blog is not polled
every 10 minutes and a busy wire is not left for hours. A failing source backs off exponentially
(up to a day) but is never dropped: it stays due, and health shows it. A host's `Retry-After` is a
floor on the next poll that every caller honours, including a hand-run `collect --source`.

Pure functions plus two small queries, so the CLI, the dispatcher DAG and the tests share them.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from core import schedules

MIN_INTERVAL_S = 5 * 60
MAX_INTERVAL_S = 24 * 3600
STRETCH = 1.5  # mostly known → poll less often
SHRINK = 0.5  # mostly new → poll more often
MOSTLY_KNOWN = 0.2  # new share below this stretches
MOSTLY_NEW = 0.5  # new share above this shrinks
MAX_RETRY_AFTER_S = 24 * 3600  # a hostile Retry-After cannot park a source for ever


def base_interval_s(schedule: str, now: datetime | None = None) -> int:
    """Seconds between two consecutive fires of the cron expression (from now)."""
    first, second = schedules.fires(schedule, now or datetime.now(timezone.utc))
    return int(max(60, (second - first).total_seconds()))


def bounds(base_s: int) -> tuple[int, int]:
    return max(MIN_INTERVAL_S, min(base_s, base_s // 4)), min(MAX_INTERVAL_S, max(base_s, base_s * 4))


def next_interval_s(base_s: int, current_s: int | None, new: int, known: int) -> int:
    """The interval after a successful pass that found `new` new and `known` known items."""
    current = current_s or base_s
    total = new + known
    if total:
        share = new / total
        if share < MOSTLY_KNOWN:
            current = int(current * STRETCH)
        elif share > MOSTLY_NEW:
            current = int(current * SHRINK)
    low, high = bounds(base_s)
    return max(low, min(high, current))


def backoff_s(base_s: int, failures: int) -> int:
    """After `failures` failed passes in a row: base × 2^failures, at most a day."""
    return int(min(MAX_INTERVAL_S, base_s * (2 ** min(failures, 16))))


def retry_after_until(value: str | bytes | None, now: datetime) -> datetime | None:
    """A `Retry-After` header (delta-seconds or HTTP-date) as an instant, capped at a day."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        delay = min(int(text), MAX_RETRY_AFTER_S)
        return now + timedelta(seconds=delay)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(when, now + timedelta(seconds=MAX_RETRY_AFTER_S)) if when > now else None


def after_pass(source: dict[str, Any], *, ok: bool, new: int, known: int, now: datetime,
               retry_after: datetime | None = None) -> dict[str, Any]:
    """The polling columns to write for a source after one pass."""
    base = base_interval_s(source.get("schedule") or schedules.DEFAULT, now)
    if ok:
        interval = next_interval_s(base, source.get("poll_interval_s"), new, known)
        failures = 0
        wait = interval
    else:
        interval = source.get("poll_interval_s") or base
        failures = (source.get("failures") or 0) + 1
        wait = backoff_s(base, failures)
    due = now + timedelta(seconds=wait)
    if retry_after and retry_after > due:
        due = retry_after
    return {"poll_interval_s": interval, "failures": failures, "next_poll_at": due,
            "retry_after_until": retry_after}


def deferred_until(source: dict[str, Any], now: datetime) -> datetime | None:
    """When a host asked us (Retry-After) not to come back before a time still in the future."""
    until = source.get("retry_after_until")
    return until if until and until > now else None


def is_due(source: dict[str, Any], now: datetime) -> bool:
    """Active, past its next poll time, and not inside a host's Retry-After window."""
    if source.get("status") != "active" or deferred_until(source, now):
        return False
    due = source.get("next_poll_at")
    return due is None or due <= now
