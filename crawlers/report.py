"""A pass's report: what one crawl of one source found, kept by its spider as the pass goes.

The item pipeline (crawlers/pipelines.py) turns it into the source's fetch-log line when the crawl
closes, and saves from it what the next pass needs (validators, cursor, Retry-After), so an analyst
sees one line per pass saying what happened, including why a page or feed was refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Validators:
    """What a feed or sitemap answered, for the next pass's conditional GET (saved after a good pass)."""

    etag: str | None
    last_modified: str | None
    body_hash: str


@dataclass
class PassReport:
    status: str = "ok"  #: ok | warning | error: the worst thing that happened
    http_status: int | None = None  #: the entry page's (feed, sitemap, first API page) status
    errors: list[str] = field(default_factory=list)  #: why the pass failed
    warnings: list[str] = field(default_factory=list)  #: what went wrong without failing it
    note: str | None = None  #: what the pass did, shown when nothing went wrong ("not modified (304)")
    requests: int = 0  #: responses the spider read
    bytes: int = 0  #: their body bytes
    validators: Validators | None = None  #: ETag/Last-Modified/body hash of the entry page
    known_skipped: int = 0  #: items listed but not fetched, being stored already
    retry_after_until: datetime | None = None  #: the host asked for no requests before then
    cursor: str | None = None  #: where the next pass resumes (paged sources); None: from the top
    paged: bool = False  #: the spider set `cursor` this pass, so it is saved (None clears it)
    cap: str | None = None  #: why a paged pass stopped before the end of the chain
    waited: int = 0  #: Retry-Afters waited out inside the pass

    def fail(self, message: str) -> None:
        self.status = "error"
        self.errors.append(message)

    def warn(self, message: str) -> None:
        if self.status == "ok":
            self.status = "warning"
        self.warnings.append(message)

    def resume_at(self, url: str | None) -> None:
        """The next pass starts at `url` (None: from the source URL)."""
        self.cursor, self.paged = url, True

    def messages(self) -> list[str]:
        """The fetch-log message's parts: errors and warnings, else the note."""
        out = self.errors + self.warnings
        return out or ([self.note] if self.note else [])
