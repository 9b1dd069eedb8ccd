"""ISO weeks in Europe/London: `[Mon 00:00, next Mon 00:00)` local time, DST-correct.

So a week is 167 or 169 hours around the clock changes, and an article belongs to exactly one.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class BadWeek(ValueError):
    pass


def parse_week(value: str) -> tuple[int, int]:
    m = _WEEK.match(value or "")
    if not m:
        raise BadWeek(f"week {value!r} is not an ISO week like 2026-W47")
    year, week = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise BadWeek(f"week {value!r} does not exist ({year} has no week {week})") from exc
    return year, week


def window(value: str) -> tuple[datetime, datetime]:
    """UTC bounds of the ISO week."""
    year, week = parse_week(value)
    monday = date.fromisocalendar(year, week, 1)
    start = datetime.combine(monday, time(0), LONDON)
    end = datetime.combine(monday + timedelta(days=7), time(0), LONDON)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def week_of(moment: datetime) -> str:
    y, w, _ = moment.astimezone(LONDON).isocalendar()
    return f"{y}-W{w:02d}"


def last_complete_week(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return week_of(now.astimezone(LONDON) - timedelta(days=7))


def previous(value: str) -> str:
    start, _ = window(value)
    return week_of(start - timedelta(days=3))
