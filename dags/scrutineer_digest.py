"""Send the weekly digest: Mondays 07:00 Europe/London, for the ISO week that just ended.

A CronDataIntervalTimetable gives the run a real data interval (a bare cron string gives a
zero-width one in Airflow 3); the week is derived from the interval's start, so a backfill or a
retry of an old run sends that run's week. Delivery is at most once per (subscriber, week) by
the ledger, so a retry or a cleared task never sends twice.
"""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable, dag, task
from scrutineer_common import default_args


@dag(
    dag_id="scrutineer_digest",
    schedule=CronDataIntervalTimetable("0 7 * * 1", timezone="Europe/London"),
    catchup=False,
    max_active_runs=1,
    tags=["scrutineer", "digest"],
    default_args=default_args(timedelta(minutes=10)),
    params={"week": ""},  # set in a manual run's conf to send a chosen ISO week
    doc_md=__doc__,
)
def scrutineer_digest() -> None:
    @task
    def send_digest(data_interval_start=None, params=None) -> dict[str, int]:  # noqa: ANN001 - Airflow context
        from pipelines import digest
        from pipelines.alerts import fail_fast, task_settings

        week = digest.scheduled_week(data_interval_start, (params or {}).get("week"))
        with fail_fast():  # a bad SMTP setting fails now; a server that is down is retried
            report = digest.run(task_settings(), week=week, send=True)
        return {"digests": len(report.digests), "sent": sum(o.status == "sent" for o in report.outcomes)}

    send_digest()


scrutineer_digest()
