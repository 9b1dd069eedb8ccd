"""Subscribers: add, change profile/topics, remove, through pipelines.subscribers (validated)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from console import auth
from console.web import redirect, render, settings_of
from pipelines import subscribers
from pipelines.errors import UserError

router = APIRouter(prefix="/subscribers", dependencies=[Depends(auth.page_user)], include_in_schema=False)
analyst = [Depends(auth.require("analyst"))]


def _page(request: Request, status: int = 200, form: dict[str, str] | None = None,
          errors: dict[str, str] | None = None) -> Response:
    settings = settings_of(request)
    rows = [s for s in subscribers.listing(settings) if s["status"] != "removed"]
    return render(request, "subscribers.html", status=status, rows=rows, form=form or {}, errors=errors or {},
                  profiles=sorted(subscribers.load_profiles(settings)))


@router.get("")
def index(request: Request) -> Response:
    return _page(request)


@router.post("/save", dependencies=analyst)
def save(request: Request, email: str = Form("", max_length=400), profile: str = Form("analyst"),
         topics: str = Form("", max_length=2000), name: str = Form("", max_length=200)) -> Response:
    settings = settings_of(request)
    form = {"email": email, "profile": profile, "topics": topics, "name": name}
    errors: dict[str, str] = {}
    try:
        subscribers.check_email(email)
    except UserError as exc:
        errors["email"] = str(exc)
    if profile not in subscribers.load_profiles(settings):
        errors["profile"] = "unknown profile"
    topic_list = [t.strip() for t in topics.split(",") if t.strip()]
    from pipelines.taxonomy import load
    known = load(settings.taxonomy, settings.gazetteer).tags
    unknown = [t for t in topic_list if t not in known]
    if unknown:
        errors["topics"] = f"unknown tag: {unknown[0][:60]}"
    if any(c in name for c in "\r\n\x00"):
        errors["name"] = "one line of text"
    if errors:
        return _page(request, 400, form, errors)
    subscribers.add(settings, email, profile, topic_list, name.strip() or None)
    return redirect("/subscribers")


@router.post("/remove", dependencies=analyst)
def remove(request: Request, email: str = Form("", max_length=400)) -> Response:
    subscribers.remove(settings_of(request), email)
    return redirect("/subscribers")
