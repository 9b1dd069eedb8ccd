"""Publication dates: parse whatever a feed or page says into tz-aware UTC, and judge plausibility.

A date with no zone is read as Europe/London (the newsrooms watched are British); a date in the
future or before 1990 is not trusted (issue 3), so it never lands in a future digest week.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
FUTURE_TOLERANCE = timedelta(hours=2)
EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)
_MINUS_ZERO = re.compile(r"-0000\s*$")


def parse_date(value: str | None) -> datetime | None:
    """ISO 8601 or RFC 822 text to UTC; None when it cannot be read."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip()
    dt: datetime | None = None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        try:
            dt = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    if dt is None:
        return None
    if dt.tzinfo is None:
        # RFC 5322 §3.3: "-0000" is UTC with nothing said about local time (Python returns it
        # naive). Any other missing zone is London; an ambiguous hour (the autumn 01:00-02:00)
        # takes its first occurrence, BST (PEP 495 fold=0), so the answer never varies.
        dt = dt.replace(tzinfo=timezone.utc if _MINUS_ZERO.search(value) else LONDON)
    try:
        return dt.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None


def from_struct(value: time.struct_time | None) -> datetime | None:
    """feedparser's *_parsed fields are already UTC struct_times."""
    if not value:
        return None
    try:
        return datetime(*value[:6], tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


def plausible(dt: datetime | None, now: datetime) -> tuple[datetime, str | None]:
    """The date to store and a flag: first-seen time when missing, unparseable or implausible."""
    if dt is None:
        return now, "missing"
    if dt > now + FUTURE_TOLERANCE:
        return now, "future"
    if dt < EARLIEST:
        return now, "implausible"
    return dt, None
