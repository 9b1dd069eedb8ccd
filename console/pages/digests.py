"""Digests: preview any profile and topic set for any week exactly as it would be mailed (the
same gather and render the `digest` command uses), and the archive of built digests."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from console import auth
from console.web import render, settings_of
from core import weeks
from pipelines import digest
from pipelines.subscribers import load_profiles

router = APIRouter(prefix="/digests", dependencies=[Depends(auth.page_user)], include_in_schema=False)
#: The mailed HTML has inline styles and a chart image; it is shown in a sandboxed frame with its
#: own policy: styles, no scripts, no remote loads, framed only by the console itself.
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:; frame-ancestors 'self'; sandbox"


def _choice(request: Request) -> tuple[dict[str, Any], dict[str, str]]:
    settings = settings_of(request)
    params = request.query_params
    profiles = load_profiles(settings)
    errors: dict[str, str] = {}
    week = (params.get("week") or "").strip() or weeks.last_complete_week(datetime.now(timezone.utc))
    try:
        weeks.parse_week(week)
    except Exception as exc:  # noqa: BLE001
        errors["week"] = str(exc)
    profile = params.get("profile") or "analyst"
    if profile not in profiles:
        errors["profile"] = "unknown profile"
    topics = [t.strip() for t in (params.get("topics") or "").split(",") if t.strip()][:20]
    return {"week": week, "profile": profile, "topics": topics, "profiles": sorted(profiles)}, errors


@router.get("")
def index(request: Request) -> Response:
    choice, errors = _choice(request)
    archived = sorted(digest.archive_dir(settings_of(request)).glob("**/*.html"), reverse=True)[:100]
    root = digest.archive_dir(settings_of(request))
    return render(request, "digests.html", status=400 if errors else 200, errors=errors, choice=choice,
                  query=request.url.query, archived=[str(p.relative_to(root)) for p in archived])


@router.get("/preview")
def preview(request: Request) -> Response:
    choice, errors = _choice(request)
    if errors:
        return HTMLResponse("; ".join(errors.values()), status_code=400)
    settings = settings_of(request)
    data = digest.gather(settings, choice["week"])
    built = digest.render(settings, data, {"email": "preview@scrutineer.invalid", "name": None,
                                           "profile": choice["profile"], "topics": choice["topics"],
                                           "token": "preview-" + "x" * 32})
    return HTMLResponse(built.html, headers={"Content-Security-Policy": PREVIEW_CSP, "X-Frame-Options": "SAMEORIGIN"})


@router.get("/archive/{path:path}")
def archived(request: Request, path: str) -> Response:
    root = digest.archive_dir(settings_of(request)).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or target.suffix != ".html" or not target.is_file():
        return render(request, "error.html", status=404, title="Not found", message="No such archived digest.")
    return HTMLResponse(target.read_text(encoding="utf-8", errors="replace"),
                        headers={"Content-Security-Policy": PREVIEW_CSP, "X-Frame-Options": "SAMEORIGIN"})
