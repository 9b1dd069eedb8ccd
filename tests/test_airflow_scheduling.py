"""Scheduling from the source registry, against a running Airflow (api-server, scheduler, dag-processor).

What an analyst does with `scrutineer sources …` changes what the running Airflow collects, with no
DAG file edited: the dispatcher maps one task instance per due source, named after it, in the
`scrutineer_crawl` pool (one slot here, so the crawls must not overlap); a paused or removed source
is not collected, a removed source keeps its articles; landing articles triggers processing
through the `scrutineer://articles` Asset.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from demo.smtp_sink import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class Airflow:
    """Airflow 3's three services in a throwaway AIRFLOW_HOME, driven through the REST API."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
                    "AIRFLOW__API__BASE_URL": self.base, "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", "PYTHONPATH": str(ROOT)}
        self.home = home
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=self.env, check=True, capture_output=True,
                       timeout=120)
        for name, args in (("api-server", ["api-server", "-H", "127.0.0.1", "-p", str(self.port), "-w", "1"]),
                           ("scheduler", ["scheduler"]), ("dag-processor", ["dag-processor"])):
            log = (self.home / f"{name}.log").open("wb")
            self.procs.append(subprocess.Popen([str(BIN / "airflow"), *args], env=self.env, stdout=log,
                                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                               start_new_session=True))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5  # uvicorn drains slowly; nothing here needs a clean exit
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.base}/api/v2{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback test server
            return json.loads(resp.read() or b"null")

    def wait_for(self, what: str, probe: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = probe()
            except OSError:  # not listening yet, or 404 until the DAG is parsed
                value = None
            if value:
                return value
            time.sleep(0.5)
        logs = {p.name: p.read_text(errors="replace")[-1500:] for p in self.home.glob("*.log")}
        raise AssertionError(f"timed out waiting for {what}; logs: {logs}")

    def run_dag(self, dag_id: str, timeout: float) -> dict[str, Any]:
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None})
        path = f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}"
        return self.wait_for(f"{dag_id} run", lambda: (r := self.api("GET", path))["state"] in ("success", "failed")
                             and r, timeout)

    def mapped(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]
        return [t for t in tis if t["task_id"] == task_id and t["map_index"] >= 0]


def _cli(env: dict[str, str], *args: str) -> None:
    """The `scrutineer` command, in-process (the same code path, without an interpreter start-up)."""
    from scrutineer.cli import main

    assert main(["--db", env["SCRUTINEER_DB"], *args]) == 0


def _articles_by_source(env: dict[str, str]) -> dict[str, int]:
    from core.settings import Settings
    from pipelines.export import records

    counts: dict[str, int] = {}
    for rec in records(Settings(db=env["SCRUTINEER_DB"])):
        counts[rec["source"]] = counts.get(rec["source"], 0) + 1
    return counts


def _overlaps(tis: list[dict[str, Any]]) -> int:
    """How many pairs of task instances ran at the same time."""
    spans = sorted((datetime.fromisoformat(t["start_date"]), datetime.fromisoformat(t["end_date"])) for t in tis)
    return sum(1 for i, (_, end) in enumerate(spans) for start, _ in spans[i + 1:] if start < end)


@pytest.fixture
def airflow(tmp_path: Path) -> Iterator[tuple[Airflow, dict[str, str], Any]]:
    from demo.newsroom import Newsroom

    env = dict(os.environ)
    env.update(SCRUTINEER_DB=f"sqlite:///{tmp_path / 'scrutineer.sqlite'}", SCRUTINEER_ALLOW_PRIVATE_NETWORKS="1",
               SCRUTINEER_CRAWL_TIMEOUT_S="60", SCRUTINEER_ANALYST_EMAILS="")
    af = Airflow(tmp_path / "airflow", env)
    with Newsroom() as newsroom:
        try:
            af.start()
            yield af, env, newsroom
        finally:
            af.stop()


def _collect_runs(af: Airflow) -> dict[str, dict[str, Any]]:
    return {r["dag_run_id"]: r for r in af.api("GET", "/dags/scrutineer_collect/dagRuns?limit=100")["dag_runs"]}


def _idle(af: Airflow) -> dict[str, dict[str, Any]] | None:
    runs = _collect_runs(af)
    return runs if runs and all(r["state"] in ("success", "failed") for r in runs.values()) else None


def _collected(af: Airflow, run_ids: set[str]) -> list[dict[str, Any]]:
    return [t for run_id in sorted(run_ids) for t in af.mapped("scrutineer_collect", run_id, "collect_source")]


@pytest.mark.timeout(170)
def test_registry_changes_drive_the_running_airflow(airflow: tuple[Airflow, dict[str, str], Any],
                                                    tmp_path: Path) -> None:
    af, env, newsroom = airflow
    feeds = {s["name"]: s for s in newsroom.sources()}
    a, b, c, d, e = sorted(feeds)
    # The registry as an analyst builds it: an import, then commands. b and c start paused.
    _cli(env, "sources", "import", str(newsroom.write_sources_yaml(tmp_path / "sources.yaml")))
    _cli(env, "sources", "remove", e)  # e comes back below through `sources add`
    _cli(env, "sources", "pause", b)
    _cli(env, "sources", "pause", c)

    af.wait_for("the api-server", lambda: af.api("GET", "/version"), 90)
    af.wait_for("the DAGs to be parsed", lambda: af.api("GET", "/dags/scrutineer_process"), 60)
    # `airflow pools set scrutineer_crawl 1 …` through the REST API: one crawl at a time.
    af.api("POST", "/pools", {"name": "scrutineer_crawl", "slots": 1, "description": "concurrent crawls"})
    # Unpaused, the dispatcher is scheduled at once for its latest 5-minute tick (catchup=False).
    for dag_id in ("scrutineer_process", "scrutineer_collect"):
        af.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    runs = af.wait_for("the scheduled collection run", lambda: _idle(af), 90)
    assert {r["run_type"] for r in runs.values()} == {"scheduled"}
    assert {r["state"] for r in runs.values()} == {"success"}
    tis = _collected(af, set(runs))
    assert sorted(t["rendered_map_index"] for t in tis) == [a, d]  # named in the UI; b, c paused, e removed
    assert {t["pool"] for t in tis} == {"scrutineer_crawl"} and {t["state"] for t in tis} == {"success"}
    assert _overlaps(tis) == 0  # the pool's single slot serialised them
    collected = _articles_by_source(env)
    assert set(collected) == {a, d} and min(collected.values()) > 0

    # The analyst changes the registry; the running Airflow follows with no DAG file edited.
    _cli(env, "sources", "remove", d)
    _cli(env, "sources", "resume", b)
    _cli(env, "sources", "add", "--name", e, "--kind", feeds[e]["kind"], "--url", feeds[e]["url"],
         "--schedule", "*/30 * * * *")
    af.api("POST", "/dags/scrutineer_collect/dagRuns", {"logical_date": None})  # or wait for the next tick
    later = af.wait_for("the next collection run", lambda: (r := _idle(af)) and len(r) > len(runs) and r, 90)
    tis = _collected(af, set(later) - set(runs))
    # a was just collected (not due again yet), c is paused, d removed: only b and e are due.
    assert sorted(t["rendered_map_index"] for t in tis) == [b, e]
    after = _articles_by_source(env)
    assert after[d] == collected[d]  # remove keeps the articles
    assert after[b] > 0 and after[e] > 0 and c not in after

    # New articles landed: the Asset triggered processing (no clock involved).
    triggered = af.wait_for("asset-triggered processing", lambda: [
        r for r in af.api("GET", "/dags/scrutineer_process/dagRuns")["dag_runs"] if r["run_type"] == "asset_triggered"],
        30)
    assert triggered
