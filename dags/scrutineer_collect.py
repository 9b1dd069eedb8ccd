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

from airflow.sdk import dag, task
from scrutineer_common import ARTICLES, default_args

CRAWL_POOL = "scrutineer_crawl"
#: Below Airflow's [core] max_map_length (1024); any further due sources go in the next run.
MAX_PER_RUN = 1000


@dag(
    dag_id="scrutineer_collect",
    schedule="*/5 * * * *",
    catchup=False,
    max_active_runs=1,
    tags=["scrutineer", "collect"],
    default_args=default_args(timedelta(minutes=1)),
    doc_md=__doc__,
)
def scrutineer_collect() -> None:
    @task
    def due_sources() -> list[str]:
        """Names of the sources due now, longest-waiting first, at most MAX_PER_RUN."""
        from pipelines.alerts import task_settings
        from pipelines.collect import due_names

        return due_names(task_settings(), MAX_PER_RUN)

    @task(pool=CRAWL_POOL, map_index_template="{{ task.op_kwargs['name'] }}")
    def collect_source(name: str) -> dict[str, Any]:
        """One source's pass; skipped if it was paused or removed since the run started."""
        from airflow.sdk.exceptions import AirflowSkipException

        from pipelines.alerts import task_settings
        from pipelines.collect import collect_if_active

        r = collect_if_active(task_settings(), name)
        if isinstance(r, str):
            raise AirflowSkipException(f"{name} is {r}: not collected")
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

    # At parse time TaskFlow passes an XComArg; the task receives the list when it runs.
    announce(collect_source.expand(name=due_sources()))  # type: ignore[arg-type]


scrutineer_collect()
