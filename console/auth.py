"""Accounts, sessions, CSRF, roles and the login rate limit.

Sessions are server-side rows (storage/users.py): the cookie carries 256 random bits, the
database only their sha256, so every uvicorn worker shares them and logout takes effect at once.
A new session id is issued at every login (no fixation). Each session has its own CSRF token,
required on every state-changing request made with the cookie; bearer-token API calls carry no
cookie and need none. Failed logins are rows too: the 11th within a minute for one account or one
client address is refused before the password is even checked.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from core.settings import Settings
from pipelines.errors import UserError
from storage import users as store
from storage.db import get_engine, read, write

COOKIE = "scrutineer_session"
LOGIN_CSRF_COOKIE = "scrutineer_login_csrf"
SESSION_TTL = timedelta(hours=12)
RATE_WINDOW = timedelta(minutes=1)
MAX_FAILURES = 10  # per window, per account and per address: the next one is refused
RANK = {"viewer": 0, "analyst": 1, "admin": 2}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MIN_PASSWORD = 10

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password, only spends the same time")


@dataclass(frozen=True)
class User:
    email: str
    role: str
    csrf: str = ""  # empty for token-authenticated calls (no cookie, no CSRF)
    via_token: bool = False

    def can(self, role: str) -> bool:
        return RANK.get(self.role, -1) >= RANK[role]


class LoginRequired(Exception):
    """No valid session: pages redirect to /login, the API answers 401."""


class Forbidden(Exception):
    """Authenticated but not allowed (role), or a state-changing request without its CSRF token."""


class TooManyAttempts(Exception):
    pass


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password too short (at least {MIN_PASSWORD} characters)")
    return _hasher.hash(password)


# -- library functions the CLI calls -------------------------------------------------------------
def add_user(settings: Settings, email: str, role: str, password: str) -> str:
    from pipelines.subscribers import check_email

    if role not in store.ROLES:
        raise UserError(f"unknown role {role!r} (known: {', '.join(store.ROLES)})")
    email = check_email(email).lower()
    hashed = hash_password(password)
    with write(get_engine(settings.db)) as conn:
        return store.save_user(conn, email, hashed, role)


def list_users(settings: Settings) -> list[dict[str, Any]]:
    with read(get_engine(settings.db)) as conn:
        return store.list_users(conn)


def remove_user(settings: Settings, email: str) -> bool:
    with write(get_engine(settings.db)) as conn:
        return store.remove_user(conn, email.strip().lower())


def new_token(settings: Settings, email: str) -> str:
    """A new API token for the user; only its hash is kept, so it is shown once."""
    token = "scr_" + secrets.token_urlsafe(32)
    with write(get_engine(settings.db)) as conn:
        if store.get_user(conn, email.strip().lower()) is None:
            raise UserError(f"no user {email!r}")
        store.add_token(conn, digest(token), email.strip().lower())
    return token


# -- login / logout ------------------------------------------------------------------------------
def login(settings: Settings, email: str, password: str, address: str) -> tuple[str, str]:
    """Check the password (rate-limited); returns (cookie value, csrf) of a brand-new session."""
    email = email.strip().lower()[:320]
    engine = get_engine(settings.db)
    with read(engine) as conn:
        per_account, per_address = store.recent_failures(conn, email, address, RATE_WINDOW)
        user = store.get_user(conn, email) if email else None
    if per_account >= MAX_FAILURES or per_address >= MAX_FAILURES:
        raise TooManyAttempts()
    ok = False
    try:
        ok = _hasher.verify(user["password_hash"] if user else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        with write(engine) as conn:  # committed before refusing
            store.record_failure(conn, email or "-", address)
            store.purge_expired(conn)
        raise UserError("wrong email or password")
    with write(engine) as conn:
        if user is not None and _hasher.check_needs_rehash(user["password_hash"]):
            store.set_password_hash(conn, email, _hasher.hash(password))
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        store.create_session(conn, digest(sid), email, csrf, SESSION_TTL)
        store.purge_expired(conn)
    return sid, csrf


def logout(settings: Settings, sid: str) -> None:
    with write(get_engine(settings.db)) as conn:
        store.delete_session(conn, digest(sid))


def change_password(settings: Settings, email: str, old: str, new: str) -> None:
    engine = get_engine(settings.db)
    with read(engine) as conn:
        user = store.get_user(conn, email)
    try:
        _hasher.verify(user["password_hash"] if user else _DUMMY_HASH, old)
    except (VerificationError, InvalidHashError) as exc:
        raise UserError("current password is wrong") from exc
    hashed = hash_password(new)
    with write(engine) as conn:
        store.set_password_hash(conn, email, hashed)
        store.delete_sessions_of(conn, email)  # every other device is logged out too


# -- request side ---------------------------------------------------------------------------------
def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _lookup_session(settings: Settings, sid: str) -> dict[str, Any] | None:
    with read(get_engine(settings.db)) as conn:
        return store.session_user(conn, digest(sid))


def _lookup_token(settings: Settings, token: str) -> dict[str, Any] | None:
    with read(get_engine(settings.db)) as conn:
        return store.token_user(conn, digest(token))


async def authenticate(request: Request, allow_token: bool) -> User:
    """The request's user, by bearer token (API only) or session cookie; raises LoginRequired.
    A state-changing request with the cookie must carry the session's CSRF token."""
    settings = _settings(request)
    auth = request.headers.get("authorization", "")
    if allow_token and auth[:7].lower() == "bearer ":
        row = await run_in_threadpool(_lookup_token, settings, auth[7:].strip())
        if row is None:
            raise LoginRequired()
        user = User(row["email"], row["role"], via_token=True)
    else:
        sid = request.cookies.get(COOKIE, "")
        row = await run_in_threadpool(_lookup_session, settings, sid) if sid else None
        if row is None:
            raise LoginRequired()
        user = User(row["email"], row["role"], csrf=row["csrf"])
        if request.method not in SAFE_METHODS:
            await check_csrf(request, user.csrf)
    request.state.user = user
    return user


async def check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")


async def page_user(request: Request) -> User:
    return await authenticate(request, allow_token=False)


async def api_user(request: Request) -> User:
    return await authenticate(request, allow_token=True)


def require(role: str) -> Any:
    """A dependency: the authenticated user must hold `role` or better."""
    async def check(request: Request) -> User:
        user: User = request.state.user
        if not user.can(role):
            raise Forbidden(f"this needs the {role} role")
        return user

    return check


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


def cookie_secure(settings: Settings) -> bool:
    return settings.public_url.lower().startswith("https://")
