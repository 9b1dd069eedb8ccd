"""Login and logout. The login form has its own CSRF token (a cookie it must echo), since there
is no session yet; a successful login always issues a new session id."""
from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from console import auth
from console.web import redirect, render, settings_of
from pipelines.errors import UserError

router = APIRouter(include_in_schema=False)


def _next(target: str | None) -> str:
    """Only a local path: never an open redirect to another site."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/articles"


def _login_page(request: Request, error: str | None = None, status: int = 200, email: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    request.state.user = None
    response = render(request, "login.html", status=status, error=error, email=email, login_csrf=token,
                      next=_next(request.query_params.get("next")))
    response.set_cookie(auth.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", path="/login",
                        secure=auth.cookie_secure(settings_of(request)))
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login_submit(request: Request, email: str = Form("", max_length=320),
                       password: str = Form("", max_length=1024), csrf: str = Form(""),
                       next: str = Form("")) -> Response:  # noqa: A002
    expected = request.cookies.get(auth.LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf, expected):
        raise auth.Forbidden("the login form expired; reload the page and try again")
    settings = settings_of(request)
    try:
        sid, _csrf = await run_in_threadpool(auth.login, settings, email, password, auth.client_address(request))
    except auth.TooManyAttempts:
        return _login_page(request, "Too many failed logins; wait a minute and try again.", 429, email)
    except UserError as exc:
        return _login_page(request, str(exc), 401, email)
    old = request.cookies.get(auth.COOKIE)
    if old:
        await run_in_threadpool(auth.logout, settings, old)
    response = redirect(_next(next))
    response.set_cookie(auth.COOKIE, sid, httponly=True, samesite="lax", path="/",
                        secure=auth.cookie_secure(settings), max_age=int(auth.SESSION_TTL.total_seconds()))
    response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[Depends(auth.page_user)])
async def logout(request: Request) -> Response:
    await run_in_threadpool(auth.logout, settings_of(request), request.cookies.get(auth.COOKIE, ""))
    response = redirect("/login")
    response.delete_cookie(auth.COOKIE, path="/")
    return response


@router.get("/", dependencies=[Depends(auth.page_user)])
def home() -> Response:
    return redirect("/articles")
