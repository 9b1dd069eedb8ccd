"""The JSON API under /api/v1: the pages' reads and writes for scripts and integrations.

Authenticated by `Authorization: Bearer <token>` (`scrutineer users token EMAIL`) or by a
session cookie; a write made with the cookie needs the X-CSRF-Token header. Roles as on the pages.
The OpenAPI document is /api/v1/openapi.json; /api/docs lists it as a plain page (no script).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from console import auth
from console.pages.articles import parse_filters
from console.web import render, settings_of
from pipelines import sources as registry
from pipelines import subscribers
from pipelines.errors import UserError
from pipelines.tender_searches import parse_filters as parse_tender_filters
from storage import console as reads
from storage import search as store
from storage.db import get_engine, read

router = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.api_user)], tags=["v1"])
analyst = [Depends(auth.require("analyst"))]


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items() if k != "raw_html_gz"}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _bad(errors: dict[str, str]) -> JSONResponse:
    return JSONResponse({"detail": errors}, status_code=400)


@router.get("/me")
def me(request: Request) -> dict[str, Any]:
    user: auth.User = request.state.user
    return {"email": user.email, "role": user.role}


@router.get("/articles")
def articles(request: Request, q: str = "", limit: int = 50, offset: int = 0) -> Any:
    """Search: q uses words, "phrases", AND, OR, NOT; filters week, tag, source (outlet), relevance, tone, language."""
    filters, errors = parse_filters(settings_of(request), request.query_params)
    if errors:
        return _bad(errors)
    with read(get_engine(settings_of(request).db)) as conn:
        try:
            rows = store.search(conn, q[:500], filters, limit=max(1, min(limit, 500)), offset=max(0, offset))
        except store.QueryError as exc:
            return _bad({"q": str(exc)})
    return _json(rows)


@router.get("/articles/{article_id}")
def article(request: Request, article_id: str) -> Any:
    with read(get_engine(settings_of(request).db)) as conn:
        art = store.article_detail(conn, article_id[:40])
    if art is None:
        return JSONResponse({"detail": "no such article"}, status_code=404)
    return _json(art)


@router.get("/sources")
def sources(request: Request) -> Any:
    return _json(registry.listing(settings_of(request)))


class SourceIn(BaseModel):
    name: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    url: str = Field(max_length=2083)
    schedule: str = Field("@hourly", max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=50)


@router.post("/sources", dependencies=analyst)
def add_source(request: Request, body: SourceIn) -> Any:
    try:
        outcome = registry.add(settings_of(request), body.model_dump())
    except UserError as exc:
        return _bad({"source": str(exc)})
    return {"name": body.name, "outcome": outcome}


@router.post("/sources/{name}/{action}", dependencies=analyst)
def source_status(request: Request, name: str, action: str) -> Any:
    status = {"pause": "paused", "resume": "active", "remove": "removed"}.get(action)
    if status is None:
        return JSONResponse({"detail": "action is pause, resume or remove"}, status_code=404)
    try:
        registry.set_status(settings_of(request), name, status)
    except UserError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=404)
    return {"name": name, "status": status}


@router.get("/tenders")
def tenders(request: Request) -> Any:
    """Notices filtered by buyer, cpv (prefix), min, max, stage, closing_from, closing_to (as on the Tenders page)."""
    filters, errors = parse_tender_filters(request.query_params)
    if errors:
        return _bad(errors)
    with read(get_engine(settings_of(request).db)) as conn:
        return _json(reads.console_filter_notices(conn, **filters.query()))


@router.get("/subscribers", dependencies=analyst)
def list_subscribers(request: Request) -> Any:
    return _json([{k: v for k, v in s.items() if k != "token"} for s in subscribers.listing(settings_of(request))])


class SubscriberIn(BaseModel):
    email: str = Field(max_length=320)
    profile: str = Field("analyst", max_length=32)
    topics: list[str] = Field(default_factory=list, max_length=50)
    name: str | None = Field(None, max_length=200)


@router.post("/subscribers", dependencies=analyst)
def save_subscriber(request: Request, body: SubscriberIn) -> Any:
    try:
        subscribers.add(settings_of(request), body.email, body.profile, body.topics, body.name)
    except UserError as exc:
        return _bad({"subscriber": str(exc)})
    return {"email": body.email, "status": "active"}


@router.post("/subscribers/remove", dependencies=analyst)
def remove_subscriber(request: Request, body: SubscriberIn) -> Any:
    return {"email": body.email, "removed": subscribers.remove(settings_of(request), body.email)}


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> Any:
    return request.app.openapi()


docs = APIRouter(dependencies=[Depends(auth.page_user)], include_in_schema=False)


@docs.get("/api/docs")
def api_docs(request: Request) -> Response:
    """The OpenAPI document as a plain page: no JavaScript bundle, nothing fetched from elsewhere."""
    spec = request.app.openapi()
    ops = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            ops.append({"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                        "description": op.get("description", "")})
    return render(request, "api_docs.html", ops=ops)
