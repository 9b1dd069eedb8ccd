"""Issue 17 item 7 and R13: every bad file or directory argument is one line and exit 1, never a
traceback; YAML errors name line and column; an explicit --db in a missing directory is refused."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrutineer.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


def _one_line(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr
    assert proc.stderr == f"scrutineer: error: {expected}\n"


def test_sources_import_directory_and_missing_file(tmp_path: Path, sqlite_url: str) -> None:
    _one_line(_cli("sources", "import", str(tmp_path), "--db", sqlite_url),
              f"cannot read {tmp_path}: it is a directory (give the YAML file inside it)")
    _one_line(_cli("sources", "import", str(tmp_path / "nope.yaml"), "--db", sqlite_url),
              f"cannot read {tmp_path / 'nope.yaml'}: No such file or directory")


def test_yaml_errors_name_line_and_column(tmp_path: Path, sqlite_url: str) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("sources:\n  - name: a\n    kind: rss\n    url: [unclosed\n")
    proc = _cli("sources", "import", str(bad), "--db", sqlite_url)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"scrutineer: error: {bad}: not valid YAML: line 5, column 1: ")
    assert proc.stderr.count("\n") == 1


def test_r13_deeply_nested_yaml(tmp_path: Path, sqlite_url: str) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("sources: " + "[" * 20000 + "]" * 20000 + "\n")
    _one_line(_cli("sources", "import", str(deep), "--db", sqlite_url), f"{deep}: not valid YAML: nested too deeply")


def test_explicit_db_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    typo = tmp_path / "dtaa" / "scrutineer.sqlite"
    _one_line(_cli("sources", "list", "--db", f"sqlite:///{typo}"),
              f"--db: directory '{typo.parent}' does not exist (create it first)")
    assert not typo.parent.exists()
    proc = _cli("sources", "list", cwd=tmp_path)  # the default path is still created
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data" / "scrutineer.sqlite").exists()


def test_extract_missing_and_directory(tmp_path: Path) -> None:
    proc = _cli("extract", str(tmp_path), str(tmp_path / "gone.html"))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"scrutineer: cannot read {tmp_path}: Is a directory",
                                        f"scrutineer: cannot read {tmp_path / 'gone.html'}: No such file or directory"]


def test_version() -> None:
    proc = _cli("--version")
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert proc.returncode == 0 and proc.stdout == f"scrutineer {expected}\n"


@pytest.mark.parametrize("url", ["smtp://mail.newsdesk.example:abc", "smtp://u:pw@mail.newsdesk.example:1e9"])
def test_r13_smtp_port(url: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRUTINEER_SMTP_URL", url)
    monkeypatch.setenv("SCRUTINEER_ANALYST_EMAILS", "analyst@newsdesk.example")
    proc = _cli("health-report", "--send", "--db", sqlite_url)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "pw" not in proc.stderr
    assert proc.stderr.startswith("scrutineer: error: SCRUTINEER_SMTP_URL has an invalid port"), proc.stderr
