"""A source's schedule: one alias table for validation and the poller, and every schedule the
poller could not run (`@once`, the 30th of February, six fields) refused at import with one line
naming the entry, through the CLI and the console alike (issue 13 item 6)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from test_console_security import csrf_of, login

from core import polling, schedules
from core.settings import Settings
from pipelines import sources
from scrutineer.cli import main

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
REFUSED = ["@once", "@reboot", "@midnight", "every tuesday", "0 0 30 2 *", "0 0 * * 8", "61 * * * *",
           "* * * * * *", "", "   ", "0 " * 40]


@pytest.mark.parametrize("schedule", [*schedules.ALIASES, "*/30 * * * *", " 0 6 * * 1-5 ", "15 */4 * * *"])
def test_every_accepted_schedule_is_one_the_poller_can_run(schedule: str) -> None:
    assert schedules.problem(schedule) is None
    assert polling.base_interval_s(schedule, NOW) >= 60
    row = sources.validate({"name": "x", "kind": "rss", "url": "https://x.example/feed", "schedule": schedule}, "#1")
    assert row["schedule"] == schedule.strip()


@pytest.mark.parametrize("schedule", REFUSED)
def test_schedules_the_poller_cannot_run_are_refused(schedule: str) -> None:
    why = schedules.problem(schedule)
    assert why and "\n" not in why
    assert schedules.EXPECTED in why if len(schedule) <= schedules.MAX_LENGTH else why.startswith("longer than")
    with pytest.raises(sources.Invalid) as refused:
        sources.validate({"name": "x", "kind": "rss", "url": "https://x.example/feed", "schedule": schedule}, "#3")
    assert str(refused.value) == f"entry #3 ('x'): field 'schedule': {why}"


def test_at_once_is_refused_at_import_with_one_line_and_collect_still_runs(
        tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text('sources:\n  - {name: good, kind: rss, url: "http://127.0.0.1:9/feed.xml"}\n'
                    '  - {name: one-shot, kind: rss, url: "http://127.0.0.1:9/o.xml", schedule: "@once"}\n')
    assert main(["sources", "import", str(path), "--db", sqlite_url]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["scrutineer: refused entry #2 ('one-shot'): field 'schedule': "
                   "'@once' is not one of the repeating aliases; " + schedules.EXPECTED]
    assert [s["name"] for s in sources.listing(Settings(db=sqlite_url))] == ["good"]
    assert main(["sources", "add", "--name", "later", "--kind", "rss", "--url", "https://x.example/f",
                 "--schedule", "@once", "--db", sqlite_url]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    # Every stored schedule is one the poller can compute, so `collect` never meets a bad one.
    for row in sources.listing(Settings(db=sqlite_url)):
        assert polling.base_interval_s(row["schedule"], NOW) > 0


def test_console_add_edit_and_import_refuse_at_once(sqlite_url: str) -> None:
    from console import auth
    from console.app import create_app
    from console.server import AppServer

    settings = Settings(db=sqlite_url, public_url="http://127.0.0.1")
    auth.add_user(settings, "analyst@example.org", "analyst", "correct horse battery")
    httpd = AppServer(create_app(settings)).start()
    try:
        client = login(httpd.url, "analyst@example.org", "correct horse battery")
        form = {"name": "one-shot", "kind": "rss", "url": "https://news.example/feed.xml", "schedule": "@once",
                "csrf": csrf_of(client)}
        page = client.post("/sources/add", data=form)
        assert page.status_code == 400 and "is not one of the repeating aliases" in page.text
        assert sources.listing(settings) == []
        sources.add(settings, {"name": "steady", "kind": "rss", "url": "https://news.example/feed.xml"})
        page = client.post("/sources/steady/edit", data={"schedule": "@once", "outlet": "", "csrf": csrf_of(client)})
        assert page.status_code == 400 and "is not one of the repeating aliases" in page.text
        yaml_text = b'sources:\n  - {name: once-more, kind: rss, url: "https://n.example/f", schedule: "@once"}\n'
        page = client.post("/sources/import", data={"csrf": csrf_of(client)},
                           files={"file": ("sources.yaml", yaml_text, "application/x-yaml")})
        assert page.status_code == 400 and "entry #1 (&#39;once-more&#39;): field &#39;schedule&#39;" in page.text
        assert [(s["name"], s["schedule"]) for s in sources.listing(settings)] == [("steady", "@hourly")]
    finally:
        httpd.shutdown()
        httpd.server_close()
