"""The DAG files under real Airflow 3: parse cheaply, follow house rules, run end to end.

`import airflow` itself loads SQLAlchemy (Airflow's own metadata layer), so the parse-time check
compares against a process that imported only `airflow.sdk`: a DAG file may add no heavy module.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAGS = sorted((ROOT / "dags").glob("*.py"))
HEAVY = ("scrapy", "trafilatura", "textblob", "feedparser", "pipelines", "storage", "crawlers", "lxml",
         "sqlalchemy", "sqlite3", "psycopg")

# Like the dag-processor: Airflow is imported once, then each file is parsed in a forked child, so
# every file starts from the same baseline and none can hide behind another's imports.
PARSE_PROBE = """
import json, os, runpy, sys
import airflow.sdk
heavy = {heavy}
results = {}
for path in sys.argv[1:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        before = set(sys.modules)
        runpy.run_path(path)
        added = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in heavy)
        os.write(write, json.dumps(added).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        results[os.path.basename(path)] = json.loads(pipe.read() or '["(parse failed)"]')
    os.waitpid(pid, 0)
print("RESULT " + json.dumps(results))
"""


def _airflow_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"), AIRFLOW__CORE__UNIT_TEST_MODE="False",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "dags")]))  # dags/: as the bundle does
    return env


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated metadata DB for the tests below that need one (each uses its own DAG ids)."""
    home = tmp_path_factory.mktemp("airflow-home")
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env=_airflow_env(home),
                   check=True, capture_output=True, timeout=300)
    return home


@pytest.fixture(scope="module")
def parse_imports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Per DAG file, the heavy modules that parsing it added to an `airflow.sdk` baseline."""
    env = _airflow_env(tmp_path_factory.mktemp("airflow"))
    env["SCRUTINEER_DB"] = "sqlite:////nonexistent/parsing-must-not-open-this.sqlite"
    out = subprocess.run([sys.executable, "-c", PARSE_PROBE.replace("{heavy}", repr(set(HEAVY))),
                          *map(str, DAGS)], capture_output=True, text=True, env=env, check=True, timeout=120)
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("RESULT ")][-1][7:])


@pytest.mark.parametrize("dag_file", DAGS, ids=lambda p: p.name)
def test_dag_file_imports_nothing_heavy_at_parse_time(dag_file: Path, parse_imports: dict[str, list[str]]) -> None:
    assert parse_imports[dag_file.name] == []


SHARED = "scrutineer_common"


def _imported_modules(path: Path) -> list[str]:
    """Every module a file imports, at top level or inside a function (a task body)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize("dag_file", DAGS, ids=lambda p: p.name)
def test_dag_files_import_only_airflow_stdlib_the_shared_module_and_pipelines(dag_file: Path) -> None:
    """DAGs call stage functions; storage, crawlers and core are reached through pipelines only."""
    allowed = {"airflow", "pipelines", SHARED, "__future__", *sys.stdlib_module_names}
    wrong = [m for m in _imported_modules(dag_file) if m.split(".")[0] not in allowed]
    assert wrong == [], f"{dag_file.name} imports {wrong}"


def test_import_scan_sees_imports_inside_task_bodies(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef task():\n    from storage.db import read\n    import crawlers.runner\n")
    assert _imported_modules(sample) == ["os", "storage.db", "crawlers.runner"]


def test_shared_module_is_used_and_never_parsed_as_a_dag_file(tmp_path: Path) -> None:
    probe = ("from airflow.utils.file import list_py_file_paths\n"
             f"print('FILES', sorted(p.rsplit('/', 1)[-1] for p in list_py_file_paths({str(ROOT / 'dags')!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_airflow_env(tmp_path),
                         check=True, timeout=120).stdout
    listed = [line for line in out.splitlines() if line.startswith("FILES ")][-1]
    assert f"{SHARED}.py" not in listed and "scrutineer_collect.py" in listed  # .airflowignore at work
    for dag_file in DAGS:
        if dag_file.stem != SHARED:
            source = dag_file.read_text(encoding="utf-8")
            assert SHARED in _imported_modules(dag_file) and "def _alert_analysts" not in source, dag_file.name
            assert 'Asset("scrutineer://' not in source, dag_file.name  # one Asset definition


def test_dagbag_has_no_import_errors_and_follows_house_rules(tmp_path: Path) -> None:
    probe = """
import json
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=DAG_FOLDER)
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "dags": {d.dag_id: {"tags": sorted(d.tags), "doc": bool(d.doc_md),
                                      "retries": [t.retries for t in d.tasks],
                                      "alerts": [bool(t.on_failure_callback) for t in d.tasks]}
                         for d in bag.dags.values()}}))
""".replace("DAG_FOLDER", repr(str(ROOT / "dags")))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_airflow_env(tmp_path),
                         check=True, timeout=180)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert set(report["dags"]) == {"scrutineer_collect", "scrutineer_process", "scrutineer_digest",
                                   "scrutineer_recheck", "scrutineer_health"}
    for dag_id, info in report["dags"].items():
        assert "scrutineer" in info["tags"] and info["doc"], dag_id
        assert min(info["retries"]) >= 2, dag_id
        assert all(info["alerts"]), dag_id  # every task emails the analysts when it fails for good


RUN_ALL = """
import json, os, sys
from pathlib import Path
from demo.newsroom import Newsroom
from demo.smtp_sink import SmtpSink
from pipelines import sources, subscribers, export
from core.settings import Settings
from airflow.models.dagbag import DagBag

out = {}
with Newsroom() as nr, SmtpSink() as sink:
    os.environ["SCRUTINEER_SMTP_URL"] = sink.url
    settings = Settings()
    sources.import_file(settings, nr.write_sources_yaml(Path(os.environ["AIRFLOW_HOME"]) / "sources.yaml"))
    subscribers.add(settings, "rights@example.org", "rights")
    bag = DagBag(dag_folder=sys.argv[1])
    for dag_id, conf in (("scrutineer_collect", None), ("scrutineer_process", None),
                         ("scrutineer_digest", {"week": "2026-W47"}), ("scrutineer_digest", {"week": "2026-W47"})):
        run = bag.get_dag(dag_id).test(run_conf=conf)
        out.setdefault(dag_id, []).append(str(run.state))
    out["articles"] = len(list(export.records(settings)))
    out["processed"] = sum(r["story_id"] is not None for r in export.records(settings))
    out["sent"] = dict(sink.by_recipient)
print("RESULT " + json.dumps(out))
"""


def test_dags_run_end_to_end_with_dag_test(tmp_path: Path, airflow_home: Path) -> None:
    env = _airflow_env(airflow_home)
    env["SCRUTINEER_DB"] = f"sqlite:///{tmp_path / 'scrutineer.sqlite'}"
    env["SCRUTINEER_ALLOW_PRIVATE_NETWORKS"] = "127.0.0.1/32"
    proc = subprocess.run([sys.executable, "-c", RUN_ALL, str(ROOT / "dags")], env=env, capture_output=True,
                          text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
    assert result["scrutineer_collect"] == ["success"] and result["scrutineer_process"] == ["success"]
    assert result["scrutineer_digest"] == ["success", "success"]
    assert result["articles"] >= 30 and result["processed"] == result["articles"]
    assert result["sent"] == {"rights@example.org": 1}  # the second run (a retry or re-run) sent nothing


def test_airflow_dags_list_shows_every_dag(airflow_home: Path) -> None:
    env = _airflow_env(airflow_home)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "dags", "reserialize"], env=env, check=True, capture_output=True, timeout=300)
    listing = subprocess.run([airflow, "dags", "list"], env=env, check=True, capture_output=True, text=True,
                             timeout=300).stdout
    for dag_id in ("scrutineer_collect", "scrutineer_process", "scrutineer_digest", "scrutineer_recheck",
                   "scrutineer_health"):
        assert dag_id in listing
    errors = subprocess.run([airflow, "dags", "list-import-errors"], env=env, capture_output=True, text=True,
                            timeout=300).stdout
    assert "scrutineer_" not in errors


HEALTH_RUN = """
import json, sys
from airflow.models.dagbag import DagBag
run = DagBag(dag_folder=sys.argv[1]).get_dag("scrutineer_health").test()
print("RESULT " + json.dumps({"state": str(run.state)}))
"""


def _health_registry(url: str) -> None:
    """Five active sources, one of each kind of health, and a paused one that must not be reported."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update

    from storage import sources as store
    from storage.db import get_engine, write
    from storage.schema import sources

    now = datetime.now(timezone.utc)

    def fetch(name: str, hours_ago: float, new: int, status: str = "ok", message: str | None = None) -> None:
        when = now - timedelta(hours=hours_ago)
        store.log_fetch(conn, {"source": name, "started_at": when, "finished_at": when, "status": status,
                               "items_new": new, "message": message})

    with write(get_engine(url)) as conn:
        for name in ("steady-wire", "dropped-wire", "broken-gazette", "quiet-blog", "forgotten", "paused-one"):
            store.save_source(conn, {"name": name, "kind": "rss", "url": f"https://{name}.example.org/feed",
                                     "schedule": "@hourly", "tags": [], "options": {}})
        conn.execute(update(sources).values(created_at=now - timedelta(days=20)))
        conn.execute(update(sources).where(sources.c.name == "paused-one").values(status="paused"))
        for h in range(3, 15 * 24, 6):  # 10 new items every 6 hours: a normal day is 40
            fetch("steady-wire", h, 10)
            fetch("dropped-wire", h, 10 if h > 24 else 0)  # nothing new in the last 24 hours
            fetch("quiet-blog", h, 1 if h > 5 * 24 else 0)  # nothing new for 5 days
            fetch("paused-one", h, 0, "error", "HTTP 500")
        fetch("broken-gazette", 30, 4)
        fetch("broken-gazette", 2, 0, "error", "HTTP 503 Service Unavailable")


@pytest.mark.timeout(150)
def test_health_dag_emails_the_daily_report(tmp_path: Path, airflow_home: Path) -> None:
    from demo.smtp_sink import SmtpSink

    env = _airflow_env(airflow_home)
    env.update(SCRUTINEER_DB=f"sqlite:///{tmp_path / 'scrutineer.sqlite'}",
               SCRUTINEER_ANALYST_EMAILS="desk@example.org")
    _health_registry(env["SCRUTINEER_DB"])
    with SmtpSink() as sink:
        env["SCRUTINEER_SMTP_URL"] = sink.url
        proc = subprocess.run([sys.executable, "-c", HEALTH_RUN, str(ROOT / "dags")], env=env, capture_output=True,
                              text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines and json.loads(lines[-1][len("RESULT "):])["state"] == "success", proc.stderr[-3000:]
    assert sink.by_recipient == {"desk@example.org": 1}
    [msg] = sink.parsed()
    assert "1 failing, 1 silent, 1 below normal volume, 1 never fetched" in str(msg["Subject"])
    body = msg.get_content().replace("\r\n", "\n")
    sections = {title: block for title, _, block in (part.partition("\n") for part in body.split("\n\n"))}
    failing = next(v for k, v in sections.items() if k.startswith("FAILING"))
    silent = next(v for k, v in sections.items() if k.startswith("SILENT"))
    low = next(v for k, v in sections.items() if k.startswith("VOLUME BELOW NORMAL"))
    assert failing.startswith("- broken-gazette: failing since") and "HTTP 503" in failing
    never = next(v for k, v in sections.items() if k.startswith("NEVER FETCHED"))
    assert "- quiet-blog: nothing new for 3+ days" in silent and "forgotten" not in silent
    assert never.startswith("- forgotten: added ") and "not fetched yet" in never
    assert low.startswith("- dropped-wire: 0 new in the last 24 h against a normal 40.")
    assert "steady-wire" not in body and "paused-one" not in body
    assert "5 active sources" in body and "1 never fetched, 1 fine. 1 paused." in body
