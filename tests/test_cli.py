"""Every command has help; exit statuses follow the contract (sqlite-utils' test_docs idea)."""
from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from scrutineer.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(prefix + (name,))
                out.extend(_commands(sub, prefix + (name,)))
    return out


COMMANDS = _commands(build_parser())


def test_contract_commands_exist() -> None:
    wanted = {("sources", "import"), ("sources", "add"), ("sources", "list"), ("sources", "test"),
              ("sources", "pause"), ("sources", "resume"), ("sources", "remove"), ("collect",), ("process",),
              ("run",), ("digest",), ("subscribers", "add"), ("subscribers", "list"), ("subscribers", "remove"),
              ("export",), ("extract",), ("demo",)}
    assert wanted <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: scrutineer" in out and len(out.splitlines()) >= 3


def test_bad_usage_exits_2_and_handled_error_exits_1_without_traceback(sqlite_url: str) -> None:
    run = [sys.executable, "-m", "scrutineer.cli"]
    usage = subprocess.run([*run, "digest", "--week", "2026-13", "--db", sqlite_url], capture_output=True, text=True)
    assert usage.returncode == 2 and "ISO week" in usage.stderr
    handled = subprocess.run([*run, "sources", "test", "missing", "--db", sqlite_url], capture_output=True, text=True)
    assert handled.returncode == 1
    assert handled.stderr.strip().splitlines() == ["scrutineer: error: no source named 'missing'"]
    bad_db = subprocess.run([*run, "process", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none"],
                            capture_output=True, text=True)
    assert bad_db.returncode == 1 and "Traceback" not in bad_db.stderr
