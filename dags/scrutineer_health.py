"""Email the analysts the daily source-health report, 06:30 Europe/London.

Failing sources (the last fetch failed), silent ones (nothing new for days, or not fetched at
all: the scheduler itself may be down), and volume alarms (the last 24 hours far below the
source's own recent normal). A thin schedule around `pipelines.health_report.run`, which reads
the registry and the fetch log only; `scrutineer health-report` prints the same report.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import CronTriggerTimetable, dag, task
from scrutineer_common import default_args


@dag(
    dag_id="scrutineer_health",
    schedule=CronTriggerTimetable("30 6 * * *", timezone="Europe/London"),
    catchup=False,
    max_active_runs=1,
    tags=["scrutineer", "health"],
    default_args=default_args(timedelta(minutes=10)),
    doc_md=__doc__,
)
def scrutineer_health() -> None:
    @task
    def health_report(logical_date: Any = None) -> dict[str, int]:
        """Reported as of the run's scheduled time, so a re-run tells the same day's story."""
        from datetime import datetime, timezone

        from pipelines import health_report as stage
        from pipelines.alerts import fail_fast, task_settings

        now = logical_date if logical_date is not None else datetime.now(timezone.utc)
        with fail_fast():
            report = stage.run(task_settings(), now=now, send=True)
        return {"active": report.active, "failing": len(report.failing), "silent": len(report.silent),
                "low_volume": len(report.low_volume)}

    health_report()


scrutineer_health()
