"""A source's `schedule:`: the one alias table and the one test of whether a schedule can run.

Validation (the sources file, `sources add`, the console) and the poller (`core/polling.py`) read
the same table, so nothing is accepted at import that `collect` cannot compute later. Before this
module the validator had its own list that included `@once`, which croniter refuses: a source
imported fine and then broke every `collect`.

A schedule is usable when croniter can actually produce its next two fire times, which also
refuses expressions that parse but never fire (`0 0 30 2 *`, the 30th of February).
"""
from __future__ import annotations

from datetime import datetime, timezone

DEFAULT = "@hourly"
#: The aliases a sources file may use, as the 5-field cron expressions croniter runs.
ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0",
           "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
#: The one wording every caller shows after naming the entry and the field.
EXPECTED = "must be a 5-field cron expression or @hourly/@daily/@weekly/@monthly"
MAX_LENGTH = 64  # the registry column


def cron(schedule: str) -> str:
    """The cron expression a schedule stands for (an alias expanded, whitespace trimmed)."""
    text = schedule.strip()
    return ALIASES.get(text, text)


def fires(schedule: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The next two fire times after `now`; croniter's error when the schedule cannot run."""
    from croniter import croniter

    it = croniter(cron(schedule), now or datetime.now(timezone.utc))
    return it.get_next(datetime), it.get_next(datetime)


def problem(schedule: object) -> str | None:
    """Why `schedule` cannot be a source's schedule (one line), or None when it can."""
    if not isinstance(schedule, str) or not schedule.strip():
        return EXPECTED
    text = schedule.strip()
    if len(text) > MAX_LENGTH:
        return f"longer than {MAX_LENGTH} characters"
    if text.startswith("@") and text not in ALIASES:
        # `@once` and `@reboot` included: a source is collected again and again, never once.
        return f"{text[:20]!r} is not one of the repeating aliases; {EXPECTED}"
    if text not in ALIASES and len(text.split()) != 5:
        return f"{text[:40]!r}: {EXPECTED}"  # croniter would also take 6 (seconds) or 7 fields
    try:
        fires(text)
    except (ValueError, KeyError, TypeError) as exc:  # CroniterBadCronError/BadDateError are ValueErrors
        reason = " ".join(str(exc).split())[:80] or type(exc).__name__
        return f"{text[:40]!r} cannot run ({reason}); {EXPECTED}"
    return None


def valid(schedule: object) -> bool:
    return problem(schedule) is None
