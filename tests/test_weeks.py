"""ISO weeks in Europe/London (T29's window arithmetic)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from core.weeks import BadWeek, last_complete_week, parse_week, week_of, window


def test_dst_weeks_are_167_and_169_hours() -> None:
    for week, hours in (("2026-W13", 167), ("2026-W43", 169), ("2026-W47", 168)):
        start, end = window(week)
        assert (end - start).total_seconds() / 3600 == hours


def test_week_membership_and_boundaries() -> None:
    assert week_of(datetime(2026, 7, 19, 23, 30, tzinfo=timezone.utc)) == "2026-W30"  # Mon 00:30 BST
    start, end = window("2026-W47")
    assert week_of(start) == "2026-W47" and week_of(end) == "2026-W48"
    parse_week("2026-W53")
    for bad in ("2025-W53", "2026-13", "2026-W00", "W47", ""):
        with pytest.raises(BadWeek):
            parse_week(bad)


def test_last_complete_week() -> None:
    assert last_complete_week(datetime(2026, 11, 26, 22, 0, tzinfo=timezone.utc)) == "2026-W47"
    # Monday 00:30 BST is Sunday 23:30 UTC: the week that just ended is complete.
    assert last_complete_week(datetime(2026, 7, 19, 23, 30, tzinfo=timezone.utc)) == "2026-W29"
