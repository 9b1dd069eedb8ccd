"""DAG folder parse time with an empty registry and with 1,000 sources registered (target < 1 s).

The dispatcher design reads the registry inside a task, never at parse time, so the two figures
should match: the registry's size cannot reach the dag-processor. Each measurement runs in a fresh
process (as the dag-processor's own parsing does), with `SCRUTINEER_DB` pointing at that registry.
`python -m bench.dag_parse` prints the lines on its own.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from core.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parent.parent  # the source checkout these run from
DAGS = PROJECT_DIR / "dags"
SOURCES = 1000
REPEATS = 5
TARGET_S = 1.0

PROBE = """
import json, sys, time
t0 = time.perf_counter()
from airflow.models.dagbag import DagBag
imported = time.perf_counter() - t0
fills, files = [], {}
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1])
    fills.append(time.perf_counter() - t)
    for stat in bag.dagbag_stats:
        name = stat.file.rsplit("/", 1)[-1]
        files[name] = min(files.get(name, 1e9), stat.duration.total_seconds())
print("RESULT " + json.dumps({"import_s": imported, "fills": fills, "files": files, "dags": len(bag.dags),
                              "errors": len(bag.import_errors)}))
"""


def _registry(path: Path, n: int) -> str:
    """A migrated SQLite registry holding n sources (every kind, a spread of schedules)."""
    from pipelines import sources

    url = f"sqlite:///{path}"
    schedules = ["@hourly", "*/30 * * * *", "@daily", "0 */4 * * *", "*/15 * * * *"]
    entries = [{"name": f"source-{i:04d}", "kind": ("rss", "sitemap")[i % 2],
                "url": f"https://outlet-{i % 97}.example.org/feed-{i}.xml", "schedule": schedules[i % len(schedules)],
                "tags": ["bench"]} for i in range(n)]
    listing = path.with_suffix(".yaml")
    listing.write_text(yaml.safe_dump({"sources": entries}), encoding="utf-8")
    settings = Settings(db=url)
    if n:
        outcome, errors = sources.import_file(settings, listing)
        assert len(outcome) == n and not errors, errors[:3]
    else:
        from storage.db import get_engine, read

        with read(get_engine(url)):
            pass  # migrate an empty schema
    return url


def measure(db_url: str, workdir: Path) -> dict[str, object]:
    env = dict(os.environ)
    env.update(SCRUTINEER_DB=db_url, AIRFLOW_HOME=str(workdir / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(DAGS), AIRFLOW__CORE__UNIT_TEST_MODE="False",
               PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_DIR), str(DAGS), env.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", PROBE, str(DAGS), str(REPEATS)], env=env, capture_output=True,
                          text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"DAG parse probe failed: {proc.stderr[-2000:]}")
    result: dict[str, object] = json.loads(lines[-1][len("RESULT "):])
    return result


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="scrutineer-dagparse-") as tmp:
        work = Path(tmp)
        empty = measure(_registry(work / "empty.sqlite", 0), work)
        full = measure(_registry(work / "full.sqlite", SOURCES), work)
    best_empty = min(empty["fills"])  # type: ignore[type-var, arg-type]
    best_full = min(full["fills"])  # type: ignore[type-var, arg-type]
    files: dict[str, float] = full["files"]  # type: ignore[assignment]
    slowest = max(files, key=files.__getitem__)
    verdict = "met" if best_full < TARGET_S else "MISSED"
    return [
        f"DAG folder parse ({len(files)} files, {full['dags']} DAGs, {full['errors']} import errors), "
        f"best of {REPEATS}, airflow already imported as in the dag-processor:",
        f"  empty registry          {best_empty * 1000:7.1f} ms",
        f"  {SOURCES:,} sources registered {best_full * 1000:7.1f} ms   ratio {best_full / best_empty:.2f}"
        f"   target < {TARGET_S:.0f} s: {verdict}",
        f"  slowest file: {slowest} {files[slowest] * 1000:.1f} ms",
        f"  one-off `import airflow` in a fresh process (not per parse): {full['import_s']:.1f} s",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
