"""Process new articles: deduplicate, tag/score/sentiment, group into stories.

Scheduled on the `scrutineer://articles` Asset, so it runs when collection lands articles, not on
a clock. Each stage is deterministic and overwrites its results, so retries converge.
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task
from scrutineer_common import ARTICLES, default_args


@dag(
    dag_id="scrutineer_process",
    schedule=[ARTICLES],
    catchup=False,
    max_active_runs=1,
    tags=["scrutineer", "process"],
    default_args=default_args(timedelta(minutes=1)),
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
