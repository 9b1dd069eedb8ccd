"""The console's ASGI app: routers per area, authentication on every route but three, security
headers, bounded request bodies, and a 503 page when the database is unavailable.

Open without a session: /healthz, /static/*, and /unsubscribe/TOKEN (RFC 8058 one-click; its GET
only shows a button). Everything else needs a session cookie (pages) or, under /api/v1, a bearer
token or a session.
"""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console import auth, unsubscribe
from console.web import STATIC, render
from core.settings import Settings
from storage.db import StorageError

log = logging.getLogger(__name__)

MAX_BODY = 2 * 1024 * 1024  # the largest form: a sources YAML upload
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'self'; form-action 'self'; "
       "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class Guard:
    """Pure ASGI middleware: security headers on every response, and request bodies bounded
    (a declared Content-Length over the limit is refused before reading; a chunked body is cut)."""

    def __init__(self, app: ASGIApp, public_https: bool) -> None:
        self.app = app
        self.public_https = public_https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            status = 400 if not declared.isdigit() else 413
            await PlainTextResponse("bad Content-Length" if status == 400 else "request body too large",
                                    status_code=status)(scope, receive, send)
            return
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY:
                    raise BodyTooLarge()
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [h for h in SECURITY_HEADERS if h[0] not in names]
                if b"content-security-policy" not in names:
                    extra.append((b"content-security-policy", CSP.encode()))
                if b"x-frame-options" not in names:
                    extra.append((b"x-frame-options", b"DENY"))
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                if self.public_https:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers + extra}
            await send(message)

        try:
            await self.app(scope, bounded_receive, send_with_headers)
        except BodyTooLarge:
            await PlainTextResponse("request body too large", status_code=413)(scope, receive, send_with_headers)


class BodyTooLarge(Exception):
    pass


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="Scrutineer console API", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings

    @app.exception_handler(auth.LoginRequired)
    async def _login_required(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "authentication required"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(auth.Forbidden)
    async def _forbidden(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        return render(request, "error.html", status=403, title="Not allowed", message=str(exc))

    async def _unavailable(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable: %s", str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        if _is_api(request):
            return JSONResponse({"detail": "database unavailable"}, status_code=503, headers={"Retry-After": "10"})
        request.state.user = None
        return render(request, "error.html", status=503, title="Temporarily unavailable",
                      message="The database is unavailable. Try again in a moment.")

    for exc_type in (StorageError, OperationalError, DBAPIError):
        app.add_exception_handler(exc_type, _unavailable)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        from sqlalchemy import text

        from storage.db import get_engine, read
        try:
            with read(get_engine(settings.db)) as conn:
                conn.execute(text("SELECT 1"))
        except (StorageError, DBAPIError):
            return PlainTextResponse("database unavailable", status_code=503)
        return PlainTextResponse("ok")

    from console import api, api_tender_searches, login
    from console.pages import account, articles, digests, sources, stories, subscribers, tenders, users
    from console.pages import tender_searches as saved_tender_searches
    app.include_router(login.router)
    app.include_router(unsubscribe.router)
    for module in (sources, articles, stories, tenders, saved_tender_searches, digests, subscribers, users, account):
        app.include_router(module.router)
    app.include_router(api.router)
    app.include_router(api_tender_searches.router)
    app.include_router(api.docs)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard, public_https=auth.cookie_secure(settings))
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080) -> Any:
    """The console app on a bound socket with uvicorn's bounds (header and body deadlines, body
    caps): `scrutineer web` and its `unsubscribe-server` alias both serve this."""
    from console.server import AppServer

    return AppServer(create_app(settings), host, port)
