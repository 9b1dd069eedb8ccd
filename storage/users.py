"""Console accounts: users, server-side sessions, API tokens and failed-login records.

Only hashes of secrets are stored (argon2 for passwords, sha256 for the random session and API
tokens: those carry 256 bits, so a fast hash is enough). Everything lives in the database so several
uvicorn workers share sessions and rate limits.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from storage.schema import api_tokens, login_attempts, sessions, users
from storage.upsert import upsert

ROLES = ("viewer", "analyst", "admin")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def save_user(conn: Connection, email: str, password_hash: str, role: str) -> str:
    """Add or update (password and role); returns "added" or "updated". Updating ends the user's sessions."""
    existing = conn.execute(select(users.c.email).where(users.c.email == email)).first()
    upsert(conn, users, [{"email": email, "password_hash": password_hash, "role": role, "created_at": _now()}],
           ["email"], update=["password_hash", "role"])
    if existing:
        conn.execute(delete(sessions).where(sessions.c.user_email == email))
        return "updated"
    return "added"


def get_user(conn: Connection, email: str) -> dict[str, Any] | None:
    row = conn.execute(select(users).where(users.c.email == email)).first()
    return dict(row._mapping) if row else None


def list_users(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(users.c.email, users.c.role, users.c.created_at)
                                                   .order_by(users.c.email))]


def remove_user(conn: Connection, email: str) -> bool:
    """Removes the user with their sessions and tokens (explicitly: SQLite foreign keys may be off)."""
    conn.execute(delete(sessions).where(sessions.c.user_email == email))
    conn.execute(delete(api_tokens).where(api_tokens.c.user_email == email))
    return conn.execute(delete(users).where(users.c.email == email)).rowcount > 0


def set_password_hash(conn: Connection, email: str, password_hash: str) -> None:
    conn.execute(update(users).where(users.c.email == email).values(password_hash=password_hash))


# -- sessions ------------------------------------------------------------------------------------
def create_session(conn: Connection, id_hash: str, email: str, csrf: str, ttl: timedelta) -> None:
    now = _now()
    conn.execute(sessions.insert().values(id_hash=id_hash, user_email=email, csrf=csrf, created_at=now,
                                          expires_at=now + ttl))


def session_user(conn: Connection, id_hash: str) -> dict[str, Any] | None:
    """The live session's user (email, role) and its CSRF token; None when unknown or expired."""
    row = conn.execute(select(users.c.email, users.c.role, sessions.c.csrf)
                       .join(users, users.c.email == sessions.c.user_email)
                       .where(sessions.c.id_hash == id_hash, sessions.c.expires_at > _now())).first()
    return dict(row._mapping) if row else None


def delete_session(conn: Connection, id_hash: str) -> None:
    conn.execute(delete(sessions).where(sessions.c.id_hash == id_hash))


def delete_sessions_of(conn: Connection, email: str) -> None:
    conn.execute(delete(sessions).where(sessions.c.user_email == email))


def purge_expired(conn: Connection, keep_attempts: timedelta = timedelta(hours=1)) -> None:
    now = _now()
    conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
    conn.execute(delete(login_attempts).where(login_attempts.c.at < now - keep_attempts))


# -- API tokens ----------------------------------------------------------------------------------
def add_token(conn: Connection, token_hash: str, email: str) -> None:
    conn.execute(api_tokens.insert().values(token_hash=token_hash, user_email=email, created_at=_now()))


def token_user(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    row = conn.execute(select(users.c.email, users.c.role)
                       .join(users, users.c.email == api_tokens.c.user_email)
                       .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None))).first()
    return dict(row._mapping) if row else None


def revoke_tokens(conn: Connection, email: str) -> int:
    return conn.execute(update(api_tokens).where(api_tokens.c.user_email == email,
                                                 api_tokens.c.revoked_at.is_(None))
                        .values(revoked_at=_now())).rowcount


# -- failed logins -------------------------------------------------------------------------------
def record_failure(conn: Connection, account: str, address: str) -> None:
    conn.execute(login_attempts.insert().values(account=account[:320], address=address[:64], at=_now()))


def recent_failures(conn: Connection, account: str, address: str, window: timedelta) -> tuple[int, int]:
    """Failed logins within `window`: (for this account, from this address)."""
    since = _now() - window
    per_account = conn.execute(select(func.count()).select_from(login_attempts)
                               .where(login_attempts.c.account == account[:320], login_attempts.c.at >= since))
    per_address = conn.execute(select(func.count()).select_from(login_attempts)
                               .where(login_attempts.c.address == address[:64], login_attempts.c.at >= since))
    return int(per_account.scalar() or 0), int(per_address.scalar() or 0)
