"""Saved tender searches: everyone opens one (its filters applied, with its counts); analysts
save, edit, rename and delete them. Invalid input re-renders the Tenders page with the error beside
the field and nothing stored (pipelines.tender_searches checks everything)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console import auth
from console.pages.tenders import page
from console.web import redirect, render, settings_of
from pipelines import tender_searches
from pipelines.tender_searches import FIELDS, InvalidSearch

router = APIRouter(prefix="/tenders/searches", dependencies=[Depends(auth.page_user)], include_in_schema=False)
analyst = [Depends(auth.require("analyst"))]


def _id(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None


def _missing(request: Request) -> Response:
    return render(request, "error.html", status=404, title="No such saved search",
                  message="That saved search does not exist (it may have been deleted).")


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() for k in ("name", *FIELDS) if isinstance(v := form.get(k), str)}


@router.get("")
def index(request: Request) -> Response:
    """Every saved search with its counts (the Tenders page lists them without: counting costs a pass)."""
    return render(request, "tender_searches.html", searches=tender_searches.listing(settings_of(request)))


@router.get("/{search_id}")
def show(request: Request, search_id: str) -> Response:
    found = tender_searches.get(settings_of(request), _id(search_id) or 0)
    if found is None:
        return _missing(request)
    return page(request, found["params"], search=found)


@router.post("", dependencies=analyst)
async def create(request: Request) -> Response:
    form = await _form(request)
    filters = {k: v for k, v in form.items() if k in FIELDS}
    try:
        saved = tender_searches.create(settings_of(request), form.get("name", ""), filters, request.state.user.email)
    except InvalidSearch as exc:
        return page(request, filters, errors=exc.errors, save={"name": form.get("name", "")}, status=400)
    return redirect(f"/tenders/searches/{saved['id']}")


@router.post("/{search_id}/edit", dependencies=analyst)
async def edit(request: Request, search_id: str) -> Response:
    settings = settings_of(request)
    found = tender_searches.get(settings, _id(search_id) or 0)
    if found is None:
        return _missing(request)
    form = await _form(request)
    filters = {k: v for k, v in form.items() if k in FIELDS}
    try:
        saved = tender_searches.update(settings, found["id"], form.get("name", ""), filters)
    except InvalidSearch as exc:
        return page(request, found["params"], search=found, edit={**filters, "name": form.get("name", "")},
                    edit_errors=exc.errors, status=400)
    if saved is None:  # deleted meanwhile
        return _missing(request)
    return redirect(f"/tenders/searches/{saved['id']}")


@router.post("/{search_id}/delete", dependencies=analyst)
def delete(request: Request, search_id: str) -> Response:
    tender_searches.delete(settings_of(request), _id(search_id) or 0)
    return redirect("/tenders")
