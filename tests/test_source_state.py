"""core/source_state.py: the one definition of a source's state, as pure functions over the rows
storage returns, so `sources list`, the console, the health report and the digest cannot differ."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from core import source_state

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def _fetch(source: str, hours_ago: float, new: int = 0, status: str = "ok") -> dict[str, Any]:
    return {"source": source, "finished_at": NOW - timedelta(hours=hours_ago), "items_new": new, "status": status}


def test_states_group_an_unordered_log_like_state_on_each_source() -> None:
    registry = [{"name": n, "status": "active", "created_at": NOW - timedelta(days=20), "failures": 0}
                for n in ("wire", "blog", "new")]
    registry[2]["created_at"] = NOW - timedelta(hours=1)
    log = [_fetch("wire", h, 10) for h in range(3, 15 * 24, 6)] + [_fetch("blog", h, 1 if h > 100 else 0)
                                                                   for h in range(2, 200, 12)]
    health = {"wire": {"last_success": NOW - timedelta(hours=3)}, "blog": {"last_success": NOW - timedelta(hours=2)}}
    shuffled = log[::2] + log[1::2]
    verdicts = source_state.states(registry, health, shuffled, NOW)
    for src in registry:
        own = sorted((f for f in log if f["source"] == src["name"]), key=lambda f: f["finished_at"])
        assert verdicts[src["name"]] == source_state.state(src, health.get(src["name"], {}), own, NOW)
    assert [verdicts[n][0] for n in ("wire", "blog", "new")] == ["ok", "silent", "never_fetched"]


def test_an_error_speaks_until_a_success_unless_the_poller_counts_failures() -> None:
    err, ok = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    health = {"last_error": err, "last_success": ok, "last_error_message": "HTTP 503"}
    assert not source_state.error_is_current({"failures": 0}, health)
    # A Retry-After "deferred" pass is logged as a non-error fetch; the streak still says failing.
    assert source_state.error_is_current({"failures": 2}, health)
    kind, why = source_state.state({"status": "active", "failures": 2, "created_at": NOW - timedelta(days=9)},
                                   health, [_fetch("x", 1, 0)], NOW)
    assert kind == "failing" and "(2 passes in a row)" in why and "HTTP 503" in why


def test_resting_is_shown_only_while_the_host_asked_for_quiet() -> None:
    assert source_state.resting_until({"retry_after_until": NOW + timedelta(minutes=5)}, NOW) == \
        NOW + timedelta(minutes=5)
    assert source_state.resting_until({"retry_after_until": NOW - timedelta(minutes=5)}, NOW) is None
    assert source_state.resting_until({}, NOW) is None
