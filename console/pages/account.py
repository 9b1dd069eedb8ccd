"""Your own account: change your password (ends every session of yours, this one included)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from console import auth
from console.web import redirect, render, settings_of
from pipelines.errors import UserError

router = APIRouter(prefix="/account", dependencies=[Depends(auth.page_user)], include_in_schema=False)


@router.get("")
def index(request: Request) -> Response:
    return render(request, "account.html", errors={}, done=False)


@router.post("/password")
def change(request: Request, current: str = Form("", max_length=1024),
           new: str = Form("", max_length=1024)) -> Response:
    try:
        auth.change_password(settings_of(request), request.state.user.email, current, new)
    except UserError as exc:
        field = "current" if "current" in str(exc) else "new"
        return render(request, "account.html", status=400, errors={field: str(exc)}, done=False)
    response = redirect("/login")
    response.delete_cookie(auth.COOKIE, path="/")
    return response
