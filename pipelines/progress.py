"""What a long command shows while it runs, and how crawl processes tell their parent.

Crawl processes write one JSON object per line to a pipe their parent opened for them (the file
descriptor is in SCRUTINEER_PROGRESS_FD): `fetched` per response, `stored` per stored batch,
`done` per source with its outcome. A line is one small `os.write`, well under PIPE_BUF, so lines
from one process never interleave and cost microseconds next to a page's extraction.

The parent shows them through a Reporter: in a terminal a live view (rich) with sources done of
total, pages fetched and stored, errors, elapsed time and an ETA, and a line per source as it
finishes; elsewhere plain lines, one per finished source, then the summary. Verbosity: 0 (`-q`)
prints the summary and failures only, 1 the default, 2 (`-v`) every page as well.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from types import SimpleNamespace
from typing import IO, Any

from core.events import ENV_FD, emit, read_events  # noqa: F401  (re-exported for the CLI)
from storage.redact import redact


def result_line(r: Any) -> str:
    """The line for one finished source (the same words `collect` always printed)."""
    if getattr(r, "kind", "") == "ocds":
        line = f"{r.source}: {r.status}, {r.new} new notices, {r.known} known"
    else:
        line = f"{r.source}: {r.status}, {r.new} new, {r.known} known, {r.updated} updated"
    message = redact(r.message)  # a crawl process's own words: never a password
    return line + (f" ({message[:160]})" if message and r.status != "ok" else "")


class Reporter:
    """Plain lines: one per finished source, for logs, pipes and cron mail."""

    def __init__(self, total: int = 0, verbosity: int = 1, out: IO[str] | None = None,
                 err: IO[str] | None = None) -> None:
        self.total = total
        self.verbosity = verbosity
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.done = 0
        self.fetched = 0
        self.stored = 0
        self.errors = 0
        self.finished: set[str] = set()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop any live display (plain lines need nothing)."""

    def set_total(self, total: int) -> None:
        self.total = total

    def event(self, ev: dict[str, Any]) -> None:
        """A line from a crawl process (any thread)."""
        with self.lock:
            kind = ev.get("ev")
            if kind == "fetched":
                self.fetched += 1
                if self.verbosity >= 2:
                    url = redact(ev.get('url'))
                    self._say(f"  fetched {url} ({ev.get('source')}, HTTP {ev.get('status')})", self.err)
            elif kind == "stored":
                self.stored += int(ev.get("n", 0))
                if self.verbosity >= 2:
                    self._say(f"  stored {ev.get('n')} articles ({ev.get('source')})", self.err)
            elif kind == "done":  # a source of a batch finished: its line now, not when the batch ends
                self._finish(SimpleNamespace(source=ev.get("source"), status=ev.get("status"),
                                             new=int(ev.get("new") or 0), known=int(ev.get("known") or 0),
                                             updated=int(ev.get("updated") or 0), message=ev.get("message"),
                                             kind=ev.get("kind") or ""))
            self._refresh()

    def source_done(self, result: Any) -> None:
        """A source's final outcome (the parent's view, after the crawl process reported)."""
        with self.lock:
            self._finish(result)
            self._refresh()

    def _finish(self, result: Any) -> None:
        if result.source in self.finished:
            return
        self.finished.add(result.source)
        self.done += 1
        failed = result.status == "error"
        self.errors += failed
        if self.verbosity >= 1:
            self._say(result_line(result), self.out)
        elif failed:
            self._say(result_line(result), self.err)

    def step(self, text: str) -> None:
        """A stage of a non-crawl command finished (process: dedupe, enrich, stories)."""
        with self.lock:
            self.done += 1
            if self.verbosity >= 2:
                self._say(text, self.err)
            self._refresh()

    def note(self, text: str) -> None:
        """A line worth showing unless quiet (a stage finished, the run was interrupted)."""
        with self.lock:
            if self.verbosity >= 1:
                self._say(text, self.err)

    def summary(self, text: str) -> None:
        self.close()
        self.out.write(text + "\n")
        self.out.flush()

    def _say(self, text: str, stream: IO[str]) -> None:
        stream.write(text + "\n")
        stream.flush()

    def _refresh(self) -> None:
        pass


class LiveReporter(Reporter):
    """A live view in a terminal: a bar of sources with pages, errors, elapsed and ETA under it."""

    def __init__(self, total: int = 0, verbosity: int = 1, title: str = "collecting", unit: str = "sources",
                 out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        super().__init__(total, verbosity, out, err)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(file=self.out)
        self.view = Progress(TextColumn(f"[bold]{title}[/] {unit}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[pages]}"), TimeElapsedColumn(), TextColumn("ETA"),
                             TimeRemainingColumn(), console=self.console, transient=True,
                             refresh_per_second=4)
        self.task = self.view.add_task(title, total=total or None, pages=self._pages())
        self.view.start()
        self.closed = False

    def set_total(self, total: int) -> None:
        super().set_total(total)
        self.view.update(self.task, total=total or None)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.view.stop()

    def _pages(self) -> str:
        return f"{self.fetched} pages fetched, {self.stored} stored, {self.errors} errors"

    def _say(self, text: str, stream: IO[str]) -> None:
        if stream is self.out and not self.closed:
            self.console.print(text, markup=False, highlight=False)
        else:
            super()._say(text, stream)

    def _refresh(self) -> None:
        if not self.closed:
            self.view.update(self.task, completed=self.done, pages=self._pages())


def reporter(verbosity: int = 1, total: int = 0, title: str = "collecting", unit: str = "sources") -> Reporter:
    """The live view when stdout is a terminal (and not quiet), else plain lines."""
    if verbosity >= 1 and sys.stdout.isatty() and os.environ.get("TERM") != "dumb":
        try:
            return LiveReporter(total, verbosity, title, unit)
        except ImportError:  # rich missing: plain lines still say everything
            pass
    return Reporter(total, verbosity)
