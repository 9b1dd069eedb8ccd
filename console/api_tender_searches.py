"""Saved tender searches in the JSON API (/api/v1/tender-searches): the same roles, token or
session auth and validation (pipelines.tender_searches) as the console's pages.

Filters use the Tenders page's names, so a search's `filters` can be sent back as the query of
/api/v1/tenders. PUT replaces a search (an omitted filter is cleared); PATCH changes only the
fields sent (null clears a filter)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from console import auth
from console.api import _json
from console.web import settings_of
from pipelines import tender_searches
from pipelines.tender_searches import InvalidSearch

router = APIRouter(prefix="/api/v1/tender-searches", dependencies=[Depends(auth.api_user)],
                   tags=["tender searches"])
analyst = [Depends(auth.require("analyst"))]


class TenderSearchIn(BaseModel):
    """A saved search: its name and the Tenders page's filters (all optional; none means every notice)."""

    name: str | None = Field(None, max_length=1000, description="unique, one line, at most 200 characters")
    buyer: str | None = Field(None, max_length=1000, description="case-insensitive part of the buyer's name")
    cpv: str | None = Field(None, max_length=100, description="a CPV code or its first digits")
    min: float | str | None = Field(None, description="lowest value (0 or more)")
    max: float | str | None = Field(None, description="highest value, not below min")
    stage: str | None = Field(None, max_length=100, description="planning, tender, award or contract")
    closing_from: str | None = Field(None, max_length=100, description="first closing day, YYYY-MM-DD")
    closing_to: str | None = Field(None, max_length=100,
                                   description="last closing day, YYYY-MM-DD, not before closing_from")


def _out(search: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in search.items() if k != "params"}


def _missing() -> JSONResponse:
    return JSONResponse({"detail": "no such saved search"}, status_code=404)


def _invalid(exc: InvalidSearch) -> JSONResponse:
    return JSONResponse({"detail": exc.errors}, status_code=400)


@router.get("", summary="List saved tender searches")
def list_searches(request: Request) -> Any:
    """Every saved search with `matching` (notices it finds now) and `new` (of those, first stored
    in the last 7 days)."""
    return [_out(s) for s in tender_searches.listing(settings_of(request))]


@router.get("/{search_id}", summary="One saved tender search with its matching notices")
def get_search(request: Request, search_id: int, limit: int = Query(200, ge=1, le=500)) -> Any:
    """The search, its counts, and `notices`: the Tenders page's rows for its filters, newest first."""
    settings = settings_of(request)
    found = tender_searches.get(settings, search_id)
    if found is None:
        return _missing()
    notices = tender_searches.matches(settings, found, limit=limit)
    return {**_out(found), "notices": _json(notices)}


@router.post("", dependencies=analyst, status_code=201, summary="Save a tender search (analyst)")
def create_search(request: Request, body: TenderSearchIn) -> Any:
    try:
        saved = tender_searches.create(settings_of(request), body.name, body.model_dump(exclude={"name"}),
                                       request.state.user.email)
    except InvalidSearch as exc:
        return _invalid(exc)
    return _out(saved)


@router.put("/{search_id}", dependencies=analyst, summary="Replace a saved tender search (analyst)")
def replace_search(request: Request, search_id: int, body: TenderSearchIn) -> Any:
    try:
        saved = tender_searches.update(settings_of(request), search_id, body.name, body.model_dump(exclude={"name"}))
    except InvalidSearch as exc:
        return _invalid(exc)
    return _missing() if saved is None else _out(saved)


@router.patch("/{search_id}", dependencies=analyst, summary="Change or rename a saved tender search (analyst)")
def change_search(request: Request, search_id: int, body: TenderSearchIn) -> Any:
    settings = settings_of(request)
    found = tender_searches.get(settings, search_id)
    if found is None:
        return _missing()
    sent = body.model_dump(include=body.model_fields_set)
    name = sent.pop("name", found["name"])
    try:
        saved = tender_searches.update(settings, search_id, name, {**found["filters"], **sent})
    except InvalidSearch as exc:
        return _invalid(exc)
    return _missing() if saved is None else _out(saved)


@router.delete("/{search_id}", dependencies=analyst, summary="Delete a saved tender search (analyst)")
def delete_search(request: Request, search_id: int) -> Any:
    if not tender_searches.delete(settings_of(request), search_id):
        return _missing()
    return {"id": search_id, "deleted": True}
