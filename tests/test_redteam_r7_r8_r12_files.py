"""REDTEAM R7, R8, R12: digest files in --out and the archive never collide, never follow a planted
symlink, and are private (0600 files, 0700 directories, the SQLite file 0600) under umask 022."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from pipelines import digest, safefiles, subscribers
from scrutineer.cli import main

WEEK = "2026-W47"


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_r7_names_never_collide() -> None:
    long_a = "a" * 90 + "1@newsdesk.example.org"
    long_b = "a" * 90 + "2@newsdesk.example.org"
    emails = ["a+b@newsdesk.example.org", "a_b@newsdesk.example.org", "a/b@newsdesk.example.org", long_a, long_b]
    stems = {safefiles.file_stem(e, WEEK) for e in emails}
    assert len(stems) == len(emails)
    assert all(len(s) < 120 and "/" not in s for s in stems)


def test_r7_r8_r12_out_and_archive(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db' / 'scrutineer.sqlite'}"
    settings = Settings(db=db)
    emails = ["a+b@newsdesk.example.org", "a_b@newsdesk.example.org",
              "c" * 85 + "1@newsdesk.example.org", "c" * 85 + "2@newsdesk.example.org"]
    for e in emails:
        subscribers.add(settings, e, "analyst")
    assert _mode(tmp_path / "db" / "scrutineer.sqlite") == 0o600
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("do not overwrite")
    planted = out / f"{digest.file_stem(emails[0], WEEK)}.html"
    planted.symlink_to(victim)
    archive_week = tmp_path / "db" / "archive" / WEEK
    archive_week.parent.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (archive_week.parent / "index.html").symlink_to(victim)
    assert main(["digest", "--week", WEEK, "--out", str(out), "--db", db]) == 0
    assert victim.read_text() == "do not overwrite"
    assert not planted.is_symlink() and planted.read_text().startswith("<!DOCTYPE html>")
    files = sorted(p for p in out.iterdir())
    assert len(files) == 3 * len(emails)
    assert all(_mode(p) == 0o600 for p in files), [(p.name, oct(_mode(p))) for p in files]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    archived = sorted(p for p in archive_week.iterdir() if p.name != "profiles.tsv")  # the index's profile labels
    assert len(archived) == 3 * len(emails)
    assert all(_mode(p) == 0o600 for p in archived) and _mode(archive_week) == 0o700
    index = archive_week.parent / "index.html"
    assert not index.is_symlink() and _mode(index) == 0o600 and victim.read_text() == "do not overwrite"


def test_r8_archive_week_folder_planted_as_symlink_is_refused(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'scrutineer.sqlite'}"
    subscribers.add(Settings(db=db), "reader@newsdesk.example.org", "analyst")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / WEEK).symlink_to(elsewhere)
    assert main(["digest", "--week", WEEK, "--db", db]) == 1
    assert capsys.readouterr().err == (f"scrutineer: error: refusing to write in the archive's "
                                       f"{tmp_path / 'archive' / WEEK}: it is a symbolic link\n")
    assert list(elsewhere.iterdir()) == []


def test_item7_out_at_a_file_or_under_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'scrutineer.sqlite'}"
    target = tmp_path / "report.html"
    target.write_text("mine")
    assert main(["digest", "--week", WEEK, "--out", str(target), "--db", db]) == 1
    expected = f"scrutineer: error: cannot write in --out {target}: it is a file, not a directory\n"
    assert capsys.readouterr().err == expected
    assert main(["digest", "--week", WEEK, "--out", str(target / "sub"), "--db", db]) == 1
    assert capsys.readouterr().err == f"scrutineer: error: cannot write in --out {target / 'sub'}: Not a directory\n"
    assert target.read_text() == "mine"
