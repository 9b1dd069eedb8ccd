"""How crawl processes tell their parent what happened: one JSON object per line on a pipe.

The parent opens the pipe and names its file descriptor in SCRUTINEER_PROGRESS_FD; a line is one
small `os.write`, well under PIPE_BUF, so lines from one process never interleave. The lowest layer
holds it because both sides (crawlers writing, pipelines reading) speak it.
"""
from __future__ import annotations

import json
import os
from typing import Any

ENV_FD = "SCRUTINEER_PROGRESS_FD"

_fd: int | None = None
_fd_checked = False


def emit(event: str, **fields: Any) -> None:
    """Tell the parent (when there is one listening) that something happened; never raises."""
    global _fd, _fd_checked
    if not _fd_checked:
        _fd_checked = True
        value = os.environ.get(ENV_FD, "")
        _fd = int(value) if value.isdigit() else None
    if _fd is None:
        return
    try:
        os.write(_fd, (json.dumps({"ev": event, **fields}, default=str) + "\n").encode("utf-8"))
    except OSError:  # the parent went away: progress is a courtesy, the crawl goes on
        _fd = None


def read_events(fd: int, on_event: Any) -> None:
    """Read a child's event lines until it closes the pipe, handing each to on_event (a thread)."""
    with os.fdopen(fd, "rb") as pipe:
        for raw in pipe:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                on_event(event)
