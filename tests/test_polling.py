"""Adaptive polling: quiet sources stretch, busy ones shrink, failures back off, Retry-After holds."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from core import polling

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


def test_base_interval_from_cron_and_aliases() -> None:
    assert polling.base_interval_s("@hourly", NOW) == 3600
    assert polling.base_interval_s("*/30 * * * *", NOW) == 1800
    assert polling.base_interval_s("@daily", NOW) == 86400


def test_mostly_known_stretches_mostly_new_shrinks_within_bounds() -> None:
    base = 3600
    quiet = polling.next_interval_s(base, None, new=0, known=20)
    assert quiet == 5400
    for _ in range(20):
        quiet = polling.next_interval_s(base, quiet, new=0, known=20)
    assert quiet == 4 * base  # stretched, but never beyond four times the schedule
    busy = polling.next_interval_s(base, None, new=18, known=2)
    assert busy == 1800
    for _ in range(20):
        busy = polling.next_interval_s(base, busy, new=18, known=2)
    assert busy == 900  # a quarter of the schedule at most
    assert polling.next_interval_s(base, 2000, new=3, known=7) == 2000  # mixed: unchanged


def test_failures_back_off_but_the_source_stays_due_eventually() -> None:
    src = {"name": "x", "schedule": "@hourly", "status": "active", "failures": 0, "poll_interval_s": None}
    waits = []
    for _ in range(8):
        cols = polling.after_pass(src, ok=False, new=0, known=0, now=NOW)
        src.update(cols)
        waits.append((cols["next_poll_at"] - NOW).total_seconds())
    assert waits[:3] == [7200, 14400, 28800]
    assert max(waits) == 86400  # capped at a day: never silently dropped
    assert polling.is_due(src, NOW + timedelta(days=1))
    ok = polling.after_pass(src, ok=True, new=5, known=5, now=NOW)
    assert ok["failures"] == 0


def test_retry_after_seconds_and_http_date_are_a_floor() -> None:
    assert polling.retry_after_until("120", NOW) == NOW + timedelta(seconds=120)
    when = polling.retry_after_until("Fri, 27 Nov 2026 10:00:00 GMT", NOW)
    assert when == datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
    assert polling.retry_after_until("Fri, 27 Nov 2026 08:00:00 GMT", NOW) is None  # past
    assert polling.retry_after_until("soon", NOW) is None
    assert polling.retry_after_until("99999999", NOW) == NOW + timedelta(days=1)  # capped
    src = {"name": "x", "schedule": "*/5 * * * *", "status": "active", "failures": 0}
    cols = polling.after_pass(src, ok=False, new=0, known=0, now=NOW, retry_after=NOW + timedelta(hours=2))
    assert cols["next_poll_at"] == NOW + timedelta(hours=2)
    src.update(cols)
    assert polling.deferred_until(src, NOW + timedelta(minutes=30)) == NOW + timedelta(hours=2)
    assert not polling.is_due(src, NOW + timedelta(minutes=30))
    assert polling.is_due(src, NOW + timedelta(hours=2, seconds=1))


def test_paused_sources_are_never_due() -> None:
    assert not polling.is_due({"status": "paused", "next_poll_at": None}, NOW)
    assert polling.is_due({"status": "active", "next_poll_at": None}, NOW)
