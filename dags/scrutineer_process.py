"""Process new articles: deduplicate, tag/score/sentiment, group into stories.

Scheduled on the `scrutineer://articles` Asset, so it runs when collection lands articles, not on
a clock. Each stage is deterministic and overwrites its results, so retries converge.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, dag, task

ARTICLES = Asset("scrutineer://articles")


def _alert_analysts(context: Any) -> None:
    """on_failure_callback, called after the last retry; imported at call time to keep parsing light."""
    from pipelines.alerts import task_failed

    task_failed(context)


@dag(
    dag_id="scrutineer_process",
    schedule=[ARTICLES],
    catchup=False,
    max_active_runs=1,
    tags=["scrutineer", "process"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "on_failure_callback": _alert_analysts},
    doc_md=__doc__,
)
def scrutineer_process() -> None:
    @task
    def dedupe() -> int:
        from pipelines import dedupe as stage
        from pipelines.alerts import task_settings

        return stage.run(task_settings())

    @task
    def enrich() -> int:
        from pipelines import enrich as stage
        from pipelines.alerts import task_settings

        return stage.run(task_settings())

    @task
    def stories() -> int:
        from pipelines import stories as stage
        from pipelines.alerts import task_settings

        return stage.run(task_settings())

    dedupe() >> enrich() >> stories()


scrutineer_process()
