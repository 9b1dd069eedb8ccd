"""Collect every active source, one mapped task instance per source.

Each source gets its own task instance (own logs, retries and duration in the UI), bounded by
the `scrutineer_crawls` pool. The task body runs the crawl as a `scrapy crawl` subprocess, so a
worker can run any number of crawls. Finishing updates the `scrutineer://articles` Asset, which
triggers processing.
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, dag, task

ARTICLES = Asset("scrutineer://articles")


@dag(
    dag_id="scrutineer_collect",
    schedule="@hourly",
    catchup=False,
    max_active_runs=1,
    tags=["scrutineer", "collect"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    doc_md=__doc__,
)
def scrutineer_collect() -> None:
    @task
    def active_sources() -> list[str]:
        from pipelines import sources
        from pipelines.settings import Settings

        return [s["name"] for s in sources.listing(Settings()) if s["status"] == "active"]

    @task(pool="default_pool", max_active_tis_per_dagrun=4)
    def collect_source(name: str) -> dict[str, object]:
        from pipelines import collect
        from pipelines.settings import Settings

        result = collect.run(Settings(), [name])[0]
        return {"source": result.source, "status": result.status, "new": result.new, "updated": result.updated}

    @task(outlets=[ARTICLES], trigger_rule="all_done")
    def announce(results: list[dict[str, object]]) -> int:
        """Always runs, so one failed source never holds back processing of the others."""
        return sum(int(r["new"]) + int(r["updated"]) for r in results if r)

    announce(collect_source.expand(name=active_sources()))


scrutineer_collect()
