"""Fault injection for the processes the tests start (the CLI, crawl processes, extraction
workers, Airflow tasks), from outside the production code.

A test names a fault in the child's environment and puts this folder on the child's PYTHONPATH
(tests/faults/__init__.py does both); `sitecustomize.py` beside this file then calls `install()`
as the interpreter starts. Nothing is imported eagerly: a post-import hook patches each production
module at its seam as that module is first imported, so a child that never imports it is untouched
(a crawl process must still install its own reactor and fork its workers first).

SCRUTINEER_TEST_FAULT (one of):
- `before_data` / `after_smtp_250`: inside `pipelines.mailer.deliver`, the process is SIGKILLed
  just before the message goes to SMTP, or just after the server accepted it (250) and before the
  ledger says "sent";
- `mid_batch:N`: the digest batch is SIGKILLed before its N-th delivery (0-based);
- `disk_full`: every SQLite connection may not grow its file (PRAGMA max_page_count), as on a
  full disk, so any write needing a new page fails with SQLITE_FULL;
- `extract_worker_dies:TEXT`: the extraction worker given a URL containing TEXT exits at once, as
  a crash inside lxml would kill it.

SCRUTINEER_TEST_RESOLVER (one of `RESOLVERS`): the crawl resolves host names through that fake
instead of the system's, so no test ever asks real DNS (RELIABILITY.md "No real DNS").
"""
from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

FAULT_VAR = "SCRUTINEER_TEST_FAULT"
RESOLVER_VAR = "SCRUTINEER_TEST_RESOLVER"

Patch = Callable[[Any], None]  # a module, patched at attributes mypy cannot see


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


# -- mail: pipelines.mailer.deliver and the SMTP send inside it ------------------------------------
_delivering = threading.local()


def _patch_mailer(fault: str) -> Patch:
    def patch(mailer: Any) -> None:
        deliver = mailer.deliver
        calls = [0]

        @functools.wraps(deliver)
        def deliver_with_fault(*args: Any, **kwargs: Any) -> Any:
            n, calls[0] = calls[0], calls[0] + 1
            if fault == f"mid_batch:{n}":
                _die()
            _delivering.active = True
            try:
                return deliver(*args, **kwargs)
            finally:
                _delivering.active = False

        mailer.deliver = deliver_with_fault
        if fault in ("before_data", "after_smtp_250"):
            smtp_class = mailer.smtplib.SMTP
            send_message = smtp_class.send_message

            @functools.wraps(send_message)
            def send_with_fault(self: Any, *args: Any, **kwargs: Any) -> Any:
                armed = getattr(_delivering, "active", False)  # alerts send mail too: not a fault point
                if armed and fault == "before_data":
                    _die()
                result = send_message(self, *args, **kwargs)
                if armed and fault == "after_smtp_250":
                    _die()
                return result

            smtp_class.send_message = send_with_fault
    return patch


# -- storage: every SQLite engine's connections ----------------------------------------------------
def _patch_disk_full(db: Any) -> None:
    from sqlalchemy import event

    sqlite_engine = db._sqlite_engine

    def _full(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        pages = cur.execute("PRAGMA page_count").fetchone()[0]
        cur.execute(f"PRAGMA max_page_count = {max(int(pages), 1)}")
        cur.close()

    @functools.wraps(sqlite_engine)
    def full_disk_engine(url: str) -> Any:
        engine = sqlite_engine(url)
        event.listen(engine, "connect", _full)  # after the module's own pragmas
        return engine

    db._sqlite_engine = full_disk_engine


# -- crawl: the forked extraction worker ----------------------------------------------------------
def _patch_worker_dies(part: str) -> Patch:
    def patch(offload: Any) -> None:
        in_worker = offload._in_worker

        # wraps() keeps the qualified name, so the pool pickles this wrapper by that name and the
        # forked worker (which inherited this patched module) finds it again.
        @functools.wraps(in_worker)
        def dying_worker(url: str, *args: Any, **kwargs: Any) -> Any:
            if part in url:
                os._exit(70)
            return in_worker(url, *args, **kwargs)

        offload._in_worker = dying_worker
    return patch


# -- DNS: fake resolvers for the crawl process ----------------------------------------------------
def hosts_resolver(name: str) -> list[str]:
    """Map test host names per SCRUTINEER_TEST_HOSTS (JSON: name -> address list, or "hang" /
    "nxdomain"); `localhost` alone goes to the system resolver, unless the table names it."""
    table = json.loads(os.environ.get("SCRUTINEER_TEST_HOSTS", "{}"))
    name = name.lower().rstrip(".")
    try:
        return [str(ipaddress.ip_address(name))]  # a literal resolves to itself, as gethostbyname does
    except ValueError:
        pass
    if name == "localhost" and name not in table:
        return [socket.gethostbyname(name)]
    answer = table.get(name, "nxdomain")
    if answer == "hang":
        time.sleep(float(os.environ.get("SCRUTINEER_TEST_DNS_HANG_S", "60")))
        return []
    if answer == "nxdomain":
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return list(answer)


_script_calls: dict[str, int] = {}


def scripted_resolver(name: str) -> list[str]:
    """A rebinding DNS server: the n-th lookup of a name gets the n-th answer of its script in
    SCRUTINEER_T04_SCRIPT (the last repeats). Its answers have TTL 0, so Scrapy's DNS cache is
    switched off: every connection asks again, as after an eviction."""
    from scrapy.resolver import dnscache

    dnscache.limit = 0
    answers = json.loads(os.environ["SCRUTINEER_T04_SCRIPT"])[name.lower().rstrip(".")]
    n = _script_calls[name] = _script_calls.get(name, 0) + 1
    return list(answers[min(n, len(answers)) - 1])


RESOLVERS: dict[str, Callable[[str], list[str]]] = {"hosts": hosts_resolver, "scripted": scripted_resolver}


def _patch_resolver(resolver: Callable[[str], list[str]]) -> Patch:
    def patch(guard: Any) -> None:
        guard.system_lookup = resolver
    return patch


# -- which patches an environment asks for --------------------------------------------------------
def patches(environ: dict[str, str] | os._Environ[str]) -> dict[str, Patch]:
    """Module name -> its patch, for the faults named in `environ`; unknown names are an error, so
    a typo in a test fails loudly instead of silently testing nothing."""
    out: dict[str, Patch] = {}
    fault = environ.get(FAULT_VAR, "")
    if fault in ("before_data", "after_smtp_250") or fault.startswith("mid_batch:"):
        out["pipelines.mailer"] = _patch_mailer(fault)
    elif fault == "disk_full":
        out["storage.db"] = _patch_disk_full
    elif fault.startswith("extract_worker_dies:"):
        out["crawlers.offload"] = _patch_worker_dies(fault.split(":", 1)[1])
    elif fault:
        raise ValueError(f"{FAULT_VAR}={fault!r}: no such fault (see tests/faults/scrutineer_faults.py)")
    resolver = environ.get(RESOLVER_VAR, "")
    if resolver:
        if resolver not in RESOLVERS:
            raise ValueError(f"{RESOLVER_VAR}={resolver!r}: not one of {sorted(RESOLVERS)}")
        out["crawlers.guard"] = _patch_resolver(RESOLVERS[resolver])
    return out


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a watched module it takes the spec the other finders give and
    runs the patch right after the module's own code, before anyone else can use the module."""

    def __init__(self, todo: dict[str, Patch]) -> None:
        self.todo = todo

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        patch = self.todo.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader: Any = spec.loader
        exec_module = loader.exec_module

        def exec_then_patch(module: ModuleType) -> None:
            exec_module(module)
            patch(module)

        loader.exec_module = exec_then_patch  # this loader instance serves this one spec
        return spec


def install(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Arm the faults `environ` names in this process; nothing at all when it names none."""
    todo = patches(environ)
    if not todo:
        return
    for name in [n for n in todo if n in sys.modules]:
        todo.pop(name)(sys.modules[name])
    sys.meta_path.insert(0, _PatchAfterImport(todo))
