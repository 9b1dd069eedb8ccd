"""Re-check articles carried by recent digests: record edits, corrections and takedowns daily,
so the next digest can report them. A thin schedule around `pipelines.recheck.run`."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task


def _alert_analysts(context: Any) -> None:
    """on_failure_callback, called after the last retry; imported at call time to keep parsing light."""
    from pipelines.alerts import task_failed

    task_failed(context)


@dag(
    dag_id="scrutineer_recheck",
    schedule="@daily",
    catchup=False,
    max_active_runs=1,
    tags=["scrutineer", "recheck"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=15), "on_failure_callback": _alert_analysts},
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
