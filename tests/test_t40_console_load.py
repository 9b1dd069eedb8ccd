"""T40 (bounded): 20 concurrent clients searching and paging while another process-like writer
stores articles; no 5xx. (The database-unavailable half is the 503 test in
test_console_security.py; the full 60 s run with collect/process is not automated here.)"""
from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone

import httpx

from console import auth
from console.app import create_app
from console.server import AppServer
from pipelines.settings import Settings
from storage.article import Article
from storage.articles import store_articles
from storage.db import get_engine, write

PASSWORD = "correct horse battery"
CLIENTS = 20
REQUESTS_EACH = 15


def test_t40_concurrent_readers_while_writing(sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url, public_url="http://127.0.0.1")
    auth.add_user(settings, "v@example.org", "viewer", PASSWORD)
    base_time = datetime(2026, 11, 18, tzinfo=timezone.utc)
    httpd = AppServer(create_app(settings)).start()
    statuses: list[int] = []
    errors: list[str] = []
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        i = 0
        while not stop.is_set():
            with write(get_engine(settings.db)) as conn:
                store_articles(conn, [Article(url=f"https://w.example/{i}-{k}", canonical_url=f"https://w.example/{i}-{k}",
                                              source="w", title=f"Police facial recognition update {i}",
                                              text="Officers used live facial recognition. " * 20,
                                              published_at=base_time + timedelta(minutes=i)) for k in range(20)])
            i += 1
            written[0] += 20

    def reader(n: int) -> None:
        with httpx.Client(base_url=httpd.url, timeout=60) as client:
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
            client.post("/login", data={"email": "v@example.org", "password": PASSWORD, "csrf": token})
            for k in range(REQUESTS_EACH):
                path = ("/articles?q=facial+recognition&page=" + str(1 + k % 3)) if (n + k) % 2 else "/sources"
                try:
                    statuses.append(client.get(path).status_code)
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    readers = [threading.Thread(target=reader, args=(n,)) for n in range(CLIENTS)]
    try:
        for t in readers:
            t.start()
        for t in readers:
            t.join(timeout=300)
    finally:
        stop.set()
        w.join(timeout=60)
        httpd.shutdown()
        httpd.server_close()
    assert not errors
    assert len(statuses) == CLIENTS * REQUESTS_EACH and set(statuses) == {200}
    assert written[0] > 0
