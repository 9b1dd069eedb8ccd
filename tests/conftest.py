"""Shared fixtures: real loopback servers, real SQLite files, PostgreSQL when the URL is set."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

# Every test server is on loopback; tests of the network policy unset or narrow this themselves.
os.environ["SCRUTINEER_ALLOW_PRIVATE_NETWORKS"] = "1"
os.environ.setdefault("SCRUTINEER_CRAWL_TIMEOUT_S", "120")
# `digest --send` refuses without a public URL for unsubscribe links (issue 12); tests send to a
# reserved .test one (the guard's own tests unset it).
os.environ.setdefault("SCRUTINEER_PUBLIC_URL", "https://scrutineer.test")

# Every child process a test starts can have faults armed in it (tests/faults): the folder's
# sitecustomize does nothing unless the child's environment names a fault.
FAULTS_DIR = Path(__file__).parent / "faults"
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FAULTS_DIR), os.environ.get("PYTHONPATH")]))

DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("SCRUTINEER_TEST_PG_URL")


def _fresh_pg_database() -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"scrutineer_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        from storage.db import dispose_all

        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend (PostgreSQL skipped without its URL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scrutineer.sqlite'}"
        return
    if not PG_URL:
        pytest.skip("SCRUTINEER_TEST_PG_URL is not set (CI sets it; .ci/run)")
    url, drop = _fresh_pg_database()
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'scrutineer.sqlite'}"


@pytest.fixture(scope="session")
def truth() -> dict[str, Any]:
    return yaml.safe_load((DATA / "demo_truth.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def newsroom() -> Iterator[Any]:
    from demo.newsroom import Newsroom

    with Newsroom() as nr:
        yield nr


@pytest.fixture(scope="session")
def collected(newsroom: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo newsroom collected and processed once, for the read-only tests that share it."""
    from core.settings import Settings
    from pipelines import collect, process, sources, subscribers

    tmp = tmp_path_factory.mktemp("collected")
    settings = Settings(db=f"sqlite:///{tmp / 'scrutineer.sqlite'}")
    sources.import_file(settings, newsroom.write_sources_yaml(tmp / "sources.yaml"))
    subscribers.add(settings, "rights@example.org", "rights", name="Rights Group")
    subscribers.add(settings, "vendor@example.org", "vendor")
    results = collect.run(settings)
    hits_after_first = newsroom.total_hits()
    counts = process.run(settings)
    return {"settings": settings, "results": results, "counts": counts, "tmp": tmp,
            "hits_after_first": hits_after_first}


def export_records(settings: Any) -> list[dict[str, Any]]:
    from pipelines import export

    return list(export.records(settings))
