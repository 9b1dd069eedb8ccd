"""The source registry as analysts see it: validate, import, add, pause, resume, remove, health.

Sources files are parsed with a SafeLoader that also refuses anchors and aliases: no sources file
needs them, and refusing them is the simplest bound on a YAML alias bomb.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from core import schedules
from core.settings import Settings
from pipelines.errors import UserError
from storage import sources as store
from storage.db import get_engine, read, write
from storage.redact import redact

KINDS = ("rss", "sitemap", "site", "ocds")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_FILE_BYTES = 5 * 1024 * 1024
FIELDS = ("name", "kind", "url", "schedule", "tags", "follow_links", "allow", "max_pages", "max_depth", "outlet",
          "rate", "status")
MAX_OUTLET = 120
#: `status:` in a file: the state a source starts in when first imported (a re-import keeps
#: whatever `sources pause/resume` made of it since).
FILE_STATUSES = ("active", "paused")
#: Options that only mean something for some kinds; `max_pages` of an ocds source is pages of
#: notices per pass, kept low because Find a Tender answers 429 after about 12 requests in 2 minutes.
KIND_OPTIONS = {"allow": ("site",), "max_depth": ("site",), "max_pages": ("site", "ocds")}
MAX_OCDS_PAGES = 50


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "anchors and aliases are not allowed in sources files",
                                              event.start_mark)
        return super().compose_node(parent, index)


@dataclass
class Invalid(Exception):
    entry: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"entry {self.entry}: field '{self.field}': {self.problem}"


def validate(raw: Any, label: str) -> dict[str, Any]:
    """A registry row from one YAML entry, or Invalid naming the entry and the field."""
    if not isinstance(raw, dict):
        raise Invalid(label, "(entry)", "must be a mapping")
    name = raw.get("name")
    if isinstance(name, str):
        label = f"{label} ('{name[:64]}')"
    unknown = sorted(set(map(str, raw)) - set(FIELDS))
    if unknown:
        raise Invalid(label, unknown[0], f"unknown field (known: {', '.join(FIELDS)})")
    if not isinstance(name, str) or not NAME.match(name):
        raise Invalid(label, "name", "required; lower-case letters, digits and '-', at most 63 characters")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise Invalid(label, "kind", f"must be one of {', '.join(KINDS)}")
    url = raw.get("url")
    if not isinstance(url, str) or not url.strip():
        raise Invalid(label, "url", "required")
    parts = urlsplit(url.strip())
    if "@" in parts.netloc:
        raise Invalid(label, "url", "a source URL never carries credentials (user:password@); remove them")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Invalid(label, "url", f"only http:// and https:// URLs are collected, got {redact(url[:80])!r}")
    if len(url) > 2083:
        raise Invalid(label, "url", "longer than 2083 characters")
    schedule = raw.get("schedule", schedules.DEFAULT)
    why = schedules.problem(schedule)
    if why:
        raise Invalid(label, "schedule", why)
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and len(t) <= 64 for t in tags):
        raise Invalid(label, "tags", "must be a list of short strings")
    options: dict[str, Any] = {}
    for opt, kinds in KIND_OPTIONS.items():
        if opt in raw and kind not in kinds:
            if opt in ("allow", "max_pages"):  # accepted (and unused) on every kind before `site`
                raw = {k: v for k, v in raw.items() if k != opt}  # existed: old files keep importing
                continue
            raise Invalid(label, opt, f"only for kind {' or '.join(kinds)}")
    if "max_depth" in raw:
        md = raw["max_depth"]
        if isinstance(md, bool) or not isinstance(md, int) or not 0 <= md <= 20:
            raise Invalid(label, "max_depth", "must be a whole number from 0 to 20")
        options["max_depth"] = md
    if kind == "ocds" and isinstance(raw.get("max_pages"), int) and raw["max_pages"] > MAX_OCDS_PAGES:
        raise Invalid(label, "max_pages", f"at most {MAX_OCDS_PAGES} pages per pass for an ocds source (rate limits)")
    if "follow_links" in raw:
        if not isinstance(raw["follow_links"], bool):
            raise Invalid(label, "follow_links", "must be true or false")
        options["follow_links"] = raw["follow_links"]
    if "allow" in raw:
        allow = raw["allow"]
        if not isinstance(allow, list) or not all(isinstance(a, str) and a.startswith("/") for a in allow):
            raise Invalid(label, "allow", "must be a list of URL path prefixes starting with '/'")
        options["allow"] = allow
    if "max_pages" in raw:
        mp = raw["max_pages"]
        if isinstance(mp, bool) or not isinstance(mp, int) or not 1 <= mp <= 100_000:
            raise Invalid(label, "max_pages", "must be a whole number from 1 to 100000")
        options["max_pages"] = mp
    outlet = raw.get("outlet")
    if outlet is not None:
        if not isinstance(outlet, str) or not " ".join(outlet.split()) or "\n" in outlet.strip() \
                or len(outlet) > MAX_OUTLET:
            raise Invalid(label, "outlet", f"must be the outlet's name on one line, at most {MAX_OUTLET} characters")
        outlet = " ".join(outlet.split())
    if "rate" in raw:
        from crawlers.politeness import parse_rate

        try:
            parse_rate(raw["rate"])
        except ValueError as exc:
            raise Invalid(label, "rate", str(exc)) from None
        options["rate"] = raw["rate"].strip()
    row = {"name": name, "kind": kind, "url": url.strip(), "schedule": schedule.strip(), "tags": tags,
           "options": options, "outlet": outlet}
    if "status" in raw:
        if raw["status"] not in FILE_STATUSES:
            raise Invalid(label, "status", f"must be one of {', '.join(FILE_STATUSES)}")
        row["status"] = raw["status"]
    return row


def load_file(path: Path) -> list[Any]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    if path.is_dir():
        raise UserError(f"cannot read {path}: it is a directory (give the YAML file inside it)")
    if size > MAX_FILE_BYTES:
        raise UserError(f"{path}: {size} bytes is larger than the {MAX_FILE_BYTES // 1024 // 1024} MiB limit")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - safe subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise UserError(f"{path}: not valid YAML: {where}{exc.problem or exc.context or 'syntax error'}") from exc
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    except RecursionError:
        raise UserError(f"{path}: not valid YAML: nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise UserError(f"{path}: expected a mapping with a 'sources' list")
    return data["sources"]


def import_file(settings: Settings, path: Path) -> tuple[dict[str, str], list[Invalid]]:
    """Valid entries land (idempotently), invalid ones are reported; duplicates names refused."""
    entries = load_file(path)
    rows, errors, seen = [], [], set()
    for i, raw in enumerate(entries, 1):
        try:
            row = validate(raw, f"#{i}")
        except Invalid as exc:
            errors.append(exc)
            continue
        if row["name"] in seen:
            errors.append(Invalid(f"#{i} ('{row['name']}')", "name", "duplicate name in this file"))
            continue
        seen.add(row["name"])
        rows.append(row)
    outcome = {}
    with write(get_engine(settings.db)) as conn:
        for row in rows:
            outcome[row["name"]] = store.save_source(conn, row)
    return outcome, errors


def add(settings: Settings, raw: dict[str, Any]) -> str:
    try:
        row = validate(raw, f"'{raw.get('name')}'")
    except Invalid as exc:
        raise UserError(str(exc)) from exc
    with write(get_engine(settings.db)) as conn:
        return store.save_source(conn, row)


def set_status(settings: Settings, name: str, status: str) -> None:
    with write(get_engine(settings.db)) as conn:
        if not store.set_status(conn, name, status):
            raise UserError(f"no source named {name!r}")


def get(settings: Settings, name: str) -> dict[str, Any]:
    with read(get_engine(settings.db)) as conn:
        row = store.get_source(conn, name)
    if row is None or row["status"] == "removed":
        raise UserError(f"no source named {name!r}")
    return row


def listing(settings: Settings) -> list[dict[str, Any]]:
    """Registry rows joined with health, as `sources list` shows them."""
    from core.source_state import NORMAL_DAYS, error_is_current, reason, resting_until, states, warning_is_current

    now = datetime.now(timezone.utc)
    with read(get_engine(settings.db)) as conn:
        rows = store.list_sources(conn)
        health = store.health(conn, now)
        log = store.fetches_between(conn, now - timedelta(days=NORMAL_DAYS + 1), now)
    verdicts = states(rows, health, log, now)  # the health report's and the digest's verdict too
    out = []
    for r in rows:
        h = health.get(r["name"], {})
        kind, why = verdicts[r["name"]]
        alarm = (kind, why) if kind in ("failing", "silent", "low_volume") else None
        # An error or warning later overtaken by a success is history, not the source's message.
        current_error, current_warning = error_is_current(r, h), warning_is_current(h)
        out.append({
            "name": r["name"], "kind": r["kind"], "url": redact(r["url"]), "schedule": r["schedule"],
            "status": r["status"], "tags": r["tags"], "state": kind, "message": why or None,
            "reason": reason(h.get("last_error_message")) if kind == "failing" else None,
            "last_success": h.get("last_success"), "last_error": h.get("last_error"),
            "last_error_message": h.get("last_error_message") if current_error else None,
            "last_warning_message": h.get("last_warning_message") if current_warning else None,
            "items_7d": h.get("items_7d", 0),
            "alarm": alarm[0] if alarm else None, "alarm_message": alarm[1] if alarm else None,
            "next_poll_at": r.get("next_poll_at"),
            # The name readers see: the file's `outlet:`, else the one learnt from the pages/feed.
            "outlet": r.get("outlet") or r.get("outlet_learned"), "outlet_learned": r.get("outlet_learned"),
            "resting_until": resting_until(r, now),
        })
    return out
