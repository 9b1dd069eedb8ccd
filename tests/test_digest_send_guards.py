"""Send guards and subscriber rules (issue 12), through the real CLI and a real aiosmtpd server:
exact exit codes, one line on stderr, and nothing recorded as sent that was not sent."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from core import weeks
from core.settings import Settings
from demo.smtp_sink import SmtpSink
from pipelines import process, subscribers
from storage import people
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, read, write
from storage.schema import deliveries
from storage.schema import subscribers as subscribers_table
from tests.digest_week import WEEK, build

CLI = [sys.executable, "-m", "scrutineer.cli"]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env}
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=full, timeout=120)


def _ledger(db: str, week: str = WEEK) -> dict[str, str]:
    with read(get_engine(db)) as conn:
        return {d["subscriber"]: d["status"] for d in people.list_deliveries(conn, week)}


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_send_refuses_a_week_that_has_not_ended_unless_allow_partial(sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    now = datetime.now(timezone.utc)
    this_week = weeks.week_of(now)
    with write(get_engine(sqlite_url)) as conn:
        store_articles(conn, [Article(url="https://n.example/a", canonical_url="https://n.example/a", source="n",
                                      title="Met Police facial recognition vans return as Palantir AI row grows",
                                      text="The Metropolitan Police said its live facial recognition cameras and "
                                           "AI software would be used by officers again, and Palantir defended "
                                           "the data platform as police leaders met. " * 3, published_at=now)])
    process.run(settings)
    subscribers.add(settings, "a@example.org", "analyst")
    with SmtpSink() as sink:
        refused = _cli("digest", "--week", this_week, "--send", "--db", sqlite_url, SCRUTINEER_SMTP_URL=sink.url)
        assert refused.returncode == 1
        assert "has not ended" in _one_line(refused.stderr) and "--allow-partial" in refused.stderr
        next_week = weeks.week_of(weeks.window(this_week)[1] + timedelta(hours=1))
        future = _cli("digest", "--week", next_week, "--send", "--db", sqlite_url, SCRUTINEER_SMTP_URL=sink.url)
        assert future.returncode == 1
        assert sink.messages == [] and _ledger(sqlite_url, this_week) == {}
        partial = _cli("digest", "--week", this_week, "--send", "--allow-partial", "--db", sqlite_url,
                       SCRUTINEER_SMTP_URL=sink.url)
        assert partial.returncode == 0, partial.stderr
        assert "a@example.org: sent" in partial.stdout
    assert sink.by_recipient == {"a@example.org": 1} and _ledger(sqlite_url, this_week) == {"a@example.org": "sent"}


@pytest.mark.parametrize("public_url", ["", None])
def test_send_refuses_without_a_public_url(sqlite_url: str, public_url: str | None) -> None:
    settings = build(sqlite_url)
    subscribers.add(settings, "a@example.org", "analyst")
    with SmtpSink() as sink:
        proc = _cli("digest", "--week", WEEK, "--send", "--db", sqlite_url, SCRUTINEER_SMTP_URL=sink.url,
                    SCRUTINEER_PUBLIC_URL=public_url)  # type: ignore[arg-type]
    assert proc.returncode == 1
    assert "SCRUTINEER_PUBLIC_URL" in _one_line(proc.stderr) and "unsubscribe" in proc.stderr
    assert sink.messages == [] and _ledger(sqlite_url) == {}
    # Building (not sending) needs no public URL.
    assert _cli("digest", "--week", WEEK, "--db", sqlite_url, SCRUTINEER_PUBLIC_URL=None).returncode == 0  # type: ignore[arg-type]


def test_an_empty_digest_is_skipped_and_the_week_is_not_burnt(sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url)
    subscribers.add(settings, "a@example.org", "analyst")
    with SmtpSink() as sink:
        empty = _cli("digest", "--week", WEEK, "--send", "--db", sqlite_url, SCRUTINEER_SMTP_URL=sink.url)
        assert empty.returncode == 0, empty.stderr
        assert "a@example.org: skipped-empty" in empty.stdout
        assert sink.messages == [] and _ledger(sqlite_url) == {"a@example.org": "skipped"}
        build(sqlite_url)  # the week's reports arrive late (backfill)
        later = _cli("digest", "--week", WEEK, "--send", "--db", sqlite_url, SCRUTINEER_SMTP_URL=sink.url)
        assert later.returncode == 0, later.stderr
        assert "a@example.org: sent" in later.stdout
        again = _cli("digest", "--week", WEEK, "--send", "--db", sqlite_url, SCRUTINEER_SMTP_URL=sink.url)
        assert "a@example.org: skipped-sent" in again.stdout
    assert sink.by_recipient == {"a@example.org": 1} and _ledger(sqlite_url) == {"a@example.org": "sent"}


def test_addresses_are_unique_whatever_their_case(sqlite_url: str) -> None:
    first = _cli("subscribers", "add", "ZOE@X.EXAMPLE", "--profile", "rights", "--db", sqlite_url)
    second = _cli("subscribers", "add", "zoe@x.example", "--profile", "vendor", "--db", sqlite_url)
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    listing = _cli("subscribers", "list", "--db", sqlite_url).stdout.splitlines()
    assert len(listing) == 1 and listing[0].split()[:2] == ["zoe@x.example", "vendor"]
    build(sqlite_url)
    with SmtpSink() as sink:
        sent = _cli("digest", "--week", WEEK, "--send", "--db", sqlite_url, SCRUTINEER_SMTP_URL=sink.url)
        assert sent.returncode == 0, sent.stderr
    assert sink.by_recipient == {"zoe@x.example": 1}
    removed = _cli("subscribers", "remove", "Zoe@X.Example", "--db", sqlite_url)
    assert removed.returncode == 0 and "removed" in removed.stdout


def test_existing_case_duplicates_are_merged(db_url: str) -> None:
    """The data fix of migration 0010, on each backend."""
    engine = get_engine(db_url)
    with write(engine) as conn:
        for i, (email, status, profile) in enumerate((("Zoe@X.example", "active", "rights"),
                                                      ("zoe@x.example", "unsubscribed", "vendor"),
                                                      ("ZOE@X.EXAMPLE", "active", "analyst"))):
            conn.execute(insert(subscribers_table).values(
                email=email, name=None, profile=profile, topics=[], token=f"token-{i}" * 6, status=status,
                created_at=datetime(2026, 1, 1 + i, tzinfo=timezone.utc)))
        conn.execute(insert(deliveries).values(subscriber="Zoe@X.example", week="2026-W40", message_id="<m>",
                                               status="sent", attempts=1, updated_at=datetime.now(timezone.utc)))
        assert people.merge_case_duplicates(conn) == 2
    with read(engine) as conn:
        rows = people.list_subscribers(conn, active_only=False)
        ledger = people.list_deliveries(conn)
    assert [(r["email"], r["status"], r["profile"], r["token"]) for r in rows] == [
        ("zoe@x.example", "unsubscribed", "analyst", "token-0" * 6)]
    assert [(d["subscriber"], d["status"]) for d in ledger] == [("zoe@x.example", "sent")]


def test_topics_are_checked_against_the_taxonomy(sqlite_url: str) -> None:
    bad = _cli("subscribers", "add", "a@example.org", "--topic", "facial-recogniton", "--db", sqlite_url)
    assert bad.returncode == 1
    assert "did you mean 'facial-recognition'?" in _one_line(bad.stderr)
    assert _cli("subscribers", "list", "--db", sqlite_url).stdout.strip() == ""
    ok = _cli("subscribers", "add", "a@example.org", "--topic", "facial-recognition", "--db", sqlite_url)
    assert ok.returncode == 0, ok.stderr
    assert _cli("subscribers", "add", "b@example.org", "--profile", "vendor", "--db", sqlite_url).returncode == 0
    listing = dict(line.split(None, 1) for line in _cli("subscribers", "list", "--db", sqlite_url).stdout.splitlines())
    assert listing["a@example.org"].split()[-1] == "facial-recognition"
    assert listing["b@example.org"].endswith("(profile) procurement,palantir,mopac")
