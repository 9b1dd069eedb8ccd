"""RELIABILITY T32: Scrapy inside a long-lived process (an Airflow worker, this test session).

Twisted's reactor cannot be restarted in one process (Scrapy #5167, #6742), so the public collect
entry point must crawl in subprocesses: calling it three times here, and calling it and then
running the collect DAG with `dag.test()` in one Airflow process, must just work. A crawl that overruns its wall-
clock limit is killed with its process group, reaped, and reported in the source's health, and
no child process (running or zombie) is left behind.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from faultserver import FaultServer, respond, rss

from core.settings import Settings
from pipelines import collect, sources

ROOT = Path(__file__).resolve().parents[1]
#: Long enough for a healthy crawl to start and finish on a loaded 2-core machine.
CRAWL_TIMEOUT = 15


@pytest.mark.timeout(60)
def test_t32_collect_three_times_in_one_process(sqlite_url: str) -> None:
    reactor_before = "twisted.internet.reactor" in sys.modules
    settings = Settings(db=sqlite_url)
    with FaultServer() as srv:
        srv.route("/feed.xml", respond(rss("steady", items=3)))
        sources.add(settings, {"name": "steady", "kind": "rss", "url": srv.url("/feed.xml"), "follow_links": False})
        runs = [collect.run(settings)[0] for _ in range(3)]
        assert srv.hits["/feed.xml"] == 3
    assert [r.status for r in runs] == ["ok", "ok", "ok"], runs
    assert [r.new for r in runs] == [3, 0, 0], runs
    assert not any("ReactorNotRestartable" in (r.message or "") for r in runs)
    if not reactor_before:  # the crawls ran elsewhere: this process never installed a reactor
        assert "twisted.internet.reactor" not in sys.modules


def _watch_children(stop: threading.Event, seen: set[int]) -> None:
    me = psutil.Process()
    while not stop.is_set():
        try:
            seen.update(p.pid for p in me.children(recursive=True))
        except psutil.Error:
            pass
        time.sleep(0.1)


@pytest.mark.timeout(60)
def test_t32_overrunning_crawl_killed_reported_and_reaped(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRUTINEER_CRAWL_TIMEOUT_S", str(CRAWL_TIMEOUT))
    monkeypatch.setenv("SCRUTINEER_DOWNLOAD_TIMEOUT_S", "120")  # only the crawl's wall clock can end it
    settings = Settings(db=sqlite_url)
    seen: set[int] = set()
    stop = threading.Event()
    with FaultServer(never_read=True) as deaf, FaultServer(host="127.0.0.1") as ok:
        ok.route("/feed.xml", respond(rss("healthy")))
        sources.add(settings, {"name": "never-answers", "kind": "rss", "url": deaf.url("/feed.xml")})
        # A different host string, so the collect pass crawls it in a process of its own.
        sources.add(settings, {"name": "healthy", "kind": "rss", "url": ok.url("/feed.xml", host="localhost"),
                               "follow_links": False})
        watcher = threading.Thread(target=_watch_children, args=(stop, seen), daemon=True)
        watcher.start()
        started = time.monotonic()
        results = {r.source: r for r in collect.run(settings)}
        wall = time.monotonic() - started
        stop.set()
        watcher.join()
    assert results["healthy"].status == "ok" and results["healthy"].new == 2, results["healthy"]
    killed = results["never-answers"]
    assert killed.status == "error" and "timed out" in (killed.message or "") and "killed" in killed.message, killed
    health = {s["name"]: s for s in sources.listing(settings)}
    assert "killed" in (health["never-answers"]["last_error_message"] or "")
    assert wall < CRAWL_TIMEOUT + 20, wall
    assert seen, "the crawls ran as child processes"
    leftovers = [p for p in psutil.Process().children(recursive=True) if p.pid in seen]
    assert leftovers == [], [(p.pid, p.status()) for p in leftovers]  # neither running nor zombie
    for pid in seen:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


DAG_RUNS = """
import json, os, sys
from airflow.models.dagbag import DagBag
from pipelines import collect, export, sources
from core.settings import Settings
sys.path.insert(0, os.path.join(sys.argv[1], "tests"))
from faultserver import FaultServer, respond, rss

settings = Settings()
dag = DagBag(dag_folder=os.path.join(sys.argv[1], "dags")).get_dag("scrutineer_collect")
with FaultServer() as srv:
    for name in ("first", "second"):
        srv.route(f"/{name}.xml", respond(rss(name)))
    # In this one Airflow process: the plain entry point, then a DAG run of the same stage.
    sources.add(settings, {"name": "first", "kind": "rss", "url": srv.url("/first.xml"), "follow_links": False})
    direct = collect.run(settings)[0].status
    sources.add(settings, {"name": "second", "kind": "rss", "url": srv.url("/second.xml"), "follow_links": False})
    state = str(dag.test().state)
print("RESULT " + json.dumps({"direct": direct, "dag": state,
                              "by_source": sorted(r["source"] for r in export.records(settings))}))
"""


@pytest.mark.timeout(150)
def test_t32_collect_and_its_dag_in_one_airflow_process(tmp_path: Path) -> None:
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"), AIRFLOW__CORE__UNIT_TEST_MODE="False",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "dags")]),
               SCRUTINEER_DB=f"sqlite:///{tmp_path / 'scrutineer.sqlite'}")
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env=env, check=True,
                   capture_output=True, timeout=120)
    proc = subprocess.run([sys.executable, "-c", DAG_RUNS, str(ROOT)], env=env, capture_output=True, text=True,
                          timeout=120)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["direct"] == "ok" and result["dag"] == "success", result
    assert result["by_source"] == ["first", "first", "second", "second"], result
    assert "ReactorNotRestartable" not in proc.stderr
