"""The fault harness itself (tests/faults): a misspelt fault stops the child loudly instead of
testing nothing, a child naming no fault is untouched, and a named fault patches its production
module only when that module is imported (the T24-T29, T31, T33, offload and DNS tests rely on it)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import faults

ROOT = Path(__file__).resolve().parent.parent


def _child(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SCRUTINEER_TEST_FAULT", "SCRUTINEER_TEST_RESOLVER")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**clean, "PYTHONPATH": faults.pythonpath(ROOT), **env})


def test_a_misspelt_fault_stops_the_child_with_its_name() -> None:
    done = _child("print('ran')", SCRUTINEER_TEST_FAULT="disk_ful")
    assert done.returncode == 2 and "ran" not in done.stdout
    assert "SCRUTINEER_TEST_FAULT='disk_ful': no such fault" in done.stderr
    done = _child("print('ran')", SCRUTINEER_TEST_RESOLVER="tests.faultserver.resolve")
    assert done.returncode == 2 and "not one of ['hosts', 'scripted']" in done.stderr


def test_a_child_naming_no_fault_is_untouched() -> None:
    done = _child("import sys, crawlers.guard as g; "
                  "print('scrutineer_faults' in sys.modules, g.system_lookup.__module__)")
    assert done.returncode == 0 and done.stdout.split() == ["False", "crawlers.guard"], done.stderr


def test_a_named_fault_patches_its_module_on_import_only() -> None:
    done = _child("import sys; print('crawlers.guard' in sys.modules); import crawlers.guard as g; "
                  "print(g.system_lookup.__name__, g.system_lookup('x.test'))",
                  SCRUTINEER_TEST_RESOLVER="hosts", SCRUTINEER_TEST_HOSTS='{"x.test": ["127.0.0.9"]}')
    assert done.returncode == 0 and done.stdout.split() == ["False", "hosts_resolver", "['127.0.0.9']"], done.stderr


def test_disk_full_makes_a_growing_sqlite_write_fail(tmp_path: Path) -> None:
    code = f"""
from sqlalchemy import text
from storage.db import get_engine, write
engine = get_engine("sqlite:///{tmp_path / 'x.sqlite'}")
try:
    with write(engine) as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS filler (t TEXT)"))
        conn.execute(text("INSERT INTO filler VALUES (:t)"), [{{"t": "x" * 4000}}] * 50)
    print("stored")
except Exception as exc:
    print(type(exc).__name__, "database or disk is full" in str(exc))  # storage's own message
"""
    assert _child(code).stdout.split() == ["stored"]  # migrated, and 200 kB stored
    assert _child(code, SCRUTINEER_TEST_FAULT="disk_full").stdout.split() == ["StorageFull", "True"]
    assert _child(code).stdout.split() == ["stored"]  # the disk was never really full
