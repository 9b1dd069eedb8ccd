"""`scrutineer users …` and `scrutineer web`: one line on stderr and exit 1 for bad input, the
token printed once and stored hashed, and the console answering on the chosen port."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from console.auth import digest
from storage.db import get_engine, read
from storage.schema import api_tokens

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "scrutineer.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, **kw)  # type: ignore[call-overload]


def test_users_commands(tmp_path: Path, sqlite_url: str) -> None:
    pw = tmp_path / "pw"
    pw.write_text("a long enough password\n", encoding="utf-8")
    ok = _cli("users", "add", "Ann@Example.org", "--role", "analyst", "--password-file", str(pw), "--db", sqlite_url)
    assert ok.returncode == 0 and "ann@example.org: added (analyst)" in ok.stdout
    assert "a long enough password" not in ok.stdout + ok.stderr
    listed = _cli("users", "list", "--db", sqlite_url)
    assert "ann@example.org" in listed.stdout and "analyst" in listed.stdout
    token = _cli("users", "token", "ann@example.org", "--db", sqlite_url).stdout.strip()
    assert token.startswith("scr_") and len(token) > 40
    with read(get_engine(sqlite_url)) as conn:
        stored = [r[0] for r in conn.execute(select(api_tokens.c.token_hash))]
    assert stored == [digest(token)]  # only the hash
    short = tmp_path / "short"
    short.write_text("short", encoding="utf-8")
    for args in (("users", "add", "x@example.org", "--role", "viewer", "--password-file", str(short)),
                 ("users", "add", "not-an-address", "--role", "viewer", "--password-file", str(pw)),
                 ("users", "add", "x@example.org", "--role", "viewer", "--password-file", str(tmp_path / "none")),
                 ("users", "token", "nobody@example.org")):
        bad = _cli(*args, "--db", sqlite_url)
        assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert _cli("users", "add", "x@example.org", "--role", "root", "--db", sqlite_url).returncode == 2
    assert "removed" in _cli("users", "remove", "ann@example.org", "--db", sqlite_url).stdout
    assert "ann@example.org" not in _cli("users", "list", "--db", sqlite_url).stdout


def test_web_serves_the_console(sqlite_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "scrutineer.cli", "web", "--port", str(port), "--db", sqlite_url],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert f"console on http://127.0.0.1:{port}/" in (proc.stdout.readline() if proc.stdout else "")
        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert r.status_code == 200 and r.text == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/articles", timeout=5).status_code == 303
    finally:
        proc.terminate()
        proc.wait(timeout=20)
