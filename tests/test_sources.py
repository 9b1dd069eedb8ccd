"""`sources import` / `add` validation: bad entries named by entry and field, good ones land (T01, T23)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.settings import Settings
from pipelines import sources
from scrutineer.cli import main

MIXED = """
sources:
  - {name: good-one, kind: rss, url: "http://127.0.0.1:9/feed.xml"}
  - {name: passwd, kind: rss, url: "file:///etc/passwd"}
  - {name: ftp-src, kind: rss, url: "ftp://127.0.0.1/feed"}
  - {name: data-src, kind: rss, url: "data:text/plain,x"}
  - {name: s3-src, kind: sitemap, url: "s3://bucket/key"}
  - {name: js-src, kind: rss, url: "javascript:alert(1)"}
  - {name: gopher-src, kind: rss, url: "gopher://127.0.0.1/"}
  - {name: local-path, kind: rss, url: "/etc/passwd"}
  - {name: Name_With_Caps, kind: rss, url: "http://127.0.0.1/"}
  - {name: bad-kind, kind: telepathy, url: "http://127.0.0.1/"}
  - {name: bad-cron, kind: rss, url: "http://127.0.0.1/", schedule: "every tuesday"}
  - {name: neg-pages, kind: site, url: "http://127.0.0.1/", max_pages: -1}
  - {name: good-two, kind: sitemap, url: "https://127.0.0.1:9/sitemap.xml", schedule: "*/30 * * * *", tags: [uk]}
  - {name: good-one, kind: rss, url: "http://127.0.0.1:9/other.xml"}
"""


def test_import_refuses_bad_entries_and_lands_good_ones(tmp_path: Path, sqlite_url: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(MIXED)
    assert main(["sources", "import", str(path), "--db", sqlite_url]) == 1
    err = capsys.readouterr().err
    for name in ("passwd", "ftp-src", "data-src", "s3-src", "js-src", "gopher-src", "local-path"):
        assert f"('{name}'): field 'url'" in err
    assert "field 'name'" in err and "field 'kind'" in err and "field 'schedule'" in err
    assert "field 'max_pages'" in err and "duplicate name" in err
    names = [s["name"] for s in sources.listing(Settings(db=sqlite_url))]
    assert names == ["good-one", "good-two"]
    # Idempotent: a second import changes nothing.
    outcome, _ = sources.import_file(Settings(db=sqlite_url), path)
    assert outcome == {"good-one": "unchanged", "good-two": "unchanged"}


def test_python_tags_and_alias_bombs_are_refused(tmp_path: Path, sqlite_url: str) -> None:
    evil = tmp_path / "evil.yaml"
    evil.write_text("sources:\n  - !!python/object/apply:os.system ['touch /tmp/pwned-scrutineer']\n")
    assert main(["sources", "import", str(evil), "--db", sqlite_url]) == 1
    bomb = tmp_path / "bomb.yaml"
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
              for i in range(8)]
    bomb.write_text("\n".join(lines) + "\nsources: [*i]\n")
    started = time.monotonic()
    assert main(["sources", "import", str(bomb), "--db", sqlite_url]) == 1
    assert time.monotonic() - started < 1


def test_add_pause_resume_remove(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sources", "add", "--name", "gazette", "--kind", "rss", "--url", "https://x.test/feed",
                 "--schedule", "@daily", "--tag", "uk", "--db", sqlite_url]) == 0
    assert main(["sources", "pause", "gazette", "--db", sqlite_url]) == 0
    assert sources.listing(Settings(db=sqlite_url))[0]["status"] == "paused"
    assert main(["sources", "resume", "gazette", "--db", sqlite_url]) == 0
    assert main(["sources", "remove", "gazette", "--db", sqlite_url]) == 0
    assert sources.listing(Settings(db=sqlite_url)) == []
    assert main(["sources", "pause", "nope", "--db", sqlite_url]) == 1
    assert "no source named 'nope'" in capsys.readouterr().err
    assert main(["sources", "add", "--name", "x", "--kind", "rss", "--url", "file:///etc/passwd",
                 "--db", sqlite_url]) == 1


def test_sources_list_raises_a_volume_alarm_against_the_sources_own_normal(
        sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A source that brought about 12 a day for two weeks and 1 today is flagged; a steady one is not."""
    import json
    from datetime import datetime, timedelta, timezone

    from storage import sources as store
    from storage.db import get_engine, write

    settings = Settings(db=sqlite_url)
    for name in ("busy-wire", "steady-blog"):
        sources.add(settings, {"name": name, "kind": "rss", "url": f"https://{name}.example/feed.xml"})
    now = datetime.now(timezone.utc)
    with write(get_engine(sqlite_url)) as conn:
        for day in range(14, 0, -1):
            for name, n in (("busy-wire", 12), ("steady-blog", 4)):
                at = now - timedelta(days=day, hours=1)
                store.log_fetch(conn, {"source": name, "started_at": at, "finished_at": at, "status": "ok",
                                       "items_new": n})
        for name, n in (("busy-wire", 1), ("steady-blog", 4)):
            at = now - timedelta(hours=2)
            store.log_fetch(conn, {"source": name, "started_at": at, "finished_at": at, "status": "ok",
                                   "items_new": n})
    assert main(["sources", "list", "--format", "json", "--db", sqlite_url]) == 0
    rows = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["busy-wire"]["alarm"] == "low_volume"
    assert "1 new in the last 24 h" in rows["busy-wire"]["alarm_message"]
    assert rows["steady-blog"]["alarm"] is None
    assert main(["sources", "list", "--db", sqlite_url]) == 0
    table = capsys.readouterr().out
    assert "low_volume" in table.splitlines()[1] or "low_volume" in table
