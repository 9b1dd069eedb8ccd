"""Collect the sources that are due: a dispatcher every 5 minutes, one mapped task per due source.

`due_sources` reads the registry when the run starts (never at parse time) and returns the
sources whose next poll time has come (their cron schedule, adapted by `core/polling.py`);
paused and removed sources are never due. So `scrutineer sources add … --schedule "*/30 * * * *"`,
`pause`, `resume` and `remove` take effect at the next run, with no DAG file edited.

`collect_source` is mapped over them: each source is its own task instance, named after the
source in the UI (own logs, retries and duration), in the `scrutineer_crawl` pool, which bounds
concurrent crawls across runs (`airflow pools set scrutineer_crawl 4 "concurrent crawls"`).
A source-level failure (HTTP error, timeout, bad feed) is recorded in the source's health and
backed off by the poller; the task fails only when collection itself breaks (database, crawler
start-up), which Airflow retries and then emails the analysts about, once.

`announce` updates the `scrutineer://articles` Asset when anything new or changed landed, which
triggers `scrutineer_process`; an empty pass is skipped and triggers nothing.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, dag, task

ARTICLES = Asset("scrutineer://articles")
CRAWL_POOL = "scrutineer_crawl"
#: Below Airflow's [core] max_map_length (1024); any further due sources go in the next run.
MAX_PER_RUN = 1000


def _alert_analysts(context: Any) -> None:
    """on_failure_callback, called after the last retry; imported at call time to keep parsing light."""
    from pipelines.alerts import task_failed

    task_failed(context)


@dag(
    dag_id="scrutineer_collect",
    schedule="*/5 * * * *",
    catchup=False,
    max_active_runs=1,
    tags=["scrutineer", "collect"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "on_failure_callback": _alert_analysts},
    doc_md=__doc__,
)
def scrutineer_collect() -> None:
    @task
    def due_sources() -> list[str]:
        """Names of the sources due now, longest-waiting first, at most MAX_PER_RUN."""
        from core.settings import Settings
        from pipelines.collect import due_sources as due
        from storage.db import get_engine, read

        with read(get_engine(Settings().db)) as conn:
            return [s["name"] for s in due(conn)[:MAX_PER_RUN]]

    @task(pool=CRAWL_POOL, map_index_template="{{ task.op_kwargs['name'] }}")
    def collect_source(name: str) -> dict[str, Any]:
        """One source's pass; skipped if it was paused or removed since the run started."""
        from airflow.sdk.exceptions import AirflowSkipException

        from pipelines.alerts import task_settings
        from pipelines.collect import collect_one
        from storage.db import get_engine, read
        from storage.sources import get_source

        settings = task_settings()
        with read(get_engine(settings.db)) as conn:
            source = get_source(conn, name)
        if source is None or source["status"] != "active":
            raise AirflowSkipException(f"{name} is {source['status'] if source else 'gone'}: not collected")
        r = collect_one(settings, source)
        print(f"{name}: {r.status}, {r.new} new, {r.known} known, {r.updated} updated"
              + (f" ({r.message})" if r.message else ""))
        return {"source": r.source, "status": r.status, "new": r.new, "updated": r.updated}

    @task(outlets=[ARTICLES], trigger_rule="all_done")
    def announce(results: list[dict[str, Any]] | None = None) -> int:
        """Always runs, so one failed source never holds back processing of the others."""
        from airflow.sdk.exceptions import AirflowSkipException

        changed = sum(int(r.get("new", 0)) + int(r.get("updated", 0)) for r in (results or []) if r)
        if not changed:
            raise AirflowSkipException("nothing new or changed: processing not triggered")
        return changed

    announce(collect_source.expand(name=due_sources()))


scrutineer_collect()
