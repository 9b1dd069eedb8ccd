"""Shared page plumbing: the Jinja2 environment, rendering with the user and CSRF token, redirects."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from core.resources import package_file
from core.settings import Settings

#: Templates and stylesheet ship in the `console` package, installed or checked out alike.
TEMPLATES = package_file("console", "templates")
STATIC = package_file("console", "static")


def _when(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) if value else "-"


def _safe_url(url: Any) -> str | None:
    """Only http(s) URLs become links; anything else (javascript:, data:) is shown as text."""
    text = str(url or "")
    return text if text.lower().startswith(("http://", "https://")) else None


env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)
env.filters["when"] = _when
env.filters["safe_url"] = _safe_url
env.filters["q"] = lambda v: quote(str(v), safe="")


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    user = getattr(request.state, "user", None)
    html = env.get_template(template).render(request=request, user=user, csrf=user.csrf if user else "",
                                         path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def svg_markup(svg: str) -> Markup:
    """Server-built SVG (numbers and escaped labels only) placed inline."""
    return Markup(svg)
