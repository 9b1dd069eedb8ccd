"""The source registry as analysts see it: validate, import, add, pause, resume, remove, health.

Sources files are parsed with a SafeLoader that also refuses anchors and aliases: no sources file
needs them, and refusing them is the simplest bound on a YAML alias bomb.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings
from pipelines.errors import UserError
from pipelines.source_entry import Invalid, validate
from storage import sources as store
from storage.db import get_engine, read, write
from storage.redact import redact

MAX_FILE_BYTES = 5 * 1024 * 1024


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "anchors and aliases are not allowed in sources files",
                                              event.start_mark)
        return super().compose_node(parent, index)


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
