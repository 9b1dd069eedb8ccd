"""A real Airflow 3 cluster for tests: api-server, scheduler, dag-processor and Celery workers.

The production shape (docs/production.md) on one machine: metadata on PostgreSQL, Redis as the
Celery broker, every process started by its own command. Every wait is bounded, and `stop()` kills
every process the cluster started, including the task processes and `scrapy crawl` children that
Airflow and Scrutineer put in process groups of their own: each process carries a marker in its
environment, and the sweep kills whatever still carries it.

Only the standard library is imported at top level: Celery workers import this module through
`[core] hostname_callable` (see `worker_hostname`).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
MARKER = "SCRUTINEER_TEST_CLUSTER"
WORKER_NAME = "SCRUTINEER_TEST_WORKER_NAME"
T = TypeVar("T")
SCRUTINEER = str(Path(sys.executable).with_name("scrutineer"))
LOOPBACK = "127.0.0.1/32"


def worker_hostname() -> str:
    """`[core] hostname_callable` for workers that share one machine.

    Airflow records `socket.getfqdn()` as `task_instance.hostname`, the same for every worker on
    one machine; the test names each worker so it can tell which one ran a task instance.
    """
    return os.environ.get(WORKER_NAME) or socket.getfqdn()


def celery_provider_problem() -> str | None:
    """Why `airflow celery worker` cannot start with the installed packages, or None.

    apache-airflow-providers-celery 3.26.0 imports `celery.backends.database.retry`, which Celery
    5.7.0 removed; every worker then dies at start-up with an ImportError.
    """
    import importlib.metadata as md

    try:
        from celery.backends.database import retry  # noqa: F401 - only its presence matters
    except ImportError:
        return (f"celery {md.version('celery')} lacks celery.backends.database.retry, which "
                f"apache-airflow-providers-celery {md.version('apache-airflow-providers-celery')} imports: "
                "pin celery==5.6.3 (docs/production.md, Versions)")
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.5,
             alive: Callable[[], None] | None = None) -> T:
    """Poll `check` until it returns a truthy value; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        try:
            value = check()
        except Exception as exc:  # noqa: BLE001 - a component still starting answers with errors
            last_error, value = exc, None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}"
                       + (f" (last error: {last_error!r})" if last_error else ""))


def pg_database(admin_url: str, name: str) -> str:
    """The URL of database `name` on the server of `admin_url`."""
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return pg_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@contextmanager
def cluster_databases(pg_url: str, redis_url: str, redis_db: int, prefix: str) -> Iterator[dict[str, str]]:
    """Fresh PostgreSQL databases (Airflow metadata, Scrutineer data) and a flushed broker
    database, all removed afterwards, whatever happened."""
    tag = uuid.uuid4().hex[:10]
    names = {"airflow": f"airflow_{prefix}_{tag}", "data": f"scrutineer_{prefix}_{tag}"}
    urls = {k: create_database(pg_url, v) for k, v in names.items()}
    broker = redis_db_url(redis_url, redis_db)
    flush_redis(broker)
    try:
        yield {**urls, "broker": broker}
    finally:
        flush_redis(broker)
        for name in names.values():
            drop_database(pg_url, name)


def redis_db_url(base: str, db: int) -> str:
    """The same Redis server with a dedicated database number, so a flush touches only ours."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


@dataclass
class Cluster:
    """One Airflow deployment: its env, its processes, and bounded ways to drive and observe it.

    `env` holds the settings every component shares (docs/production.md lists them); a worker
    adds its own name. Logs of each process go to `home/logs/<name>.log`.
    """

    home: Path
    metadata_url: str
    broker_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: uuid.uuid4().hex + uuid.uuid4().hex)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _engine: Any = None
    _bearer: str | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        env.update({
            MARKER: self.token,
            "AIRFLOW_HOME": str(self.home),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "faults"), str(ROOT), str(ROOT / "tests")]),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_cluster.worker_hostname",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": self.token,
            # The test drives the REST API with a token from GET /auth/token; production uses a
            # real auth manager (docs/production.md).
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__SECRET_KEY": self.token,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            # psycopg 3 does async itself; the default derivation would ask for asyncpg.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.metadata_url,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.metadata_url,
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            # Quick pick-up of DAG files and queued work, so a short test is not mostly sleeping.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        })
        env.update(self.extra_env)
        return env

    # -- lifecycle
    def migrate(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        self.airflow("db", "migrate", timeout=300)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start `airflow ARGS` as process `name`, in a process group of its own."""
        log = open(self.home / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([AIRFLOW, *args], env={**self.env, **(env or {})}, cwd=self.home,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def start_api_server(self) -> None:
        self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.api_port),
                   "--workers", "1")

    def start_scheduler(self, name: str = "scheduler") -> None:
        self.start(name, "scheduler")

    def start_dag_processor(self) -> None:
        self.start("dag-processor", "dag-processor")

    def start_worker(self, name: str, concurrency: int = 2) -> None:
        """A Celery worker named `name` (Celery node name and task_instance.hostname).

        `--skip-serve-logs`: two workers on one machine would both bind the log server's port;
        task logs stay readable under AIRFLOW_HOME/logs.
        """
        self.start(name, "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency",
                   str(concurrency), "--skip-serve-logs", "--without-gossip", "--without-mingle",
                   env={WORKER_NAME: name})

    def log(self, name: str) -> str:
        path = self.home / "logs" / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def check_alive(self, *names: str) -> None:
        """Fail at once, with the log tail, when a component that should be up has exited."""
        for name in names or tuple(self.procs):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")

    def wait_ready(self, workers: tuple[str, ...], timeout: float = 120) -> None:
        """API server answering (both apps), and every worker connected to the broker."""
        base = f"http://127.0.0.1:{self.api_port}"
        for path in ("/api/v2/monitor/health", "/execution/health"):
            wait_for(lambda p=path: urllib.request.urlopen(base + p, timeout=10).status == 200,  # noqa: S310
                     timeout, f"the api-server ({path})", alive=self.check_alive)
        for name in workers:
            wait_for(lambda n=name: f"{n}@" in self.log(n) and " ready." in self.log(n), timeout,
                     f"celery worker {name}", alive=self.check_alive)

    def kill(self, name: str) -> list[int]:
        """SIGKILL one component and every process under it at once (a machine or process dying).

        For a worker that is the Celery processes, the task supervisors, the task processes (in
        process groups of their own) and their `scrapy crawl` children (in sessions of their own).
        """
        proc = self.procs.pop(name)
        killed = kill_tree(proc.pid)
        proc.wait(timeout=20)  # reap it
        return killed

    def stop(self) -> None:
        """Kill everything this cluster started, including orphans, then sweep by marker.

        SIGKILL, not a graceful stop: a test cluster keeps no state worth a clean shutdown, and a
        worker's warm shutdown would wait for running tasks.
        """
        for name in list(self.procs):
            self.kill(name)
        sweep(self.token, self.home)
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- driving and observing
    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """One `airflow` CLI command (it talks to the metadata DB directly); raises with its output."""
        done = subprocess.run([AIRFLOW, *args], env=self.env, cwd=self.home, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} exited {done.returncode}:\n"
                               f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Rows from the metadata DB, for assertions on what Airflow recorded."""
        from sqlalchemy import create_engine, text

        if self._engine is None:
            self._engine = create_engine(self.metadata_url, pool_pre_ping=True)
        with self._engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]

    def wait_dags_parsed(self, dag_ids: tuple[str, ...], timeout: float = 120) -> None:
        def parsed() -> bool:
            rows = self.query("SELECT dag_id FROM serialized_dag")
            return set(dag_ids) <= {r["dag_id"] for r in rows}

        wait_for(parsed, timeout, f"the dag-processor to serialise {', '.join(dag_ids)}", interval=1,
                 alive=self.check_alive)

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT run_id, state, run_type, start_date, end_date FROM dag_run "
                          "WHERE dag_id = :d ORDER BY id", d=dag_id)

    def task_instances(self, *dag_ids: str) -> list[dict[str, Any]]:
        return self.query("SELECT dag_id, run_id, task_id, map_index, try_number, state, hostname, pid "
                          "FROM task_instance WHERE dag_id = ANY(:ids) ORDER BY dag_id, task_id, map_index",
                          ids=list(dag_ids))

    def wait_run(self, dag_id: str, run_id: str | None = None, timeout: float = 180,
                 after: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """Wait for a run of `dag_id` (that run, or the first one `after` accepts) to finish."""
        def finished() -> dict[str, Any] | None:
            for run in self.dag_runs(dag_id):
                if (run_id is None or run["run_id"] == run_id) and (after is None or after(run)) \
                        and run["state"] in ("success", "failed"):
                    return run
            return None

        return wait_for(finished, timeout, f"a finished run of {dag_id}" + (f" ({run_id})" if run_id else ""),
                        interval=1, alive=self.check_alive)

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call to the REST API (/api/v2/...) of this cluster's api-server."""
        import json

        if self._bearer is None:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/auth/token", timeout=30) as r:  # noqa: S310
                self._bearer = json.load(r)["access_token"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}/api/v2{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._bearer}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310 - loopback
            return json.load(r)

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> None:
        self.api("POST", f"/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}})

    def create_pools(self, dag_ids: tuple[str, ...], slots: int = 4) -> list[str]:
        """Every pool the DAGs' tasks name (as the serialised DAGs say), so no task waits on a missing one."""
        names = sorted({t["pool"] for d in dag_ids for t in self.api("GET", f"/dags/{d}/tasks")["tasks"]
                        if t.get("pool")} - {"default_pool"})
        for name in names:
            self.api("POST", "/pools", {"name": name, "slots": slots, "description": "Scrutineer test pool"})
        return names

# -- comparing what a run stored
def cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> str:
    """One `scrutineer` command, allowed to reach the loopback test servers; its stdout."""
    env = {**os.environ, "SCRUTINEER_ALLOW_PRIVATE_NETWORKS": LOOPBACK, "SCRUTINEER_CRAWL_TIMEOUT_S": "60",
           **(env or {})}
    done = subprocess.run([SCRUTINEER, *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"scrutineer {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


def exported(db: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """`export --format jsonl`, sorted by id (the record has no volatile field such as fetch time)."""
    rows = [json.loads(line) for line in cli("export", "--format", "jsonl", "--db", db, env=env).splitlines() if line]
    return sorted(rows, key=lambda r: r["id"])


def differences(got: list[dict[str, Any]], want: list[dict[str, Any]], skip: tuple[str, ...] = ()) -> list[str]:
    """Field-level differences between two exports (fields in `skip` left out), for a readable failure."""
    a, b = {r["id"]: r for r in got}, {r["id"]: r for r in want}
    out = [f"{i}: only in the cluster run" for i in sorted(set(a) - set(b))]
    out += [f"{i}: only in the single-machine run" for i in sorted(set(b) - set(a))]
    for i in sorted(set(a) & set(b)):
        out += [f"{i} {k}: cluster {a[i].get(k)!r:.120} != single {b[i][k]!r:.120}"
                for k in b[i] if k not in skip and a[i].get(k) != b[i][k]]
    return out


def duplicate_groups(rows: list[dict[str, Any]]) -> set[frozenset[str]]:
    """Articles grouped with their original: the same report, whichever copy counts as first."""
    groups: dict[str, set[str]] = {}
    for r in rows:
        groups.setdefault(r["duplicate_of"] or r["id"], set()).add(r["id"])
    return {frozenset(g) for g in groups.values()}


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and all its descendants, found by parentage before any dies."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return []
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)
    return [p.pid for p in procs]


def sweep(token: str, home: Path) -> list[int]:
    """Kill what is left of a cluster: processes orphaned from the tree (a killed task's crawl).

    Two marks, because Airflow and Celery rewrite their process titles, which clobbers
    /proc/PID/environ: the marker in the environment (crawls, which do not retitle) and a working
    directory inside the cluster's home (Airflow's processes, which start there).
    """
    import psutil

    me, found = os.getpid(), []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(MARKER) == token or Path(proc.cwd()).is_relative_to(home):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError, ValueError):
            continue
    for proc in found:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(found, timeout=10)
    return [p.pid for p in found]
