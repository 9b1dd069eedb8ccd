"""Host leases: one crawl process per host at a time, whoever starts it.

`scrutineer collect` never splits a host across its processes, but under Airflow each source is its
own task, so two sources on one host could crawl at once from two workers, each taking the host's
whole per-domain allowance. A crawl process therefore leases its hosts in the database before it
sends a request, and a second process waits for the lease (bounded) or defers those sources.

A lease is free when released, when it expires (a holder on another machine that died), or when its
holder was a process on this machine that no longer runs (same pid and start time), so a killed
crawl does not block its host until expiry.
"""
from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, Engine, delete, select, update

from storage.db import write
from storage.schema import host_leases, host_pacing
from storage.upsert import insert_new


def holder_id() -> str:
    """This process, as `machine:pid:start time`: pid reuse does not make a dead holder look alive."""
    import psutil

    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.2f}"


def _gone(holder: str) -> bool:
    """True when `holder` was a process on this machine that no longer runs."""
    import psutil

    machine, _, rest = holder.partition(":")
    pid, _, started = rest.partition(":")
    if machine != socket.gethostname() or not pid.isdigit():
        return False
    try:
        proc = psutil.Process(int(pid))
        return f"{proc.create_time():.2f}" != started or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def try_acquire(conn: Connection, host: str, holder: str, ttl_s: float, now: datetime | None = None) -> str | None:
    """Take the host's lease; None when taken, else the holder that has it."""
    now = now or datetime.now(timezone.utc)
    until = now + timedelta(seconds=ttl_s)
    if insert_new(conn, host_leases, [{"host": host, "holder": holder, "expires_at": until}], "host"):
        return None
    row = conn.execute(select(host_leases.c.holder, host_leases.c.expires_at).where(host_leases.c.host == host)).first()
    if row is None:  # released between the two statements: try again next round
        return "(just released)"
    if row.holder != holder and row.expires_at > now and not _gone(row.holder):
        return str(row.holder)
    taken = conn.execute(update(host_leases).where(host_leases.c.host == host, host_leases.c.holder == row.holder)
                         .values(holder=holder, expires_at=until).returning(host_leases.c.host)).first()
    return None if taken else str(row.holder)


def claim(engine: Engine, keys: Iterable[str], holder: str, ttl_s: float, wait_s: float,
          step_s: float = 0.5) -> tuple[set[str], dict[str, str]]:
    """Lease every key (a site, `host:port`) it can within `wait_s`: (held, {busy key: its holder})."""
    todo = sorted(set(keys))
    held: set[str] = set()
    busy: dict[str, str] = {}
    deadline = time.monotonic() + wait_s
    while True:
        busy = {}
        for host in todo:
            with write(engine) as conn:
                other = try_acquire(conn, host, holder, ttl_s)
            if other is None:
                held.add(host)
            else:
                busy[host] = other
        todo = sorted(busy)
        if not todo or time.monotonic() >= deadline:
            return held, busy
        time.sleep(step_s)


def release(engine: Engine, hosts: Iterable[str], holder: str) -> None:
    hosts = list(hosts)
    if hosts:
        with write(engine) as conn:
            conn.execute(delete(host_leases).where(host_leases.c.host.in_(hosts), host_leases.c.holder == holder))


def reserve_slot(conn: Connection, host: str, interval_s: float, now: datetime | None = None) -> datetime:
    """The instant this process may send its next request to `host`, and the slot after it taken.

    Every crawl process (collect batches, Airflow tasks on other machines) reserves through this
    one row per host, inside a write transaction (BEGIN IMMEDIATE on SQLite, a row lock on
    PostgreSQL), so together they stay under the API's rate however many of them run."""
    now = now or datetime.now(timezone.utc)
    insert_new(conn, host_pacing, [{"host": host, "next_at": now}], "host")
    current = conn.execute(select(host_pacing.c.next_at).where(host_pacing.c.host == host)
                           .with_for_update()).scalar_one()
    slot = max(now, current)
    conn.execute(update(host_pacing).where(host_pacing.c.host == host)
                 .values(next_at=slot + timedelta(seconds=interval_s)))
    return slot


def rest_host(conn: Connection, host: str, until: datetime) -> None:
    """No process sends to `host` before `until` (a 429 or Contracts Finder's 403)."""
    insert_new(conn, host_pacing, [{"host": host, "next_at": until}], "host")
    conn.execute(update(host_pacing).where(host_pacing.c.host == host, host_pacing.c.next_at < until)
                 .values(next_at=until))
