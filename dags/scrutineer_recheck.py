"""Re-check articles carried by recent digests: record edits, corrections and takedowns daily,
so the next digest can report them. A thin schedule around `pipelines.recheck.run`."""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task
from scrutineer_common import default_args


@dag(
    dag_id="scrutineer_recheck",
    schedule="@daily",
    catchup=False,
    max_active_runs=1,
    tags=["scrutineer", "recheck"],
    default_args=default_args(timedelta(minutes=15)),
    doc_md=__doc__,
)
def scrutineer_recheck() -> None:
    @task
    def recheck() -> int:
        from pipelines import recheck as stage
        from pipelines.alerts import task_settings

        return stage.run(task_settings())

    recheck()


scrutineer_recheck()
