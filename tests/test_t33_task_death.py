"""T33: Airflow task and worker death, and a scheduler killed and restarted (RELIABILITY.md).

A real cluster (tests/airflow_cluster.py: api-server, scheduler, dag-processor, two Celery
workers on PostgreSQL and Redis) collects the demo newsroom plus two "gated" feeds whose first
request is held open, so a collect task is provably mid-crawl when it is killed:

- gate A held: `kill -9` the task's PID; Airflow marks it up for retry and the retry collects it;
- gate B held: the whole worker dies (Celery, task supervisor, task, crawl: SIGKILL together) and
  the scheduler is killed too; a new scheduler adopts the run, the heartbeat-timeout check fails
  the orphaned task instance, and a new worker runs the retry;
- the digest task is killed after the SMTP server's 250 and before the ledger commit
  (SCRUTINEER_TEST_FAULT=after_smtp_250); its retry must not send again (T26: at most 1 email).

Afterwards the stored articles equal a clean single-machine run's. Slow (a few minutes): runs only
with SCRUTINEER_NIGHTLY=1.
"""
from __future__ import annotations

import os
import threading
import uuid
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow_cluster import (
    LOOPBACK,
    Cluster,
    celery_provider_problem,
    cli,
    cluster_databases,
    differences,
    duplicate_groups,
    exported,
    wait_for,
)

PG_URL = os.environ.get("SCRUTINEER_TEST_PG_URL")
REDIS_URL = os.environ.get("SCRUTINEER_TEST_REDIS_URL")
REDIS_DB = 12  # this test's own broker database; flushed before and after
COLLECT, PROCESS, DIGEST = "scrutineer_collect", "scrutineer_process", "scrutineer_digest"
WEEK = "2026-W47"
SUBSCRIBER = "rights@example.org"
HOLD_S = 150  # a gate never holds a request longer than this, whatever happens to the test
#: Heartbeat-timeout recipe, with room for a loaded 2-core machine: a healthy task heartbeats every
#: second, so only a dead one goes 10 s without.
HEARTBEAT_TIMEOUT_S = 10
#: Test-only cluster policy (Airflow's airflow_local_settings.task_policy): the DAGs' retry delays
#: (minutes) shortened, so the retries this test causes run within its time.
LOCAL_SETTINGS = '''
from datetime import timedelta


def task_policy(task):
    task.retry_delay = timedelta(seconds=2)
'''

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("SCRUTINEER_NIGHTLY") != "1",
                       reason="T33 is slow (a real Airflow cluster, several kills): nightly; set SCRUTINEER_NIGHTLY=1"),
    pytest.mark.skipif(not PG_URL, reason="SCRUTINEER_TEST_PG_URL is not set (CI sets it; .ci/run)"),
    pytest.mark.skipif(not REDIS_URL, reason="SCRUTINEER_TEST_REDIS_URL is not set (CI sets it; .ci/run)"),
    pytest.mark.skipif(celery_provider_problem() is not None, reason=str(celery_provider_problem())),
]

ITEMS = (
    ("Panel hears rival vendors will bid for the Met's analytics work",
     "Companies that lost out last time told a London Assembly panel they expect to bid in the open "
     "tender for the Metropolitan Police analytics contract now that the Palantir deal has been blocked."),
    ("Peterborough traders split over facial recognition van",
     "Shop owners in Peterborough gave mixed views on the live facial recognition van parked near the "
     "market, with some welcoming it and civil liberties campaigners calling for it to be withdrawn."),
)


class Gate:
    """A one-outlet RSS feed on loopback whose first feed request, once armed, is held open.

    Holding the request keeps the crawl (and so the collect task) in the middle of its work
    until the test has killed what it wants to kill; `held` says the crawl has arrived.
    """

    def __init__(self, slug: str) -> None:
        self.slug = slug
        self.armed = False
        self.held = threading.Event()
        self.release = threading.Event()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                if self.path.startswith("/feed.xml"):
                    if gate.armed and not gate.held.is_set():
                        gate.held.set()
                        gate.release.wait(HOLD_S)
                    body, ctype = gate.feed().encode(), "application/rss+xml; charset=utf-8"
                else:
                    body, ctype = b"not here", "text/plain"
                self.send_response(200 if ctype.startswith("application") else 404)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def feed(self) -> str:
        from datetime import datetime, timezone

        items = "".join(
            f"<item><title>{title}</title><link>{self.base}/{self.slug}/{i}</link>"
            f"<guid>{self.base}/{self.slug}/{i}</guid>"
            f"<pubDate>{format_datetime(datetime(2026, 11, 18, 9 + i, tzinfo=timezone.utc))}</pubDate>"
            f"<description>{text}</description></item>"
            for i, (title, text) in enumerate(ITEMS))
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{self.slug}</title>'
                f"<link>{self.base}/</link><description>Test outlet</description>{items}</channel></rss>")

    def source(self) -> dict[str, Any]:
        return {"name": self.slug, "kind": "rss", "url": f"{self.base}/feed.xml", "follow_links": False,
                "schedule": "@hourly", "tags": ["test"]}

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def running_ti(cluster: Cluster, source: str) -> dict[str, Any] | None:
    rows = cluster.query("SELECT try_number, state, hostname, pid FROM task_instance WHERE dag_id = :d "
                         "AND task_id = 'collect_source' AND rendered_map_index = :s", d=COLLECT, s=source)
    return rows[0] if rows and rows[0]["state"] == "running" and rows[0]["pid"] and rows[0]["hostname"] else None


def final_ti(cluster: Cluster, source: str) -> dict[str, Any] | None:
    rows = cluster.query("SELECT try_number, state, hostname FROM task_instance WHERE dag_id = :d "
                         "AND task_id = 'collect_source' AND rendered_map_index = :s AND state = 'success'",
                         d=COLLECT, s=source)
    return rows[0] if rows else None


def all_runs_done(cluster: Cluster, dag_ids: tuple[str, ...], run_id: str) -> bool:
    runs = [r for d in dag_ids for r in cluster.dag_runs(d)]
    failed = [r["run_id"] for r in runs if r["state"] == "failed"]
    if failed:
        raise AssertionError(f"runs failed: {failed}")
    pending = cluster.query("SELECT 1 FROM asset_dag_run_queue")
    return run_id in {r["run_id"] for r in runs} and all(r["state"] == "success" for r in runs) and not pending


@pytest.fixture
def databases() -> Any:
    assert PG_URL and REDIS_URL
    with cluster_databases(PG_URL, REDIS_URL, REDIS_DB, "t33") as dbs:
        yield dbs


@pytest.mark.timeout(900)
def test_t33_task_and_worker_death_converge_and_send_at_most_once(
        newsroom: Any, tmp_path: Path, databases: dict[str, str]) -> None:
    from demo.smtp_sink import SmtpSink

    gates = {g.slug: g for g in (Gate("gated-a"), Gate("gated-b"))}
    sink = SmtpSink().start()
    slow = {"SCRUTINEER_DOWNLOAD_TIMEOUT_S": str(HOLD_S + 30), "SCRUTINEER_CRAWL_TIMEOUT_S": str(HOLD_S + 60)}
    try:
        sources_yaml = tmp_path / "sources.yaml"
        sources_yaml.write_text(yaml.safe_dump(
            {"sources": newsroom.sources() + [g.source() for g in gates.values()]}, sort_keys=False))

        single = f"sqlite:///{tmp_path / 'single.sqlite'}"
        cli("sources", "import", str(sources_yaml), "--db", single)
        cli("run", "--db", single, timeout=300)
        expected = exported(single)
        assert {r["source"] for r in expected} >= set(gates)

        data = databases["data"]
        cli("sources", "import", str(sources_yaml), "--db", data)
        cli("subscribers", "add", SUBSCRIBER, "--profile", "rights", "--db", data)
        home = tmp_path / "airflow"
        (home / "config").mkdir(parents=True)
        (home / "config" / "airflow_local_settings.py").write_text(LOCAL_SETTINGS)
        cluster = Cluster(home=home, metadata_url=databases["airflow"], broker_url=databases["broker"], extra_env={
            "SCRUTINEER_DB": data, "SCRUTINEER_ALLOW_PRIVATE_NETWORKS": LOOPBACK, **slow,
            "SCRUTINEER_SMTP_URL": sink.url, "SCRUTINEER_TEST_FAULT": "after_smtp_250",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "1",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            # A new scheduler checks only the task instances it queued itself for heartbeats: it must
            # first adopt the dead scheduler's, which needs that one declared dead (health-check
            # threshold) and an adoption pass (every orphaned_tasks_check_interval; 300 s default).
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "5",
        })
        try:
            cluster.migrate()
            cluster.start_api_server()
            cluster.start_dag_processor()
            cluster.start_scheduler()
            for name in ("worker-a", "worker-b"):
                cluster.start_worker(name, concurrency=2)
            cluster.wait_ready(("worker-a", "worker-b"))
            cluster.wait_dags_parsed((COLLECT, PROCESS, DIGEST))
            cluster.create_pools((COLLECT,), slots=8)
            for g in gates.values():
                g.armed = True
            run_id = f"t33_{uuid.uuid4().hex[:8]}"
            cluster.trigger(COLLECT, run_id)
            for dag_id in (COLLECT, PROCESS):
                cluster.unpause(dag_id)

            # (a) kill -9 the task PID while its crawl is mid-request.
            wait_for(gates["gated-a"].held.is_set, 180, "the gated-a crawl to arrive", alive=cluster.check_alive)
            victim = wait_for(lambda: running_ti(cluster, "gated-a"), 60, "the gated-a task instance to run")
            os.kill(victim["pid"], 9)
            gates["gated-a"].release.set()
            done_a = wait_for(lambda: final_ti(cluster, "gated-a"), 180, "gated-a's retry to succeed",
                              interval=1, alive=cluster.check_alive)
            assert done_a["try_number"] >= victim["try_number"] + 1

            # (b) the worker running gated-b dies whole, and the scheduler with it; both come back.
            wait_for(gates["gated-b"].held.is_set, 180, "the gated-b crawl to arrive", alive=cluster.check_alive)
            victim_b = wait_for(lambda: running_ti(cluster, "gated-b"), 60, "the gated-b task instance to run")
            cluster.kill("scheduler")
            killed = cluster.kill(victim_b["hostname"])
            assert victim_b["pid"] in killed, "the task process died with its worker"
            gates["gated-b"].release.set()
            cluster.start_scheduler("scheduler-2")
            cluster.start_worker("worker-c", concurrency=2)
            cluster.wait_ready(("worker-c",))
            done_b = wait_for(lambda: final_ti(cluster, "gated-b"), 240, "gated-b's retry to succeed",
                              interval=1, alive=cluster.check_alive)
            assert done_b["try_number"] >= victim_b["try_number"] + 1
            assert done_b["hostname"] != victim_b["hostname"]
            assert "without a heartbeat" in cluster.log("scheduler-2"), "the heartbeat-timeout check found it"
            wait_for(lambda: all_runs_done(cluster, (COLLECT, PROCESS), run_id), 300,
                     "collection and processing to finish", interval=2, alive=cluster.check_alive)

            # (c) the send task killed after the server's 250, before the ledger commit.
            digest_run = f"t33_digest_{uuid.uuid4().hex[:8]}"
            cluster.trigger(DIGEST, digest_run, conf={"week": WEEK})
            cluster.unpause(DIGEST)
            wait_for(lambda: all_runs_done(cluster, (DIGEST,), digest_run), 240, "the digest run",
                     interval=2, alive=cluster.check_alive)
            # Unpausing also starts the schedule's own run for the same week: whichever run sends first
            # is killed after the 250 and retried; every send task ends in success.
            sends = cluster.query("SELECT run_id, try_number, state FROM task_instance WHERE dag_id = :d "
                                  "AND task_id = 'send_digest'", d=DIGEST)
        finally:
            cluster.stop()
        assert sink.by_recipient.get(SUBSCRIBER) == 1, f"T26: at most (and here exactly) one email: {sink.by_recipient}"
        from sqlalchemy import create_engine, text

        engine = create_engine(data)
        with engine.connect() as conn:
            status = conn.execute(text("SELECT status FROM deliveries WHERE subscriber = :s AND week = :w"),
                                  {"s": SUBSCRIBER, "w": WEEK}).scalar_one()
        engine.dispose()
        assert status == "sending", "outcome unknown after the kill: reported, never resent"
        assert sends and all(t["state"] == "success" for t in sends), sends
        assert max(t["try_number"] for t in sends) >= 2, "the send task killed after the 250 was retried"

        got = exported(data)
        assert len({r["id"] for r in got}) == len(got), "no duplicate rows"
        diff = differences(got, expected, skip=("duplicate_of", "story_id"))
        assert not diff, "\n".join(diff[:20])
        assert duplicate_groups(got) == duplicate_groups(expected)
    finally:
        sink.stop()
        for g in gates.values():
            g.close()
