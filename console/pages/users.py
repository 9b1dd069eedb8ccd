"""Users (admins only): list, add or change role and password, remove."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from console import auth
from console.web import redirect, render, settings_of
from pipelines.errors import UserError
from storage.users import ROLES

router = APIRouter(prefix="/users", dependencies=[Depends(auth.page_user), Depends(auth.require("admin"))],
                   include_in_schema=False)


def _page(request: Request, status: int = 200, form: dict[str, str] | None = None,
          errors: dict[str, str] | None = None) -> Response:
    return render(request, "users.html", status=status, rows=auth.list_users(settings_of(request)), roles=ROLES,
                  form=form or {}, errors=errors or {})


@router.get("")
def index(request: Request) -> Response:
    return _page(request)


@router.post("/save")
def save(request: Request, email: str = Form("", max_length=400), role: str = Form("viewer"),
         password: str = Form("", max_length=1024)) -> Response:
    form = {"email": email, "role": role}
    try:
        auth.add_user(settings_of(request), email, role, password)
    except UserError as exc:
        text = str(exc)
        field = "password" if "password" in text else "role" if "role" in text else "email"
        return _page(request, 400, form, {field: text})
    return redirect("/users")


@router.post("/remove")
def remove(request: Request, email: str = Form("", max_length=400)) -> Response:
    if email.strip().lower() == request.state.user.email:
        return _page(request, 400, {}, {"email": "you cannot remove yourself"})
    auth.remove_user(settings_of(request), email)
    return redirect("/users")
