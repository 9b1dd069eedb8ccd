"""The production shape (docs/production.md), for real: Airflow 3 with CeleryExecutor on one machine.

Airflow metadata and Scrutineer data on PostgreSQL (fresh databases), Redis as the broker (a
dedicated database number, flushed), and separate `airflow api-server`, `scheduler`,
`dag-processor` and two `celery worker` processes. The collection DAG runs over the loopback demo
newsroom, its Asset triggers processing, and the stored articles must equal those of a plain
`scrutineer run` on SQLite over the same newsroom; both workers must have run task instances.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
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
REDIS_DB = 11  # this test's own broker database; flushed before and after
COLLECT, PROCESS = "scrutineer_collect", "scrutineer_process"
WORKERS = ("worker-a", "worker-b")

pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="SCRUTINEER_TEST_PG_URL is not set (CI sets it; .ci/run)"),
    pytest.mark.skipif(not REDIS_URL, reason="SCRUTINEER_TEST_REDIS_URL is not set (CI sets it; .ci/run)"),
    pytest.mark.skipif(celery_provider_problem() is not None, reason=str(celery_provider_problem())),
]


def settled(cluster: Cluster, run_id: str) -> bool:
    """Our collect run and every other run finished, and every Asset event consumed by processing.

    The */5 schedule adds a run of its own as soon as the DAG is unpaused; whichever run finds
    the sources due collects them, so the test waits for all of them rather than for one.
    """
    runs = cluster.dag_runs(COLLECT) + cluster.dag_runs(PROCESS)
    failed = [r["run_id"] for r in runs if r["state"] == "failed"]
    if failed:
        raise AssertionError(f"runs failed: {failed}\n" + cluster.log("scheduler")[-3000:])
    if run_id not in {r["run_id"] for r in runs} or any(r["state"] != "success" for r in runs):
        return False
    events = cluster.query("SELECT e.id, d.state FROM asset_event e "
                           "LEFT JOIN dagrun_asset_event l ON l.event_id = e.id "
                           "LEFT JOIN dag_run d ON d.id = l.dag_run_id")
    pending = cluster.query("SELECT 1 FROM asset_dag_run_queue")
    return bool(events) and not pending and all(e["state"] == "success" for e in events)


@pytest.fixture
def databases() -> Any:
    assert PG_URL and REDIS_URL
    with cluster_databases(PG_URL, REDIS_URL, REDIS_DB, "t") as dbs:
        yield dbs


@pytest.mark.timeout(480)
def test_two_celery_workers_collect_and_process_like_a_single_machine(
        newsroom: Any, tmp_path: Path, databases: dict[str, str]) -> None:
    sources_yaml = str(newsroom.write_sources_yaml(tmp_path / "sources.yaml"))
    source_names = {s["name"] for s in newsroom.sources()}

    single = f"sqlite:///{tmp_path / 'single.sqlite'}"
    cli("sources", "import", sources_yaml, "--db", single)
    cli("run", "--db", single, timeout=240)
    expected = exported(single)
    assert len(expected) >= 30

    cli("sources", "import", sources_yaml, "--db", databases["data"])
    cluster = Cluster(home=tmp_path / "airflow", metadata_url=databases["airflow"], broker_url=databases["broker"],
                      extra_env={"SCRUTINEER_DB": databases["data"], "SCRUTINEER_ALLOW_PRIVATE_NETWORKS": LOOPBACK,
                                 "SCRUTINEER_CRAWL_TIMEOUT_S": "60"})
    try:
        cluster.migrate()
        cluster.start_api_server()
        cluster.start_dag_processor()
        cluster.start_scheduler()
        for name in WORKERS:
            cluster.start_worker(name, concurrency=2)
        cluster.wait_ready(WORKERS, timeout=120)
        cluster.wait_dags_parsed((COLLECT, PROCESS), timeout=90)
        cluster.create_pools((COLLECT, PROCESS))
        run_id = f"scaleout_{uuid.uuid4().hex[:8]}"
        cluster.trigger(COLLECT, run_id)
        for dag_id in (COLLECT, PROCESS):
            cluster.unpause(dag_id)
        try:
            wait_for(lambda: settled(cluster, run_id), 300, "collection and the Asset-triggered processing",
                     interval=2, alive=cluster.check_alive)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}: runs {cluster.dag_runs(COLLECT) + cluster.dag_runs(PROCESS)}, events "
                                 f"{cluster.query('SELECT * FROM asset_event')}, pending "
                                 f"{cluster.query('SELECT * FROM asset_dag_run_queue')}") from exc
        tis = cluster.query("SELECT dag_id, task_id, rendered_map_index, state, hostname FROM task_instance "
                            "WHERE dag_id IN ('scrutineer_collect', 'scrutineer_process')")
    finally:
        cluster.stop()

    ran = [ti for ti in tis if ti["state"] == "success"]
    assert {ti["hostname"] for ti in ran} == set(WORKERS), "each worker ran task instances"
    collected = [ti["rendered_map_index"] for ti in ran if ti["task_id"] == "collect_source"]
    assert sorted(collected) == sorted(source_names), "every source collected once, by some worker"
    assert {ti["task_id"] for ti in ran if ti["dag_id"] == PROCESS} == {"dedupe", "enrich", "stories"}

    got = exported(databases["data"])
    # duplicate_of is "the first-seen copy" (CONTRACT.md), and which copy is fetched first depends on
    # crawl order, which differs between any two runs that crawl in parallel (two single-machine
    # runs too). So the copies must be grouped alike; everything else, story_id included (it is
    # named after a story's first-published copy), must be identical.
    diff = differences(got, expected, skip=("duplicate_of",))
    assert not diff, "\n".join(diff[:20])
    assert duplicate_groups(got) == duplicate_groups(expected)
