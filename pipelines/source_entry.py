"""One entry of a sources file as a typed record: the pydantic model behind `sources import`,
`sources add`, `sources test URL` and the console's forms.

The messages are the ones analysts have always seen ("entry #3 ('x'): field 'url': required"),
one per refused entry: pydantic collects every error, and `validate` reports the one the old
hand-written validator met first (the order of RANK), so a file with two mistakes in one entry
names the same one as before.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from core import schedules
from storage.redact import redact

KINDS = ("rss", "sitemap", "site", "ocds")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
FIELDS = ("name", "kind", "url", "schedule", "tags", "follow_links", "allow", "max_pages", "max_depth", "outlet",
          "rate", "status")
MAX_OUTLET = 120
MAX_URL = 2083
#: `status:` in a file: the state a source starts in when first imported (a re-import keeps
#: whatever `sources pause/resume` made of it since).
FILE_STATUSES = ("active", "paused")
#: Options that only mean something for some kinds; `max_pages` of an ocds source is pages of
#: notices per pass, kept low because Find a Tender answers 429 after about 12 requests in 2 minutes.
KIND_OPTIONS = {"allow": ("site",), "max_depth": ("site",), "max_pages": ("site", "ocds")}
MAX_OCDS_PAGES = 50

#: The message for any error of a field that names no problem of its own (a wrong type, missing).
PROBLEMS = {
    "name": "required; lower-case letters, digits and '-', at most 63 characters",
    "kind": f"must be one of {', '.join(KINDS)}",
    "url": "required",
    "tags": "must be a list of short strings",
    "max_depth": "must be a whole number from 0 to 20",
    "max_pages": "must be a whole number from 1 to 100000",
    "follow_links": "must be true or false",
    "allow": "must be a list of URL path prefixes starting with '/'",
    "outlet": f"must be the outlet's name on one line, at most {MAX_OUTLET} characters",
    "status": f"must be one of {', '.join(FILE_STATUSES)}",
}
#: Which error is reported when an entry has several: the order the rules were always checked in.
RANK = ("(entry)", "name", "kind", "url", "schedule", "tags", "max_depth:misplaced", "max_depth",
        "max_pages:ocds_limit", "follow_links", "allow", "max_pages", "outlet", "rate", "status")


@dataclass
class Invalid(Exception):
    entry: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"entry {self.entry}: field '{self.field}': {self.problem}"


def _refuse(problem: str, kind: str = "value", field: str | None = None) -> PydanticCustomError:
    """An error carrying our own wording (in ctx, so braces in a URL are not a format string)."""
    return PydanticCustomError(kind, "{problem}", {"problem": problem, "field": field})


class SourceEntry(BaseModel):
    """A valid entry; `row()` is what the registry stores."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    kind: Literal["rss", "sitemap", "site", "ocds"]
    url: str
    schedule: str = schedules.DEFAULT
    tags: list[Annotated[str, Field(max_length=64)]] = []
    max_depth: Annotated[int, Field(ge=0, le=20)] | None = None
    max_pages: Annotated[int, Field(ge=1, le=100_000)] | None = None
    follow_links: bool | None = None
    allow: list[str] | None = None
    outlet: str | None = None
    rate: str | None = None
    status: Literal["active", "paused"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        """A mapping with known fields only; `allow`/`max_pages` on kinds that ignore them are
        dropped, not refused: they were accepted (and unused) on every kind before `site` existed."""
        if not isinstance(data, dict):
            raise _refuse("must be a mapping", "entry", "(entry)")
        unknown = sorted(set(map(str, data)) - set(FIELDS))
        if unknown:
            raise _refuse(f"unknown field (known: {', '.join(FIELDS)})", "unknown", unknown[0])
        kind = data.get("kind")
        if kind in KINDS:
            data = {k: v for k, v in data.items() if k not in ("allow", "max_pages") or kind in KIND_OPTIONS[k]}
        return data

    @field_validator("max_depth", "max_pages", "follow_links", "allow", "rate", "status", mode="before")
    @classmethod
    def _given_means_set(cls, value: Any, info: ValidationInfo) -> Any:
        """An option written in the file must hold a value (`max_depth:` alone is a mistake)."""
        field, kind = info.field_name or "", info.data.get("kind")
        if field == "max_depth" and kind is not None and kind not in KIND_OPTIONS["max_depth"]:
            raise _refuse(f"only for kind {' or '.join(KIND_OPTIONS['max_depth'])}", "misplaced")
        if field == "max_pages" and kind == "ocds" and isinstance(value, int) and value > MAX_OCDS_PAGES:
            raise _refuse(f"at most {MAX_OCDS_PAGES} pages per pass for an ocds source (rate limits)", "ocds_limit")
        if value is None and field != "rate":  # a rate of None is parse_rate's to word
            raise _refuse(PROBLEMS[field])
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise _refuse(PROBLEMS["name"])
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        url = value.strip()
        if not url:
            raise _refuse("required")
        parts = urlsplit(url)
        if "@" in parts.netloc:
            raise _refuse("a source URL never carries credentials (user:password@); remove them")
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise _refuse(f"only http:// and https:// URLs are collected, got {redact(value[:80])!r}")
        if len(value) > MAX_URL:
            raise _refuse(f"longer than {MAX_URL} characters")
        return url

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> str:
        why = schedules.problem(value)  # the poller's own test: nothing imports that collect cannot run
        if why:
            raise _refuse(why)
        return str(value).strip()

    @field_validator("allow")
    @classmethod
    def _allow(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not all(a.startswith("/") for a in value):
            raise _refuse(PROBLEMS["allow"])
        return value

    @field_validator("outlet", mode="before")
    @classmethod
    def _outlet(cls, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not " ".join(value.split()) or "\n" in value.strip() \
                or len(value) > MAX_OUTLET:
            raise _refuse(PROBLEMS["outlet"])
        return " ".join(value.split())

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> str:
        from crawlers.politeness import parse_rate

        try:
            parse_rate(value)
        except ValueError as exc:
            raise _refuse(str(exc)) from None
        return str(value).strip()

    def row(self) -> dict[str, Any]:
        """The registry row: kind options gathered under `options`, `status` only when written."""
        options = {key: getattr(self, key) for key in ("max_depth", "follow_links", "allow", "max_pages", "rate")
                   if key in self.model_fields_set}
        row: dict[str, Any] = {"name": self.name, "kind": self.kind, "url": self.url, "schedule": self.schedule,
                               "tags": list(self.tags), "options": options, "outlet": self.outlet}
        if "status" in self.model_fields_set:
            row["status"] = self.status
        return row


def _first(exc: ValidationError) -> tuple[str, str]:
    """(field, problem) of the error the old validator would have met first."""
    found = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        field = ctx.get("field") or (str(err["loc"][0]) if err["loc"] else "(entry)")
        problem = ctx.get("problem") or PROBLEMS.get(field, err["msg"])
        if err["type"] == "unknown":
            rank = -1
        else:
            key = f"{field}:{err['type']}"
            rank = RANK.index(key) if key in RANK else RANK.index(field) if field in RANK else len(RANK)
        found.append((rank, field, problem))
    _, field, problem = min(found, key=lambda f: f[0])
    return field, problem


def validate(raw: Any, label: str) -> dict[str, Any]:
    """A registry row from one YAML entry, or Invalid naming the entry and the field."""
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        label = f"{label} ('{raw['name'][:64]}')"
    try:
        entry = SourceEntry.model_validate(raw)
    except ValidationError as exc:
        raise Invalid(label, *_first(exc)) from None
    return entry.row()
