"""Digest recipients: who gets what. Addresses are checked with the email package's own parser,
so a CRLF or a second address can never reach a header (CVE-2024-6923)."""
from __future__ import annotations

import difflib
import re
import secrets
from email.headerregistry import Address
from typing import Any

import yaml

from core.settings import Settings
from pipelines.errors import UserError
from storage import people
from storage.db import get_engine, read, write

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def load_profiles(settings: Settings) -> dict[str, dict[str, Any]]:
    with open(settings.profiles, encoding="utf-8") as fh:
        return dict(yaml.safe_load(fh)["profiles"])


def check_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise UserError(f"not a valid email address: {email[:80]!r}")
    try:
        Address(addr_spec=email)
    except (ValueError, IndexError) as exc:
        raise UserError(f"not a valid email address: {email[:80]!r}") from exc
    return email.lower()


def check_topics(settings: Settings, topics: list[str]) -> list[str]:
    """Every topic must be a taxonomy slug: a misspelt one would match nothing, every week, silently."""
    from pipelines.taxonomy import load

    known = sorted(load(settings.taxonomy, settings.gazetteer).tags)
    out = []
    for raw in topics:
        topic = raw.strip().lower()
        if topic not in known:
            close = difflib.get_close_matches(topic, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else " (see pipelines/taxonomy.yaml for the slugs)"
            raise UserError(f"unknown topic {raw[:60]!r}{hint}")
        out.append(topic)
    return sorted(set(out))


def add(settings: Settings, email: str, profile: str = "analyst", topics: list[str] | None = None,
        name: str | None = None) -> None:
    email = check_email(email)
    profiles = load_profiles(settings)
    if profile not in profiles:
        raise UserError(f"unknown profile {profile!r} (known: {', '.join(sorted(profiles))})")
    if name is not None and any(c in name for c in "\r\n\x00"):
        raise UserError("subscriber name may not contain line breaks")
    chosen = check_topics(settings, topics or [])
    with write(get_engine(settings.db)) as conn:
        people.save_subscriber(conn, email, name, profile, chosen, secrets.token_urlsafe(32))


def listing(settings: Settings) -> list[dict[str, Any]]:
    """Each subscriber with `profile_topics`: the topics their profile selects when they chose none."""
    profiles = load_profiles(settings)
    with read(get_engine(settings.db)) as conn:
        rows = people.list_subscribers(conn, active_only=False)
    return [{**r, "profile_topics": list((profiles.get(r["profile"]) or {}).get("topics") or [])} for r in rows]


def remove(settings: Settings, email: str) -> bool:
    """Idempotent: removing an unknown or removed subscriber is not an error."""
    with write(get_engine(settings.db)) as conn:
        return people.set_subscriber_status(conn, email=email.strip(), status="removed") is not None


def unsubscribe(settings: Settings, token: str) -> str | None:
    """None for an unknown token, found by a read first: a stream of forged tokens never queues
    for the write lock (REDTEAM R14)."""
    if not token or len(token) < 32:
        return None
    engine = get_engine(settings.db)
    with read(engine) as conn:
        if people.subscriber_by_token(conn, token) is None:
            return None
    with write(engine) as conn:
        return people.set_subscriber_status(conn, token=token, status="unsubscribed")
