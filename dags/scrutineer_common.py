"""What every Scrutineer DAG file shares: the articles Asset and the failure callback.

Airflow 3 puts the DAGs folder (the bundle's path) on `sys.path` in the dag-processor and in the
task runner, so the DAG files import this module by its bare name. `.airflowignore` lists it, so
the dag-processor never parses it as a DAG file of its own. Like the DAG files it imports only
`airflow.sdk` and the standard library at parse time; stage code is imported when a task runs.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset

#: Updated by scrutineer_collect when anything new or changed landed; scrutineer_process runs on it.
ARTICLES = Asset("scrutineer://articles")
RETRIES = 2


def alert_analysts(context: Any) -> None:
    """on_failure_callback, called after the last retry; imported at call time to keep parsing light."""
    from pipelines.alerts import task_failed

    task_failed(context)


def default_args(retry_delay: timedelta) -> dict[str, Any]:
    """Every task: two retries, then one email to the analysts (pipelines.alerts)."""
    return {"retries": RETRIES, "retry_delay": retry_delay, "on_failure_callback": alert_analysts}
