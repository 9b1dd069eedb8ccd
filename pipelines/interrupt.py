"""Ctrl-C for commands that run crawl processes: the first SIGINT or SIGTERM asks, the second insists.

The first signal only sets a flag: collect stops starting crawls, tells each running crawl process
to stop (it stores the whole articles it already extracted, logs the source as interrupted and
exits), kills any that has not gone within STOP_GRACE_S, prints the summary so far, and the
command exits 130. The second signal kills every crawl process group and exits 130 at once.
Crawl processes run in their own sessions (collect.py), so a terminal's Ctrl-C reaches only us
and every stop goes through here.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

#: How long a crawl process may take to stop after being asked, before it is killed.
STOP_GRACE_S = 2.0

_requested = threading.Event()
_children: set[int] = set()
_lock = threading.Lock()


def requested() -> bool:
    return _requested.is_set()


def request() -> None:
    _requested.set()


def register(pid: int) -> None:
    with _lock:
        _children.add(pid)


def unregister(pid: int) -> None:
    with _lock:
        _children.discard(pid)


def _handler(signum: int, frame: Any) -> None:
    if not _requested.is_set():
        _requested.set()
        return
    with _lock:
        pids = list(_children)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    os._exit(130)


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Install the two-step handler for SIGINT and SIGTERM (main thread only) for the block;
    the request is forgotten after it, so a long-lived caller's next pass runs in full."""
    _requested.clear()
    if threading.current_thread() is not threading.main_thread():
        try:
            yield
        finally:
            _requested.clear()
        return
    old = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        _requested.clear()
