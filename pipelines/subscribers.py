"""Digest recipients: who gets what. Addresses are checked with the email package's own parser,
so a CRLF or a second address can never reach a header (CVE-2024-6923)."""
from __future__ import annotations

import re
import secrets
from email.headerregistry import Address
from typing import Any

import yaml

from pipelines.errors import UserError
from pipelines.settings import Settings
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
    return email


def add(settings: Settings, email: str, profile: str = "analyst", topics: list[str] | None = None,
        name: str | None = None) -> None:
    email = check_email(email)
    profiles = load_profiles(settings)
    if profile not in profiles:
        raise UserError(f"unknown profile {profile!r} (known: {', '.join(sorted(profiles))})")
    if name is not None and any(c in name for c in "\r\n\x00"):
        raise UserError("subscriber name may not contain line breaks")
    with write(get_engine(settings.db)) as conn:
        people.save_subscriber(conn, email, name, profile, sorted(set(topics or [])), secrets.token_urlsafe(32))


def listing(settings: Settings) -> list[dict[str, Any]]:
    with read(get_engine(settings.db)) as conn:
        return people.list_subscribers(conn, active_only=False)


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
