"""RELIABILITY T40: the console under load and faults, against a real uvicorn server.

Twenty client threads (httpx, each logged in) search, filter and page through the console and its
API while `scrutineer collect` and `scrutineer process` write to the same database in subprocesses;
then the database is made unavailable for a few seconds (SQLite: its directory renamed away, so no
new connection can open it; PostgreSQL: the database refuses connections and its sessions are
terminated), then restored. Expected: every answer is a 200, except a clean 503 page (or JSON 503
from the API) while the database is down; the same server answers 200 again once it is back, with
no restart; collect and process exit 0. (On SQLite, connections already in the pool keep the renamed
file open, so some requests during the outage still succeed, correctly; new connections cannot
open it and those requests get the 503 page. PostgreSQL drops every session: all get the 503.)

Bounded for CI: T40_SECONDS (default 15) of load instead of RELIABILITY's 60 s, and a 5 s outage
instead of 10 s (SCRUTINEER_T40_SECONDS / SCRUTINEER_T40_OUTAGE_S for the full run). Latencies per
phase are printed, never asserted (2 shared cores): the p95 figures belong to `make bench`.
"""
from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.loadsite import LoadSite, Plan, cli_command, cli_env
from console import auth
from console.app import create_app
from console.server import AppServer
from core.settings import Settings

CLIENTS = 20
LOAD_S = float(os.environ.get("SCRUTINEER_T40_SECONDS", "15"))
OUTAGE_S = float(os.environ.get("SCRUTINEER_T40_OUTAGE_S", "5"))
RECOVERY_S = 5.0
#: Requests already in flight when the database comes back may still end in a 503.
GRACE_S = 2.0
FEEDS, ITEMS = 4, 150
PASSWORD = "correct horse battery"
#: Each request and what a correct page contains.
REQUESTS = [
    ("/articles?q=police", "<h1>Articles</h1>"),
    ("/articles?q=%22facial+recognition%22+OR+police+-football&tone=negative", "<h1>Articles</h1>"),
    ("/articles?page={page}", "<h1>Articles</h1>"),
    ("/articles?q=police&relevance=0.1&page={page}", "<h1>Articles</h1>"),
    ("/sources", "<h1>Sources</h1>"),
    ("/tenders?stage=tender", "<h1>Tenders</h1>"),
    ("/api/v1/articles?q=police", '"'),
]


@dataclass
class Answer:
    at: float
    path: str
    status: int
    ms: float
    ok: bool  # 200 with the page's content, or a clean 503
    note: str = ""


def _login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    resp = client.post("/login", data={"email": "viewer@example.org", "password": PASSWORD, "csrf": token})
    assert resp.status_code == 303 and resp.headers["location"] != "/login", resp.text[:300]
    return client


def _judge(path: str, expect: str, resp: httpx.Response) -> tuple[bool, str]:
    body = resp.text
    if resp.status_code == 200:
        return expect in body, "" if expect in body else "200 without the page's content"
    if resp.status_code == 503:
        clean = "Traceback" not in body and ("Temporarily unavailable" in body or "database unavailable" in body)
        return clean, "" if clean else "a 503 that is not the clean page"
    return False, f"HTTP {resp.status_code}: {body[:200]}"


class Outage:
    """Makes the database unavailable and brings it back, for each backend."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite_dir = Path(make_url(url).database).parent if url.startswith("sqlite") else None  # type: ignore[arg-type]
        self.admin_url = os.environ.get("SCRUTINEER_TEST_PG_URL", "")
        self.down = False

    def begin(self) -> None:
        self.down = True
        if self.sqlite_dir is not None:
            self.sqlite_dir.rename(self.sqlite_dir.with_name(self.sqlite_dir.name + ".away"))
            return
        name = make_url(self.url).database
        with create_engine(self.admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})

    def end(self) -> None:
        if not self.down:
            return
        self.down = False
        if self.sqlite_dir is not None:
            self.sqlite_dir.with_name(self.sqlite_dir.name + ".away").rename(self.sqlite_dir)
            return
        name = make_url(self.url).database
        with create_engine(self.admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else (values or [0])[0]


@pytest.mark.timeout(900)
def test_t40_load_while_writing_then_database_outage(db_url: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'scrutineer.sqlite'}" if db_url.startswith("sqlite") else db_url
    settings = Settings(db=url, public_url="http://127.0.0.1")
    with LoadSite(Plan(feeds=FEEDS, items=ITEMS)) as site:
        env = cli_env(url)
        for args in (("sources", "import", str(site.write_sources_yaml(tmp_path / "s.yaml"))),
                     ("collect", "--source", site.feed_name(0)), ("process",)):
            done = subprocess.run(cli_command(*args), env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, (args, done.stderr[-2000:])
        auth.add_user(settings, "viewer@example.org", "viewer", PASSWORD)
        httpd = AppServer(create_app(settings)).start()
        outage = Outage(url)
        answers: list[Answer] = []
        lock = threading.Lock()
        stop = threading.Event()
        writers_stop = threading.Event()
        writer_runs: list[tuple[tuple[str, ...], int, str]] = []
        t0 = time.monotonic()

        def client_loop(seed: int) -> None:
            rng = random.Random(seed)
            client = _login(httpd.url)
            try:
                while not stop.is_set():
                    template, expect = rng.choice(REQUESTS)
                    path = template.format(page=rng.randint(1, 4))
                    started = time.monotonic()
                    try:
                        resp = client.get(path)
                        ok, note = _judge(path, expect, resp)
                        status = resp.status_code
                    except httpx.HTTPError as exc:
                        ok, note, status = False, f"{type(exc).__name__}: {exc}", 0
                    with lock:
                        answers.append(Answer(started - t0, path, status, (time.monotonic() - started) * 1000,
                                              ok, note))
            finally:
                client.close()

        def writer_loop() -> None:
            feed = 1
            while not writers_stop.is_set():
                for args in (("collect", "--source", site.feed_name(feed % FEEDS)), ("process",)):
                    done = subprocess.run(cli_command(*args), env=env, capture_output=True, text=True, timeout=300)
                    writer_runs.append((args, done.returncode, done.stderr[-1000:]))
                feed += 1

        threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(CLIENTS)]
        writer = threading.Thread(target=writer_loop, daemon=True)
        try:
            writer.start()
            for t in threads:
                t.start()
            time.sleep(LOAD_S)
            writers_stop.set()
            writer.join(timeout=300)  # the run in progress finishes; none starts during the outage
            outage_start = time.monotonic() - t0  # before: the database may go while begin() runs
            outage.begin()
            time.sleep(OUTAGE_S)
            health_down = httpx.get(httpd.url + "/healthz", timeout=30).status_code
            outage.end()
            outage_end = time.monotonic() - t0
            time.sleep(RECOVERY_S)
            stop.set()
            for t in threads:
                t.join(timeout=120)
            health_up = httpx.get(httpd.url + "/healthz", timeout=30).status_code
        finally:
            stop.set()
            writers_stop.set()
            outage.end()
            httpd.shutdown()
            httpd.server_close()
        after = subprocess.run(cli_command("process"), env=env, capture_output=True, text=True, timeout=300)

    phases: dict[str, list[Answer]] = {"load": [], "outage": [], "recovery": []}
    for a in answers:
        phase = "load" if a.at < outage_start else "outage" if a.at < outage_end + GRACE_S else "recovery"
        phases[phase].append(a)
    for name, group in phases.items():
        ms = [a.ms for a in group if a.status == 200]
        print(f"T40 {name}: {len(group)} requests, {sum(a.status == 503 for a in group)} x 503, "
              f"p50 {statistics.median(ms) if ms else 0:.0f} ms, p95 {_p95(ms):.0f} ms")
    bad = [a for a in answers if not a.ok]
    assert not bad, f"{len(bad)} wrong answers, first: {bad[:5]}"
    # Database up: every answer that completed before the outage began is a 200.
    assert all(a.status == 200 for a in phases["load"] if a.at + a.ms / 1000 < outage_start), \
        [a for a in phases["load"] if a.status != 200][:5]
    assert len(phases["load"]) >= CLIENTS * 2 and len(phases["recovery"]) >= CLIENTS, \
        {k: len(v) for k, v in phases.items()}
    assert any(a.status == 503 for a in phases["outage"]), "the outage never showed: the test proves nothing"
    assert all(a.status == 200 for a in phases["recovery"]), [a for a in phases["recovery"] if a.status != 200][:5]
    # SQLite: a pooled connection still holds the renamed file open, so /healthz may be served by it.
    assert health_up == 200 and health_down == (503 if outage.sqlite_dir is None else health_down)
    assert health_down in (200, 503)
    assert writer_runs and all(code == 0 for _, code, _ in writer_runs), writer_runs
    assert after.returncode == 0, after.stderr[-2000:]
