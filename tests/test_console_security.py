"""The console's safety rows against a real uvicorn server on loopback with a real HTTP client:
T35 (every route needs a session or token), T36 (CSRF), T38 (sessions and passwords), T39 (roles),
T41 (hostile HTTP at the unsubscribe endpoint), and the 503 page when the database is gone."""
from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from console import auth
from console.app import create_app
from console.server import AppServer
from core.settings import Settings
from pipelines import subscribers
from storage.db import get_engine, read
from storage.schema import sessions, sources, users

PASSWORD = "correct horse battery"
OPEN = {("GET", "/healthz"), ("GET", "/login"), ("POST", "/login"), ("GET", "/unsubscribe/{token}"),
        ("POST", "/unsubscribe/{token}")}


def _serve(url: str) -> Iterator[tuple[Settings, str]]:
    settings = Settings(db=url, public_url="http://127.0.0.1")  # plain http: no Secure flag
    for role in ("viewer", "analyst", "admin"):
        auth.add_user(settings, f"{role}@example.org", role, PASSWORD)
    httpd = AppServer(create_app(settings)).start()
    try:
        yield settings, httpd.url
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture()
def console(sqlite_url: str) -> Iterator[tuple[Settings, str]]:
    yield from _serve(sqlite_url)


@pytest.fixture()
def console_any(db_url: str) -> Iterator[tuple[Settings, str]]:
    """SQLite and PostgreSQL: sessions and failed-login rows shared through the database."""
    yield from _serve(db_url)


def login(base: str, email: str, password: str = PASSWORD, address_client: httpx.Client | None = None) -> httpx.Client:
    client = address_client or httpx.Client(base_url=base, timeout=20)
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"email": email, "password": password, "csrf": token, "next": "/articles"})
    return client


def csrf_of(client: httpx.Client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/account").text).group(1)  # type: ignore[union-attr]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x" * 40, path)


def _routes(settings: Settings) -> list[tuple[str, str]]:
    app = create_app(settings)
    out = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or []):
            if method != "HEAD":
                out.append((method, route.path))
    return out


def test_t35_every_route_needs_a_session_or_token(console: tuple[Settings, str]) -> None:
    settings, base = console
    routes = _routes(settings)
    assert len(routes) > 30 and ("GET", "/api/v1/articles") in routes
    analyst = login(base, "analyst@example.org")
    expired = login(base, "viewer@example.org")
    with get_engine(settings.db).begin() as conn:
        conn.execute(sessions.update().where(sessions.c.user_email == "viewer@example.org")
                     .values(expires_at=sessions.c.created_at))
    revoked = auth.new_token(settings, "admin@example.org")
    from storage.users import revoke_tokens
    with get_engine(settings.db).begin() as conn:
        revoke_tokens(conn, "admin@example.org")
    checked = 0
    for method, path in routes:
        if (method, path) in OPEN:
            continue
        url = _concrete(path)
        for who, client_kw in (("anonymous", {}), ("expired", {"cookies": expired.cookies}),
                               ("revoked token", {"headers": {"Authorization": f"Bearer {revoked}"}})):
            with httpx.Client(base_url=base, timeout=20, **client_kw) as client:
                resp = client.request(method, url, data={"csrf": "x"} if method == "POST" else None)
            if path.startswith("/api/"):
                assert resp.status_code == 401, (who, method, path, resp.status_code)
            else:
                assert resp.status_code == 303 and resp.headers["location"].startswith("/login"), \
                    (who, method, path, resp.status_code)
            checked += 1
    assert checked >= 90
    # The open ones: health, static, unsubscribe; and a session does open the pages.
    with httpx.Client(base_url=base, timeout=20) as anon:
        assert anon.get("/healthz").status_code == 200
        assert anon.get("/static/console.css").status_code == 200
    assert analyst.get("/articles").status_code == 200
    assert analyst.get("/api/v1/me").json()["role"] == "analyst"


def test_t36_csrf(console: tuple[Settings, str]) -> None:
    settings, base = console
    a = login(base, "analyst@example.org")
    b = login(base, "admin@example.org")
    form = {"name": "csrf-probe", "kind": "rss", "url": "https://news.example/feed.xml", "schedule": "@hourly"}
    assert a.post("/sources/add", data=form).status_code == 403  # no token
    assert a.post("/sources/add", data={**form, "csrf": csrf_of(b)}).status_code == 403  # another session's
    assert a.post("/api/v1/sources", json={"name": "csrf-probe", "kind": "rss",
                                           "url": "https://news.example/feed.xml"}).status_code == 403
    assert a.get("/sources/add").status_code in (404, 405)  # a GET never changes state
    assert a.get("/sources/csrf-probe/remove").status_code in (404, 405)
    with read(get_engine(settings.db)) as conn:
        assert conn.execute(select(func.count()).select_from(sources)).scalar() == 0
    # With the session's own token, the same API write goes through; a token call needs none.
    ok = a.post("/api/v1/sources", headers={"X-CSRF-Token": csrf_of(a)},
                json={"name": "csrf-probe", "kind": "rss", "url": "https://news.example/feed.xml"})
    assert ok.status_code == 200, ok.text
    token = auth.new_token(settings, "analyst@example.org")
    with httpx.Client(base_url=base, timeout=20) as bot:
        r = bot.post("/api/v1/sources/csrf-probe/pause", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["status"] == "paused"


def test_t38_sessions_and_passwords(console: tuple[Settings, str]) -> None:
    settings, base = console
    with read(get_engine(settings.db)) as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.email == "viewer@example.org")).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    client = httpx.Client(base_url=base, timeout=20)
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    client.cookies.set(auth.COOKIE, "planted-by-an-attacker")
    resp = client.post("/login", data={"email": "viewer@example.org", "password": PASSWORD, "csrf": token})
    assert resp.status_code == 303
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("SameSite=Lax", "SameSite=lax")
    assert "Secure" not in cookie  # served over http here
    sid = resp.cookies[auth.COOKIE]
    assert sid != "planted-by-an-attacker" and len(sid) >= 40  # rotated: a fresh id at login
    client.cookies.set(auth.COOKIE, sid)
    assert client.get("/articles").status_code == 200
    second = login(base, "viewer@example.org")
    assert second.cookies[auth.COOKIE] != sid
    assert client.post("/logout", data={"csrf": csrf_of(client)}).status_code == 303
    stale = httpx.Client(base_url=base, timeout=20, cookies={auth.COOKIE: sid})
    assert stale.get("/articles").status_code == 303  # invalidated server-side, not only the cookie
    # Password change ends every session of the user.
    r = second.post("/account/password", data={"csrf": csrf_of(second), "current": PASSWORD,
                                               "new": "another long passphrase"})
    assert r.status_code == 303, r.text
    assert second.get("/articles").status_code == 303
    assert login(base, "viewer@example.org", "another long passphrase").get("/articles").status_code == 200


def test_t38_secure_cookie_behind_https(sqlite_url: str) -> None:
    settings = Settings(db=sqlite_url, public_url="https://console.example")
    auth.add_user(settings, "a@example.org", "viewer", PASSWORD)
    httpd = AppServer(create_app(settings)).start()
    try:
        client = httpx.Client(base_url=httpd.url, timeout=20)
        page = client.get("/login")
        assert "Secure" in page.headers["set-cookie"]  # even the login form's token cookie
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.cookies.set(auth.LOGIN_CSRF_COOKIE, token)  # httpx, unlike a browser, keeps Secure cookies off http
        resp = client.post("/login", data={"email": "a@example.org", "password": PASSWORD, "csrf": token})
        assert resp.status_code == 303 and "Secure" in resp.headers["set-cookie"]
        assert resp.headers["strict-transport-security"].startswith("max-age=")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_t38_eleventh_failed_login_in_a_minute_is_refused(console_any: tuple[Settings, str]) -> None:
    _, base = console_any
    client = httpx.Client(base_url=base, timeout=20)

    def attempt(email: str, password: str) -> int:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
        return client.post("/login", data={"email": email, "password": password, "csrf": token}).status_code

    assert [attempt("admin@example.org", f"wrong {i}") for i in range(10)] == [401] * 10
    assert attempt("admin@example.org", PASSWORD) == 429  # refused, even with the right password
    # Another worker process (a second server on the same database) refuses it too.
    other = AppServer(create_app(console_any[0])).start()
    try:
        with httpx.Client(base_url=other.url, timeout=20) as c2:
            page = c2.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            r = c2.post("/login", data={"email": "admin@example.org", "password": PASSWORD, "csrf": token})
            assert r.status_code == 429
    finally:
        other.shutdown()
        other.server_close()
    # Per address too: the same client trying another account is refused as well.
    assert attempt("viewer@example.org", PASSWORD) == 429
    # A login without the form's own token is refused outright.
    assert client.post("/login", data={"email": "viewer@example.org", "password": PASSWORD}).status_code == 403


def test_t39_roles(console: tuple[Settings, str]) -> None:
    settings, base = console
    viewer, analyst, admin = (login(base, f"{r}@example.org") for r in ("viewer", "analyst", "admin"))
    writes: list[tuple[str, dict[str, Any]]] = [
        ("/sources/add", {"name": "role-probe", "kind": "rss", "url": "https://news.example/f.xml"}),
        ("/sources/role-probe/pause", {}), ("/sources/role-probe/remove", {}),
        ("/sources/role-probe/edit", {"schedule": "@daily", "outlet": "X"}),
        ("/subscribers/save", {"email": "probe@example.org", "profile": "analyst"}),
        ("/subscribers/remove", {"email": "probe@example.org"}),
        ("/users/save", {"email": "new@example.org", "role": "admin", "password": "a long enough password"}),
        ("/users/remove", {"email": "analyst@example.org"}),
    ]
    for path, form in writes:
        assert viewer.post(path, data={**form, "csrf": csrf_of(viewer)}).status_code == 403, path
    for path, form in writes[-2:]:
        assert analyst.post(path, data={**form, "csrf": csrf_of(analyst)}).status_code == 403, path
    assert viewer.post("/api/v1/subscribers", headers={"X-CSRF-Token": csrf_of(viewer)},
                       json={"email": "probe@example.org"}).status_code == 403
    assert analyst.get("/users").status_code == 403
    with read(get_engine(settings.db)) as conn:
        assert conn.execute(select(func.count()).select_from(sources)).scalar() == 0
        assert sorted(r[0] for r in conn.execute(select(users.c.email))) == [
            "admin@example.org", "analyst@example.org", "viewer@example.org"]
    assert subscribers.listing(settings) == []
    # What each role may do, it can.
    r = analyst.post("/subscribers/save", data={"email": "probe@example.org", "profile": "analyst",
                                                "csrf": csrf_of(analyst)})
    assert r.status_code == 303 and subscribers.listing(settings)[0]["email"] == "probe@example.org"
    r = admin.post("/users/save", data={"email": "new@example.org", "role": "viewer",
                                        "password": "a long enough password", "csrf": csrf_of(admin)})
    assert r.status_code == 303 and "new@example.org" in admin.get("/users").text


def test_invalid_forms_rerender_with_the_error_and_store_nothing(console: tuple[Settings, str]) -> None:
    settings, base = console
    analyst = login(base, "analyst@example.org")
    r = analyst.post("/sources/add", data={"name": "Bad Name!", "kind": "rss", "url": "https://a.example/",
                                           "csrf": csrf_of(analyst)})
    assert r.status_code == 400 and 'class="field-error"' in r.text and "Bad Name!" in r.text
    r = analyst.post("/sources/add", data={"name": "ok-name", "kind": "rss", "url": "javascript:alert(1)",
                                           "csrf": csrf_of(analyst)})
    assert r.status_code == 400 and "only http:// and https://" in r.text
    r = analyst.post("/subscribers/save", data={"email": "not an address", "profile": "analyst",
                                                "csrf": csrf_of(analyst)})
    assert r.status_code == 400 and "not a valid email address" in r.text
    with read(get_engine(settings.db)) as conn:
        assert conn.execute(select(func.count()).select_from(sources)).scalar() == 0
    assert subscribers.listing(settings) == []
    assert analyst.get("/articles", params={"q": "NOT police"}).status_code == 400


def test_security_headers(console: tuple[Settings, str]) -> None:
    _, base = console
    viewer = login(base, "viewer@example.org")
    for path in ("/articles", "/login", "/healthz"):
        h = viewer.get(path).headers
        assert "script-src" not in h["content-security-policy"] and "default-src 'none'" in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"


def test_database_unavailable_gives_503_not_a_traceback(tmp_path: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(db=f"postgresql+psycopg://nobody@127.0.0.1:{port}/gone?connect_timeout=2")
    httpd = AppServer(create_app(settings)).start()
    try:
        with httpx.Client(base_url=httpd.url, timeout=30, cookies={auth.COOKIE: "x" * 43}) as client:
            page = client.get("/articles")
            assert page.status_code == 503 and "Traceback" not in page.text and "unavailable" in page.text
            assert client.get("/api/v1/articles").status_code == 503
            assert client.get("/healthz").status_code == 503
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- T41: hostile HTTP at the unsubscribe endpoint --------------------------------------------------
def _raw(base: str, payload: bytes, timeout: float = 15) -> bytes:
    host, port = base.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(payload)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0


def test_t41_hostile_http_at_the_unsubscribe_endpoint(console: tuple[Settings, str]) -> None:
    settings, base = console
    subscribers.add(settings, "reader@example.org", "analyst")
    token = subscribers.listing(settings)[0]["token"]
    path = f"/unsubscribe/{token}".encode()

    def post(length: bytes, body: bytes = b"") -> int:
        return _status(_raw(base, b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: "
                            b"application/x-www-form-urlencoded\r\nContent-Length: " + length +
                            b"\r\nConnection: close\r\n\r\n" + body))

    for bad in (b"-1", b"abc", b"1e9", b"0x10"):
        assert post(bad, b"List-Unsubscribe=One-Click") == 400, bad
    assert post(b"999999999999") in (400, 413)
    # A body longer than the cap is refused without reading it all (the server answers, then closes).
    assert post(b"100000", b"List-Unsubscribe=One-Click" + b"&x=" + b"a" * 20000) == 413
    assert subscribers.listing(settings)[0]["status"] == "active"
    # Idle and slow-header sockets are closed by the header deadline, and a normal request is
    # answered while 200 of them are open.
    host, port = base.rsplit("/", 1)[1].split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(200)]
    slow = socket.create_connection((host, int(port)))
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get("/healthz").status_code == 200
            # RFC 8058 one-click as multipart/form-data.
            r = client.post(f"/unsubscribe/{token}", files={"List-Unsubscribe": (None, "One-Click")})
            assert r.status_code == 200, r.text
        assert subscribers.listing(settings)[0]["status"] == "unsubscribed"
        idle[0].settimeout(30)
        started = time.monotonic()
        assert idle[0].recv(10) == b""  # closed by the server
        slow.settimeout(30)
        assert slow.recv(10) == b""
        assert time.monotonic() - started < 30
    finally:
        for s in idle + [slow]:
            s.close()


def test_r14_unknown_token_takes_no_write_lock(console: tuple[Settings, str]) -> None:
    settings, base = console
    engine = get_engine(settings.db)
    with engine.begin():  # BEGIN IMMEDIATE: another writer holds the lock throughout
        with httpx.Client(base_url=base, timeout=10) as client:
            r = client.post("/unsubscribe/" + "A" * 43, content=b"List-Unsubscribe=One-Click",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 404  # answered from a read (a write would wait out the busy timeout)
